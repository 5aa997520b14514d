"""The ``numba`` backend: JIT-compiled kernels, one module per concern.

This package provides the operations of the backend contract (:data:`fastnn.backend.KERNELS`),
each with a twin of the same name and signature in :mod:`fastnn.numpy_backend`; the tests hold
each pair, and the loop-by-loop oracle of the tests, to the same numbers. Whatever else the
compiled epochs use for speed (row kernels, nonzero scans, batch helpers) is private to its
module here and tested against the oracle alone. Kernels compute only: the Python layer checks
shapes, dtypes and values, casts once and allocates the outputs.

The kernel modules import Numba, so they are imported when a kernel is first asked for: a
program that only uses the numpy backend, or :mod:`.codes`, never imports Numba.
"""

import importlib

# kernel name -> the module (in this package) that defines it
_MODULES = {
    "activate": "activations",
    "activation_derivative": "activations",
    "adam_update": "adam",
    "dense_backward": "dense",
    "dense_forward": "dense",
    "forward": "forward",
    "full_batch_gradient": "gradient",
    "binary_cross_entropy": "losses",
    "loss_and_grad": "losses",
    "loss_value": "losses",
    "mean_squared_error": "losses",
    "n_correct": "losses",
    "poisson": "losses",
    "softmax": "losses",
    "softmax_cross_entropy": "losses",
    "sgd_update": "sgd",
    "start_training": "epoch",
}

__all__ = sorted(_MODULES)


def __getattr__(name):
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_MODULES))
