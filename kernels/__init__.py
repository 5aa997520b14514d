"""The ``numba`` backend: JIT-compiled kernels, one module per concern.

Every function here has a twin of the same name and signature in :mod:`fastnn.numpy_backend`,
and the tests hold each pair to the same numbers. Kernels compute only: the Python layer checks
shapes, dtypes and values, casts once and allocates the outputs.
"""

from .activations import activate, activation_derivative
from .dense import dense_backward, dense_forward
from .epoch import train_epoch, train_epoch_hogwild
from .losses import binary_cross_entropy, mean_squared_error, softmax, softmax_cross_entropy
from .sgd import sgd_update

__all__ = [
    "activate",
    "activation_derivative",
    "binary_cross_entropy",
    "dense_backward",
    "dense_forward",
    "mean_squared_error",
    "sgd_update",
    "softmax",
    "softmax_cross_entropy",
    "train_epoch",
    "train_epoch_hogwild",
]
