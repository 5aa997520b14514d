"""The exceptions fastnn raises for what a user passed it.

Every mistake a user can make (a bad argument, a malformed file, a learning rate that makes the
loss diverge) raises a :class:`FastnnError`. The concrete classes also derive from the built-in
exception a Python user expects, so ``except ValueError`` keeps working. The command line catches
:class:`FastnnError` alone and prints one line; anything else is a bug in fastnn and shows its
traceback.
"""


class FastnnError(Exception):
    """Base class of the errors fastnn raises for a user's input."""


class InputError(FastnnError, ValueError):
    """A value is out of range, inconsistent, or a file's content is malformed."""


class InputTypeError(FastnnError, TypeError):
    """A value has the wrong type."""


__all__ = ["FastnnError", "InputError", "InputTypeError"]
