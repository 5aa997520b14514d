"""Losses fused with their gradients: one pass gives the mean loss and dL/d(output).

Each loss returns the mean over the batch (as a float64) and fills ``grad`` with the gradient of
that mean, so the 1/m of the batch average is already inside ``grad``. Each sample's loss is
computed exactly before it joins the sum: the subtraction of two logits goes through a function
without fastmath, so LLVM cannot reassociate ``total + (a - b)`` into ``(total + a) - b``, which
loses the whole term when the logits are huge.
"""

import math

import numpy as np
from numba import njit

from .._codes import BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY
from ._config import EXACT_OPTIONS, JIT_OPTIONS
from .activations import _sigmoid


@njit(**EXACT_OPTIONS)
def _exact_difference(a, b):
    return a - b


@njit(**EXACT_OPTIONS)
def _binary_term(z, y, zero):
    # max(z, 0) - z y + log(1 + exp(-|z|)), finite for any logit z
    return (max(z, zero) - z * y) + math.log1p(math.exp(-abs(z)))


@njit(**JIT_OPTIONS)
def _log_sum_exp(z):
    """``log(sum(exp(z)))`` of one row, shifted by its maximum so that exp never overflows."""
    top = z[0]
    for j in range(z.shape[0]):
        top = max(top, z[j])
    s = z.dtype.type(0)
    for j in range(z.shape[0]):
        s += math.exp(z[j] - top)
    return top + math.log(s)


@njit(**JIT_OPTIONS)
def softmax(logits, out):
    """Fill ``out`` with the row-wise softmax of ``logits``."""
    for r in range(logits.shape[0]):
        z = logits[r]
        log_norm = _log_sum_exp(z)
        for j in range(z.shape[0]):
            out[r, j] = math.exp(z[j] - log_norm)


@njit(**JIT_OPTIONS)
def softmax_cross_entropy(logits, labels, grad):
    """Mean of ``-log softmax(z)[y]``; ``grad = (softmax(z) - onehot(y)) / m``."""
    m = logits.shape[0]
    inv_m = logits.dtype.type(1.0 / m)
    total = 0.0
    for r in range(m):
        z = logits[r]
        log_norm = _log_sum_exp(z)
        g = grad[r]
        for j in range(z.shape[0]):
            g[j] = math.exp(z[j] - log_norm) * inv_m
        y = labels[r]
        g[y] -= inv_m
        total += _exact_difference(log_norm, z[y])
    return total / m


@njit(**JIT_OPTIONS)
def binary_cross_entropy(logits, targets, grad):
    """Mean of ``max(z, 0) - z y + log(1 + exp(-|z|))``; ``grad = (sigmoid(z) - y) / size``.

    Computed from the logits, so it is finite for any logit; ``size`` is m for one output.
    """
    m = logits.shape[0]
    one = logits.dtype.type(1)
    zero = logits.dtype.type(0)
    inv_size = logits.dtype.type(1.0 / (m * logits.shape[1]))
    total = 0.0
    for r in range(m):
        for j in range(logits.shape[1]):
            z = logits[r, j]
            y = targets[r, j]
            total += _binary_term(z, y, zero)
            grad[r, j] = (_sigmoid(z, one) - y) * inv_size
    return total / (m * logits.shape[1])


@njit(**JIT_OPTIONS)
def mean_squared_error(outputs, targets, grad):
    """``mean((y_hat - y)**2)`` over every element; ``grad = 2 (y_hat - y) / size``."""
    size = outputs.shape[0] * outputs.shape[1]
    scale = outputs.dtype.type(2.0 / size)
    total = 0.0
    for r in range(outputs.shape[0]):
        for j in range(outputs.shape[1]):
            d = outputs[r, j] - targets[r, j]
            total += d * d
            grad[r, j] = d * scale
    return total / size


@njit(**JIT_OPTIONS)
def loss_and_grad(loss, outputs, labels, targets, grad):
    """The mean loss of code ``loss`` and its gradient: the loss table, dispatched."""
    if loss == SOFTMAX_CROSS_ENTROPY:
        return softmax_cross_entropy(outputs, labels, grad)
    if loss == BINARY_CROSS_ENTROPY:
        return binary_cross_entropy(outputs, targets, grad)
    return mean_squared_error(outputs, targets, grad)


@njit(**JIT_OPTIONS)
def n_correct(loss, outputs, labels):
    """How many rows the outputs classify correctly (0 for a regression loss).

    Binary cross-entropy has one logit: it predicts class 1 exactly when the logit is positive,
    i.e. when sigmoid(logit) > 0.5.
    """
    correct = 0
    if loss == SOFTMAX_CROSS_ENTROPY:
        for r in range(outputs.shape[0]):
            correct += np.argmax(outputs[r]) == labels[r]
    elif loss == BINARY_CROSS_ENTROPY:
        for r in range(outputs.shape[0]):
            correct += (outputs[r, 0] > 0) == (labels[r] == 1)
    return correct
