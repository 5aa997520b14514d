"""The ``numba`` backend: JIT-compiled kernels, one module per concern.

Every function here has a twin of the same name and signature in :mod:`fastnn.numpy_backend`
(:data:`fastnn.backend.KERNELS` lists them, and a test holds the two modules to it), and the
tests hold each pair to the same numbers. Kernels compute only: the Python layer checks shapes,
dtypes and values, casts once and allocates the outputs.
"""

from .activations import activate, activation_derivative
from .adam import adam_update
from .dense import dense_backward, dense_forward
from .epoch import train_epoch, train_epoch_hogwild
from .gradient import full_batch_gradient
from .losses import (
    binary_cross_entropy,
    loss_and_grad,
    mean_squared_error,
    n_correct,
    poisson,
    softmax,
    softmax_cross_entropy,
)
from .rows import (
    backward_cols,
    backward_rows,
    find_nonzero,
    forward_cols,
    forward_rows,
    update_rows,
)
from .sgd import sgd_update
from .update import lazy_update, optimizer_update, outer_update

__all__ = [
    "activate",
    "activation_derivative",
    "adam_update",
    "backward_cols",
    "backward_rows",
    "binary_cross_entropy",
    "dense_backward",
    "dense_forward",
    "find_nonzero",
    "forward_cols",
    "forward_rows",
    "full_batch_gradient",
    "lazy_update",
    "loss_and_grad",
    "mean_squared_error",
    "n_correct",
    "optimizer_update",
    "outer_update",
    "poisson",
    "sgd_update",
    "softmax",
    "softmax_cross_entropy",
    "train_epoch",
    "train_epoch_hogwild",
    "update_rows",
]
