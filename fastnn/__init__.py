"""fastnn: fast dense neural networks on the CPU.

One layer API, two backends that agree: ``numpy`` (the readable reference) and ``numba``
(JIT-compiled, fused kernels that run a whole epoch in compiled code).

>>> import fastnn as fn
>>> model = fn.Sequential([fn.Dense(784, 128, activation="relu"), fn.Dense(128, 10)])
"""

from . import datasets
from .backend import BACKENDS
from .layers import Dense
from .model import History, Sequential, load
from .optimizers import SGD

__version__ = "0.1.0"

__all__ = ["BACKENDS", "Dense", "History", "SGD", "Sequential", "datasets", "load"]
