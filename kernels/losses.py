"""Losses fused with their gradients: one call gives the mean loss and dL/d(output).

Each loss returns the mean over the batch (as a float64), weighted by ``weights`` when that array
is not empty, and fills ``grad`` with the gradient of that mean, so the 1/m of the batch average
(or ``w / sum(w)``) is already inside ``grad``. Each sample's loss is
computed exactly before it joins the sum: the subtraction of two logits goes through a function
without fastmath, so LLVM cannot reassociate ``total + (a - b)`` into ``(total + a) - b``, which
loses the whole term when the logits are huge.

No loop here both writes an array and adds into a sum. LLVM compiles such a loop twice, a
vector version and a scalar one, picked at run time by whether the arrays' addresses overlap;
with reassociation allowed the two versions add in different orders, so the sum (and every
number after it) would depend on where the buffers happen to sit in memory. A loop that only
reads and sums is compiled once, and sums in the same order every time.
"""

import math

import numpy as np
from numba import njit

from ._config import EXACT_OPTIONS, JIT_OPTIONS
from .activations import _sigmoid
from .codes import BINARY_CROSS_ENTROPY, POISSON, SOFTMAX_CROSS_ENTROPY
from .exponential import exp


@njit(**EXACT_OPTIONS)
def _exact_difference(a, b):
    return a - b


@njit(**EXACT_OPTIONS)
def _binary_term(z, y, zero):
    # max(z, 0) - z y + log(1 + exp(-|z|)), finite for any logit z
    return (max(z, zero) - z * y) + math.log1p(exp(-abs(z)))


@njit(**JIT_OPTIONS)
def _softmax_row(z, out):
    """Fill ``out`` with the softmax of one row ``z``; return ``log(sum(exp(z)))``.

    Shifted by the row's maximum so that exp never overflows; one exp per entry (the
    normaliser is divided out rather than subtracted inside a second exp).
    """
    top = z[0]
    for j in range(z.shape[0]):
        top = max(top, z[j])
    for j in range(z.shape[0]):
        out[j] = exp(z[j] - top)
    s = z.dtype.type(0)
    for j in range(z.shape[0]):  # reads only: see the module's docstring
        s += out[j]
    inverse = z.dtype.type(1) / s
    for j in range(z.shape[0]):
        out[j] *= inverse
    return top + math.log(s)


@njit(**JIT_OPTIONS)
def softmax(logits, out):
    """Fill ``out`` with the row-wise softmax of ``logits``."""
    for r in range(logits.shape[0]):
        _softmax_row(logits[r], out[r])


@njit(**JIT_OPTIONS)
def _total_weight(m, weights):
    """The batch's weight: ``sum(w)``, or ``m`` without weights."""
    if weights.shape[0] == 0:
        return float(m)
    total = 0.0
    for r in range(m):
        total += weights[r]
    return total


@njit(**JIT_OPTIONS)
def _whole_batch(outputs, weights):
    """The size and the weight of the batch whose rows are all of ``outputs``."""
    m = outputs.shape[0]
    return m, _total_weight(m, weights)


@njit(**JIT_OPTIONS)
def _share(r, m, weights, total):
    """Row ``r``'s share of the batch: ``w_r / sum(w)``, or ``1 / m`` without weights; zero in
    a batch of zero weight. Computed per row, so that no loss needs an array of shares."""
    if weights.shape[0] == 0:
        return 1.0 / m
    return weights[r] / total if total > 0 else 0.0


@njit(**JIT_OPTIONS)
def softmax_cross_entropy(logits, labels, weights, grad):
    """Weighted mean of ``-log softmax(z)[y]``; ``grad = w (softmax(z) - onehot(y)) / sum(w)``.

    Without ``weights`` (an empty array) every row weighs 1: the plain mean.
    """
    return _softmax_cross_entropy(logits, labels, weights, grad, *_whole_batch(logits, weights))


# Blocks of at least COLUMNS_FROM rows are taken COLUMNS rows at a time, a class at a time
# (:func:`_softmax_columns`): a row has a few classes (10 for digits), too few for a loop over
# them to vectorise, while a class's column has a number for every row.
COLUMNS_FROM = 16
COLUMNS = 64


@njit(**JIT_OPTIONS)
def _softmax_cross_entropy(logits, labels, weights, grad, m, weight):
    """:func:`softmax_cross_entropy`'s terms for some rows of a batch of ``m`` rows
    and weight ``weight`` (see :func:`rows_loss_and_grad`)."""
    n = logits.shape[0]
    if n >= COLUMNS_FROM:
        columns = np.empty((logits.shape[1] + 2, min(n, COLUMNS)), logits.dtype)
        total = 0.0
        for r0 in range(0, n, COLUMNS):
            r1 = min(n, r0 + COLUMNS)
            total += _softmax_columns(logits, labels, weights, grad, m, weight, r0, r1, columns)
        return total
    total = 0.0
    for r in range(n):
        share = _share(r, m, weights, weight)
        z = logits[r]
        g = grad[r]
        log_norm = _softmax_row(z, g)
        c = logits.dtype.type(share)
        for j in range(z.shape[0]):
            g[j] *= c
        y = labels[r]
        g[y] -= c
        total += share * _exact_difference(log_norm, z[y])
    return total


@njit(**JIT_OPTIONS)
def _softmax_columns(logits, labels, weights, grad, m, weight, r0, r1, columns):
    """:func:`_softmax_cross_entropy` of the rows ``r0:r1``, a class at a time: ``columns``
    holds the rows' logits of each class (then their exponentials), their maximum and their
    sum, one row of ``columns`` each. Each row gets the operations of :func:`_softmax_row`, its
    sum in the order of its classes; every loop runs over rows, so a row's numbers do not
    depend on the rows beside it."""
    n, k = r1 - r0, logits.shape[1]
    top, s = columns[k, :n], columns[k + 1, :n]
    for r in range(n):
        for j in range(k):
            columns[j, r] = logits[r0 + r, j]
    for r in range(n):
        top[r] = columns[0, r]
    for j in range(k):
        column = columns[j, :n]
        for r in range(n):
            top[r] = max(top[r], column[r])
    for j in range(k):
        column = columns[j, :n]
        for r in range(n):
            column[r] = exp(column[r] - top[r])
    for r in range(n):
        s[r] = 0
    for j in range(k):  # each row's sum in the order of its classes
        column = columns[j, :n]
        for r in range(n):
            s[r] += column[r]
    total = 0.0
    for r in range(n):
        share = _share(r0 + r, m, weights, weight)
        c = logits.dtype.type(share)
        inverse = logits.dtype.type(1) / s[r]
        g = grad[r0 + r]
        for j in range(k):
            g[j] = (columns[j, r] * inverse) * c
        y = labels[r0 + r]
        g[y] -= c
        total += share * _exact_difference(top[r] + math.log(s[r]), logits[r0 + r, y])
    return total


@njit(**JIT_OPTIONS)
def binary_cross_entropy(logits, targets, weights, grad):
    """Weighted mean over rows (and mean over outputs) of ``max(z, 0) - z y + log(1 + exp(-|z|))``;
    ``grad = w (sigmoid(z) - y) / (sum(w) k)`` for k outputs.

    Computed from the logits, so it is finite for any logit.
    """
    return _binary_cross_entropy(logits, targets, weights, grad, *_whole_batch(logits, weights))


@njit(**JIT_OPTIONS)
def _binary_cross_entropy(logits, targets, weights, grad, m, weight):
    """:func:`binary_cross_entropy`'s terms for some rows of a batch of ``m`` rows
    and weight ``weight`` (see :func:`rows_loss_and_grad`)."""
    k = logits.shape[1]
    one = logits.dtype.type(1)
    zero = logits.dtype.type(0)
    total = 0.0
    for r in range(logits.shape[0]):
        c = _share(r, m, weights, weight) / k
        scale = logits.dtype.type(c)
        for j in range(k):
            grad[r, j] = (_sigmoid(logits[r, j], one) - targets[r, j]) * scale
        for j in range(k):  # reads only: see the module's docstring
            total += c * _binary_term(logits[r, j], targets[r, j], zero)
    return total


@njit(**JIT_OPTIONS)
def mean_squared_error(outputs, targets, weights, grad):
    """Weighted mean over rows (and mean over outputs) of ``(y_hat - y)**2``;
    ``grad = 2 w (y_hat - y) / (sum(w) k)``."""
    return _mean_squared_error(outputs, targets, weights, grad, *_whole_batch(outputs, weights))


@njit(**JIT_OPTIONS)
def _mean_squared_error(outputs, targets, weights, grad, m, weight):
    """:func:`mean_squared_error`'s terms for some rows of a batch of ``m`` rows
    and weight ``weight`` (see :func:`rows_loss_and_grad`)."""
    k = outputs.shape[1]
    total = 0.0
    for r in range(outputs.shape[0]):
        c = _share(r, m, weights, weight) / k
        scale = outputs.dtype.type(2 * c)
        for j in range(k):
            grad[r, j] = (outputs[r, j] - targets[r, j]) * scale
        for j in range(k):  # reads only: see the module's docstring
            d = outputs[r, j] - targets[r, j]
            total += c * (d * d)
    return total


@njit(**EXACT_OPTIONS)
def _poisson_term(z, y):
    # the deviance y log(y / mu) - y + mu with mu = exp(z): exp(z) - y z + y log y - y
    tail = y * math.log(y) - y if y > 0 else 0.0
    return (exp(z) - y * z) + tail


@njit(**JIT_OPTIONS)
def poisson(logits, targets, weights, grad):
    """Poisson deviance with a log link, from the linear outputs z (the mean is ``exp(z)``):
    weighted mean over rows (and mean over outputs) of ``exp(z) - y z + y log y - y``;
    ``grad = w (exp(z) - y) / (sum(w) k)``."""
    return _poisson(logits, targets, weights, grad, *_whole_batch(logits, weights))


@njit(**JIT_OPTIONS)
def _poisson(logits, targets, weights, grad, m, weight):
    """:func:`poisson`'s terms for some rows of a batch of ``m`` rows
    and weight ``weight`` (see :func:`rows_loss_and_grad`)."""
    k = logits.shape[1]
    total = 0.0
    for r in range(logits.shape[0]):
        c = _share(r, m, weights, weight) / k
        scale = logits.dtype.type(c)
        for j in range(k):
            grad[r, j] = (exp(logits[r, j]) - targets[r, j]) * scale
        for j in range(k):  # reads only: see the module's docstring
            total += c * _poisson_term(logits[r, j], targets[r, j])
    return total


@njit(**JIT_OPTIONS)
def _log_sum_exp_row(z):
    """``log(sum(exp(z)))`` of one row, shifted by its maximum (no exp overflows)."""
    top = z[0]
    for j in range(z.shape[0]):
        top = max(top, z[j])
    s = z.dtype.type(0)
    for j in range(z.shape[0]):
        s += exp(z[j] - top)
    return top + math.log(s)


@njit(**JIT_OPTIONS)
def loss_value(loss, outputs, labels, targets, weights):
    """The weighted mean (over rows, and over outputs) of the loss of code ``loss``, without its
    gradient: what evaluating needs."""
    m, k = outputs.shape
    weight = _total_weight(m, weights)
    zero = outputs.dtype.type(0)
    total = 0.0
    for r in range(m):
        share = _share(r, m, weights, weight)
        z = outputs[r]
        if loss == SOFTMAX_CROSS_ENTROPY:
            total += share * _exact_difference(_log_sum_exp_row(z), z[labels[r]])
            continue
        c = share / k
        for j in range(k):
            if loss == BINARY_CROSS_ENTROPY:
                total += c * _binary_term(z[j], targets[r, j], zero)
            elif loss == POISSON:
                total += c * _poisson_term(z[j], targets[r, j])
            else:
                d = z[j] - targets[r, j]
                total += c * (d * d)
    return total


@njit(**JIT_OPTIONS)
def loss_and_grad(loss, outputs, labels, targets, weights, grad):
    """The weighted mean loss of code ``loss`` and its gradient: the loss table, dispatched."""
    return rows_loss_and_grad(loss, outputs, labels, targets, weights, grad,
                              *_whole_batch(outputs, weights))  # fmt: skip


@njit(**JIT_OPTIONS)
def rows_loss_and_grad(loss, outputs, labels, targets, weights, grad, m, weight):
    """:func:`loss_and_grad` on some consecutive rows of a batch of ``m`` rows whose weight
    (:func:`_total_weight`) is ``weight``, the arrays being those rows': their terms of the
    batch's mean, and their rows of its gradient. The terms of consecutive blocks of rows,
    added in order, are the batch's mean up to rounding."""
    if loss == SOFTMAX_CROSS_ENTROPY:
        return _softmax_cross_entropy(outputs, labels, weights, grad, m, weight)
    if loss == BINARY_CROSS_ENTROPY:
        return _binary_cross_entropy(outputs, targets, weights, grad, m, weight)
    if loss == POISSON:
        return _poisson(outputs, targets, weights, grad, m, weight)
    return _mean_squared_error(outputs, targets, weights, grad, m, weight)


@njit(**JIT_OPTIONS)
def n_correct(loss, outputs, labels, targets, weights):
    """The (weighted) number of rows the outputs classify correctly; 0 for regression losses.

    Softmax: the largest logit is the label. Binary cross-entropy: every output's logit is
    positive exactly where the target is 1 (sigmoid(z) > 0.5 means z > 0).
    """
    correct = 0.0
    for r in range(outputs.shape[0]):
        if loss == SOFTMAX_CROSS_ENTROPY:
            right = np.argmax(outputs[r]) == labels[r]
        elif loss == BINARY_CROSS_ENTROPY:
            right = True
            for j in range(outputs.shape[1]):
                right = right and ((outputs[r, j] > 0) == (targets[r, j] > 0.5))
        else:
            right = False
        if right:
            correct += weights[r] if weights.shape[0] > 0 else 1.0
    return correct
