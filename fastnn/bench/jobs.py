"""The job every implementation runs, and fastnn's own implementation of it.

One job: one epoch of MNIST on a dense ReLU network (784-128-10 unless ``hidden`` says
otherwise; softmax cross-entropy, float32) with plain SGD or Adam, from fastnn's initial weights
for a seed, visiting the samples in fastnn's order.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from ..layers import dense_stack
from ..model import Sequential
from ..optimizers import SGD, Adam
from ..params import first_epoch_order
from .machine import blas_threads

N_IN, N_OUT = 784, 10
DEFAULT_HIDDEN = (128,)
OPTIMIZERS = ("sgd", "adam")
# the learning rates each optimizer is timed with unless told otherwise, per regime
DEFAULT_LRS = {
    "sgd": {"per-sample": 0.01, "batch": 0.1},
    "adam": {"per-sample": 0.0005, "batch": 0.001},
}
# Adam's other hyperparameters, the same for every implementation (scikit-learn's defaults)
ADAM = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
NUMBA = "fastnn numba"  # the reference every row's speed-up and accuracy are measured against


@dataclass
class Job:
    """One implementation in one regime on a number of samples: what a round runs.

    ``prepare`` builds a fresh model from the shared initial weights, ``epoch`` is the timed
    region, ``accuracy`` returns the test accuracy afterwards; only ``epoch`` is timed.
    ``weights``, when given, returns the trained ``[(W, b), ...]`` as float32 arrays with W of
    shape (n_in, n_out), so that tests can hold an implementation to fastnn's numbers.
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
    network: str = ""
    optimizer: str = ""
    times: list = field(default_factory=list)
    accuracies: list = field(default_factory=list)
    warmup_s: float | None = None
    error: str | None = None


def layer_widths(hidden=DEFAULT_HIDDEN):
    """``[784, *hidden, 10]``: the widths of the benchmark's network."""
    return [N_IN, *hidden, N_OUT]


def network_name(hidden=DEFAULT_HIDDEN):
    """The network as its rows name it, such as ``784-128-10`` or ``784-256-256-10``."""
    return "-".join(str(width) for width in layer_widths(hidden))


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


def fastnn_model(backend, seed, hidden=DEFAULT_HIDDEN):
    """The benchmark's network on ``backend``, built (its initial weights drawn) now."""
    model = Sequential(
        dense_stack(layer_widths(hidden), activation="relu"),
        loss="softmax_cross_entropy",
        backend=backend,
        dtype="float32",
        seed=seed,
    )
    model.get_weights()  # builds the model and draws its weights here, outside any timing
    return model


def initial_weights(seed, hidden=DEFAULT_HIDDEN):
    """The initial ``[(W, b), ...]`` of fastnn's network ``784-*hidden-10`` for ``seed``
    (float32).

    W has shape (n_in, n_out): He normal for the ReLU layers, Glorot uniform for the output
    layer; biases are zero.
    """
    return fastnn_model("numpy", seed, hidden).get_weights()


def make_optimizer(settings, lr):
    """A fresh fastnn optimizer of the settings' kind with learning rate ``lr``."""
    if settings["optimizer"] == "adam":
        return Adam(lr=lr, **settings["adam"])
    return SGD(lr=lr)


def fastnn_job(backend, data, regime, n, settings):
    """fastnn on ``backend``: the whole ``fit`` call a user makes is the timed region."""
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = data["X"][:n], data["y"][:n]
    state = {}

    def prepare():
        state["model"] = fastnn_model(backend, settings["seed"], settings["hidden"])

    def epoch():
        state["model"].fit(
            X,
            y,
            epochs=1,
            batch_size=batch_size,
            optimizer=make_optimizer(settings, lr),
            shuffle=True,
            verbose=0,
        )

    def accuracy():
        return state["model"].evaluate(data["X_test"], data["y_test"])["accuracy"]

    def weights():
        return state["model"].get_weights()

    threads = "1" if backend == "numba" else blas_threads()
    return Job(f"fastnn {backend}", regime, batch_size, lr, n, threads, prepare, epoch, accuracy,
               weights=weights)  # fmt: skip


__all__ = [
    "ADAM",
    "DEFAULT_HIDDEN",
    "DEFAULT_LRS",
    "OPTIMIZERS",
    "Job",
    "epoch_order",
    "fastnn_job",
    "fastnn_model",
    "initial_weights",
    "layer_widths",
    "make_optimizer",
    "network_name",
]
