"""Training in compiled code, for any depth and any optimizer: one call trains the samples of
an order (a slice of an epoch) from start to end.

All parameters live in one flat buffer; ``layout`` (see :mod:`fastnn.params`) says where each
layer's ``W`` and ``b`` sit and which layers store ``W`` transposed, and the optimizer's ``state``
rows mirror the same layout. ``opt`` is an :class:`~fastnn.optimizers.OptimizerConfig`; ``t`` (a
one-element int64 array) and ``stats`` (an :data:`~fastnn._codes.EPOCH_STATS` record) are
advanced in place, so they always match the updates made.

:func:`start_training` prepares, once per ``fit``, everything the compiled loops need beyond
the parameters: the data's arrays as they read them (:func:`.batch.compiled_data`) and every
work buffer. Each :meth:`Training.train` call then allocates nothing, converts nothing and
moves nothing around: the layers are stored as the loops read them.

``batch_size == 1`` runs fused per-sample training: forward, loss gradient, backward and update
of one sample before the next, skipping zero inputs (and zero ReLU outputs) in the forward
product and, with plain SGD, in the weight update, which changes no number; the layers stored
transposed go through the ``_cols`` kernels of :mod:`.rows`. Larger batches average the gradient
over the batch and reuse the single-purpose kernels (BLAS products), except that a batch whose
inputs are sparse (a CSR matrix, or dense with enough zeros for the batch's size:
:func:`goes_sparse`) takes the first layer's forward product and weight gradient over its
nonzero inputs only. A CSR row is read as stored, with no scan. Lazy optimizers (``opt.lazy``)
step only the first layer's rows of nonzero inputs. With ``workers > 1`` per-sample SGD runs
Hogwild-style in threads (:func:`_hogwild`).
"""

import threading
from collections import namedtuple

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
    compiled_data,
    stored_views,
    unit_offsets,
)
from .codes import ACT, B_OFFSET, N_IN, N_OUT, TRANSPOSED, W_OFFSET
from .dense import _column_sums
from .fpmode import subnormals_flushed
from .losses import loss_and_grad, n_correct
from .rows import (
    _backward_cols,
    _backward_rows,
    _copy_into,
    _find_nonzero,
    _forward_cols,
    _forward_rows,
    _update_rows,
)
from .update import (
    _lazy_update,
    _optimizer_update,
    _outer,
    _outer_update,
    _step_layer,
    is_plain_sgd,
    step_size,
)

# A batch's first layer goes sparse when its fraction of nonzero inputs is below
# SPARSE_DENSITY + SPARSE_ROWS / m, for a batch of m rows: BLAS pays per call and gains with m,
# the sparse loops cost the same per nonzero input. The two constants are fitted to the
# densities at which the two paths tie (the performance notes give the measurements); the
# hidden width does not move the tie, so it is not in the rule.
SPARSE_DENSITY = 0.1
SPARSE_ROWS = 6.0

# A dense batch goes to BLAS over only the inputs some row uses when they are fewer than this
# fraction of all (an image's empty border): the products shrink with the inputs, the copies
# that compact them cost less than the work saved.
COMPACT_BELOW = 0.9


@njit(**JIT_OPTIONS)
def goes_sparse(n_nonzero, m, n_in):
    """Whether a dense batch of ``m`` rows of ``n_in`` inputs, ``n_nonzero`` of them nonzero,
    takes the sparse first layer: its density is below SPARSE_DENSITY + SPARSE_ROWS / m."""
    return n_nonzero < (SPARSE_DENSITY * m + SPARSE_ROWS) * n_in


# The work buffers of the per-sample loop: one sample's pre-activations, activations, activation
# derivatives and two rows of deltas (every layer's units in turn); a layer's dW (the largest
# layer's size; empty for plain SGD, which steps W in place); the sample's input as a sparse row
# (indices and values), and a hidden layer's nonzero activations; a CSR row written out dense
# for the optimizers that step every weight of the first layer; the output's loss gradient.
SampleWork = namedtuple(
    "SampleWork",
    "z a dact delta delta_prev grad_work input_indices input_values nonzero_hidden "
    "values_hidden dense_row grad",
)


def sample_work(layout, data, opt, dtype):
    """The :data:`SampleWork` of one thread for ``data`` (a CompiledData) and ``opt``."""
    n_layers = layout.shape[0]
    units = int(layout[:, N_OUT].sum())
    widest = int(layout[:, N_OUT].max())
    n_in0 = int(layout[0, N_IN])
    plain = is_plain_sgd(opt)
    lazy = opt.lazy and not plain
    sparse_input = data.indptr.shape[0] > 0
    index = data.indices.dtype
    return SampleWork(
        z=np.empty(units, dtype),
        a=np.empty(units, dtype),
        dact=np.empty(units, dtype),
        delta=np.empty(widest, dtype),
        delta_prev=np.empty(widest, dtype),
        grad_work=np.empty(0 if plain else _largest_layer(layout), dtype),
        input_indices=np.empty(n_in0, index),
        input_values=np.empty(n_in0, dtype),
        nonzero_hidden=np.empty(widest, index),
        values_hidden=np.empty(widest, dtype),
        dense_row=np.zeros(n_in0 if sparse_input and not (plain or lazy) else 0, dtype),
        grad=np.empty((1, int(layout[n_layers - 1, N_OUT])), dtype),
    )


@njit(**JIT_OPTIONS)
def per_sample_epoch(params, state, layout, data, order, loss, opt, t, stats, work):
    """Train on one sample at a time, in the order ``order`` (``data`` a CompiledData), with the
    buffers of ``work`` (a :data:`SampleWork`).

    One long loop on purpose: the forward pass, the loss, the backward pass and the update of a
    sample are fused so that a sample's activations stay in L1 and nothing is allocated per
    sample; splitting it into more functions would not change what runs.
    """
    dtype = params.dtype
    n_layers = layout.shape[0]
    units = unit_offsets(layout)
    n_in0 = layout[0, N_IN]
    z, a, dact = work.z, work.a, work.dact
    delta, delta_prev = work.delta, work.delta_prev
    plain = is_plain_sgd(opt)
    lazy = opt.lazy and not plain
    sparse_input = data.indptr.shape[0] > 0
    grad_work = work.grad_work
    input_indices, input_values = work.input_indices, work.input_values
    nonzero_hidden, values_hidden = work.nonzero_hidden, work.values_hidden
    dense_row = work.dense_row
    n_out = layout[n_layers - 1, N_OUT]
    grad = work.grad
    last = units[n_layers - 1]
    weighted = data.weights.shape[0] > 0
    record = stats[0]

    for k in range(order.shape[0]):
        s = order[k]
        record["n_seen"] += 1
        weight = data.weights[s] if weighted else 1.0
        if weight == 0:  # a sample of weight 0 contributes nothing, and makes no update
            continue
        penalty_scale = 1.0 / weight if weighted else 1.0  # the L2 term over the batch's weight
        rate = step_size(opt, t[0])
        # forward: z_l = a_{l-1} W_l + b_l over the nonzero a_{l-1} only, a_l = act(z_l); the
        # input's nonzero entries are a CSR row as stored, or those a scan of x finds
        if sparse_input:
            lo, count = data.indptr[s], data.indptr[s + 1] - data.indptr[s]
            _copy_into(input_indices, data.indices, lo, count)
            _copy_into(input_values, data.values, lo, count)
        else:
            count = _find_nonzero(data.X[s], input_indices, input_values)
        nonzero, values, n_nonzero = input_indices, input_values, count
        for layer in range(n_layers):
            lo, hi = units[layer], units[layer + 1]
            w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
            if layout[layer, TRANSPOSED]:
                _forward_cols(a[units[layer - 1] : lo], params, w, b, z[lo:hi])
            else:
                if layer > 0:
                    nonzero, values = nonzero_hidden, values_hidden
                    n_nonzero = _find_nonzero(a[units[layer - 1] : lo], nonzero, values)
                _forward_rows(nonzero, values, n_nonzero, params, w, b, z[lo:hi])
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
            if layout[layer, TRANSPOSED]:
                _backward_cols(a[lo:hi], dact[lo:hi], params, w, b, delta[:width], delta_prev,
                              dtype.type(rate), plain)  # fmt: skip
                if not plain:  # the gradient laid out as W is stored, transposed
                    size = _outer(delta[:width], a[lo:hi], grad_work)
                    squares += _step_layer(params, state, w, b, grad_work[:size], delta[:width],
                                          opt, rate, penalty_scale)  # fmt: skip
            else:
                _backward_rows(a[lo:hi], dact[lo:hi], params, w, b, delta[:width], delta_prev,
                              dtype.type(rate), plain)  # fmt: skip
                if not plain:
                    squares += _outer_update(a[lo:hi], delta[:width], params, state, w, b, opt,
                                            rate, penalty_scale, grad_work)  # fmt: skip
            # delta_prev now holds delta_{l-1}: swap the names, so the next layer reads it as
            # delta and overwrites the old delta, which nothing needs any more
            delta, delta_prev = delta_prev, delta
        # the first layer, whose input is x: plain SGD and the lazy steps move only the rows of
        # nonzero inputs
        w, b = layout[0, W_OFFSET], layout[0, B_OFFSET]
        delta0 = delta[: units[1]]
        if plain:
            _update_rows(input_indices, input_values, count, params, w, b, delta0,
                        dtype.type(rate))  # fmt: skip
        elif lazy:
            dW = grad_work[: n_in0 * units[1]].reshape(n_in0, units[1])
            for c in range(count):
                i, xi = input_indices[c], input_values[c]
                for j in range(units[1]):
                    dW[i, j] = xi * delta0[j]
            _lazy_update(input_indices, count, dW, params, state, w, opt, rate)
            _optimizer_update(params, state, b, delta0, opt, rate, 0.0)
        elif sparse_input:
            for c in range(count):
                dense_row[input_indices[c]] = input_values[c]
            squares += _outer_update(dense_row, delta0, params, state, w, b, opt, rate,
                                     penalty_scale, grad_work)  # fmt: skip
            for c in range(count):
                dense_row[input_indices[c]] = 0
        else:
            squares += _outer_update(data.X[s], delta0, params, state, w, b, opt, rate,
                                     penalty_scale, grad_work)  # fmt: skip
        record["penalty_sum"] += penalty_scale * squares
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


# The work buffers of the mini-batch loop, for batches of up to ``capacity`` rows: the batch's
# dense rows, the inputs some row uses and their compacted copy with the first layer's rows they
# meet; every layer's pre-activations and activations, two rows of deltas and the derivative's
# buffer; the gradient (laid out like the parameters); the batch's labels, targets and weights;
# its first-layer input as sparse rows (indices, values, counts); the rows a lazy step moves.
BatchWork = namedtuple(
    "BatchWork",
    "capacity xbuf columns xc_buf Wc_buf zbuf abuf deltas work grads labels targets weights "
    "nonzero values counts touched position",
)


def batch_work(layout, data, opt, batch_size, params):
    """The :data:`BatchWork` for batches of ``batch_size`` rows of ``data`` (a CompiledData)."""
    dtype = params.dtype
    units = int(layout[:, N_OUT].sum())
    widest = int(layout[:, N_OUT].max())
    n_in0, n_out0 = int(layout[0, N_IN]), int(layout[0, N_OUT])
    sparse_input = data.indptr.shape[0] > 0
    lazy = opt.lazy and not is_plain_sgd(opt)
    dense = 0 if sparse_input else 1
    longest = _longest_row(data)
    return BatchWork(
        capacity=batch_size,
        xbuf=np.empty(dense * batch_size * n_in0, dtype),
        columns=np.empty(dense * n_in0, np.int64),
        xc_buf=np.empty(dense * batch_size * n_in0, dtype),
        Wc_buf=np.empty(dense * n_in0 * n_out0, dtype),
        zbuf=np.empty(batch_size * units, dtype),
        abuf=np.empty(batch_size * units, dtype),
        deltas=np.empty((2, batch_size * widest), dtype),
        work=np.empty(batch_size * widest, dtype),
        grads=np.zeros_like(params),  # the padding between layers stays zero
        labels=np.empty(batch_size, np.int64),
        targets=np.empty((batch_size, data.targets.shape[1]), dtype),
        weights=np.empty(batch_size if data.weights.shape[0] > 0 else 0, dtype),
        nonzero=np.empty((batch_size, longest), data.indices.dtype),
        values=np.empty((batch_size, longest), dtype),
        counts=np.empty(batch_size, np.int64),
        touched=np.empty(n_in0 if lazy else 0, data.indices.dtype),
        position=np.full(n_in0 if lazy else 0, -1, np.int64),
    )


@njit(**JIT_OPTIONS)
def minibatch_epoch(params, state, layout, data, order, loss, opt, t, stats, work):
    """Train on batches of ``work.capacity`` samples of ``order``, each step on the batch's mean
    gradient (the last, shorter batch is averaged over its own size); ``data`` a CompiledData,
    ``work`` a :data:`BatchWork`.

    Each phase of a step is a helper of :mod:`.batch`, so what stays is the loop's plumbing.
    """
    dtype = params.dtype
    n_layers = layout.shape[0]
    units = unit_offsets(layout)
    n_in0, n_out0, n_out = layout[0, N_IN], layout[0, N_OUT], layout[n_layers - 1, N_OUT]
    batch_size = work.capacity
    sparse_input = data.indptr.shape[0] > 0
    plain = is_plain_sgd(opt)
    lazy = opt.lazy and not plain
    xbuf, columns, xc_buf, Wc_buf = work.xbuf, work.columns, work.xc_buf, work.Wc_buf
    zbuf, abuf, deltas, grads = work.zbuf, work.abuf, work.deltas, work.grads
    labels, targets, weights = work.labels, work.targets, work.weights
    nonzero, values, counts = work.nonzero, work.values, work.counts
    touched, position = work.touched, work.position
    weighted = data.weights.shape[0] > 0
    record = stats[0]
    W0, b0 = stored_views(params, layout, 0)  # the first layer is never stored transposed
    dW0, db0 = stored_views(grads, layout, 0)
    w0 = layout[0, W_OFFSET]

    for first in range(0, order.shape[0], batch_size):
        m = min(batch_size, order.shape[0] - first)
        x = xbuf[: 0 if sparse_input else m * n_in0].reshape(-1, n_in0)
        total = _gather(data, order, first, m, x, labels, targets, weights)
        record["n_seen"] += m
        if total == 0:  # a batch of weight 0 contributes nothing, and makes no update
            continue
        batch_weights = weights[:m] if weighted else weights
        penalty_scale = 1.0 / total if weighted else 1.0  # the L2 term over the batch's weight
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
                          work.work[: m * n_out].reshape(m, n_out))  # fmt: skip
        delta = _backward_hidden(params, grads, layout, zs, acts, deltas, work.work)
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
                _optimizer_update(params, state, layout[0, B_OFFSET], db0, opt, rate, 0.0)
            else:
                dW0[:] = 0
                for c in range(n_cols):
                    _copy_into(dW0[columns[c]], dWc[c], 0, n_out0)
        elif sparse and plain:
            _scatter_rows(nonzero, values, counts[:m], delta, W0, dtype.type(-rate))
            _column_sums(delta, db0)
            _optimizer_update(params, state, layout[0, B_OFFSET], db0, opt, rate, 0.0)
        elif sparse and lazy:
            n_touched = _touched_rows(nonzero, counts[:m], position, touched)
            for c in range(n_touched):
                dW0[touched[c]] = 0
            _scatter_rows(nonzero, values, counts[:m], delta, dW0, dtype.type(1))
            _column_sums(delta, db0)
            _lazy_update(touched, n_touched, dW0, params, state, w0, opt, rate)
            _optimizer_update(params, state, layout[0, B_OFFSET], db0, opt, rate, 0.0)
        else:
            _first_layer_gradient(x, sparse, nonzero, values, counts[:m], W0, delta, dW0, db0)
        # update every layer with the batch's mean gradient (the first is done if it was fused)
        squares = 0.0
        for layer in range(1 if fused else 0, n_layers):
            w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
            size, width = layout[layer, N_IN] * layout[layer, N_OUT], layout[layer, N_OUT]
            squares += _step_layer(params, state, w, b, grads[w : w + size], grads[b : b + width],
                                  opt, rate, penalty_scale)  # fmt: skip
        record["penalty_sum"] += m * penalty_scale * squares
        t[0] += 1


class Training:
    """What one ``fit`` trains with on the numba backend: the data's arrays as the compiled loops
    read them and every work buffer, prepared once; see :func:`start_training`."""

    def __init__(self, params, state, layout, data, loss, batch_size, opt, workers):
        self.params, self.state, self.layout, self.loss = params, state, layout, loss
        self.data = compiled_data(data)
        self.batch_size, self.workers = batch_size, workers
        if batch_size > 1:
            self.work = batch_work(layout, self.data, opt, batch_size, params)
        else:
            self.work = [sample_work(layout, self.data, opt, params.dtype) for _ in range(workers)]

    def train(self, order, opt, t, stats):
        """Train on the samples ``order`` (a slice of an epoch, or all of it), in one call of
        the compiled loop, with subnormal numbers flushed to zero (see :mod:`.fpmode`)."""
        args = (self.params, self.state, self.layout, self.data)
        if self.batch_size > 1:
            with subnormals_flushed():
                minibatch_epoch(*args, order, self.loss, opt, t, stats, self.work)
        elif self.workers == 1:
            with subnormals_flushed():
                per_sample_epoch(*args, order, self.loss, opt, t, stats, self.work[0])
        else:
            _hogwild(*args, order, self.loss, opt, t, stats, self.work)

    def close(self):
        """Release the data's arrays and the work buffers."""
        self.data = self.work = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_training(params, state, layout, data, loss, batch_size, opt, workers=1):
    """Prepare the training of one ``fit``: a :class:`Training` whose ``train(order, opt, t,
    stats)`` trains the samples ``order`` of ``data`` (an EpochData: dense or CSR ``X``) in
    batches of ``batch_size`` (1: per sample), updating ``params`` and ``state`` in place.

    ``opt`` is the optimizer's record at the start (the buffers depend on its kind; each call
    takes the record of that moment, whose rate may have changed). With ``workers > 1`` (per
    sample, plain SGD) the samples are shared among that many threads, Hogwild-style.
    """
    return Training(params, state, layout, data, loss, batch_size, opt, workers)


def _hogwild(params, state, layout, data, order, loss, opt, t, stats, work):
    """Per-sample SGD split across ``len(work)`` threads that update one set of parameters.

    Hogwild: each thread takes a contiguous share of ``order`` and updates ``params`` (and
    ``state``) in place without locks, so the threads' updates interleave and may overwrite
    each other. Results vary from run to run. Each thread counts its own updates from
    ``t // workers`` with the decay multiplied by ``workers``, so that its learning rate
    follows the shared count ``t`` closely. ``t[0]`` ends at ``t + len(order)``.

    The threads are Python threads, each running the serial compiled loop on its share, which
    releases the GIL (``nogil``). No Numba threading layer is started, as ``parallel=True``
    would, process-wide: GNU OpenMP (Numba's choice on Linux without TBB) kills a forked child
    that launches parallel work, and workqueue aborts when two threads launch at once. So a
    process may fork after training (multiprocessing, joblib, Dask) and the child may train with
    ``workers`` too; several threads may train at once; ``NUMBA_THREADING_LAYER`` and
    ``NUMBA_NUM_THREADS`` stay the user's (``workers`` alone sets the threads); and the kernel
    is the serial one, loaded from the disk cache. Each thread flushes subnormal numbers, as
    the serial loop does (the mode is per thread).
    """
    workers = len(work)
    n = order.shape[0]
    share = -(-n // workers)
    counts = np.full((workers, 1), t[0] // workers, np.int64)
    partial = np.concatenate([new_stats() for _ in range(workers)])
    opt = opt._replace(decay=opt.decay * workers)

    def run(w):
        with subnormals_flushed():
            per_sample_epoch(params, state, layout, data, order[w * share : (w + 1) * share], loss,
                             opt, counts[w], partial[w : w + 1], work[w])  # fmt: skip

    _in_threads(run, [w for w in range(workers) if w == 0 or w * share < n])
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
