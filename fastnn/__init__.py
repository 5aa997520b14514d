"""fastnn: fast dense neural networks on the CPU.

One layer API, two backends that agree: ``numpy`` (the readable reference) and ``numba``
(JIT-compiled, fused kernels that run a whole epoch in compiled code).

>>> import fastnn as fn
>>> model = fn.Sequential([fn.Dense(784, 128, activation="relu"), fn.Dense(128, 10)])
"""

from . import callbacks, datasets, io
from .backend import BACKENDS
from .errors import FastnnError, TrainingInterrupted
from .layers import Dense, dense_stack
from .lbfgs import LBFGS
from .model import Sequential
from .optimizers import SGD, Adam
from .serialization import load
from .training import History

__version__ = "0.1.0"

__all__ = [
    "Adam",
    "BACKENDS",
    "Dense",
    "FastnnError",
    "History",
    "LBFGS",
    "SGD",
    "Sequential",
    "TrainingInterrupted",
    "callbacks",
    "datasets",
    "dense_stack",
    "io",
    "load",
]
