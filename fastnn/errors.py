"""The exceptions fastnn raises for what a user passed it.

Every mistake a user can make (a bad argument, a malformed file, a learning rate that makes the
loss diverge) raises a :class:`FastnnError`. The concrete classes also derive from the built-in
exception a Python user expects, so ``except ValueError`` keeps working. The command line catches
:class:`FastnnError` alone and prints one line; anything else is a bug in fastnn and shows its
traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .training import History


class FastnnError(Exception):
    """Base class of the errors fastnn raises for a user's input.

    Attributes
    ----------
    cli_message : str or None
        The same message for a user of the ``fastnn`` command, where the fix is an option
        (``--task binary``) rather than a Python argument (``task="binary"``); None when the
        message fits both. The command line prints it instead of ``str(error)``.
    """

    cli_message: str | None = None

    def for_cli(self, message: str) -> FastnnError:
        """Set :attr:`cli_message` and return the error: ``raise InputError(...).for_cli(...)``."""
        self.cli_message = message
        return self


class InputError(FastnnError, ValueError):
    """A value is out of range, inconsistent, or a file's content is malformed."""


class InputTypeError(FastnnError, TypeError):
    """A value has the wrong type."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :meth:`fastnn.Sequential.fit`.

    Training stops between two backend calls, so the model and its optimizer are consistent:
    the parameters, the optimizer's state and ``optimizer.iterations`` count exactly the updates
    made. It is a :class:`KeyboardInterrupt`, so code that does not know it stops as usual.

    Attributes
    ----------
    history : fastnn.History or None
        The epochs that were completed.
    """

    def __init__(self, rollback: Callable[[], None], history: History | None = None) -> None:
        super().__init__("training interrupted")
        self._rollback = rollback
        self.history = history

    def rollback(self) -> None:
        """Put the parameters and the optimizer back to the end of the last completed epoch."""
        self._rollback()


__all__ = ["FastnnError", "InputError", "InputTypeError", "TrainingInterrupted"]
