"""Per-sample row kernels on the flat parameter buffer.

One sample at a time, a layer's ``W`` is visited row by row (row ``i`` multiplies input ``i``),
so the rows of zero inputs can be skipped: their contribution to ``z`` and their gradient are
exactly zero. A sample's input is given as a sparse row: ``count`` pairs of an input index
``indices[c]`` and its value ``values[c]``, as :func:`_find_nonzero` writes them for a dense row
and as a CSR matrix stores them. Every kernel reads ``W`` and ``b`` of one layer at ``w_offset``
and ``b_offset`` in ``params`` and writes into preallocated outputs.

A layer with few outputs (the 10 logits of MNIST) is instead kept transposed during a
per-sample epoch, ``W^T`` (n_out, n_in) in the same place, and visited by the ``_cols``
kernels: each of its rows is a column of ``W``, so every loop runs over the n_in inputs, which
vectorise, rather than over the n_out outputs, too few to fill a vector register.
"""

from numba import njit

from ._config import JIT_OPTIONS


@njit(**JIT_OPTIONS)
def _copy_into(dst, src, first, count):
    """dst[:count] = src[first : first + count], as a loop.

    The kernels copy with loops rather than slice assignments: Numba compiles, for each slice
    assignment from an array, an error message that formats both shapes, and that string
    machinery took seconds of a first run's compile.
    """
    for c in range(count):
        dst[c] = src[first + c]


@njit(**JIT_OPTIONS)
def _find_nonzero(x, indices, values):
    """Write the indices of the nonzero ``x`` into ``indices`` and their values into
    ``values``; return their count.

    Branch-free: every index and value is written and the count only moves past the nonzero
    ones, so the scan costs the same whatever the pattern of zeros.
    """
    count = 0
    for i in range(x.shape[0]):
        indices[count] = i
        values[count] = x[i]
        count += x[i] != 0
    return count


@njit(**JIT_OPTIONS)
def _row(params, w_offset, n_out, i):
    """Row i of the (n_in, n_out) weight matrix stored flat in ``params`` from ``w_offset``."""
    first = w_offset + i * n_out
    return params[first : first + n_out]


@njit(**JIT_OPTIONS)
def _forward_rows(indices, values, count, params, w_offset, b_offset, z):
    """z = b + sum of values[c] W[indices[c], :] over the ``count`` pairs of a sparse row.

    Four rows at a time, so that z is loaded and stored once per four rows of W.
    """
    n_out = z.shape[0]
    for j in range(n_out):  # loops, not slice assignments: see _copy_into
        z[j] = params[b_offset + j]
    c = 0
    while c + 4 <= count:
        i0, i1, i2, i3 = indices[c], indices[c + 1], indices[c + 2], indices[c + 3]
        x0, x1, x2, x3 = values[c], values[c + 1], values[c + 2], values[c + 3]
        r0, r1 = _row(params, w_offset, n_out, i0), _row(params, w_offset, n_out, i1)
        r2, r3 = _row(params, w_offset, n_out, i2), _row(params, w_offset, n_out, i3)
        for j in range(n_out):
            z[j] += x0 * r0[j] + x1 * r1[j] + x2 * r2[j] + x3 * r3[j]
        c += 4
    while c < count:
        xi, row = values[c], _row(params, w_offset, n_out, indices[c])
        for j in range(n_out):
            z[j] += xi * row[j]
        c += 1


@njit(**JIT_OPTIONS)
def _update_rows(indices, values, count, params, w_offset, b_offset, delta, rate):
    """Plain SGD step W[indices[c], :] -= rate values[c] delta over a sparse row's pairs, and
    b -= rate delta.

    dW = outer(x, delta) is zero on the rows of zero inputs, so those rows do not move.
    """
    n_out = delta.shape[0]
    c = 0
    while c + 4 <= count:
        i0, i1, i2, i3 = indices[c], indices[c + 1], indices[c + 2], indices[c + 3]
        s0 = rate * values[c]
        s1 = rate * values[c + 1]
        s2 = rate * values[c + 2]
        s3 = rate * values[c + 3]
        r0, r1 = _row(params, w_offset, n_out, i0), _row(params, w_offset, n_out, i1)
        r2, r3 = _row(params, w_offset, n_out, i2), _row(params, w_offset, n_out, i3)
        for j in range(n_out):
            d = delta[j]
            r0[j] -= s0 * d
            r1[j] -= s1 * d
            r2[j] -= s2 * d
            r3[j] -= s3 * d
        c += 4
    while c < count:
        step, row = rate * values[c], _row(params, w_offset, n_out, indices[c])
        for j in range(n_out):
            row[j] -= step * delta[j]
        c += 1
    bias = params[b_offset : b_offset + n_out]
    for j in range(n_out):
        bias[j] -= rate * delta[j]


@njit(**JIT_OPTIONS)
def _backward_rows(x, dact, params, w_offset, b_offset, delta, delta_prev, rate, update):
    """delta_prev = (W delta) * act'(z_prev), row by row, reading each row before it moves.

    ``x`` is the layer's input and ``dact`` the derivative of the activation that made it.
    With ``update`` the plain SGD step of this layer is fused into the same pass.
    """
    n_out = delta.shape[0]
    zero = params.dtype.type(0)
    for i in range(x.shape[0]):
        row = _row(params, w_offset, n_out, i)
        d = dact[i]
        acc = zero
        if d != 0:
            for j in range(n_out):
                acc += row[j] * delta[j]
        delta_prev[i] = acc * d
        if update and x[i] != 0:
            step = rate * x[i]
            for j in range(n_out):
                row[j] -= step * delta[j]
    if update:
        bias = params[b_offset : b_offset + n_out]
        for j in range(n_out):
            bias[j] -= rate * delta[j]


@njit(**JIT_OPTIONS)
def _forward_cols(x, params, w_offset, b_offset, z):
    """z = b + x W for a layer stored transposed: ``W^T`` (n_out, n_in) from ``w_offset``.

    One dot product of ``x`` with each row of ``W^T`` (a column of W), over every input.
    """
    n_in = x.shape[0]
    zero = params.dtype.type(0)
    for j in range(z.shape[0]):
        column = _row(params, w_offset, n_in, j)
        acc = zero
        for i in range(n_in):
            acc += column[i] * x[i]
        z[j] = params[b_offset + j] + acc


@njit(**JIT_OPTIONS)
def _backward_cols(x, dact, params, w_offset, b_offset, delta, delta_prev, rate, update):
    """:func:`_backward_rows` for a layer stored transposed: ``W^T`` (n_out, n_in).

    delta_prev = (W delta) * act'(z_prev) is summed one row of ``W^T`` at a time, and with
    ``update`` that row's plain SGD step, ``W^T[j] -= rate delta[j] x``, is fused into the same
    pass (each weight is read for delta_prev before it moves).
    """
    n_in = x.shape[0]
    zero = params.dtype.type(0)
    for i in range(n_in):
        delta_prev[i] = zero
    for j in range(delta.shape[0]):
        column = _row(params, w_offset, n_in, j)
        dj = delta[j]
        if update:
            step = rate * dj
            for i in range(n_in):
                delta_prev[i] += column[i] * dj
                column[i] -= step * x[i]
        else:
            for i in range(n_in):
                delta_prev[i] += column[i] * dj
    for i in range(n_in):  # as _backward_rows: a zero derivative gives 0, even for inf * 0
        delta_prev[i] = delta_prev[i] * dact[i] if dact[i] != 0 else zero
    if update:
        bias = params[b_offset : b_offset + delta.shape[0]]
        for j in range(delta.shape[0]):
            bias[j] -= rate * delta[j]
