"""Callbacks: code that runs between epochs, after Keras's ``Callback``.

A callback sees the model (``self.model``) and has hooks at the start and end of training and at
the start and end of each epoch, where it gets the epoch's logs (the keys of
:attr:`History.history <fastnn.History>`). It stops training by setting
``self.model.stop_training = True``. The hooks run between the compiled epochs, never inside
them, so a callback costs nothing there.

The ``"adaptive"`` learning-rate schedule and the scikit-learn estimators' stopping rule are
callbacks too (:class:`OnPlateau`), run by the same loop (:class:`fastnn.training.EpochRunner`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
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

    def set_model(self, model: Sequential) -> None:
        """Set :attr:`model`; the training loop calls it before training begins."""
        self.model = model

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
    ) -> None:
        self.optimizer = optimizer
        self.monitor = monitor
        self.patience = optimizer.n_iter_no_change if patience is None else patience
        self.plateau = Plateau(optimizer.tol if tol is None else tol, mode)
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
        super().__init__(optimizer, monitor)
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
    """The callback of the ``"adaptive"`` schedule for ``fit``, or None for other schedules."""
    if getattr(optimizer, "schedule", None) != "adaptive":
        return None
    return _Announce(optimizer, "val_loss" if validation else "loss", verbose)


__all__ = ["Callback", "OnPlateau", "Plateau"]
