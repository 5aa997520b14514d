"""The loss and gradient over a whole data set, for full-batch optimizers (L-BFGS).

The rows go through the network in chunks of ``chunk`` samples, so the work buffers stay small
whatever the data's size; each chunk's gradient joins the total with its share of the weight.
"""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS
from .batch import (
    _backward_hidden,
    _first_layer_gradient,
    _forward,
    _gather,
    _longest_row,
    _n_samples,
    _sparse_rows,
    _times_derivative,
    _views,
    _widest,
    compiled_data,
    stored_views,
    unit_offsets,
)
from .codes import ACT, N_IN, N_OUT
from .fpmode import subnormals_flushed
from .losses import loss_and_grad


def full_batch_gradient(params, layout, data, loss, chunk, grads):
    """Fill ``grads`` (laid out like ``params``) with the gradient of the (weighted) mean loss
    over every sample of ``data`` (its ``X`` dense or CSR) and return that loss, with subnormal
    numbers flushed to zero (see :mod:`.fpmode`). No penalty term is included."""
    with subnormals_flushed():
        return _full_batch_gradient(params, layout, compiled_data(data), loss, chunk, grads)


@njit(**JIT_OPTIONS)
def _full_batch_gradient(params, layout, data, loss, chunk, grads):
    """Fill ``grads`` (laid out like ``params``) with the gradient of the (weighted) mean loss
    over every sample of ``data`` and return that loss. No penalty term is included."""
    dtype = params.dtype
    n, n_layers = _n_samples(data), layout.shape[0]
    units = unit_offsets(layout)
    n_in0, n_out = layout[0, N_IN], layout[n_layers - 1, N_OUT]
    chunk = max(1, min(chunk, n))
    sparse = data.indptr.shape[0] > 0  # CSR rows take the first layer over their nonzeros
    xbuf = np.empty(0 if sparse else chunk * n_in0, dtype)
    zbuf = np.empty(chunk * units[n_layers], dtype)
    abuf = np.empty(chunk * units[n_layers], dtype)
    deltas = np.empty((2, chunk * _widest(layout)), dtype)
    work = np.empty(chunk * _widest(layout), dtype)
    labels = np.empty(chunk, np.int64)
    targets = np.empty((chunk, data.targets.shape[1]), dtype)
    weighted = data.weights.shape[0] > 0
    weights = np.empty(chunk if weighted else 0, dtype)
    part = np.zeros_like(params)  # one chunk's gradient; padding stays zero
    W0, _ = stored_views(params, layout, 0)
    dW0, db0 = stored_views(part, layout, 0)
    order = np.arange(n)
    longest = _longest_row(data) if sparse else 0
    nonzero = np.empty((chunk, longest), data.indices.dtype)
    values = np.empty((chunk, longest), dtype)
    counts = np.empty(chunk, np.int64)
    total = 0.0
    for i in range(n):
        total += data.weights[i] if weighted else 1.0
    grads[:] = 0
    mean_loss = 0.0
    for first in range(0, n, chunk):
        m = min(chunk, n - first)
        x = xbuf[: 0 if sparse else m * n_in0].reshape(-1, n_in0)
        weight = _gather(data, order, first, m, x, labels, targets, weights)
        if weight == 0:
            continue
        if sparse:
            _sparse_rows(data, order, first, x, nonzero, values, counts[:m])
        zs, acts = _views(zbuf, m, layout, units), _views(abuf, m, layout, units)
        _forward(params, layout, x, W0, sparse, nonzero, values, counts[:m], zs, acts)
        delta = deltas[0, : m * n_out].reshape(m, n_out)
        batch_weights = weights[:m] if weighted else weights
        mean_loss += weight / total * loss_and_grad(loss, acts[n_layers - 1], labels[:m],
                                                    targets[:m], batch_weights, delta)  # fmt: skip
        _times_derivative(delta, zs[n_layers - 1], acts[n_layers - 1], layout[n_layers - 1, ACT],
                          work[: m * n_out].reshape(m, n_out))  # fmt: skip
        delta = _backward_hidden(params, part, layout, zs, acts, deltas, work)
        _first_layer_gradient(x, sparse, nonzero, values, counts[:m], W0, delta, dW0, db0)
        share = dtype.type(weight / total)
        for i in range(grads.shape[0]):
            grads[i] += share * part[i]
    return mean_loss
