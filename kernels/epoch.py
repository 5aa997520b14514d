"""One whole training epoch in compiled code, for any depth and any optimizer.

All parameters live in one flat buffer; ``layout`` (see :mod:`fastnn.params`) says where each
layer's ``W`` (n_in, n_out) and ``b`` sit, and the optimizer's ``state`` rows mirror the same
layout. ``data`` is an :data:`~fastnn._codes.EpochData` record (its ``X`` dense or CSR; the
compiled loops take it as a :data:`.batch.CompiledData`), ``opt`` an
:class:`~fastnn.optimizers.OptimizerConfig`; ``t`` (a one-element int64 array) and ``stats`` (an
:data:`~fastnn._codes.EPOCH_STATS` record) are advanced in place, so they always match the
updates made. Work buffers are allocated once per call, never per sample or per batch.

``batch_size == 1`` runs fused per-sample training: forward, loss gradient, backward and update
of one sample before the next, skipping zero inputs (and zero ReLU outputs) in the forward
product and, with plain SGD, in the weight update, which changes no number; layers after the
first with fewer than 16 outputs are kept transposed for the call (see :mod:`.rows`), and are
back in the common layout when it returns. Larger batches
average the gradient over the batch and reuse the single-purpose kernels (BLAS products),
except that a batch whose inputs are sparse (a CSR matrix, or dense with enough zeros for the
batch's size: :func:`goes_sparse`) takes the first layer's forward product and weight gradient
over its nonzero inputs only.
A CSR row is read as stored, with no scan. Lazy optimizers (``opt.lazy``) step only the first
layer's rows of nonzero inputs. Each path compiles on first use only.
:func:`train_epoch_hogwild` spreads per-sample SGD over threads without locks (Python
threads running the serial kernel, which releases the GIL: no Numba threading layer, so fork-safe).
"""

import contextlib
import threading

import numpy as np
from numba import njit

from .._codes import new_stats
from ._config import JIT_OPTIONS
from .activations import _activate_row, _derivative_row
from .batch import (
    _backward_hidden,
    _compact_columns,
    _first_layer_gradient,
    _forward,
    _gather,
    _largest_layer,
    _longest_row,
    _scatter_rows,
    _sparse_rows,
    _times_derivative,
    _touched_columns,
    _views,
    _widest,
    compiled_data,
    layer_views,
    unit_offsets,
)
from .codes import ACT, B_OFFSET, N_IN, N_OUT, W_OFFSET
from .dense import _column_sums
from .fpmode import subnormals_flushed
from .losses import loss_and_grad, n_correct
from .rows import (
    _copy_into,
    backward_cols,
    backward_rows,
    find_nonzero,
    forward_cols,
    forward_rows,
    update_rows,
)
from .update import (
    _outer,
    _step_layer,
    is_plain_sgd,
    lazy_update,
    optimizer_update,
    outer_update,
    step_size,
)

# A batch's first layer goes sparse when its fraction of nonzero inputs is below
# SPARSE_DENSITY + SPARSE_ROWS / m, for a batch of m rows: BLAS pays per call and gains with m,
# the sparse loops cost the same per nonzero input. Fitted to the densities at which the two
# paths tied in MNIST-shaped epochs on the 2-core Xeon (plain SGD, float32): about 0.3 for
# batches of 32, 0.14 for 128, 0.11 to 0.12 for 512; for 128 the tie was at 0.14 for hidden
# widths 64, 256 and 1024 alike, so the width does not enter.
SPARSE_DENSITY = 0.1
SPARSE_ROWS = 6.0

# A dense batch goes to BLAS over only the inputs some row uses when they are fewer than this
# fraction of all: MNIST batches of 128 use about two thirds of the 784 pixels, and their
# epochs became 1.16x (784-128-10, SGD), 1.13x (Adam) and 1.26x (784-256-10) faster on the
# 2-core Xeon (medians of three alternating processes).
COMPACT_BELOW = 0.9


@njit(**JIT_OPTIONS)
def goes_sparse(n_nonzero, m, n_in):
    """Whether a dense batch of ``m`` rows of ``n_in`` inputs, ``n_nonzero`` of them nonzero,
    takes the sparse first layer: its density is below SPARSE_DENSITY + SPARSE_ROWS / m."""
    return n_nonzero < (SPARSE_DENSITY * m + SPARSE_ROWS) * n_in


# Per sample, a layer after the first with fewer outputs than this is kept transposed for the
# epoch call (see :mod:`.rows`). On the 2-core Xeon, MNIST per-sample SGD epochs (784-128-10)
# became 1.3x faster and 784-1024-10 1.1x to 1.3x; per-sample Adam, dominated by its dense
# first-layer step, did not change. The price is compile time: the epoch holds both the row
# and the column kernels (about 2.5 s more on a first run; see the README).
TRANSPOSE_BELOW = 16


def transposed_layers(layout):
    """Which layers the per-sample epoch keeps transposed (a boolean per layer): after the
    first, below TRANSPOSE_BELOW outputs (the first layer's rows are what zero inputs skip)."""
    flipped = np.zeros(layout.shape[0], np.bool_)
    flipped[1:] = layout[1:, N_OUT] < TRANSPOSE_BELOW
    return flipped


def transpose_layers(params, state, layout, flipped, back=False):
    """Rewrite the ``W`` of the ``flipped`` layers, and their optimizer state, from (n_in,
    n_out) to (n_out, n_in) in place, or ``back``. NumPy, called around the compiled epoch (a
    compiled wrapper would compile the epoch's whole loop a second time)."""
    for layer in np.flatnonzero(flipped):
        n_in, n_out, w = layout[layer, N_IN], layout[layer, N_OUT], layout[layer, W_OFFSET]
        shape = (n_out, n_in) if back else (n_in, n_out)
        for buffer in (params, *(state if state.shape[1] > 0 else ())):
            block = buffer[w : w + n_in * n_out]
            block[:] = block.reshape(shape).T.ravel()


@contextlib.contextmanager
def _small_layers_transposed(params, state, layout):
    """Transpose the layers :func:`transposed_layers` picks for the ``with`` block, and back
    after it whatever happens; gives their boolean mask (the per-sample epoch's ``flipped``)."""
    flipped = transposed_layers(layout)
    transpose_layers(params, state, layout, flipped)
    try:
        yield flipped
    finally:
        transpose_layers(params, state, layout, flipped, back=True)


@njit(**JIT_OPTIONS)
def per_sample_epoch(params, state, layout, data, order, loss, opt, t, stats, flipped):
    """Train on one sample at a time, in the order ``order`` (``data`` a CompiledData), with
    the ``W`` of the layers ``flipped`` names (and their optimizer state) stored transposed
    (see :func:`transpose_layers`).

    One long loop on purpose: the forward pass, the loss, the backward pass and the update of a
    sample are fused so that a sample's activations stay in L1 and nothing is allocated per
    sample; splitting it into more functions would not change what runs.
    """
    dtype = params.dtype
    n_layers = layout.shape[0]
    units = unit_offsets(layout)
    widest = _widest(layout)
    n_in0 = layout[0, N_IN]
    z = np.empty(units[n_layers], dtype)
    a = np.empty(units[n_layers], dtype)
    dact = np.empty(units[n_layers], dtype)
    delta = np.empty(widest, dtype)
    delta_prev = np.empty(widest, dtype)
    plain = is_plain_sgd(opt)
    lazy = opt.lazy and not plain
    sparse_input = data.indptr.shape[0] > 0
    # a layer's dW (a dense outer product, or the rows a lazy step moves)
    grad_work = np.empty(0 if plain else _largest_layer(layout), dtype)
    # the sample's input as a sparse row, and a hidden layer's nonzero activations
    input_indices, input_values = np.empty(n_in0, data.indices.dtype), np.empty(n_in0, dtype)
    nonzero_hidden, values_hidden = np.empty(widest, data.indices.dtype), np.empty(widest, dtype)
    # a CSR row written out dense, for the optimizers that step every weight of the layer
    dense_row = np.zeros(n_in0 if sparse_input and not (plain or lazy) else 0, dtype)
    n_out = layout[n_layers - 1, N_OUT]
    grad = np.empty((1, n_out), dtype)
    last = units[n_layers - 1]
    weighted = data.weights.shape[0] > 0
    record = stats[0]

    for k in range(order.shape[0]):
        s = order[k]
        record["n_seen"] += 1
        weight = data.weights[s] if weighted else 1.0
        if weight == 0:  # a sample of weight 0 contributes nothing, and makes no update
            continue
        penalty = 1.0 / weight if weighted else 1.0  # the L2 term over the batch's weight
        rate = step_size(opt, t[0])
        # forward: z_l = a_{l-1} W_l + b_l over the nonzero a_{l-1} only, a_l = act(z_l); the
        # input's nonzero entries are a CSR row as stored, or those a scan of x finds
        if sparse_input:
            lo, count = data.indptr[s], data.indptr[s + 1] - data.indptr[s]
            _copy_into(input_indices, data.indices, lo, count)
            _copy_into(input_values, data.values, lo, count)
        else:
            count = find_nonzero(data.X[s], input_indices, input_values)
        nonzero, values, n_nonzero = input_indices, input_values, count
        for layer in range(n_layers):
            lo, hi = units[layer], units[layer + 1]
            w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
            if flipped[layer]:
                forward_cols(a[units[layer - 1] : lo], params, w, b, z[lo:hi])
            else:
                if layer > 0:
                    nonzero, values = nonzero_hidden, values_hidden
                    n_nonzero = find_nonzero(a[units[layer - 1] : lo], nonzero, values)
                forward_rows(nonzero, values, n_nonzero, params, w, b, z[lo:hi])
            _activate_row(z[lo:hi], layout[layer, ACT], a[lo:hi])
        # loss and dL/da of the output, then delta_L = dL/da * act'(z_L)
        out = a[last:].reshape(1, n_out)
        labels, targets = data.labels[s : s + 1], data.targets[s : s + 1]
        weights = data.weights[s : s + 1]  # empty without weights
        mean = loss_and_grad(loss, out, labels, targets, weights, grad)
        record["loss_sum"] += weight * mean
        record["batch_loss_sum"] += mean
        record["correct_sum"] += n_correct(loss, out, labels, targets, weights)
        record["weight_sum"] += weight
        _derivative_row(z[last:], a[last:], layout[n_layers - 1, ACT], dact[last:])
        for j in range(n_out):
            delta[j] = grad[0, j] * dact[last + j]
        # backward and update, top layer first; each W is read for delta_{l-1} before it moves
        squares = 0.0
        for layer in range(n_layers - 1, 0, -1):
            lo, hi = units[layer - 1], units[layer]
            _derivative_row(z[lo:hi], a[lo:hi], layout[layer - 1, ACT], dact[lo:hi])
            width = layout[layer, N_OUT]
            w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
            if flipped[layer]:
                backward_cols(a[lo:hi], dact[lo:hi], params, w, b, delta[:width], delta_prev,
                              dtype.type(rate), plain)  # fmt: skip
                if not plain:  # the gradient written transposed, as W is
                    size = _outer(delta[:width], a[lo:hi], grad_work)
                    squares += _step_layer(params, state, w, b, grad_work[:size], delta[:width],
                                          opt, rate, penalty)  # fmt: skip
            else:
                backward_rows(a[lo:hi], dact[lo:hi], params, w, b, delta[:width], delta_prev,
                              dtype.type(rate), plain)  # fmt: skip
                if not plain:
                    squares += outer_update(a[lo:hi], delta[:width], params, state, w, b, opt,
                                            rate, penalty, grad_work)  # fmt: skip
            # delta_prev now holds delta_{l-1}: swap the names, so the next layer reads it as
            # delta and overwrites the old delta, which nothing needs any more
            delta, delta_prev = delta_prev, delta
        # the first layer, whose input is x: plain SGD and the lazy steps move only the rows of
        # nonzero inputs
        w, b = layout[0, W_OFFSET], layout[0, B_OFFSET]
        delta0 = delta[: units[1]]
        if plain:
            update_rows(input_indices, input_values, count, params, w, b, delta0,
                        dtype.type(rate))  # fmt: skip
        elif lazy:
            dW = grad_work[: n_in0 * units[1]].reshape(n_in0, units[1])
            for c in range(count):
                i, xi = input_indices[c], input_values[c]
                for j in range(units[1]):
                    dW[i, j] = xi * delta0[j]
            lazy_update(input_indices, count, dW, params, state, w, opt, rate)
            optimizer_update(params, state, b, delta0, opt, rate, 0.0)
        elif sparse_input:
            for c in range(count):
                dense_row[input_indices[c]] = input_values[c]
            squares += outer_update(dense_row, delta0, params, state, w, b, opt, rate, penalty,
                                    grad_work)  # fmt: skip
            for c in range(count):
                dense_row[input_indices[c]] = 0
        else:
            squares += outer_update(data.X[s], delta0, params, state, w, b, opt, rate, penalty,
                                    grad_work)  # fmt: skip
        record["penalty_sum"] += penalty * squares
        t[0] += 1


@njit(**JIT_OPTIONS)
def _touched_rows(nonzero, counts, position, touched):
    """List in ``touched`` the distinct input indices of a batch of sparse rows; return how
    many. ``position`` (n_features, all -1 between calls) marks the ones listed."""
    n = 0
    for r in range(counts.shape[0]):
        for c in range(counts[r]):
            i = nonzero[r, c]
            if position[i] < 0:
                position[i] = n
                touched[n] = i
                n += 1
    for c in range(n):
        position[touched[c]] = -1
    return n


@njit(**JIT_OPTIONS)
def minibatch_epoch(params, state, layout, data, order, loss, batch_size, opt, t, stats):
    """Train on batches of ``batch_size`` samples of ``order``, each step on the batch's mean
    gradient (the last, shorter batch is averaged over its own size); ``data`` a CompiledData.

    The work buffers are allocated once here and the batch loop runs in the same compiled call;
    each phase of a step is a helper of :mod:`.batch`, so what stays is the loop's plumbing.
    """
    dtype = params.dtype
    n_layers = layout.shape[0]
    units = unit_offsets(layout)
    widest = _widest(layout)
    n_in0, n_out0, n_out = layout[0, N_IN], layout[0, N_OUT], layout[n_layers - 1, N_OUT]
    sparse_input = data.indptr.shape[0] > 0
    plain = is_plain_sgd(opt)
    lazy = opt.lazy and not plain
    xbuf = np.empty(0 if sparse_input else batch_size * n_in0, dtype)
    columns = np.empty(0 if sparse_input else n_in0, np.int64)
    xc_buf = np.empty(0 if sparse_input else batch_size * n_in0, dtype)
    Wc_buf = np.empty(0 if sparse_input else n_in0 * n_out0, dtype)
    zbuf = np.empty(batch_size * units[n_layers], dtype)
    abuf = np.empty(batch_size * units[n_layers], dtype)
    deltas = np.empty((2, batch_size * widest), dtype)
    work = np.empty(batch_size * widest, dtype)
    grads = np.empty_like(params)
    labels = np.empty(batch_size, np.int64)
    targets = np.empty((batch_size, data.targets.shape[1]), dtype)
    weighted = data.weights.shape[0] > 0
    weights = np.empty(batch_size if weighted else 0, dtype)
    longest = _longest_row(data)
    nonzero = np.empty((batch_size, longest), data.indices.dtype)
    values = np.empty((batch_size, longest), dtype)
    counts = np.empty(batch_size, np.int64)
    touched = np.empty(n_in0 if lazy else 0, data.indices.dtype)
    position = np.full(n_in0 if lazy else 0, -1, np.int64)
    record = stats[0]
    W0, b0 = layer_views(params, layout, 0)
    dW0, db0 = layer_views(grads, layout, 0)
    w0 = layout[0, W_OFFSET]

    for first in range(0, order.shape[0], batch_size):
        m = min(batch_size, order.shape[0] - first)
        x = xbuf[: 0 if sparse_input else m * n_in0].reshape(-1, n_in0)
        total = _gather(data, order, first, m, x, labels, targets, weights)
        record["n_seen"] += m
        if total == 0:  # a batch of weight 0 contributes nothing, and makes no update
            continue
        batch_weights = weights[:m] if weighted else weights
        penalty = 1.0 / total if weighted else 1.0  # the L2 term over the batch's weight
        rate = step_size(opt, t[0])
        # Sparse input, a lazy step, or a dense batch with enough zeros (goes_sparse) takes
        # the first layer's products over the nonzero inputs only; the others go to BLAS.
        n_cols = n_in0
        sparse = sparse_input or lazy
        if not sparse:
            n_cols, n_nonzero = _touched_columns(x, columns)
            sparse = goes_sparse(n_nonzero, m, n_in0)
        # A dense batch whose rows all leave some inputs zero (an image's empty border)
        # multiplies only the inputs some row uses, and the rows of W0 they meet.
        compact = not sparse and n_cols < COMPACT_BELOW * n_in0
        x0, W0_used = x, W0
        if compact:
            x0 = xc_buf[: m * n_cols].reshape(m, n_cols)
            W0_used = Wc_buf[: n_cols * n_out0].reshape(n_cols, n_out0)
            _compact_columns(x, W0, columns, n_cols, x0, W0_used)
        if sparse:
            _sparse_rows(data, order, first, x, nonzero, values, counts[:m])
        zs, acts = _views(zbuf, m, layout, units), _views(abuf, m, layout, units)
        _forward(params, layout, x0, W0_used, sparse, nonzero, values, counts[:m], zs, acts)
        # loss, dL/da of the output (with the 1/m inside), delta_L = dL/da * act'(z_L)
        out = acts[n_layers - 1]
        delta = deltas[0, : m * n_out].reshape(m, n_out)
        mean = loss_and_grad(loss, out, labels[:m], targets[:m], batch_weights, delta)
        record["loss_sum"] += total * mean
        record["batch_loss_sum"] += m * mean
        record["correct_sum"] += n_correct(loss, out, labels[:m], targets[:m], batch_weights)
        record["weight_sum"] += total
        _times_derivative(delta, zs[n_layers - 1], out, layout[n_layers - 1, ACT],
                          work[: m * n_out].reshape(m, n_out))  # fmt: skip
        delta = _backward_hidden(params, grads, layout, zs, acts, deltas, work)
        # the first layer: plain SGD on a sparse batch steps W directly (W -= rate x^T delta)
        # on the rows of nonzero inputs, with no dW buffer; a lazy step moves only those rows
        fused = (sparse or compact) and (plain or lazy)
        if compact:  # dW0's rows for the inputs used (into W0_used's buffer), then W0's step
            dWc = W0_used
            _first_layer_gradient(x0, False, nonzero, values, counts[:m], W0_used, delta, dWc,
                                  db0)  # fmt: skip
            if plain:  # the rows of the unused inputs do not move
                step = dtype.type(-rate)
                for c in range(n_cols):
                    row, grad_row = W0[columns[c]], dWc[c]
                    for j in range(n_out0):
                        row[j] += step * grad_row[j]
                optimizer_update(params, state, layout[0, B_OFFSET], db0, opt, rate, 0.0)
            else:
                dW0[:] = 0
                for c in range(n_cols):
                    _copy_into(dW0[columns[c]], dWc[c], 0, n_out0)
        elif sparse and plain:
            _scatter_rows(nonzero, values, counts[:m], delta, W0, dtype.type(-rate))
            _column_sums(delta, db0)
            optimizer_update(params, state, layout[0, B_OFFSET], db0, opt, rate, 0.0)
        elif sparse and lazy:
            n_touched = _touched_rows(nonzero, counts[:m], position, touched)
            for c in range(n_touched):
                dW0[touched[c]] = 0
            _scatter_rows(nonzero, values, counts[:m], delta, dW0, dtype.type(1))
            _column_sums(delta, db0)
            lazy_update(touched, n_touched, dW0, params, state, w0, opt, rate)
            optimizer_update(params, state, layout[0, B_OFFSET], db0, opt, rate, 0.0)
        else:
            _first_layer_gradient(x, sparse, nonzero, values, counts[:m], W0, delta, dW0, db0)
        # update every layer with the batch's mean gradient (the first is done if it was fused)
        squares = 0.0
        for layer in range(1 if fused else 0, n_layers):
            w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
            size, width = layout[layer, N_IN] * layout[layer, N_OUT], layout[layer, N_OUT]
            squares += _step_layer(params, state, w, b, grads[w : w + size], grads[b : b + width],
                                  opt, rate, penalty)  # fmt: skip
        record["penalty_sum"] += m * penalty * squares
        t[0] += 1


def train_epoch(params, state, layout, data, order, loss, batch_size, opt, t, stats):
    """Train on the samples ``data.X[order]`` in batches of ``batch_size``.

    ``data.X`` is a dense array or a CSR matrix. ``params`` and ``state`` are updated in place,
    ``t[0]`` counts the updates and ``stats`` accumulates the training loss and accuracy, each
    sample measured before its update. Runs with subnormal numbers flushed to zero (see
    :mod:`.fpmode`).
    """
    arrays = compiled_data(data)
    with subnormals_flushed():
        if batch_size == 1:
            with _small_layers_transposed(params, state, layout) as flipped:
                per_sample_epoch(params, state, layout, arrays, order, loss, opt, t, stats,
                                 flipped)  # fmt: skip
        else:
            minibatch_epoch(params, state, layout, arrays, order, loss, batch_size, opt, t,
                            stats)  # fmt: skip


def train_epoch_hogwild(params, state, layout, data, order, loss, opt, t, stats, workers):
    """Per-sample SGD split across ``workers`` threads that update one set of parameters.

    Hogwild: each thread takes a contiguous share of ``order`` and updates ``params`` (and
    ``state``) in place without locks, so the threads' updates interleave and may overwrite
    each other. Results vary from run to run. Each thread counts its own updates from
    ``t // workers`` with the decay multiplied by ``workers``, so that its learning rate
    follows the shared count ``t`` closely. ``t[0]`` ends at ``t + len(order)``.

    The threads are Python threads, each running the serial compiled epoch on its share, which
    releases the GIL (``nogil``). No Numba threading layer is started, as ``parallel=True``
    would, process-wide: GNU OpenMP (Numba's choice on Linux without TBB) kills a forked child
    that launches parallel work, and workqueue aborts when two threads launch at once. So a
    process may fork after training (multiprocessing, joblib, Dask) and the child may train with
    ``workers`` too; several threads may train at once; ``NUMBA_THREADING_LAYER`` and
    ``NUMBA_NUM_THREADS`` stay the user's (``workers`` alone sets the threads); and the kernel
    is the serial one, loaded from the disk cache. Each thread flushes subnormal numbers, as
    :func:`train_epoch` does (the mode is per thread).
    """
    n = order.shape[0]
    share = -(-n // workers)
    counts = np.full((workers, 1), t[0] // workers, np.int64)
    partial = np.concatenate([new_stats() for _ in range(workers)])
    arrays = compiled_data(data)
    opt = opt._replace(decay=opt.decay * workers)
    with _small_layers_transposed(params, state, layout) as flipped:  # once, for all threads

        def work(w):
            with subnormals_flushed():
                per_sample_epoch(params, state, layout, arrays, order[w * share : (w + 1) * share],
                                 loss, opt, counts[w], partial[w : w + 1], flipped)  # fmt: skip

        _in_threads(work, [w for w in range(workers) if w == 0 or w * share < n])
    for name in partial.dtype.names:
        stats[name] += partial[name].sum()
    t[0] += n


def _in_threads(work, shares):
    """``work(share)`` for every share at once: the first in the calling thread, the others in
    threads of their own; returns when all are done, raising the first exception any raised."""
    failures = []

    def run(share):
        try:
            work(share)
        except BaseException as exc:  # handed to the calling thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(share,), name=f"fastnn-hogwild-{share}",
                                daemon=True) for share in shares[1:]]  # fmt: skip
    for thread in threads:
        thread.start()
    try:
        run(shares[0])
    finally:
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
