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

import os
import queue
import threading
from collections import namedtuple

import numpy as np
from numba import njit

from .._codes import new_stats
from ._config import JIT_OPTIONS
from .activations import _activate_row, _derivative_row
from .batch import (
    _largest_layer,
    compiled_data,
    unit_offsets,
)
from .codes import ACT, B_OFFSET, N_IN, N_OUT, TRANSPOSED, W_OFFSET
from .dropout import _dropout_row
from .fpmode import subnormals_flushed
from .losses import loss_and_grad, n_correct
from .minibatch import FIRST_STEP, batch_work, minibatch_worker, unit_blocks
from .rows import (
    _backward_cols,
    _backward_rows,
    _copy_into,
    _find_nonzero,
    _forward_cols,
    _forward_rows,
    _update_rows,
)
from .sync import new_sync
from .update import (
    _lazy_update,
    _optimizer_update,
    _outer,
    _outer_update,
    _step_layer,
    is_plain_sgd,
    step_size,
)

# The work buffers of the per-sample loop: one sample's pre-activations, activations, activation
# derivatives and two rows of deltas (every layer's units in turn); a layer's dW (the largest
# layer's size; empty for plain SGD, which steps W in place); the sample's input as a sparse row
# (indices and values), and a hidden layer's nonzero activations; a CSR row written out dense
# for the optimizers that step every weight of the first layer; the output's loss gradient;
# dropout's rate on each layer's output (float64, empty without dropout) and its key, the
# uint64 pair (seed, epoch) that :meth:`Training.train` sets before each call.
SampleWork = namedtuple(
    "SampleWork",
    "z a dact delta delta_prev grad_work input_indices input_values nonzero_hidden "
    "values_hidden dense_row grad dropout_rates dropout_key",
)


def sample_work(layout, data, opt, dtype, dropout=None):
    """The :data:`SampleWork` of one thread for ``data`` (a CompiledData) and ``opt``;
    ``dropout`` is a :data:`~fastnn._codes.DropoutPlan` or None."""
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
        dropout_rates=np.empty(0) if dropout is None else np.asarray(dropout.rates, np.float64),
        dropout_key=np.array([0 if dropout is None else dropout.seed, 0], np.uint64),
    )


@njit(**JIT_OPTIONS)
def per_sample_epoch(params, state, layout, data, order, loss, opt, t, stats, work):
    """Train on one sample at a time, in the order ``order`` (``data`` a CompiledData), with the
    buffers of ``work`` (a :data:`SampleWork`).

    With dropout, a layer's activations and their derivatives are multiplied by the sample's
    mask as soon as they are computed (:func:`.dropout._dropout_row`): the next layer reads the
    dropped activations, and the backward pass the masked derivatives.

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
    rates = work.dropout_rates
    dropping = rates.shape[0] > 0
    seed, epoch = work.dropout_key[0], work.dropout_key[1]

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
            if dropping and rates[layer] > 0:  # a_l *= mask_l, act'(z_l) *= mask_l
                _derivative_row(z[lo:hi], a[lo:hi], layout[layer, ACT], dact[lo:hi])
                _dropout_row(a[lo:hi], dact[lo:hi], seed, epoch, s, layer, 0, rates[layer])
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
            if not (dropping and rates[layer - 1] > 0):  # else the forward pass made it
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


class Training:
    """What one ``fit`` trains with on the numba backend: the data's arrays as the compiled loops
    read them, every work buffer and, in mini-batches, the threads that share each batch,
    prepared once; see :func:`start_training`."""

    def __init__(self, params, state, layout, data, loss, batch_size, opt, workers, dropout=None):
        self.params, self.state, self.layout, self.loss = params, state, layout, loss
        self.data = compiled_data(data)
        self.batch_size, self.workers = batch_size, workers
        self.team = self._blas = None
        # the batch epoch checks the dense rows it copies (see EPOCH_STATS)
        self.checks_inputs = batch_size > 1 and self.data.indptr.shape[0] == 0
        if batch_size > 1:
            n_threads = batch_threads(layout, batch_size)
            self.work = batch_work(layout, self.data, opt, batch_size, params, n_threads,
                                   dropout)  # fmt: skip
            self.sync = new_sync()
            self._blas = _single_threaded_blas()
            self.team = _Team(n_threads)
        else:
            self.work = [sample_work(layout, self.data, opt, params.dtype, dropout)
                         for _ in range(workers)]  # fmt: skip

    def train(self, order, opt, t, stats, last_phase=FIRST_STEP, *, epoch=0):
        """Train on the samples ``order`` (a slice of an epoch, or all of it), in one call of
        the compiled loop (in mini-batches, one call in each of the threads), with subnormal
        numbers flushed to zero (see :mod:`.fpmode`). ``last_phase`` stops each mini-batch
        after a phase of :data:`.minibatch.PHASES` (a profiling aid); ``epoch`` keys the
        dropout masks."""
        args = (self.params, self.state, self.layout, self.data)
        for work in self.work if self.batch_size == 1 else [self.work]:
            work.dropout_key[1] = epoch
        if self.batch_size > 1:

            def share(tid):
                with subnormals_flushed():
                    minibatch_worker(tid, self.sync, *args, order, self.loss, opt, t, stats,
                                     self.work, last_phase)  # fmt: skip

            self.team.run(share)
        elif self.workers == 1:
            with subnormals_flushed():
                per_sample_epoch(*args, order, self.loss, opt, t, stats, self.work[0])
        else:
            _hogwild(*args, order, self.loss, opt, t, stats, self.work)

    def close(self):
        """Stop the threads, give BLAS its threads back, and release the data's arrays and the
        work buffers."""
        if self.team is not None:
            self.team.close()
        if self._blas is not None:
            self._blas.restore_original_limits()
        self.data = self.work = self.team = self._blas = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# Mini-batches smaller than this (multiply-adds of the first layer's forward product) run in
# one thread: below it, the threads' meetings cost more than the product gains.
THREADS_FROM = 2e6


def usable_cpus():
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def batch_threads(layout, batch_size):
    """How many threads share each mini-batch: one per block of the first layer's units (see
    :func:`.minibatch.unit_blocks`), at most one per CPU this process may use and at most
    ``$FASTNN_NUM_THREADS``; one for small products. The weights do not depend on it."""
    blocks = len(unit_blocks(int(layout[0, N_OUT]))) - 1
    most = usable_cpus()
    limit = os.environ.get("FASTNN_NUM_THREADS", "").strip()
    if limit.isdigit() and int(limit) >= 1:
        most = min(most, int(limit))
    if batch_size * layout[0, N_IN] * layout[0, N_OUT] < THREADS_FROM:
        most = 1
    return max(1, min(blocks, most))


def _single_threaded_blas():
    """BLAS limited to one thread (threadpoolctl) for the fit: the epoch's threads are the
    parallelism, each running its own products; undone by ``restore_original_limits``. The
    libraries are looked up once a process (a few milliseconds): the BLAS the kernels call is
    SciPy's, loaded before any kernel runs."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


_BLAS_CONTROLLER = None


class _Team:
    """The helper threads of a Training: threads 1..n-1, each waiting for its share of every
    ``run`` while thread 0's share runs in the calling thread."""

    def __init__(self, n_threads):
        self.tasks = [queue.SimpleQueue() for _ in range(n_threads - 1)]
        self.done = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._serve, args=(tasks,), daemon=True,
                                         name=f"fastnn-batch-{tid}")
                        for tid, tasks in enumerate(self.tasks, start=1)]  # fmt: skip
        for thread in self.threads:
            thread.start()

    def _serve(self, tasks):
        while True:
            job = tasks.get()
            if job is None:
                return
            try:
                job()
                self.done.put(None)
            except BaseException as exc:  # handed to the calling thread
                self.done.put(exc)

    def run(self, share):
        """``share(tid)`` for every thread at once; returns when all are done, raising the
        first exception any raised."""
        for tid, tasks in enumerate(self.tasks, start=1):
            tasks.put(lambda tid=tid: share(tid))
        failures = []
        try:
            share(0)
        except BaseException as exc:
            failures.append(exc)
        finally:
            failures += [f for f in (self.done.get() for _ in self.tasks) if f is not None]
        if failures:
            raise failures[0]

    def close(self):
        for tasks in self.tasks:
            tasks.put(None)
        for thread in self.threads:
            thread.join()


def start_training(params, state, layout, data, loss, batch_size, opt, workers=1, dropout=None):
    """Prepare the training of one ``fit``: a :class:`Training` whose ``train(order, opt, t,
    stats, epoch=epoch)`` trains the samples ``order`` of ``data`` (an EpochData: dense or CSR
    ``X``) in batches of ``batch_size`` (1: per sample), updating ``params`` and ``state`` in
    place.

    ``opt`` is the optimizer's record at the start (the buffers depend on its kind; each call
    takes the record of that moment, whose rate may have changed). With ``workers > 1`` (per
    sample, plain SGD) the samples are shared among that many threads, Hogwild-style.
    ``dropout`` (a :data:`~fastnn._codes.DropoutPlan`, or None) drops units of the hidden
    layers, with masks keyed by the epoch that ``train`` is given (per sample only for now).
    In batches of dense rows, ``checks_inputs`` is true: the values of every row copied are
    checked on the way, and a batch holding a NaN or an infinity stops the call before any
    training on it, counted in the stats' ``nonfinite_inputs`` (the caller may then skip the
    finite check of ``X`` it would otherwise make first).
    """
    return Training(params, state, layout, data, loss, batch_size, opt, workers, dropout)


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
