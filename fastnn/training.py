"""The epoch loop of :meth:`fastnn.Sequential.fit`: slices, progress, rollback and history.

An epoch runs as a series of backend calls ("slices") of a fraction of a second each, whatever
``verbose`` is: the progress bar moves between slices, a Ctrl-C is taken between them, and a
diverging loss is caught within a slice. A slice is a whole number of batches, and the kernels
carry every piece of state (parameters, optimizer state, update count) from one call to the
next, so slicing changes no number.
"""

import contextlib
import math
import signal
import sys
import threading
import time

import numpy as np
from tqdm import tqdm

from . import inference
from ._codes import CLASSIFICATION_LOSSES, SGD_KIND, new_stats
from ._validation import check_memory
from .errors import InputError, TrainingInterrupted
from .optimizers import Plateau

SLICE_SECONDS = 0.1  # the aim for one backend call
_FIRST_SLICE_WORK = 2e8  # weight visits (about 3 per weight per sample) of the first slice


class History:
    """What :meth:`Sequential.fit` returns.

    Attributes
    ----------
    history : dict of str to list of float
        One value per epoch for each of ``"loss"``, ``"epoch_time"`` (seconds of training, without
        validation), ``"accuracy"`` (classification), and the validation metrics prefixed with
        ``"val_"`` when ``validation_data`` is given. Training loss and accuracy are the running
        means over the epoch, each sample measured just before its update.
    epoch : list of int
        The epoch numbers, from 0.
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def _append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


@contextlib.contextmanager
def deferred_interrupt():
    """Hold a Ctrl-C (SIGINT) until the block ends, then raise it.

    A backend call is never cut in half, so the parameters, the optimizer state and its update
    count stay consistent. Outside the main thread (where no signal handler can be set) the
    block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signal.SIGINT, received[0])
        else:
            raise KeyboardInterrupt


def _work_bytes(model, data, batch_size):
    """What a mini-batch epoch allocates: the batch's inputs (dense rows, their compacted
    copy and the first layer's rows they meet, and their nonzero entries as index and value
    pairs; for CSR rows only the pairs, as many as the longest row has), activations and
    deltas, and a gradient buffer the size of the parameters."""
    itemsize = np.dtype(model.dtype).itemsize
    n_in = model.layers[0].n_in
    fixed = model._params.nbytes
    if isinstance(data.X, np.ndarray):
        inputs = n_in * (3 * itemsize + 4)
        fixed += n_in * (model.layers[0].n_out * itemsize + 8)
    else:
        inputs = int(np.diff(data.X.indptr).max(initial=0)) * (itemsize + 4)
    units = sum(layer.n_out for layer in model.layers)
    widest = max(layer.n_out for layer in model.layers)
    per_sample = inputs + (3 * units + 3 * widest) * itemsize
    return batch_size * per_sample + fixed


COMPILE_NOTICE_AFTER = 1.5  # seconds: loading cached kernels takes less, even on a busy machine
COMPILE_GUESS = 20  # seconds: a first default train compiled in 15.8-26 s on the 2-core Xeon


def with_compile_notice(load, what):
    """Run ``load()``; when it is still running after 1.5 s (Numba compiling kernels
    that are not yet in the disk cache), say so on stderr once, so that a first run's wait has
    a reason. Exceptions, and a Ctrl-C, reach the caller."""
    outcome = []

    def run():
        try:
            load()
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=run, name="fastnn-compile", daemon=True)
    worker.start()
    worker.join(COMPILE_NOTICE_AFTER)
    if worker.is_alive():
        started = time.perf_counter()
        print(f"fastnn: compiling kernels for {what} (first run only, ~{COMPILE_GUESS} s on two "
              "cores; they are cached on disk)...", file=sys.stderr, flush=True)  # fmt: skip
        worker.join()
        print(f"fastnn: compiled in {time.perf_counter() - started + COMPILE_NOTICE_AFTER:.1f} s",
              file=sys.stderr, flush=True)  # fmt: skip
    if outcome:
        raise outcome[0]


class EpochRunner:
    """Runs the epochs of one ``fit`` call on a model's backend.

    Parameters
    ----------
    model : Sequential
        A built model.
    data : EpochData
        The checked training data.
    batch_size, workers : int
    optimizer : Optimizer
    verbose : int
    rollback : bool, default True
        Keep a copy of the parameters and the optimizer at each epoch's start, to go back to.
    stop_on_divergence : bool, default True
        Raise when the running loss becomes non-finite (after going back to the epoch's start
        with ``rollback``). False trains on through NaN and inf, as scikit-learn's MLP does.
    """

    def __init__(self, model, data, batch_size, optimizer, workers, verbose, rollback=True,
                 stop_on_divergence=True):  # fmt: skip
        self.model = model
        self.rollback = rollback
        self.stop_on_divergence = stop_on_divergence
        self.data = data
        batch_size = max(1, min(batch_size, data.X.shape[0]))  # no buffers beyond the data
        self.batch_size = batch_size
        check_memory(_work_bytes(model, data, batch_size), f"training with batch_size={batch_size}")
        self.optimizer = optimizer
        self.workers = workers
        self.verbose = verbose
        self.state = optimizer.state_for(model._params)
        n_weights = sum(layer.n_in * layer.n_out for layer in model.layers)
        self._max_batches = -(-data.X.shape[0] // batch_size)  # a slice is at most an epoch
        batches = int(_FIRST_SLICE_WORK / (3 * n_weights * batch_size))
        self._slice = min(max(1, batches), self._max_batches) * batch_size

    def run_part(self, order, stats):
        """Train on ``order`` in one backend call."""
        m, o = self.model, self.optimizer
        args = (m._params, self.state, m._layout, self.data, order, m._loss_code)
        with np.errstate(over="ignore", invalid="ignore"):  # fit reports a non-finite loss
            if self.workers == 1:
                m._ops.train_epoch(*args, self.batch_size, o.config(), o._t, stats)
            else:
                m._ops.train_epoch_hogwild(*args, o.config(), o._t, stats, self.workers)

    def run(self, epochs, shuffle_rng, evaluate_validation):
        """Train ``epochs`` epochs and return their :class:`History`.

        ``shuffle_rng`` draws each epoch's order (None: in order); ``evaluate_validation``
        (or None) returns the validation metrics after each epoch. The optimizer's schedule
        is told of each epoch's end, and ``"adaptive"`` may stop training early.
        """
        history = History()
        plateau = Plateau(self.optimizer.tol)
        n = self.data.X.shape[0]
        for epoch in range(epochs):
            order = shuffle_rng.permutation(n) if shuffle_rng is not None else np.arange(n)
            try:
                record, elapsed = self.epoch(order, epoch + 1, epochs)
            except TrainingInterrupted as exc:
                exc.history = history
                raise
            logs = self._logs(record, elapsed, evaluate_validation)
            history._append(epoch, logs)
            if self.verbose:
                text = " - ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "epoch_time")
                print(f"epoch {epoch + 1}/{epochs} - {elapsed:.3f}s - {text}", flush=True)
            if self._schedule_stops(plateau, record, logs):
                break
        return history

    def _logs(self, record, elapsed, evaluate_validation):
        weight = max(float(record["weight_sum"]), np.finfo(float).tiny)
        logs = {"loss": float(record["loss_sum"]) / weight}
        if self.model.loss in CLASSIFICATION_LOSSES:
            logs["accuracy"] = float(record["correct_sum"]) / weight
        logs["epoch_time"] = elapsed
        if evaluate_validation is not None:
            logs.update({f"val_{key}": value for key, value in evaluate_validation().items()})
        return logs

    def _schedule_stops(self, plateau, record, logs):
        """Tell the schedule an epoch has ended; True when ``"adaptive"`` has run out of rate.

        The adaptive schedule watches the validation loss when there is one, else the
        training loss.
        """
        opt = self.optimizer
        opt.iteration_ends(opt.samples_seen + int(record["n_seen"]))
        if opt.schedule != "adaptive":
            return False
        plateau.update(logs.get("val_loss", logs["loss"]))
        if plateau.count <= opt.n_iter_no_change:
            return False
        if opt.trigger_stopping():
            if self.verbose:
                print(
                    f"the loss did not improve by tol={opt.tol} for {opt.n_iter_no_change} "
                    "epochs and the learning rate is down to 1e-6: stopping",
                    flush=True,
                )
            return True
        plateau.count = 0
        return False

    def warm_up(self):
        """Load (or compile) the backend's code, outside any timing: an empty epoch, and the
        forward pass and loss that evaluating needs. A first run that compiles says so."""
        m = self.model
        one = self.data._replace(
            X=self.data.X[:1],
            labels=self.data.labels[:1],
            targets=self.data.targets[:1],
            weights=self.data.weights[:0],
        )

        def load():
            self.run_part(np.empty(0, np.int64), new_stats())
            out = inference.outputs(m, one.X)
            args = (m._loss_code, out, one.labels, one.targets, one.weights)
            m._ops.loss_and_grad(*args, np.empty_like(out))
            m._ops.n_correct(*args)

        with_compile_notice(load, f"{m.dtype}, {'per-sample' if self.batch_size == 1 else 'batch'}"
                            " training")  # fmt: skip

    def epoch(self, order, number, epochs):
        """Epoch ``number`` (from 1) of ``epochs``, over ``order`` in slices; returns (stats
        record, seconds of training).

        A non-finite running loss (with ``stop_on_divergence``) restores the parameters and the
        optimizer to the start of the epoch and raises; a Ctrl-C raises
        :class:`TrainingInterrupted` after the slice in progress, with the model as that slice
        left it.
        """
        n = len(order)
        saved = (self.model._params.copy(), self.optimizer.snapshot()) if self.rollback else None
        stats = new_stats()
        bar = tqdm(total=n, desc=f"epoch {number}/{epochs}", unit="sample",
                   disable=self.verbose != 1, leave=False, file=sys.stderr)  # fmt: skip
        started = time.perf_counter()
        try:
            first = 0
            while first < n:
                part = order[first : first + self._slice]
                began = time.perf_counter()
                with deferred_interrupt():
                    self.run_part(part, stats)
                self._resize(time.perf_counter() - began)
                first += len(part)
                running = stats["loss_sum"][0] / max(stats["n_seen"][0], 1)
                if self.stop_on_divergence and not math.isfinite(running):
                    if saved is not None:
                        self._restore(saved)
                    raise InputError(self._divergence_message(running, number, first, n))
                bar.update(len(part))
                bar.set_postfix(loss=f"{running:.4f}", refresh=False)
        except KeyboardInterrupt as exc:
            raise TrainingInterrupted(lambda: self._restore(saved)) from exc
        finally:
            bar.close()
        return stats[0], time.perf_counter() - started

    def _resize(self, seconds):
        """Aim the next slice at :data:`SLICE_SECONDS`, in whole batches."""
        if seconds <= 0:
            return
        factor = min(4.0, max(0.25, SLICE_SECONDS / seconds))
        batches = int(self._slice // self.batch_size * factor)
        self._slice = min(max(1, batches), self._max_batches) * self.batch_size

    def _restore(self, saved):
        if saved is None:
            raise InputError(
                "fit(..., rollback=False) kept no copy of the parameters to go back to: the "
                "model stays as training left it"
            )
        params, snapshot = saved
        self.model._params[...] = params
        self.optimizer.restore(snapshot)

    def _divergence_message(self, running, number, seen, n):
        where = (
            f"the training loss became {running} in epoch {number} (after {seen} of {n} samples)"
        )
        restored = (
            "The weights were restored to the start of that epoch."
            if self.rollback
            else "The weights are as the divergence left them (rollback=False)."
        )
        cause = _divergence_cause(self.model, self.data, self.optimizer, self.batch_size)
        return f"{where}{cause} {restored}"


# What the diagnosis of a diverged epoch takes for "large". Every comparison is made between
# natural logarithms, so that no quantity it looks at can overflow while it looks.
_LN_F64_MAX = math.log(float(np.finfo(np.float64).max))
_LN_HEADROOM = math.log(1e3)  # a weighted loss or gradient this large must still fit the dtype
_LARGE_INPUT = 100.0  # standardised features seldom pass this; raw pixels (255), prices do
_LARGE_TARGET = 1e3  # likewise for regression targets
_STANDARDISE = "standardise them (see fastnn.scaling.Scaling)"


def _ln(value):
    """``ln(value)`` for ``value >= 0``; minus infinity for 0."""
    return math.log(value) if value > 0 else -math.inf


def _shown(ln_value):
    """``exp(ln_value)`` written as ``%.3g`` would write it, also beyond float64's range."""
    if ln_value < _LN_F64_MAX:
        return f"{math.exp(ln_value):.3g}"
    exponent = math.floor(ln_value / math.log(10))
    return f"{10 ** (ln_value / math.log(10) - exponent):.3g}e+{exponent}"


def _one_minus(ln_value):
    """``1 - exp(ln_value)`` written with three digits, also beyond float64's range."""
    if ln_value < _LN_F64_MAX:
        return f"{1 - math.exp(ln_value):.3g}"
    return f"-{_shown(ln_value)}"


def _largest(arr):
    """The largest ``|value|`` of a finite array (0 when empty), without a copy of it."""
    if arr.size == 0:
        return 0.0
    return max(abs(float(arr.max())), abs(float(arr.min())))


def _ln_largest_row_norm2(X, largest):
    """``ln`` of the largest squared norm of a row of ``X`` (dense or CSR) whose entries are at
    most ``largest`` in magnitude; rows are divided by ``largest`` first, so nothing overflows."""
    if largest == 0:
        return -math.inf
    if isinstance(X, np.ndarray):
        top = 0.0
        for first in range(0, X.shape[0], 4096):  # float64 copies of a few MiB at a time
            rows = X[first : first + 4096].astype(np.float64) / largest
            top = max(top, float(np.einsum("ij,ij->i", rows, rows).max()))
    else:
        sums = np.concatenate(([0.0], np.cumsum((X.data.astype(np.float64) / largest) ** 2)))
        top = float((sums[X.indptr[1:]] - sums[X.indptr[:-1]]).max())
    return 2 * math.log(largest) + _ln(top)


def _divergence_cause(model, data, optimizer, batch_size):
    """Why an epoch's loss became NaN or infinite, as the end of a sentence: the first of the
    causes below that the data and the settings show, else the learning rate.

    1. Overflow whatever the rate: squared MSE targets, squared inputs, or sample weights so
       large that a weighted loss overflows.
    2. An SGD update that the L1/L2 penalty alone makes unstable (``2 lr l2 > 2 (1 +
       momentum)``, or an L1 step larger than the weights), further beyond stability than the
       data's own step ``lr |x|^2`` (``x`` the longest input row); else an L1/L2 gradient
       beyond the dtype's range (any optimizer).
    3. Unstandardised inputs, when they make the data's step unstable (SGD) and standardised
       ones would not; else the learning rate, with a hint when the inputs or the regression
       targets are large.
    """
    dtype = np.dtype(model.dtype)
    ln_max = math.log(float(np.finfo(dtype).max))
    wider = " or use dtype='float64'" if dtype == np.float32 else ""
    y = _largest(data.targets) if model.loss == "mse" else 0.0
    if y:  # each sample's loss sums k squares in the dtype; the epoch sums n in float64
        if 2 * _ln(y) > ln_max - math.log(data.targets.shape[1]):
            return (f": the squared targets overflow {dtype} (|y| up to {y:.3g}): "
                    f"{_STANDARDISE}{wider}.")  # fmt: skip
        if 2 * _ln(y) > _LN_F64_MAX - math.log(data.targets.shape[0]):
            return (f": the squared targets overflow the float64 sum of the epoch's loss (|y| "
                    f"up to {y:.3g}): {_STANDARDISE}.")  # fmt: skip
    x = _largest(data.X if isinstance(data.X, np.ndarray) else data.X.data)
    if 2 * _ln(x) > ln_max:
        return (f": the inputs are too large for {dtype} (|X| up to {x:.3g}; their squares "
                f"overflow): {_STANDARDISE}{wider}.")  # fmt: skip
    penalty = _Penalty(model, data, optimizer, batch_size)
    if penalty.ln_weight_sum + _LN_HEADROOM > ln_max:
        return (f": the sample weights sum to {_shown(penalty.ln_weight_sum)}, so weighted "
                f"losses and gradients overflow {dtype}: divide them by their mean (the "
                "gradient depends only on their ratios).")  # fmt: skip
    rate = optimizer.current_lr
    ln_data_step = math.inf  # Adam's steps are about lr whatever the gradient
    if optimizer.kind == SGD_KIND:
        ln_data_step = _ln(rate) + _ln_largest_row_norm2(data.X, x)
        unstable = penalty.unstable(rate, optimizer.momentum, ln_data_step)
        if unstable:
            return unstable
    overflow = penalty.overflow(ln_max, dtype)
    if overflow:
        return overflow
    # the step standardised inputs would take (|x|^2 about n_features): is the rate to blame?
    ln_standard_step = _ln(rate)
    if optimizer.kind == SGD_KIND:
        ln_standard_step += math.log(data.X.shape[1])
    if x > _LARGE_INPUT and ln_data_step > 0 and ln_standard_step <= 0:
        reach = "" if ln_data_step == math.inf else f", so lr*|x|^2 reaches {_shown(ln_data_step)}"
        return (f": the inputs are large (|X| up to {x:.3g}{reach} with lr={rate:g}): "
                f"{_STANDARDISE} or try a smaller learning rate.")  # fmt: skip
    large = [f"targets (|y| up to {y:.3g}"] if y > _LARGE_TARGET else []
    large += [f"inputs (|X| up to {x:.3g}"] if x > _LARGE_INPUT else []
    also = ""
    if large:
        also = f", and standardise the {') and the '.join(large)}; see fastnn.scaling.Scaling)"
    return (f" with lr={optimizer.lr}: the learning rate is probably too large, try a smaller "
            f"one{also}.")  # fmt: skip


class _Penalty:
    """An optimizer's L1 and L2 terms as an epoch applies them, in logarithms: with sample
    weights, a batch's terms are divided by its weight sum (at least ``m`` times the smallest
    positive weight, for batches of ``m``)."""

    def __init__(self, model, data, optimizer, batch_size):
        self.l1, self.l2 = getattr(optimizer, "l1", 0.0), getattr(optimizer, "l2", 0.0)
        weights, m = data.weights, min(batch_size, data.X.shape[0])
        self.ln_weight_sum, ln_scale, self.per, self.weights = -math.inf, 0.0, "", ""
        if len(weights):
            heaviest, lightest = _largest(weights), float(weights[weights > 0].min())
            self.ln_weight_sum = math.log(heaviest) + math.log(np.sum(weights / heaviest))
            ln_scale = -math.log(m * lightest)
            if m == 1:
                self.per, self.weights = "/w", f" and sample weights w down to {lightest:.3g}"
            else:
                self.per, self.weights = "/W", f" and batch weight sums W from {m * lightest:.3g}"
        self.ln_c1 = _ln(self.l1) + ln_scale  # the L1 gradient's size
        self.ln_c2 = _ln(2 * self.l2) + ln_scale  # the L2 gradient's factor on the weights
        self.largest_weight = max(_largest(layer.W[np.isfinite(layer.W)]) for layer in model.layers)

    def unstable(self, rate, momentum, ln_data_step):
        """The message when SGD's penalty alone makes every update grow the weights, further
        beyond stability than the data's step; else None."""
        ln_rate = _ln(rate)
        ln_l2 = ln_rate + self.ln_c2 - math.log(2 * (1 + momentum))
        ln_l1 = ln_rate + self.ln_c1 - _ln(max(self.largest_weight, 1.0))
        if max(ln_l1, ln_l2) <= max(0.0, ln_data_step):
            return None
        if ln_l2 >= ln_l1:
            return (f": the L2 penalty is too large for the learning rate: each update multiplies "
                    f"the weights by about {_one_minus(ln_rate + self.ln_c2)} (1 - 2*lr*l2"
                    f"{self.per} with lr={rate:g}, l2={self.l2:g}{self.weights}), so they grow "
                    "without bound: use a smaller l2.")  # fmt: skip
        return (f": the L1 penalty is too large for the learning rate: each update moves every "
                f"weight by {_shown(ln_rate + self.ln_c1)} (lr*l1{self.per} with lr={rate:g}, "
                f"l1={self.l1:g}{self.weights}), more than the weights' size (up to "
                f"{self.largest_weight:.3g}): use a smaller l1.")  # fmt: skip

    def overflow(self, ln_max, dtype):
        """The message when the penalty's gradient overflows ``dtype``; else None."""
        if self.ln_c2 > ln_max or self.ln_c2 + _ln(self.largest_weight) > ln_max:
            return (f": the L2 penalty's gradient 2*l2{self.per}*W overflows {dtype} (l2="
                    f"{self.l2:g}{self.weights}, weights up to {self.largest_weight:.3g}): use a "
                    "smaller l2.")  # fmt: skip
        if self.ln_c1 > ln_max:
            return (f": the L1 penalty's gradient l1{self.per} overflows {dtype} (l1={self.l1:g}"
                    f"{self.weights}): use a smaller l1.")  # fmt: skip
        return None
