"""Backend selection: a name, else ``$FASTNN_BACKEND``, else ``"numba"``.

A backend is a module that provides every function named in :data:`KERNELS`, with one shared
signature per name: :mod:`fastnn.numpy_backend` (the reference) and :mod:`fastnn.kernels`
(compiled with Numba).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from .errors import InputError, InputTypeError

BACKENDS = {"numba": "fastnn.kernels", "numpy": "fastnn.numpy_backend"}
DEFAULT_BACKEND = "numba"

# The backend contract: what both backends provide, name for name, with one signature per name.
# The layer-level operations (the fused dense forward and backward, the activations and their
# derivative masks, the losses with their gradients, the optimizer steps) and the coarse ones
# the model calls: a training run prepared once per fit (``start_training``), the full-batch
# gradient, a forward pass and a loss evaluation.
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
    "loss_value",
    "n_correct",
    "sgd_update",
    "adam_update",
    "start_training",
    "full_batch_gradient",
    "forward",
)


def resolve_backend(name: str | None = None) -> str:
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


def get_backend(name: str | None = None) -> ModuleType:
    """Return the backend module for ``name`` (resolved as in :func:`resolve_backend`)."""
    return importlib.import_module(BACKENDS[resolve_backend(name)])
