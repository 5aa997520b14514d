"""The job every implementation runs, and fastnn's own implementation of it.

One job: one epoch of a data kind (:mod:`.data`) on a dense ReLU network ``n_in-*hidden-n_out``
(softmax cross-entropy, float32) with plain SGD or Adam, from fastnn's initial weights for a
seed, visiting the samples in fastnn's order.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..layers import dense_stack
from ..model import Sequential
from ..optimizers import SGD, Adam
from ..params import first_epoch_order
from .machine import blas_threads

DEFAULT_HIDDEN = (128,)
OPTIMIZERS = ("sgd", "adam")
# Adam's other hyperparameters, the same for every implementation (scikit-learn's defaults)
ADAM = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
NUMBA = "fastnn numba"  # the reference every row's speed-up and accuracy are measured against


@dataclass
class Job:
    """One implementation in one regime on a number of samples: what a round runs.

    ``prepare`` builds a fresh model from the shared initial weights, ``epoch`` is the timed
    region, ``accuracy`` returns the test accuracy afterwards; only ``epoch`` is timed.
    ``warm_up``, when given, compiles and initialises what the first epoch would (on a few
    rows, say), untimed; without it the warm-up is a whole untimed run. ``release`` drops the
    model after a run, so that jobs do not hold their models all at once. ``weights``, when
    given, returns the trained ``[(W, b), ...]`` as float32 arrays with W of shape
    (n_in, n_out), so that tests can hold an implementation to fastnn's numbers.
    """

    implementation: str
    regime: str
    batch_size: int
    lr: float
    samples: int
    threads: str
    prepare: Callable[[], None]
    epoch: Callable[[], None]
    accuracy: Callable[[], float]
    peer: str | None = None
    weights: Callable[[], list] | None = None
    warm_up: Callable[[], None] | None = None
    release: Callable[[], None] | None = None
    network: str = ""
    optimizer: str = ""
    times: list = field(default_factory=list)
    accuracies: list = field(default_factory=list)
    warmup_s: float | None = None
    error: str | None = None


def layer_widths(hidden=DEFAULT_HIDDEN, n_in=784, n_out=10):
    """``[n_in, *hidden, n_out]``: the widths of the benchmark's network."""
    return [n_in, *hidden, n_out]


def network_name(widths):
    """The network as its rows name it, such as ``784-128-10`` or ``784-256-256-10``."""
    return "-".join(str(width) for width in widths)


def epoch_order(seed, n):
    """The order in which a new :class:`~fastnn.Sequential` with ``seed`` visits ``n`` samples.

    It is the order of the model's first epoch (``shuffle=True``), handed to PyTorch and JAX so
    that they see the samples in the same order as fastnn.

    Parameters
    ----------
    seed : int
    n : int

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    return first_epoch_order(seed, n)


def visit_order(settings, n):
    """The order in which every implementation visits the first ``n`` samples: fastnn's
    first-epoch order where fastnn shuffles, else the rows' own order."""
    if settings["shuffle"]:
        return epoch_order(settings["seed"], n)
    return np.arange(n)


def fastnn_model(backend, seed, widths):
    """The benchmark's network of ``widths`` on ``backend``, built (its initial weights drawn)
    now."""
    model = Sequential(
        dense_stack(widths, activation="relu"),
        loss="softmax_cross_entropy",
        backend=backend,
        dtype="float32",
        seed=seed,
    )
    model.get_weights()  # builds the model and draws its weights here, outside any timing
    return model


def initial_weights(seed, hidden=DEFAULT_HIDDEN, n_in=784, n_out=10):
    """The initial ``[(W, b), ...]`` of fastnn's network ``n_in-*hidden-n_out`` for ``seed``
    (float32).

    W has shape (n_in, n_out): He normal for the ReLU layers, Glorot uniform for the output
    layer; biases are zero.
    """
    return fastnn_model("numpy", seed, layer_widths(hidden, n_in, n_out)).get_weights()


def make_optimizer(settings, lr):
    """A fresh fastnn optimizer of the settings' kind with learning rate ``lr``."""
    if settings["optimizer"] == "adam":
        return Adam(lr=lr, lazy=settings["lazy"], **settings["adam"])
    return SGD(lr=lr)


def _numba_threads(model, batch_size):
    """The threads the numba backend trains ``model`` with in batches of ``batch_size``."""
    if batch_size == 1:
        return "1"
    from ..kernels.epoch import batch_threads

    model._build()
    return str(batch_threads(model._layout, batch_size))


def fastnn_job(backend, data, regime, n, settings, implementation=None):
    """fastnn on ``backend``: the whole ``fit`` call a user makes is the timed region."""
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = data["X"][:n], data["y"][:n]
    state = {}

    def new_model():
        return fastnn_model(backend, settings["seed"], settings["widths"])

    def fit(model, X, y):
        model.fit(X, y, epochs=1, batch_size=batch_size, optimizer=make_optimizer(settings, lr),
                  shuffle=settings["shuffle"], verbose=0)  # fmt: skip

    def prepare():
        state["model"] = new_model()

    def warm_up():  # the kernels of this regime's epoch and of a prediction
        rows = settings["warmup_samples"]
        model = new_model()
        fit(model, X[:rows], y[:rows])
        model.evaluate(data["X_test"][:rows], data["y_test"][:rows])

    def accuracy():
        return state["model"].evaluate(data["X_test"], data["y_test"])["accuracy"]

    def weights():
        return state["model"].get_weights()

    threads = _numba_threads(new_model(), batch_size) if backend == "numba" else blas_threads()
    return Job(implementation or f"fastnn {backend}", regime, batch_size, lr, n, threads,
               prepare, lambda: fit(state["model"], X, y), accuracy, weights=weights,
               warm_up=warm_up if settings["warmup_samples"] else None,
               release=state.clear)  # fmt: skip


__all__ = [
    "ADAM",
    "DEFAULT_HIDDEN",
    "NUMBA",
    "OPTIMIZERS",
    "Job",
    "epoch_order",
    "fastnn_job",
    "fastnn_model",
    "initial_weights",
    "layer_widths",
    "make_optimizer",
    "network_name",
    "visit_order",
]
