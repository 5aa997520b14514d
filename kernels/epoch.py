"""One whole training epoch in compiled code, for any depth.

All parameters live in one flat buffer; ``layout`` (one int64 row per layer: weight offset, bias
offset, n_in, n_out, activation code) says where each layer's ``W`` (n_in, n_out) and ``b`` sit.
The velocity buffer mirrors the same layout. Work buffers are allocated once per call, never per
sample or per batch.

``batch_size == 1`` runs fused per-sample SGD: forward, loss gradient, backward and update of one
sample before the next, skipping zero inputs (and zero ReLU outputs) in the forward product and
in the weight update, which changes no number. Larger batches average the gradient over the batch
and reuse the single-purpose kernels (BLAS products), except that a batch whose inputs are mostly
zero takes the first layer's forward product and weight gradient over its nonzero inputs only.
:func:`train_epoch_hogwild` spreads per-sample SGD over threads without locks.
"""

import numpy as np
from numba import njit, prange

from .._codes import (
    ACT,
    B_OFFSET,
    BINARY_CROSS_ENTROPY,
    N_IN,
    N_OUT,
    SOFTMAX_CROSS_ENTROPY,
    W_OFFSET,
)
from ._config import JIT_OPTIONS, PARALLEL_OPTIONS
from .activations import _activate_row, _derivative_row, activation_derivative
from .dense import dense_backward, dense_forward
from .losses import binary_cross_entropy, mean_squared_error, softmax_cross_entropy
from .sgd import sgd_update

SPARSE_DENSITY = 0.3  # below this fraction of nonzero inputs, a batch's first layer goes sparse


@njit(**JIT_OPTIONS)
def _layer(buffer, layout, layer):
    """The (W, b) views of one layer in a flat buffer laid out by ``layout``."""
    n_in, n_out = layout[layer, N_IN], layout[layer, N_OUT]
    w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
    return buffer[w : w + n_in * n_out].reshape(n_in, n_out), buffer[b : b + n_out]


@njit(**JIT_OPTIONS)
def _unit_offsets(layout):
    start = np.zeros(layout.shape[0] + 1, np.int64)
    for layer in range(layout.shape[0]):
        start[layer + 1] = start[layer] + layout[layer, N_OUT]
    return start


@njit(**JIT_OPTIONS)
def _loss_and_grad(loss, out, labels, targets, grad):
    if loss == SOFTMAX_CROSS_ENTROPY:
        return softmax_cross_entropy(out, labels, grad)
    if loss == BINARY_CROSS_ENTROPY:
        return binary_cross_entropy(out, targets, grad)
    return mean_squared_error(out, targets, grad)


@njit(**JIT_OPTIONS)
def _n_correct(loss, out, labels):
    correct = 0
    if loss == SOFTMAX_CROSS_ENTROPY:
        for r in range(out.shape[0]):
            correct += np.argmax(out[r]) == labels[r]
    elif loss == BINARY_CROSS_ENTROPY:
        for r in range(out.shape[0]):
            correct += (out[r, 0] > 0) == (labels[r] == 1)
    return correct


@njit(**JIT_OPTIONS)
def _find_nonzero(x, nonzero):
    """Write the indices of the nonzero ``x`` into ``nonzero``; return their count.

    Branch-free: every index is written and the count only moves past the nonzero ones, so
    the scan costs the same whatever the pattern of zeros.
    """
    count = 0
    for i in range(x.shape[0]):
        nonzero[count] = i
        count += x[i] != 0
    return count


@njit(**JIT_OPTIONS)
def _row(params, w, n_out, i):
    """Row i of the (n_in, n_out) weight matrix stored flat in ``params`` from offset w."""
    first = w + i * n_out
    return params[first : first + n_out]


@njit(**JIT_OPTIONS)
def _forward_rows(x, nonzero, count, params, w, b, z):
    """z = b + sum of x[i] W[i, :] over the listed rows i.

    Four rows at a time, so that z is loaded and stored once per four rows of W.
    """
    n_out = z.shape[0]
    z[:] = params[b : b + n_out]
    c = 0
    while c + 4 <= count:
        i0, i1, i2, i3 = nonzero[c], nonzero[c + 1], nonzero[c + 2], nonzero[c + 3]
        x0, x1, x2, x3 = x[i0], x[i1], x[i2], x[i3]
        r0, r1 = _row(params, w, n_out, i0), _row(params, w, n_out, i1)
        r2, r3 = _row(params, w, n_out, i2), _row(params, w, n_out, i3)
        for j in range(n_out):
            z[j] += x0 * r0[j] + x1 * r1[j] + x2 * r2[j] + x3 * r3[j]
        c += 4
    while c < count:
        i = nonzero[c]
        xi, row = x[i], _row(params, w, n_out, i)
        for j in range(n_out):
            z[j] += xi * row[j]
        c += 1


@njit(**JIT_OPTIONS)
def _update_rows(x, nonzero, count, params, w, b, delta, rate):
    """Plain SGD step W[i, :] -= rate x[i] delta on the listed rows, b -= rate delta.

    dW = outer(x, delta) is zero on the rows of zero inputs, so those rows do not move.
    """
    n_out = delta.shape[0]
    c = 0
    while c + 4 <= count:
        i0, i1, i2, i3 = nonzero[c], nonzero[c + 1], nonzero[c + 2], nonzero[c + 3]
        s0, s1, s2, s3 = rate * x[i0], rate * x[i1], rate * x[i2], rate * x[i3]
        r0, r1 = _row(params, w, n_out, i0), _row(params, w, n_out, i1)
        r2, r3 = _row(params, w, n_out, i2), _row(params, w, n_out, i3)
        for j in range(n_out):
            d = delta[j]
            r0[j] -= s0 * d
            r1[j] -= s1 * d
            r2[j] -= s2 * d
            r3[j] -= s3 * d
        c += 4
    while c < count:
        i = nonzero[c]
        step, row = rate * x[i], _row(params, w, n_out, i)
        for j in range(n_out):
            row[j] -= step * delta[j]
        c += 1
    bias = params[b : b + n_out]
    for j in range(n_out):
        bias[j] -= rate * delta[j]


@njit(**JIT_OPTIONS)
def _backward_rows(x, dact, params, w, b, delta, delta_prev, rate, update):
    """delta_prev = (W delta) * act'(z_prev), row by row, reading each row before it moves.

    With ``update`` the plain SGD step of this layer (input ``x``) is fused into the same pass.
    """
    n_out = delta.shape[0]
    zero = params.dtype.type(0)
    for i in range(x.shape[0]):
        row = _row(params, w, n_out, i)
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
        bias = params[b : b + n_out]
        for j in range(n_out):
            bias[j] -= rate * delta[j]


@njit(**JIT_OPTIONS)
def _dense_update(x, params, velocity, layout, layer, delta, lr, momentum, nesterov, l1, l2, grow):
    """The full SGD step (momentum, Nesterov, penalties) with dW = outer(x, delta), db = delta."""
    W, b = _layer(params, layout, layer)
    VW, Vb = _layer(velocity, layout, layer)
    for i in range(W.shape[0]):
        xi = x[i]
        for j in range(delta.shape[0]):
            grow[j] = xi * delta[j]
        sgd_update(W[i], VW[i], grow, lr, momentum, nesterov, l1, l2)
    sgd_update(b, Vb, delta, lr, momentum, nesterov, 0.0, 0.0)


@njit(**JIT_OPTIONS)
def _per_sample_epoch(
    params, velocity, layout, X, labels, targets, order, loss,
    lr, momentum, nesterov, decay, l1, l2, t, stats,
):  # fmt: skip
    dtype = params.dtype
    n_layers = layout.shape[0]
    start = _unit_offsets(layout)
    widest = max(layout[:, N_IN].max(), layout[:, N_OUT].max())
    z = np.empty(start[n_layers], dtype)
    a = np.empty(start[n_layers], dtype)
    dact = np.empty(start[n_layers], dtype)
    delta = np.empty(widest, dtype)
    delta_prev = np.empty(widest, dtype)
    grow = np.empty(widest, dtype)
    nonzero_input = np.empty(layout[0, N_IN], np.int64)
    nonzero_hidden = np.empty(widest, np.int64)
    n_out = layout[n_layers - 1, N_OUT]
    grad = np.empty((1, n_out), dtype)
    last = start[n_layers - 1]
    plain = momentum == 0 and l1 == 0 and l2 == 0

    for k in range(order.shape[0]):
        s = order[k]
        x = X[s]
        lr_t = lr / (1.0 + decay * t)
        rate = dtype.type(lr_t)
        # forward: z_l = a_{l-1} W_l + b_l over the nonzero a_{l-1} only, a_l = act(z_l)
        count = _find_nonzero(x, nonzero_input)
        _forward_rows(x, nonzero_input, count, params, layout[0, W_OFFSET], layout[0, B_OFFSET],
                      z[: start[1]])  # fmt: skip
        _activate_row(z[: start[1]], layout[0, ACT], a[: start[1]])
        for layer in range(1, n_layers):
            lo, hi = start[layer], start[layer + 1]
            inp = a[start[layer - 1] : lo]
            n = _find_nonzero(inp, nonzero_hidden)
            _forward_rows(inp, nonzero_hidden, n, params, layout[layer, W_OFFSET],
                          layout[layer, B_OFFSET], z[lo:hi])  # fmt: skip
            _activate_row(z[lo:hi], layout[layer, ACT], a[lo:hi])
        # loss and dL/da of the output, then delta_L = dL/da * act'(z_L)
        out = a[last:].reshape(1, n_out)
        stats[0] += _loss_and_grad(loss, out, labels[s : s + 1], targets[s : s + 1], grad)
        stats[1] += _n_correct(loss, out, labels[s : s + 1])
        _derivative_row(z[last:], a[last:], layout[n_layers - 1, ACT], dact[last:])
        for j in range(n_out):
            delta[j] = grad[0, j] * dact[last + j]
        # backward and update, top layer first; each W is read for delta_{l-1} before it moves
        for layer in range(n_layers - 1, 0, -1):
            lo, hi = start[layer - 1], start[layer]
            _derivative_row(z[lo:hi], a[lo:hi], layout[layer - 1, ACT], dact[lo:hi])
            width = layout[layer, N_OUT]
            _backward_rows(a[lo:hi], dact[lo:hi], params, layout[layer, W_OFFSET],
                           layout[layer, B_OFFSET], delta[:width], delta_prev, rate,
                           plain)  # fmt: skip
            if not plain:
                _dense_update(a[lo:hi], params, velocity, layout, layer, delta[:width],
                              lr_t, momentum, nesterov, l1, l2, grow)  # fmt: skip
            delta, delta_prev = delta_prev, delta
        if plain:
            _update_rows(x, nonzero_input, count, params, layout[0, W_OFFSET],
                         layout[0, B_OFFSET], delta[: start[1]], rate)  # fmt: skip
        else:
            _dense_update(x, params, velocity, layout, 0, delta[: start[1]],
                          lr_t, momentum, nesterov, l1, l2, grow)  # fmt: skip
        t += 1
    return t


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
def _minibatch_epoch(
    params,
    velocity,
    layout,
    X,
    labels,
    targets,
    order,
    batch_size,
    loss,
    lr,
    momentum,
    nesterov,
    decay,
    l1,
    l2,
    t,
    stats,
):
    dtype = params.dtype
    n_layers = layout.shape[0]
    start = _unit_offsets(layout)
    widest = max(layout[:, N_IN].max(), layout[:, N_OUT].max())
    n_in0 = layout[0, N_IN]
    n_targets = targets.shape[1]
    xbuf = np.empty(batch_size * n_in0, dtype)
    zbuf = np.empty(batch_size * start[n_layers], dtype)
    abuf = np.empty(batch_size * start[n_layers], dtype)
    dbuf = np.empty(batch_size * widest, dtype)
    dbuf_prev = np.empty(batch_size * widest, dtype)
    dact = np.empty(batch_size * widest, dtype)
    grads = np.empty_like(params)
    label_buf = np.empty(batch_size, np.int64)
    target_buf = np.empty((batch_size, n_targets), dtype)
    no_dx = np.empty((0, n_in0), dtype)
    nonzero = np.empty((batch_size, n_in0), np.int64)
    counts = np.empty(batch_size, np.int64)
    plain = momentum == 0 and l1 == 0 and l2 == 0
    n = order.shape[0]

    for first in range(0, n, batch_size):
        m = min(batch_size, n - first)
        x = xbuf[: m * n_in0].reshape(m, n_in0)
        for r in range(m):
            s = order[first + r]
            x[r] = X[s]
            if labels.shape[0] > 0:
                label_buf[r] = labels[s]
            if targets.shape[0] > 0:
                target_buf[r] = targets[s]
        lr_t = lr / (1.0 + decay * t)
        # A mostly-zero batch (MNIST pixels) takes the first layer's products over its nonzero
        # inputs only; a dense batch goes to BLAS.
        sparse = _count_nonzero(x) < SPARSE_DENSITY * m * n_in0
        if sparse:
            for r in range(m):
                counts[r] = _find_nonzero(x[r], nonzero[r])
        # forward
        inp = x
        for layer in range(n_layers):
            W, b = _layer(params, layout, layer)
            width = layout[layer, N_OUT]
            zl = zbuf[m * start[layer] : m * start[layer + 1]].reshape(m, width)
            al = abuf[m * start[layer] : m * start[layer + 1]].reshape(m, width)
            if layer == 0 and sparse:
                for r in range(m):
                    _forward_rows(x[r], nonzero[r], counts[r], params, layout[0, W_OFFSET],
                                  layout[0, B_OFFSET], zl[r])  # fmt: skip
                    _activate_row(zl[r], layout[0, ACT], al[r])
            else:
                dense_forward(inp, W, b, layout[layer, ACT], zl, al)
            inp = al
        # loss, dL/da of the output (with the 1/m inside), delta_L = dL/da * act'(z_L)
        n_out = layout[n_layers - 1, N_OUT]
        delta = dbuf[: m * n_out].reshape(m, n_out)
        stats[0] += m * _loss_and_grad(loss, inp, label_buf[:m], target_buf[:m], delta)
        stats[1] += _n_correct(loss, inp, label_buf[:m])
        lo = m * start[n_layers - 1]
        zl = zbuf[lo : lo + m * n_out].reshape(m, n_out)
        d = dact[: m * n_out].reshape(m, n_out)
        activation_derivative(zl, inp, layout[n_layers - 1, ACT], d)
        for r in range(m):
            for j in range(n_out):
                delta[r, j] *= d[r, j]
        # backward: dW_l = a_{l-1}^T delta_l, db_l = sum delta_l, delta_{l-1} = delta_l W_l^T act'
        for layer in range(n_layers - 1, -1, -1):
            W, _ = _layer(params, layout, layer)
            dW, db = _layer(grads, layout, layer)
            n_in = layout[layer, N_IN]
            if layer == 0 and sparse and plain:
                # W -= lr_t x^T delta, one sample's nonzero rows at a time: no dW buffer
                for r in range(m):
                    _update_rows(x[r], nonzero[r], counts[r], params, layout[0, W_OFFSET],
                                 layout[0, B_OFFSET], delta[r], dtype.type(lr_t))  # fmt: skip
                break
            if layer == 0 and sparse:
                _sparse_weight_gradient(x, nonzero, counts, delta, dW, db)
                break
            if layer == 0:
                dense_backward(x, W, delta, dW, db, no_dx)
                break
            lo, hi = m * start[layer - 1], m * start[layer]
            zp = zbuf[lo:hi].reshape(m, n_in)
            ap = abuf[lo:hi].reshape(m, n_in)
            dx = dbuf_prev[: m * n_in].reshape(m, n_in)
            dense_backward(ap, W, delta, dW, db, dx)
            d = dact[: m * n_in].reshape(m, n_in)
            activation_derivative(zp, ap, layout[layer - 1, ACT], d)
            for r in range(m):
                for j in range(n_in):
                    dx[r, j] *= d[r, j]
            delta = dx
            dbuf, dbuf_prev = dbuf_prev, dbuf
        # update every layer with the batch's mean gradient (the first is done if it was fused)
        for layer in range(1 if sparse and plain else 0, n_layers):
            W, b = _layer(params, layout, layer)
            VW, Vb = _layer(velocity, layout, layer)
            dW, db = _layer(grads, layout, layer)
            sgd_update(
                W.reshape(-1), VW.reshape(-1), dW.reshape(-1), lr_t, momentum, nesterov, l1, l2
            )
            sgd_update(b, Vb, db, lr_t, momentum, nesterov, 0.0, 0.0)
        t += 1
    return t


@njit(**JIT_OPTIONS)
def train_epoch(
    params,
    velocity,
    layout,
    X,
    labels,
    targets,
    order,
    batch_size,
    loss,
    lr,
    momentum,
    nesterov,
    decay,
    l1,
    l2,
    t,
    stats,
):
    """Run SGD over the samples ``X[order]`` in batches of ``batch_size``; return the new ``t``.

    ``params`` and ``velocity`` are updated in place. ``labels`` (int64) serve the classification
    losses and ``targets`` (n, k) the others; the unused one may be empty. ``t`` counts the
    updates so far (for ``lr_t = lr / (1 + decay t)``). ``stats[0]`` accumulates the sum of the
    per-sample training losses and ``stats[1]`` the number of correct predictions, both measured
    before each update.
    """
    if batch_size == 1:
        return _per_sample_epoch(
            params,
            velocity,
            layout,
            X,
            labels,
            targets,
            order,
            loss,
            lr,
            momentum,
            nesterov,
            decay,
            l1,
            l2,
            t,
            stats,
        )
    return _minibatch_epoch(
        params,
        velocity,
        layout,
        X,
        labels,
        targets,
        order,
        batch_size,
        loss,
        lr,
        momentum,
        nesterov,
        decay,
        l1,
        l2,
        t,
        stats,
    )


@njit(**PARALLEL_OPTIONS)
def train_epoch_hogwild(
    params, velocity, layout, X, labels, targets, order, batch_size, loss,
    lr, momentum, nesterov, decay, l1, l2, t, stats, workers,
):  # fmt: skip
    """Per-sample SGD split across ``workers`` threads that update one set of parameters.

    Hogwild: each thread takes a contiguous share of ``order`` and updates ``params`` (and
    ``velocity``) in place without locks, so the threads' updates interleave and may overwrite
    each other. Results vary from run to run. With ``workers == 1`` it is
    :func:`train_epoch`. ``batch_size`` must be 1. Each thread decays its learning rate with
    ``workers`` times its own update count, close to the shared count. Returns
    ``t + len(order)``.
    """
    n = order.shape[0]
    share = -(-n // workers)
    partial = np.zeros((workers, 2))
    for w in prange(workers):
        lo = min(n, w * share)
        hi = min(n, lo + share)
        _per_sample_epoch(params, velocity, layout, X, labels, targets, order[lo:hi], loss, lr,
                          momentum, nesterov, decay * workers, l1, l2, t // workers,
                          partial[w])  # fmt: skip
    for w in range(workers):
        stats[0] += partial[w, 0]
        stats[1] += partial[w, 1]
    return t + n
