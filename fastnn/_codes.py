"""Name tables and records shared by the Python layer and both backends.

Kernels take small integers instead of strings, so that one compiled function serves every
activation, loss and optimizer; the integers are defined with the kernels
(:mod:`fastnn.kernels.codes`), and each table here maps a public name to one. The records below
are what the model hands a backend's epoch: named fields, compiled once per dtype.
"""

from collections import namedtuple

import numpy as np

from .kernels.codes import (
    ADAM_KIND,
    BINARY_CROSS_ENTROPY,
    IDENTITY,
    MSE,
    POISSON,
    RELU,
    SGD_KIND,
    SIGMOID,
    SOFTMAX_CROSS_ENTROPY,
    TANH,
)

ACTIVATIONS = {None: IDENTITY, "linear": IDENTITY, "relu": RELU, "sigmoid": SIGMOID, "tanh": TANH}
ACTIVATION_NAMES = {IDENTITY: None, RELU: "relu", SIGMOID: "sigmoid", TANH: "tanh"}

# The one loss table: public name -> kernel code.
LOSSES = {
    "softmax_cross_entropy": SOFTMAX_CROSS_ENTROPY,
    "binary_cross_entropy": BINARY_CROSS_ENTROPY,
    "mse": MSE,
    "poisson": POISSON,
}
CLASSIFICATION_LOSSES = ("softmax_cross_entropy", "binary_cross_entropy")

# The training data of an epoch. ``X`` is a dense (n, n_features) array or a canonical SciPy CSR
# matrix (the numba backend hands the compiled loops its arrays: ``kernels.batch.CompiledData``).
# ``labels`` (int64) serve the classification losses and ``targets`` (n, k) the others; the
# unused one is empty. ``weights`` holds one weight per sample, or nothing for equal weights.
EpochData = namedtuple("EpochData", "X labels targets weights")

# Dropout as a model hands it to a backend's training, once per fit: ``rates`` (float64, one per
# dense layer) is the rate of each layer's output (0 for the last layer), ``seed`` the model's
# dropout seed (an integer in [0, 2**64)), which keys the masks with the epoch and the sample.
DropoutPlan = namedtuple("DropoutPlan", "rates seed")

# What an epoch accumulates, one record, updated in place: the weighted sums of the per-sample
# training losses and of the correct predictions (both measured before each update), the sum of
# the weights (the number of samples without weights), the number of samples trained on, and,
# for scikit-learn's way of reporting a loss, the sum over batches of the batch's size times its
# mean loss and times its L2 term's squared weights (before the update, scaled as the penalty);
# and whether the epoch stopped at a batch with a NaN or infinite input (a backend's training
# whose ``checks_inputs`` is true checks every row it reads, and trains on none after such a
# batch).
EPOCH_STATS = np.dtype(
    [
        ("loss_sum", np.float64),
        ("correct_sum", np.float64),
        ("weight_sum", np.float64),
        ("n_seen", np.int64),
        ("batch_loss_sum", np.float64),
        ("penalty_sum", np.float64),
        ("nonfinite_inputs", np.int64),
    ]
)


def new_stats():
    """A zeroed :data:`EPOCH_STATS` record (a one-element structured array)."""
    return np.zeros(1, EPOCH_STATS)


__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_NAMES",
    "ADAM_KIND",
    "BINARY_CROSS_ENTROPY",
    "CLASSIFICATION_LOSSES",
    "DropoutPlan",
    "EPOCH_STATS",
    "EpochData",
    "IDENTITY",
    "LOSSES",
    "MSE",
    "POISSON",
    "RELU",
    "SGD_KIND",
    "SIGMOID",
    "SOFTMAX_CROSS_ENTROPY",
    "TANH",
    "new_stats",
]
