"""The one epoch loop, of :meth:`fastnn.Sequential.fit` and of the scikit-learn estimators:
slices, progress, rollback, the schedule, callbacks and history.

An epoch runs as a series of backend calls ("slices") of a fraction of a second each, whatever
``verbose`` is: the progress bar moves between slices, a Ctrl-C is taken between them, and a
diverging loss is caught within a slice. A slice is a whole number of batches, and the kernels
carry every piece of state (parameters, optimizer state, update count) from one call to the
next, so slicing changes no number. What the backend needs beyond the parameters is prepared
once per ``fit`` (see :class:`EpochRunner`), not per slice.
"""

import math
import signal
import sys
import threading
import time

import numpy as np
from tqdm import tqdm

from . import inference
from ._codes import CLASSIFICATION_LOSSES, new_stats
from ._diagnosis import divergence_cause
from ._memory import check_training
from .errors import InputError, TrainingInterrupted
from .optimizers import is_plain_sgd

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
        The epoch numbers, from 0, counted over every ``fit`` of the model (a second
        ``fit(epochs=2)`` gives epochs 2 and 3).
    params : dict
        The fit's settings, as Keras's ``History.params``: ``epochs`` (the epochs asked for),
        ``initial_epoch``, ``steps`` (updates per epoch), ``batch_size``, ``samples``,
        ``validation_samples``, ``verbose``, ``optimizer`` (its ``get_config()``, name and
        hyperparameters) and ``metrics`` (the logs' keys). An L-BFGS fit has ``iterations``
        (its ``max_iter``) instead of ``epochs`` and ``steps``.
    """

    def __init__(self, params=None):
        self.history = {}
        self.epoch = []
        self.params = {} if params is None else params

    def _append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


class DeferredInterrupt:
    """Hold a Ctrl-C (SIGINT) while a backend call runs, and raise it when the call returns.

    A backend call is never cut in half, so the parameters, the optimizer state and its update
    count stay consistent. Entered once around the whole training (the handler is installed
    once, not per call); a Ctrl-C outside a backend call is raised at once, as without it.
    Outside the main thread (where no signal handler can be set), and where SIGINT is ignored
    (a shell's background job, ``nohup``), calls run as they are.
    """

    def __init__(self):
        self.active = False
        self.in_call = False
        self.received = []
        self.previous = None

    def __enter__(self):
        self.active = (threading.current_thread() is threading.main_thread()
                       and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN)  # fmt: skip
        if self.active:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.active:
            signal.signal(signal.SIGINT, self.previous)
            self.active = False

    def call(self, function, *args):
        """``function(*args)``, with a Ctrl-C that arrives meanwhile raised after it returns."""
        self.in_call = True
        try:
            function(*args)
        finally:
            self.in_call = False
        if self.received:
            frame = self.received[0]
            self.received.clear()
            self._forward(frame)

    def _handle(self, signum, frame):
        if self.in_call:
            self.received.append(frame)
        else:
            self._forward(frame)

    def _forward(self, frame):
        """What the Ctrl-C would have done without this: the handler before it, if that is a
        function of the program's own, else KeyboardInterrupt."""
        previous = self.previous
        if callable(previous) and previous is not signal.default_int_handler:
            previous(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt


COMPILE_NOTICE_AFTER = 1.5  # seconds: loading cached kernels takes less, even on a busy machine


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
        print(f"fastnn: compiling kernels for {what} (once: they are then cached on disk)...",
              file=sys.stderr, flush=True)  # fmt: skip
        worker.join()
        print(f"fastnn: compiled in {time.perf_counter() - started + COMPILE_NOTICE_AFTER:.1f} s",
              file=sys.stderr, flush=True)  # fmt: skip
    if outcome:
        raise outcome[0]


class _NoBar:
    """The progress bar of a quiet epoch: nothing to draw, nothing to pay per slice."""

    def update(self, n):
        pass

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


_NO_BAR = _NoBar()


class EpochRunner:
    """The one training loop: the epochs of ``Sequential.fit`` and of the scikit-learn
    estimators, on a model's backend.

    Use it as a context manager: entering prepares the backend's training once
    (``start_training``: the data as the kernels read it, the work buffers) and takes over
    Ctrl-C (:class:`DeferredInterrupt`), leaving releases both, also on an error or a Ctrl-C.

    Parameters
    ----------
    model : Sequential
        A built model.
    data : EpochData
        The checked training data.
    batch_size : int
    optimizer : Optimizer
    workers : int, default 1
    verbose : int, default 1
        0 silent, 1 a progress bar and a line per epoch, 2 the line only.
    rollback : bool, default True
        Keep a copy of the parameters and the optimizer at each epoch's start, to go back to.
    stop_on_divergence : bool, default True
        Raise when the running loss becomes non-finite (after going back to the epoch's start
        with ``rollback``). False trains on through NaN and inf, as scikit-learn's MLP does.
    check_inputs : callable or None, default None
        The finite check of ``data.X``, not yet made: it raises :class:`InputError` naming a
        NaN or infinity. Where the backend's training checks the rows it reads
        (``checks_inputs``), a batch that holds one stops the epoch: the parameters and the
        optimizer go back to the epoch's start (``rollback`` must be true) and the check
        raises; ``refused_inputs`` is then true. Otherwise it is called on entering, before
        any training. Every epoch reads every row, so the first one completed settles it.
    """

    def __init__(self, model, data, batch_size, optimizer, workers=1, verbose=1, rollback=True,
                 stop_on_divergence=True, check_inputs=None):  # fmt: skip
        self.model = model
        self.rollback = rollback
        self.stop_on_divergence = stop_on_divergence
        self.check_inputs = check_inputs
        self.refused_inputs = False
        self.data = data
        batch_size = max(1, min(batch_size, data.X.shape[0]))  # no buffers beyond the data
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.workers = workers
        self.verbose = verbose
        widths = [model.layers[0].n_in, *(layer.n_out for layer in model.layers)]
        longest = None if isinstance(data.X, np.ndarray) else _longest_row(data.X)
        what = f"training with batch_size={batch_size}" if workers == 1 else (
            f"training with workers={workers}")  # fmt: skip
        check_training(widths, model.dtype, what, batch_size=batch_size, row_values=longest,
                       slots=optimizer.n_slots, plain=is_plain_sgd(optimizer.config()),
                       workers=workers, rollback=rollback)  # fmt: skip
        self.state = optimizer.state_for(model._params)
        self.dropout = model._dropout_plan()
        self._epoch = 0  # the number of the epoch in progress: it keys the dropout masks
        n_weights = sum(layer.n_in * layer.n_out for layer in model.layers)
        self._max_batches = -(-data.X.shape[0] // batch_size)  # a slice is at most an epoch
        batches = int(_FIRST_SLICE_WORK / (3 * n_weights * batch_size))
        self._slice = min(max(1, batches), self._max_batches) * batch_size
        self.training = None
        self._interrupts = DeferredInterrupt()

    def __enter__(self):
        m, o = self.model, self.optimizer
        self.training = m._ops.start_training(m._params, self.state, m._layout, self.data,
                                              m._loss_code, self.batch_size, o.config(),
                                              self.workers, self.dropout)  # fmt: skip
        if self.check_inputs is not None and not self.training.checks_inputs:
            try:
                self._check_inputs_now()
            except BaseException:
                self.training.close()
                self.training = None
                raise
        self._interrupts.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self._interrupts.__exit__(*exc)
        finally:
            self.training.close()
            self.training = None

    def run_part(self, order, stats):
        """Train on the samples ``order`` in one backend call."""
        o = self.optimizer
        with np.errstate(over="ignore", invalid="ignore"):  # fit reports a non-finite loss
            self.training.train(order, o.config(), o._t, stats, epoch=self._epoch)

    def run(self, epochs, orders, callbacks=(), validate=None, logs=None, initial_epoch=0,
            params=None):  # fmt: skip
        """Train epochs ``initial_epoch`` to ``epochs - 1`` and return their :class:`History`.

        ``orders(epoch)`` gives each epoch's order of the samples. ``logs(record, seconds)``
        gives an epoch's logs from its statistics record (default: :meth:`logs`, with the
        validation metrics that ``validate()`` returns, prefixed with ``val_``). After each
        epoch the optimizer's schedule is told, the model's ``epochs_trained`` becomes the
        epoch's number plus one, the history grows, and the ``callbacks`` run (in their order:
        a schedule's first, so that a checkpoint holds its state after the epoch); one that
        sets ``model.stop_training`` ends training. ``params`` (a dict) becomes the history's
        and the callbacks' ``params``. A Ctrl-C raises :class:`TrainingInterrupted` holding
        the history so far.
        """
        model, history = self.model, History(params)
        if logs is None:

            def logs(record, seconds):
                return self.logs(record, seconds, validate)

        model.stop_training = False
        for callback in callbacks:
            callback.set_model(model)
            callback.set_params(history.params)
        for callback in callbacks:
            callback.on_train_begin({})
        epoch_logs = {}
        try:
            for epoch in range(initial_epoch, epochs):
                for callback in callbacks:
                    callback.on_epoch_begin(epoch, {})
                self._epoch = epoch
                record, elapsed = self.epoch(orders(epoch), epoch + 1, epochs)
                self.check_inputs = None  # every row was read, and found finite
                opt = self.optimizer
                opt.iteration_ends(opt.samples_seen + int(record["n_seen"]))
                model._epochs_trained = epoch + 1  # a valid count: not checked again
                epoch_logs = logs(record, elapsed)
                history._append(epoch, epoch_logs)
                if self.verbose:
                    text = " - ".join(f"{k} {v:.4f}" for k, v in epoch_logs.items()
                                      if k != "epoch_time")  # fmt: skip
                    print(f"epoch {epoch + 1}/{epochs} - {elapsed:.3f}s - {text}", flush=True)
                for callback in callbacks:
                    callback.on_epoch_end(epoch, epoch_logs)
                if model.stop_training:
                    break
        except TrainingInterrupted as exc:
            exc.history = history
            raise
        except KeyboardInterrupt as exc:  # between two epochs: nothing to undo
            raise TrainingInterrupted(lambda: None, history) from exc
        if self.check_inputs is not None:  # no epoch ran: X is checked all the same
            self._check_inputs_now()
        for callback in callbacks:
            callback.on_train_end(dict(epoch_logs))
        return history

    def logs(self, record, elapsed, evaluate_validation=None):
        """An epoch's logs: the running mean loss (and accuracy) over the epoch, its seconds of
        training, and the validation metrics of ``evaluate_validation()``."""
        weight = max(float(record["weight_sum"]), np.finfo(float).tiny)
        logs = {"loss": float(record["loss_sum"]) / weight}
        if self.model.loss in CLASSIFICATION_LOSSES:
            logs["accuracy"] = float(record["correct_sum"]) / weight
        logs["epoch_time"] = elapsed
        if evaluate_validation is not None:
            logs.update({f"val_{key}": value for key, value in evaluate_validation().items()})
        return logs

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
            with np.errstate(over="ignore", invalid="ignore"):
                self.run_part(np.empty(0, np.int64), new_stats())
                out = inference.outputs(m, one.X, warn=False)
                args = (m._loss_code, out, one.labels, one.targets, one.weights)
                m._ops.loss_value(*args)
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
        # disable=None: tqdm draws only on a terminal, so a log file gets no carriage returns
        bar = _NO_BAR if self.verbose != 1 else tqdm(
            total=n, desc=f"epoch {number}/{epochs}", unit="sample", disable=None, leave=False,
            file=sys.stderr)  # fmt: skip
        started = time.perf_counter()
        try:
            first = 0
            while first < n:
                part = order[first : first + self._slice]
                began = time.perf_counter()
                self._interrupts.call(self.run_part, part, stats)
                self._resize(time.perf_counter() - began)
                first += len(part)
                self._refuse_nonfinite_inputs(stats, saved)
                running = stats["loss_sum"][0] / max(stats["n_seen"][0], 1)
                if self.stop_on_divergence and not math.isfinite(running):
                    if saved is not None:
                        self._restore(saved)
                    raise InputError(self._divergence_message(running, number, first, n))
                bar.update(len(part))
                bar.set_postfix(loss=f"{running:.4f}", refresh=False)
        except KeyboardInterrupt as exc:
            self._refuse_nonfinite_inputs(stats, saved)
            raise TrainingInterrupted(lambda: self._restore(saved)) from exc
        finally:
            bar.close()
        return stats[0], time.perf_counter() - started

    def _check_inputs_now(self):
        """The finite check of X, made before (or instead of) any training."""
        try:
            self.check_inputs()
        except InputError:
            self.refused_inputs = True
            raise
        self.check_inputs = None

    def _refuse_nonfinite_inputs(self, stats, saved):
        """Where the backend stopped at a batch with a NaN or infinite input: go back to the
        epoch's start and raise the check's error."""
        if not stats["nonfinite_inputs"][0]:
            return
        self._restore(saved)
        self.refused_inputs = True
        if self.check_inputs is not None:
            self.check_inputs()
        raise InputError("X contains NaN or infinity; remove or impute them first")

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
        cause = divergence_cause(self.model, self.data, self.optimizer, self.batch_size)
        return f"{where}{cause} {restored}"


def _longest_row(X):
    """The most values a row of the CSR matrix ``X`` stores."""
    return int(np.diff(X.indptr).max(initial=0))
