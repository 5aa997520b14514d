"""The job every implementation runs, and fastnn's own implementation of it.

One job: one epoch of MNIST on a 784-128-10 network (ReLU, softmax cross-entropy, float32, plain
SGD), from fastnn's initial weights for a seed, visiting the samples in fastnn's order.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from ..layers import dense_stack
from ..model import Sequential
from ..optimizers import SGD
from ..params import first_epoch_order
from .machine import blas_threads

N_IN, N_HIDDEN, N_OUT = 784, 128, 10
NUMBA = "fastnn numba"  # the reference every row's speed-up and accuracy are measured against


@dataclass
class Job:
    """One implementation in one regime on a number of samples: what a round runs.

    ``prepare`` builds a fresh model from the shared initial weights, ``epoch`` is the timed
    region, ``accuracy`` returns the test accuracy afterwards; only ``epoch`` is timed.
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
    times: list = field(default_factory=list)
    accuracies: list = field(default_factory=list)
    warmup_s: float | None = None
    error: str | None = None


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


def fastnn_model(backend, seed):
    """The benchmark's network on ``backend``, built (its initial weights drawn) now."""
    model = Sequential(
        dense_stack([N_IN, N_HIDDEN, N_OUT], activation="relu"),
        loss="softmax_cross_entropy",
        backend=backend,
        dtype="float32",
        seed=seed,
    )
    model.get_weights()  # builds the model and draws its weights here, outside any timing
    return model


def initial_weights(seed):
    """The initial ``[(W, b), ...]`` of fastnn's 784-128-10 network for ``seed`` (float32).

    W has shape (n_in, n_out): He normal for the ReLU layer, Glorot uniform for the output
    layer; biases are zero.
    """
    return fastnn_model("numpy", seed).get_weights()


def fastnn_job(backend, data, regime, n, settings):
    """fastnn on ``backend``: the whole ``fit`` call a user makes is the timed region."""
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = data["X"][:n], data["y"][:n]
    state = {}

    def prepare():
        state["model"] = fastnn_model(backend, settings["seed"])

    def epoch():
        state["model"].fit(
            X, y, epochs=1, batch_size=batch_size, optimizer=SGD(lr=lr), shuffle=True, verbose=0
        )

    def accuracy():
        return state["model"].evaluate(data["X_test"], data["y_test"])["accuracy"]

    threads = "1" if backend == "numba" else blas_threads()
    return Job(f"fastnn {backend}", regime, batch_size, lr, n, threads, prepare, epoch, accuracy)


__all__ = ["Job", "epoch_order", "fastnn_job", "fastnn_model", "initial_weights"]
