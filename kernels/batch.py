"""What the mini-batch epoch and the full-batch gradient share: gathering a batch, the forward
pass, the output delta and the backward pass through the hidden layers, on (m, width) views of
flat work buffers."""

from numba import njit

from ..params import ACT, B_OFFSET, N_IN, N_OUT, W_OFFSET
from ..params import layer_views as _layer_views
from ..params import unit_offsets as _unit_offsets
from ._config import JIT_OPTIONS
from .activations import _activate_row, activation_derivative
from .dense import dense_backward, dense_forward
from .rows import forward_rows

layer_views = njit(**JIT_OPTIONS)(_layer_views)
unit_offsets = njit(**JIT_OPTIONS)(_unit_offsets)


@njit(**JIT_OPTIONS)
def _widest(layout):
    return max(layout[:, N_IN].max(), layout[:, N_OUT].max())


@njit(**JIT_OPTIONS)
def _count_nonzero(x):
    count = 0
    for r in range(x.shape[0]):
        for i in range(x.shape[1]):
            count += x[r, i] != 0
    return count


@njit(**JIT_OPTIONS)
def _sparse_weight_gradient(x, nonzero, counts, delta, dW, db):
    """dW = x^T delta and db = sum(delta, 0), visiting only the nonzero entries of x."""
    dW[:] = 0
    db[:] = 0
    for r in range(x.shape[0]):
        d = delta[r]
        for j in range(d.shape[0]):
            db[j] += d[j]
        for c in range(counts[r]):
            i = nonzero[r, c]
            xi, row = x[r, i], dW[i]
            for j in range(d.shape[0]):
                row[j] += xi * d[j]


@njit(**JIT_OPTIONS)
def _gather(data, order, first, x, labels, targets, weights):
    """Copy the batch's rows ``order[first : first + len(x)]`` into the work buffers; return
    the batch's total weight (its size without weights)."""
    total = 0.0
    for r in range(x.shape[0]):
        s = order[first + r]
        x[r] = data.X[s]
        if data.labels.shape[0] > 0:
            labels[r] = data.labels[s]
        if data.targets.shape[0] > 0:
            targets[r] = data.targets[s]
        if data.weights.shape[0] > 0:
            weights[r] = data.weights[s]
            total += weights[r]
        else:
            total += 1.0
    return total


@njit(**JIT_OPTIONS)
def _forward(params, layout, x, sparse, nonzero, counts, zs, acts):
    """z_l = a_{l-1} W_l + b_l, a_l = act(z_l) for every layer, into the (m, width) views.

    A sparse batch takes the first layer row by row over its nonzero inputs.
    """
    inp = x
    for layer in range(layout.shape[0]):
        W, b = layer_views(params, layout, layer)
        zl, al = zs[layer], acts[layer]
        if layer == 0 and sparse:
            for r in range(x.shape[0]):
                forward_rows(x[r], nonzero[r], counts[r], params, layout[0, W_OFFSET],
                             layout[0, B_OFFSET], zl[r])  # fmt: skip
                _activate_row(zl[r], layout[0, ACT], al[r])
        else:
            dense_forward(inp, W, b, layout[layer, ACT], zl, al)
        inp = al


@njit(**JIT_OPTIONS)
def _times_derivative(delta, z, a, act, work):
    """delta *= act'(z), with ``work`` as the buffer for act'."""
    activation_derivative(z, a, act, work)
    for r in range(delta.shape[0]):
        for j in range(delta.shape[1]):
            delta[r, j] *= work[r, j]


@njit(**JIT_OPTIONS)
def _backward_hidden(params, grads, layout, zs, acts, deltas, work):
    """dW_l = a_{l-1}^T delta_l, db_l = sum delta_l and delta_{l-1} = delta_l W_l^T act'(z_{l-1})
    for the layers above the first; returns delta_1, the first layer's delta.

    The two rows of ``deltas`` take turns: the output layer's delta is in row 0, and each layer
    reads its delta from one row and writes the next delta into the other.
    """
    m = acts[0].shape[0]
    n_layers = layout.shape[0]
    delta = deltas[0, : m * layout[n_layers - 1, N_OUT]].reshape(m, layout[n_layers - 1, N_OUT])
    which = 0
    for layer in range(n_layers - 1, 0, -1):
        W, _ = layer_views(params, layout, layer)
        dW, db = layer_views(grads, layout, layer)
        n_in = layout[layer, N_IN]
        dx = deltas[1 - which, : m * n_in].reshape(m, n_in)
        dense_backward(acts[layer - 1], W, delta, dW, db, dx)
        _times_derivative(dx, zs[layer - 1], acts[layer - 1], layout[layer - 1, ACT],
                          work[: m * n_in].reshape(m, n_in))  # fmt: skip
        delta = dx
        which = 1 - which
    return delta


@njit(**JIT_OPTIONS)
def _views(buffer, m, layout, units):
    """The (m, width) view of each layer's rows in a buffer of every layer's units."""
    views = []
    for layer in range(layout.shape[0]):
        lo, hi = m * units[layer], m * units[layer + 1]
        views.append(buffer[lo:hi].reshape(m, layout[layer, N_OUT]))
    return views
