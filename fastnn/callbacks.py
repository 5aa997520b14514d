"""Callbacks: code that runs between epochs, after Keras's ``Callback``.

A callback sees the model (``self.model``) and the fit's settings (``self.params``, the
history's :attr:`~fastnn.History.params`), and has hooks at the start and end of training and
at the start and end of each epoch, where it gets the epoch's logs (the keys of
:attr:`History.history <fastnn.History>`). It stops training by setting
``self.model.stop_training = True``. The hooks run between the compiled epochs, never inside
them, so a callback costs nothing there.

``fit(..., callbacks=[...])`` takes :class:`EarlyStopping`, :class:`ModelCheckpoint`,
:class:`CSVLogger`, :class:`LambdaCallback` and any subclass of :class:`Callback`. The
``"adaptive"`` learning-rate schedule and the scikit-learn estimators' stopping rule are
callbacks too (:class:`OnPlateau`), run by the same loop (:class:`fastnn.training.EpochRunner`).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_choice, check_int, check_number
from .errors import InputError, InputTypeError

if TYPE_CHECKING:
    from ._typing import PathLike
    from .lbfgs import LBFGS
    from .model import Sequential
    from .optimizers import Optimizer


class Callback:
    """The base class: every hook does nothing. Subclass it and override the hooks you need.

    Attributes
    ----------
    model : Sequential
        The model being trained, set before training begins.
    """

    model: Sequential | None = None
    params: dict[str, Any] = {}

    def set_model(self, model: Sequential) -> None:
        """Set :attr:`model`; the training loop calls it before training begins."""
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Set :attr:`params`, the fit's settings (see :attr:`fastnn.History.params`); the
        training loop calls it before training begins."""
        self.params = params

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        """Training starts."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Epoch ``epoch`` (from 0) starts."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Epoch ``epoch`` has ended; ``logs`` holds its metrics (loss, accuracy, epoch_time
        and the validation metrics)."""

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        """Training has ended (all its epochs, or a callback stopped it)."""


class Plateau:
    """Counts the epochs in a row that fail to improve a quantity by ``tol``.

    ``mode="min"`` for a loss, ``"max"`` for a score; scikit-learn's MLP rule: an epoch counts
    when it is not better than the best so far by more than ``tol``.
    """

    def __init__(self, tol: float, mode: str = "min") -> None:
        self.tol = tol
        self.sign = 1.0 if mode == "min" else -1.0
        self.best = np.inf
        self.count = 0

    def update(self, value: float) -> bool:
        """Record one epoch's value; return True when it is the best so far."""
        value = self.sign * value
        self.count = self.count + 1 if value > self.best - self.tol else 0
        if value < self.best:
            self.best = value
            return True
        return False


class OnPlateau(Callback):
    """What an optimizer's schedule does when ``monitor`` stops improving.

    When ``monitor`` has not improved by ``tol`` (see :class:`Plateau`) for more than
    ``patience`` epochs in a row, the optimizer's ``trigger_stopping`` decides: the
    ``"adaptive"`` schedule divides its rate by 5 and the count starts again, until the rate is
    down to its floor; any other schedule says stop. Training then stops. ``fit`` adds one for
    the adaptive schedule (watching the validation loss, else the training loss); the
    scikit-learn estimators add one for their stopping rule, as scikit-learn's MLP has it.

    Attributes
    ----------
    plateau : Plateau
        The counter; it carries over when the callback is used again.
    improved : bool
        Whether the last epoch was the best so far.
    stopped : bool
        Whether this callback stopped training.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        monitor: str = "loss",
        mode: str = "min",
        tol: float | None = None,
        patience: int | None = None,
        plateau: Plateau | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.monitor = monitor
        self.patience = optimizer.n_iter_no_change if patience is None else patience
        if plateau is None:
            plateau = Plateau(optimizer.tol if tol is None else tol, mode)
        self.plateau = plateau
        self.improved = self.stopped = False

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.improved = self.plateau.update(logs[self.monitor])
        if self.plateau.count <= self.patience:
            return
        if self.optimizer.trigger_stopping():
            self.stopped = self.model.stop_training = True
            self.stopping()
        else:
            self.plateau.count = 0
            self.slowing()

    def stopping(self) -> None:
        """Training stops for want of improvement (a hook for messages)."""

    def slowing(self) -> None:
        """The rate has been divided by 5 (a hook for messages)."""


class _Announce(OnPlateau):
    """:class:`OnPlateau` for ``fit``, saying when it stops."""

    def __init__(self, optimizer, monitor, verbose):
        optimizer.plateau.tol = optimizer.tol  # the schedule's count goes on from fit to fit
        super().__init__(optimizer, monitor, plateau=optimizer.plateau)
        self.verbose = verbose

    def stopping(self):
        if self.verbose:
            opt = self.optimizer
            print(f"the {self.monitor} did not improve by tol={opt.tol} for "
                  f"{opt.n_iter_no_change} epochs and the learning rate is down to "
                  f"{opt.min_lr:g}: stopping", flush=True)  # fmt: skip


def adaptive_schedule(
    optimizer: Optimizer | LBFGS, validation: bool, verbose: int
) -> OnPlateau | None:
    """The callback of the ``"adaptive"`` schedule for ``fit``, or None for other schedules.

    Its count of epochs without improvement is the optimizer's :attr:`~fastnn.SGD.plateau`, so
    that it carries over from one ``fit`` to the next and into a saved model.
    """
    if getattr(optimizer, "schedule", None) != "adaptive":
        return None
    return _Announce(optimizer, "val_loss" if validation else "loss", verbose)


# -- the callbacks a user passes to fit ---------------------------------------------------------

MODES = ("auto", "min", "max")
_MAXIMISED = ("accuracy", "r2", "score")  # the logs' metrics where higher is better
_MINIMISED = ("loss", "mse", "epoch_time")


def _sign(monitor, mode, who):
    """+1 when ``monitor`` improves by decreasing, -1 by increasing; ``"auto"`` infers it from
    the name (without its ``val_`` prefix), as Keras does."""
    if not isinstance(monitor, str) or not monitor:
        raise InputTypeError(f"{who} monitor must be the name of a log, such as 'val_loss'; got "
                             f"{monitor!r}")  # fmt: skip
    mode = check_choice(mode, f"{who} mode", MODES)
    if mode != "auto":
        return 1.0 if mode == "min" else -1.0
    name = monitor.removeprefix("val_")
    if name in _MINIMISED:
        return 1.0
    if name in _MAXIMISED:
        return -1.0
    raise InputError(
        f"{who} cannot tell whether monitor={monitor!r} should decrease or increase: the logs "
        f"hold {', '.join(_MINIMISED)} (lower is better) and {', '.join(_MAXIMISED)} (higher is "
        "better), with val_ for the validation's; pass mode='min' or mode='max'"
    )


def _check_monitor(monitor, params, who):
    """Refuse, before the first epoch, a ``monitor`` that this fit's logs will not hold."""
    keys = params.get("metrics") if params else None
    if keys is not None and monitor not in keys:
        hint = ""
        if monitor.startswith("val_") and not any(k.startswith("val_") for k in keys):
            hint = " (the val_ logs need validation_data or validation_split)"
        raise InputError(
            f"{who} monitor={monitor!r} is not among this fit's logs: {', '.join(keys)}{hint}"
        )


def _monitored(logs, monitor, who):
    value = (logs or {}).get(monitor)
    if value is None:
        raise InputError(f"{who} monitor={monitor!r} is not among the epoch's logs: "
                         f"{', '.join(logs or {})}")  # fmt: skip
    return float(value)


class EarlyStopping(Callback):
    """Stop training when a monitored log has stopped improving (Keras's ``EarlyStopping``).

    After each epoch, the monitored value improves when it beats the best so far by more than
    ``min_delta`` (``value < best - min_delta``, or ``value > best + min_delta`` for a score).
    Training stops at the end of the epoch that makes ``patience`` epochs in a row without an
    improvement (at once, with ``patience=0``, after any epoch but the first that does not
    improve).

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch's logs: ``"loss"``, ``"accuracy"``, ``"val_loss"``,
        ``"val_accuracy"``, ``"val_mse"``, ``"val_r2"``, ... The ``val_`` logs need
        ``validation_data`` or ``validation_split``. A log this fit will not have is refused
        before the first epoch.
    min_delta : float, default 0.0
        The least change that counts as an improvement, >= 0.
    patience : int, default 0
        Epochs without improvement after which training stops, >= 0.
    verbose : int, default 0
        1 says when training stops and which epoch's weights are restored.
    mode : {"auto", "min", "max"}, default "auto"
        Whether the value should decrease or increase; ``"auto"`` decides from the name
        (losses and ``mse`` decrease, ``accuracy`` and ``r2`` increase).
    baseline : float, optional
        Training also stops when no epoch within ``patience`` beats this value.
    restore_best_weights : bool, default False
        At the end of training (stopped or not), put back the weights of the epoch with the
        best monitored value, bit for bit. The optimizer's state is left as the last epoch
        left it.
    start_from_epoch : int, default 0
        Epochs (by number, from 0) not watched: a warm-up in which nothing can stop training.

    Attributes
    ----------
    best : float
        The best monitored value so far.
    best_epoch : int or None
        The epoch that reached it.
    best_weights : list of (W, b) or None
        Its weights, with ``restore_best_weights``.
    stopped_epoch : int or None
        The epoch after which this callback stopped training, or None.
    wait : int
        Epochs since the last improvement.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        who = "EarlyStopping"
        self.monitor = monitor
        self.mode = mode
        self._sign = _sign(monitor, mode, who)
        self.min_delta = check_number(min_delta, f"{who} min_delta", low=0)
        self.patience = check_int(patience, f"{who} patience", low=0)
        self.verbose = check_int(verbose, f"{who} verbose", low=0)
        self.baseline = None if baseline is None else check_number(baseline, f"{who} baseline")
        if not isinstance(restore_best_weights, (bool, np.bool_)):
            raise InputTypeError(f"{who} restore_best_weights must be True or False; got "
                                 f"{restore_best_weights!r}")  # fmt: skip
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = check_int(start_from_epoch, f"{who} start_from_epoch", low=0)
        self._reset()

    def _reset(self):
        self.wait = 0
        self.best = self._sign * math.inf
        self.best_epoch = self.stopped_epoch = self.best_weights = None

    def _improves(self, value, reference):
        return self._sign * value + self.min_delta < self._sign * reference

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        _check_monitor(self.monitor, self.params, "EarlyStopping")
        self._reset()  # an instance may serve several fits, each on its own

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._improves(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        if self.stopped_epoch is not None and self.verbose:
            print(f"epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"restoring the weights of the end of the best epoch, "
                      f"{self.best_epoch + 1}", flush=True)  # fmt: skip
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model after every epoch, or after the epochs that improve a monitored log
    (Keras's ``ModelCheckpoint``).

    Each file is a whole model file, written with :meth:`Sequential.save
    <fastnn.Sequential.save>` (to a temporary file, then renamed into place): the weights, the
    optimizer's state and update count, its schedule, the epoch count and the shuffle
    generator, so that :func:`fastnn.load` followed by ``fit`` continues training exactly where
    the file was written.

    Parameters
    ----------
    filepath : str or path-like
        Where to write; ``".npz"`` is appended when missing. It may hold ``{epoch}`` (from 1)
        and the logs' names as format fields, such as ``"model-{epoch:02d}-{val_loss:.3f}.npz"``.
    monitor : str, default "val_loss"
        The log that ``save_best_only`` watches.
    verbose : int, default 0
        1 says when a file is written.
    save_best_only : bool, default False
        Write only after an epoch whose monitored value is the best so far (``mode`` says
        which way is better), so that the file holds the best epoch.
    mode : {"auto", "min", "max"}, default "auto"
        As for :class:`EarlyStopping`.
    initial_value_threshold : float, optional
        With ``save_best_only``, the value an epoch must beat to be saved first.

    Attributes
    ----------
    best : float
        The best monitored value saved so far.
    last_path : str or None
        The file written last.
    """

    def __init__(
        self,
        filepath: PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        mode: str = "auto",
        initial_value_threshold: float | None = None,
    ) -> None:
        from ._files import as_path

        who = "ModelCheckpoint"
        self.filepath = as_path(filepath, f"{who} filepath")
        self.monitor = monitor
        if not isinstance(save_best_only, (bool, np.bool_)):
            raise InputTypeError(f"{who} save_best_only must be True or False; got "
                                 f"{save_best_only!r}")  # fmt: skip
        self.save_best_only = bool(save_best_only)
        self._sign = _sign(monitor, mode, who) if self.save_best_only else 1.0
        self.verbose = check_int(verbose, f"{who} verbose", low=0)
        self.initial_value_threshold = initial_value_threshold
        if initial_value_threshold is not None:
            check_number(initial_value_threshold, f"{who} initial_value_threshold")
        self.best = self._start()
        self.last_path = None

    def _start(self):
        if self.initial_value_threshold is not None:
            return float(self.initial_value_threshold)
        return self._sign * math.inf

    def _path(self, epoch, logs):
        try:
            return self.filepath.format(epoch=epoch + 1, **(logs or {}))
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(
                f"ModelCheckpoint filepath {self.filepath!r} has a format field this fit's logs "
                f"cannot fill ({type(exc).__name__}: {exc}); the fields are epoch and "
                f"{', '.join(logs or {})}"
            ) from None

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        if self.save_best_only:
            _check_monitor(self.monitor, self.params, "ModelCheckpoint")
        keys = (self.params or {}).get("metrics")
        if keys is not None:
            self._path(0, {key: 0.0 for key in keys})  # a bad format field fails before training

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            if not self._sign * value < self._sign * self.best:
                return
            self.best = value
        self.last_path = self.model.save(self._path(epoch, logs))
        if self.verbose:
            print(f"epoch {epoch + 1}: saved {self.last_path}", flush=True)


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (Keras's ``CSVLogger``).

    The first row names the columns: ``epoch`` (from 0), then the logs' keys in sorted order.
    Each row is written (and the file closed) at the end of its epoch, so the file is complete
    up to the last finished epoch whatever happens next. Numbers are written with all their
    digits: each value read back equals the history's.

    Parameters
    ----------
    filename : str or path-like
    separator : str, default ","
        One character.
    append : bool, default False
        Add the rows to an existing file (a header only if it is empty) rather than start a
        new one.
    """

    def __init__(self, filename: PathLike, separator: str = ",", append: bool = False) -> None:
        from ._files import as_path

        self.filename = as_path(filename, "CSVLogger filename")
        if not isinstance(separator, str) or len(separator) != 1:
            raise InputError(f"CSVLogger separator must be one character; got {separator!r}")
        self.separator = separator
        if not isinstance(append, (bool, np.bool_)):
            raise InputTypeError(f"CSVLogger append must be True or False; got {append!r}")
        self.append = bool(append)
        self.keys = None
        self._header = True

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.keys = None
        if self.append and os.path.exists(self.filename):
            self._header = os.path.getsize(self.filename) == 0
        else:
            open(self.filename, "w").close()  # a new file, or an old one emptied
            self._header = True

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        with open(self.filename, "a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator, lineterminator="\n")
            if self._header:
                writer.writerow(["epoch", *self.keys])
                self._header = False
            writer.writerow([epoch, *(_cell(logs.get(key)) for key in self.keys)])


def _cell(value):
    """A log's value as text that reads back to the same number (``"NA"`` when missing)."""
    if value is None:
        return "NA"
    return repr(float(value)) if isinstance(value, (float, np.floating)) else str(value)


class LambdaCallback(Callback):
    """A callback made of functions (Keras's ``LambdaCallback``).

    Parameters
    ----------
    on_epoch_begin : callable, optional
        Called as ``on_epoch_begin(epoch, logs)``.
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, logs)``, ``logs`` holding the epoch's metrics.
    on_train_begin : callable, optional
        Called as ``on_train_begin(logs)``.
    on_train_end : callable, optional
        Called as ``on_train_end(logs)``.

    Notes
    -----
    There are no batch hooks: the batches of an epoch run inside compiled code.

    Examples
    --------
    >>> import fastnn as fn
    >>> losses = []
    >>> keep = fn.LambdaCallback(on_epoch_end=lambda epoch, logs: losses.append(logs["loss"]))
    """

    def __init__(
        self,
        on_epoch_begin: Callable[[int, dict], Any] | None = None,
        on_epoch_end: Callable[[int, dict], Any] | None = None,
        on_train_begin: Callable[[dict], Any] | None = None,
        on_train_end: Callable[[dict], Any] | None = None,
    ) -> None:
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end)  # fmt: skip
        for name, hook in hooks.items():
            if hook is not None and not callable(hook):
                raise InputTypeError(f"LambdaCallback {name} must be callable or None; got "
                                     f"{type(hook).__name__}")  # fmt: skip
            if hook is not None:
                setattr(self, name, hook)


__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "LambdaCallback",
    "ModelCheckpoint",
    "OnPlateau",
    "Plateau",
    "adaptive_schedule",
]
