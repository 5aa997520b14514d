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
from ._codes import CLASSIFICATION_LOSSES, new_stats
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
    """

    def __init__(self, model, data, batch_size, optimizer, workers, verbose, rollback=True):
        self.model = model
        self.rollback = rollback
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

        A non-finite running loss restores the parameters and the optimizer to the start of
        the epoch and raises; a Ctrl-C raises :class:`TrainingInterrupted` after the slice in
        progress, with the model as that slice left it.
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
                if not math.isfinite(running):
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
        targets = self.data.targets
        if self.model.loss == "mse" and len(targets):
            largest = float(np.max(np.abs(targets.astype(np.float64))))
            if largest**2 > float(np.finfo(targets.dtype).max) / targets.shape[1]:
                return (
                    f"{where}: the squared targets overflow {targets.dtype} (|y| up to "
                    f"{largest:.3g}): standardise them (see fastnn.scaling.Scaling) or use "
                    f"dtype='float64'. {restored}"
                )
        return (
            f"{where} with lr={self.optimizer.lr}: the learning rate is probably too large, "
            f"try a smaller one. {restored}"
        )
