"""Backend selection: a name, else ``$FASTNN_BACKEND``, else ``"numba"``.

A backend is a module that provides every function named in :data:`KERNELS`, with one shared
signature per name: :mod:`fastnn.numpy_backend` (the reference) and :mod:`fastnn.kernels`
(compiled with Numba).
"""

import importlib
import os

from .errors import InputError, InputTypeError

BACKENDS = {"numba": "fastnn.kernels", "numpy": "fastnn.numpy_backend"}
DEFAULT_BACKEND = "numba"

# What both backends provide, name for name, with one signature per name.
KERNELS = (
    "activate",
    "activation_derivative",
    "dense_forward",
    "dense_backward",
    "softmax",
    "softmax_cross_entropy",
    "binary_cross_entropy",
    "mean_squared_error",
    "poisson",
    "loss_and_grad",
    "n_correct",
    "find_nonzero",
    "forward_rows",
    "update_rows",
    "backward_rows",
    "forward_cols",
    "backward_cols",
    "sgd_update",
    "adam_update",
    "optimizer_update",
    "outer_update",
    "lazy_update",
    "train_epoch",
    "train_epoch_hogwild",
    "full_batch_gradient",
)


def resolve_backend(name=None):
    """Return the backend's name: ``name``, else ``$FASTNN_BACKEND``, else ``"numba"``."""
    source = "backend"
    if name is None:
        name = os.environ.get("FASTNN_BACKEND") or DEFAULT_BACKEND
        source = "$FASTNN_BACKEND"
    if not isinstance(name, str):
        raise InputTypeError(f"backend must be a string, one of {sorted(BACKENDS)}; got {name!r}")
    key = name.strip().lower()
    if key not in BACKENDS:
        raise InputError(f"{source} must be one of {sorted(BACKENDS)}; got {name!r}")
    return key


def get_backend(name=None):
    """Return the backend module for ``name`` (resolved as in :func:`resolve_backend`)."""
    return importlib.import_module(BACKENDS[resolve_backend(name)])
