"""Losses fused with their gradients: one pass gives the mean loss and dL/d(output).

Each loss returns the mean over the batch (as a float64) and fills ``grad`` with the gradient of
that mean, so the 1/m of the batch average is already inside ``grad``.
"""

import math

from numba import njit

from ._config import JIT_OPTIONS
from .activations import _sigmoid


@njit(**JIT_OPTIONS)
def softmax(logits, out):
    """Fill ``out`` with the row-wise softmax of ``logits``, shifted by the row max."""
    for r in range(logits.shape[0]):
        z = logits[r]
        top = z[0]
        for j in range(z.shape[0]):
            top = max(top, z[j])
        s = z.dtype.type(0)
        for j in range(z.shape[0]):
            e = math.exp(z[j] - top)
            out[r, j] = e
            s += e
        for j in range(z.shape[0]):
            out[r, j] /= s


@njit(**JIT_OPTIONS)
def softmax_cross_entropy(logits, labels, grad):
    """Mean of ``-log softmax(z)[y]``; ``grad = (softmax(z) - onehot(y)) / m``."""
    m = logits.shape[0]
    inv_m = logits.dtype.type(1.0 / m)
    total = 0.0
    for r in range(m):
        z = logits[r]
        top = z[0]
        for j in range(z.shape[0]):
            top = max(top, z[j])
        s = z.dtype.type(0)
        for j in range(z.shape[0]):
            s += math.exp(z[j] - top)
        log_norm = top + math.log(s)
        g = grad[r]
        for j in range(z.shape[0]):
            g[j] = math.exp(z[j] - log_norm) * inv_m
        y = labels[r]
        g[y] -= inv_m
        total += log_norm - z[y]
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
            total += max(z, zero) - z * y + math.log1p(math.exp(-abs(z)))
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
