"""What the mini-batch epoch and the full-batch gradient share: the training data as compiled
code takes it, gathering a batch, the forward pass, the output delta and the backward pass
through the hidden layers, on (m, width) views of flat work buffers.

A batch's first layer is either dense (BLAS products on the batch's rows) or sparse: each row
given as ``counts[r]`` pairs ``nonzero[r, c]``, ``values[r, c]`` (the nonzero inputs of a dense
row, or a CSR row as stored). The sparse products run on one core: on two, Numba's OpenMP
threads and BLAS's took each other's cores (see the README, Sparse data).
"""

from collections import namedtuple

import numpy as np
from numba import njit

from . import codes
from ._config import JIT_OPTIONS
from .activations import _activate_row, activation_derivative
from .codes import ACT, B_OFFSET, N_IN, N_OUT, TRANSPOSED, W_OFFSET
from .dense import _column_sums, dense_backward, dense_forward
from .rows import _copy_into, _find_nonzero, _forward_rows

# An epoch's data as the compiled loops take it: a dense ``X`` (n, n_features) with empty CSR
# arrays, or, for a CSR matrix, an empty ``X`` (0, n_features) with the matrix's ``indptr``
# (int64), ``indices`` (int32, sorted within each row) and ``values``. One compiled loop serves
# both and branches on ``indptr`` being empty; labels, targets and weights as in EpochData.
CompiledData = namedtuple("CompiledData", "X indptr indices values labels targets weights")
_NO_INDPTR = np.empty(0, np.int64)
_NO_INDICES = np.empty(0, np.int32)


def compiled_data(data):
    """The :data:`CompiledData` of an :data:`~fastnn._codes.EpochData` record whose ``X`` is a
    dense array or a canonical CSR matrix (as the model checks it); the arrays are not copied
    unless their index types differ."""
    X = data.X
    if isinstance(X, np.ndarray):
        return CompiledData(X, _NO_INDPTR, _NO_INDICES, np.empty(0, X.dtype), *data[1:])
    empty = np.empty((0, X.shape[1]), X.dtype)
    indptr = X.indptr.astype(np.int64, copy=False)
    indices = X.indices.astype(np.int32, copy=False)  # n_features < 2**31: a layer that wide
    return CompiledData(empty, indptr, indices, X.data, *data[1:])  # could not be allocated


stored_views = njit(**JIT_OPTIONS)(codes.stored_views)
unit_offsets = njit(**JIT_OPTIONS)(codes.unit_offsets)


@njit(**JIT_OPTIONS)
def _widest(layout):
    """The widest layer output: a row of deltas or of hidden activations holds at most this
    many numbers (the input's width, which may be a vocabulary's, never needs one)."""
    widest = 0
    for layer in range(layout.shape[0]):
        widest = max(widest, layout[layer, N_OUT])
    return widest


@njit(**JIT_OPTIONS)
def _largest_layer(layout):
    """The most weights any one layer has (n_in * n_out), as a loop: NumPy's max compiles for
    longer than the whole of this."""
    largest = 0
    for layer in range(layout.shape[0]):
        largest = max(largest, layout[layer, N_IN] * layout[layer, N_OUT])
    return largest


@njit(**JIT_OPTIONS)
def _n_samples(data):
    return data.indptr.shape[0] - 1 if data.indptr.shape[0] > 0 else data.X.shape[0]


@njit(**JIT_OPTIONS)
def _longest_row(data):
    """The most nonzero inputs a sample can have: a CSR row's largest count, else n_features."""
    if data.indptr.shape[0] == 0:
        return data.X.shape[1]
    longest = 0
    for s in range(data.indptr.shape[0] - 1):
        longest = max(longest, data.indptr[s + 1] - data.indptr[s])
    return longest


@njit(**JIT_OPTIONS)
def _sparse_rows(data, order, first, x, nonzero, values, counts):
    """The batch's first-layer input as sparse rows: a CSR matrix's rows ``order[first:]``
    copied as stored, or the nonzero entries of the dense rows ``x``."""
    if data.indptr.shape[0] > 0:
        for r in range(counts.shape[0]):
            s = order[first + r]
            lo, count = data.indptr[s], data.indptr[s + 1] - data.indptr[s]
            _copy_into(nonzero[r], data.indices, lo, count)
            _copy_into(values[r], data.values, lo, count)
            counts[r] = count
    else:
        for r in range(counts.shape[0]):
            counts[r] = _find_nonzero(x[r], nonzero[r], values[r])


@njit(**JIT_OPTIONS)
def _sparse_forward(nonzero, values, counts, params, w_offset, b_offset, act, z, a):
    """z = x W + b and a = act(z) for a batch of sparse rows."""
    for r in range(z.shape[0]):
        _forward_rows(nonzero[r], values[r], counts[r], params, w_offset, b_offset, z[r])
        _activate_row(z[r], act, a[r])


@njit(**JIT_OPTIONS)
def _scatter_rows(nonzero, values, counts, delta, target, scale):
    """target[i] += scale x[r, i] delta[r] for every nonzero x[r, i], in the batch's order: with
    ``target`` dW and ``scale`` 1 the weight gradient x^T delta; with ``target`` W and ``scale``
    -rate the plain SGD step, moving only the rows of nonzero inputs."""
    for r in range(counts.shape[0]):
        d = delta[r]
        for c in range(counts[r]):
            step, row = scale * values[r, c], target[nonzero[r, c]]
            for j in range(d.shape[0]):
                row[j] += step * d[j]


@njit(**JIT_OPTIONS)
def _first_layer_gradient(x, sparse, nonzero, values, counts, W, delta, dW, db):
    """dW = x^T delta and db = sum(delta, 0) of the first layer, over the nonzero inputs only
    when the batch is ``sparse``."""
    if sparse:
        dW[:] = 0
        _scatter_rows(nonzero, values, counts, delta, dW, dW.dtype.type(1))
        _column_sums(delta, db)
    else:
        dense_backward(x, W, delta, dW, db, np.empty((0, W.shape[0]), W.dtype))


@njit(**JIT_OPTIONS)
def _gather(data, order, first, m, x, labels, targets, weights):
    """Copy the labels, targets and weights of the batch's samples ``order[first : first +
    m]`` into the work buffers, and their rows into ``x`` when the input is dense; return the
    batch's total weight (its size without weights)."""
    dense = data.indptr.shape[0] == 0
    for r in range(m):
        s = order[first + r]
        if dense:
            _copy_into(x[r], data.X[s], 0, x.shape[1])
        if data.labels.shape[0] > 0:
            labels[r] = data.labels[s]
        if data.targets.shape[0] > 0:
            _copy_into(targets[r], data.targets[s], 0, targets.shape[1])
        if data.weights.shape[0] > 0:
            weights[r] = data.weights[s]
    if data.weights.shape[0] == 0:
        return float(m)
    total = 0.0
    for r in range(m):  # a loop that only reads: summed in one order (see losses.py)
        total += weights[r]
    return total


@njit(**JIT_OPTIONS)
def _forward(params, layout, x, W0, sparse, nonzero, values, counts, zs, acts):
    """z_l = a_{l-1} W_l + b_l, a_l = act(z_l) for every layer, into the (m, width) views.

    A sparse batch takes the first layer row by row over its nonzero inputs; a dense one
    multiplies ``x`` by ``W0``: the first layer's W, or (see :func:`_compact_columns`) the rows
    of it that the batch's compacted ``x`` meets.
    """
    inp = x
    for layer in range(layout.shape[0]):
        W, b = stored_views(params, layout, layer)
        zl, al = zs[layer], acts[layer]
        if layer == 0 and sparse:
            _sparse_forward(nonzero, values, counts, params, layout[0, W_OFFSET],
                            layout[0, B_OFFSET], layout[0, ACT], zl, al)  # fmt: skip
        elif layer == 0:
            dense_forward(inp, W0, b, layout[layer, ACT], zl, al)
        elif layout[layer, TRANSPOSED]:  # W stored as W^T: x W is x (W^T)^T
            dense_forward(inp, W.T, b, layout[layer, ACT], zl, al)
        else:
            dense_forward(inp, W, b, layout[layer, ACT], zl, al)
        inp = al


@njit(**JIT_OPTIONS)
def _touched_columns(x, columns):
    """List in ``columns`` the inputs (columns of ``x``) that are nonzero in some row; return
    how many, and how many nonzero entries ``x`` holds."""
    n_in = x.shape[1]
    n_cols = 0
    n_nonzero = 0
    for i in range(n_in):
        columns[i] = 0
    for r in range(x.shape[0]):
        row = x[r]
        for i in range(n_in):
            nonzero = row[i] != 0
            n_nonzero += nonzero
            columns[i] |= nonzero
    for i in range(n_in):
        if columns[i]:
            columns[n_cols] = i
            n_cols += 1
    return n_cols, n_nonzero


@njit(**JIT_OPTIONS)
def _compact_columns(x, W, columns, n_cols, x_out, W_out):
    """x_out = x[:, columns[:n_cols]] and W_out = W[columns[:n_cols]]: the inputs some row of
    the batch uses, and the rows of W they multiply. The others are zero in every row, so the
    products over what is left give the same z and, row for row, the same dW."""
    for r in range(x.shape[0]):
        row, out = x[r], x_out[r]
        for c in range(n_cols):
            out[c] = row[columns[c]]
    for c in range(n_cols):
        _copy_into(W_out[c], W[columns[c]], 0, W.shape[1])


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
        W, _ = stored_views(params, layout, layer)
        dW, db = stored_views(grads, layout, layer)  # laid out as W is stored
        n_in = layout[layer, N_IN]
        dx = deltas[1 - which, : m * n_in].reshape(m, n_in)
        if layout[layer, TRANSPOSED]:  # dW^T = delta^T x, dx = delta W^T
            np.dot(delta.T, acts[layer - 1], dW)
            _column_sums(delta, db)
            np.dot(delta, W, dx)
        else:
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
