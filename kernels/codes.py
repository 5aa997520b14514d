"""The numbers and the few pure-Python functions that both backends share.

Kernels take small integers instead of strings, so that one compiled function serves every
activation, loss and optimizer; the public names are mapped to these codes in
:mod:`fastnn._codes`. The functions below are plain Python: the ``numpy`` backend calls them as
they are and the ``numba`` backend compiles them. They live here, inside ``kernels/``, because
everything the numba backend compiles does: the kernels' disk cache is keyed on the sources of
this folder (see :mod:`._cache`), so an edit anywhere else in fastnn recompiles nothing. This
module imports nothing but NumPy.
"""

import math

import numpy as np

# Activations
IDENTITY, RELU, SIGMOID, TANH = 0, 1, 2, 3

# Losses
SOFTMAX_CROSS_ENTROPY, BINARY_CROSS_ENTROPY, MSE, POISSON = 0, 1, 2, 3

# Optimizers (``OptimizerConfig.kind``)
SGD_KIND, ADAM_KIND = 0, 1

# Dropout's counter-based generator: splitmix64's increment and the multipliers of its
# finaliser (see :mod:`.dropout`). Every step is integer arithmetic modulo 2**64, so both
# backends, and the oracle of the tests, draw the same masks.
MIX_STEP = 0x9E3779B97F4A7C15
MIX_MUL1 = 0xBF58476D1CE4E5B9
MIX_MUL2 = 0x94D049BB133111EB
UNIFORM_BITS = 53  # a uniform number in [0, 1) is the top 53 bits of a hash, times 2**-53

# Columns of the layout table (see :mod:`fastnn.params`): one int64 row per dense layer.
# TRANSPOSED is 1 where the layer's W is stored as W^T, (n_out, n_in).
W_OFFSET, B_OFFSET, N_IN, N_OUT, ACT, TRANSPOSED = 0, 1, 2, 3, 4, 5


def stored_views(buffer, layout, layer):
    """The ``(W, b)`` of one layer in a flat ``buffer`` as stored: ``W`` (n_in, n_out), or
    ``W^T`` (n_out, n_in) where the layout stores it transposed; both C-contiguous."""
    n_in, n_out = layout[layer, N_IN], layout[layer, N_OUT]
    w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
    rows, cols = (n_out, n_in) if layout[layer, TRANSPOSED] else (n_in, n_out)
    return buffer[w : w + n_in * n_out].reshape(rows, cols), buffer[b : b + n_out]


def layer_views(buffer, layout, layer):
    """The ``(W, b)`` views of one layer in a flat ``buffer`` laid out by ``layout``: ``W`` of
    shape (n_in, n_out) whichever way it is stored (a transposed view of ``W^T``). NumPy only:
    compiled code works on :func:`stored_views` and says which way round it reads."""
    W, b = stored_views(buffer, layout, layer)
    return (W.T if layout[layer, TRANSPOSED] else W), b


def unit_offsets(layout):
    """Where each layer's units start in a buffer that holds every layer's units in turn.

    Entry ``l`` is the number of units of the layers before ``l``; the last entry is the total.
    """
    offsets = np.zeros(layout.shape[0] + 1, np.int64)
    for layer in range(layout.shape[0]):
        offsets[layer + 1] = offsets[layer] + layout[layer, N_OUT]
    return offsets


def step_size(opt, t):
    """The step size of update number ``t`` (counted from 0).

    SGD: ``lr / (1 + decay t)``. Adam: ``lr sqrt(1 - b2^(t+1)) / (1 - b1^(t+1))``, its bias
    correction at its own count ``t + 1``.
    """
    if opt.kind == ADAM_KIND:
        n = t + 1
        return opt.lr * math.sqrt(1.0 - opt.beta2**n) / (1.0 - opt.beta1**n)
    return opt.lr / (1.0 + opt.decay * t)


def is_plain_sgd(opt):
    """True when an update moves only the weights whose gradient is nonzero (plain SGD)."""
    return opt.kind == SGD_KIND and opt.momentum == 0 and opt.l1 == 0 and opt.l2 == 0
