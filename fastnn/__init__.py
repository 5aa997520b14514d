"""fastnn: fast dense neural networks on the CPU.

One layer API, two backends that agree: ``numpy`` (the readable reference) and ``numba``
(JIT-compiled, fused kernels that run a whole epoch in compiled code).

>>> import fastnn as fn
>>> model = fn.Sequential([fn.Dense(784, 128, activation="relu"), fn.Dense(128, 10)])
"""

import importlib

from . import callbacks, datasets, io
from .backend import BACKENDS
from .callbacks import Callback, CSVLogger, EarlyStopping, LambdaCallback, ModelCheckpoint
from .errors import FastnnError, TrainingInterrupted
from .layers import Dense, Dropout, dense_stack
from .lbfgs import LBFGS
from .model import Sequential
from .optimizers import SGD, Adam
from .serialization import load
from .training import History

__version__ = "0.1.0"

# Imported on first use, so that ``import fastnn`` stays light: plots needs matplotlib, metrics
# and sklearn need scikit-learn, bench the peers' harness.
_LAZY_MODULES = ("bench", "metrics", "plots", "scaling", "sklearn")


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fastnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_MODULES})


__all__ = [
    "Adam",
    "BACKENDS",
    "CSVLogger",
    "Callback",
    "Dense",
    "Dropout",
    "EarlyStopping",
    "FastnnError",
    "History",
    "LBFGS",
    "LambdaCallback",
    "ModelCheckpoint",
    "SGD",
    "Sequential",
    "TrainingInterrupted",
    "callbacks",
    "datasets",
    "dense_stack",
    "io",
    "load",
]
