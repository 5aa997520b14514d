"""The ``numba`` backend: JIT-compiled kernels, one module per concern.

Every function listed in :data:`fastnn.backend.KERNELS` has a twin of the same name and
signature in :mod:`fastnn.numpy_backend` (a test holds the two modules to it), and the tests hold
each pair to the same numbers. Kernels compute only: the Python layer checks shapes, dtypes and
values, casts once and allocates the outputs.

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
    "train_epoch": "epoch",
    "train_epoch_hogwild": "epoch",
    "full_batch_gradient": "gradient",
    "binary_cross_entropy": "losses",
    "loss_and_grad": "losses",
    "mean_squared_error": "losses",
    "n_correct": "losses",
    "poisson": "losses",
    "softmax": "losses",
    "softmax_cross_entropy": "losses",
    "backward_cols": "rows",
    "backward_rows": "rows",
    "find_nonzero": "rows",
    "forward_cols": "rows",
    "forward_rows": "rows",
    "update_rows": "rows",
    "sgd_update": "sgd",
    "lazy_update": "update",
    "optimizer_update": "update",
    "outer_update": "update",
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
