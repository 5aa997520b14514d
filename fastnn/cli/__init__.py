"""The ``fastnn`` command line: ``train``, ``evaluate``, ``predict`` and ``bench``.

One module per command, each with ``DESCRIPTION``, ``add_options(parser)`` and ``run(args)``,
listed in :data:`COMMANDS` with its one-line summary and imported only when that command runs.
Options that several commands take are declared once in :mod:`.options`; the data sets are
loaded by :mod:`.data`.

A user's mistake (a :class:`~fastnn.errors.FastnnError`, the command line's own
:class:`~.options.UsageError` among them, or a file the system refuses) prints one line to
stderr and exits with status 2; Ctrl-C exits with status 130. Anything else is a bug in fastnn
and shows its traceback.
"""

import argparse
import importlib
import platform
import sys
from importlib import metadata
from typing import NamedTuple

from .. import __version__
from .._distribution import DISTRIBUTION
from ..errors import FastnnError
from .options import Interrupted


class CommandInfo(NamedTuple):
    module: str
    summary: str


COMMANDS = {
    "train": CommandInfo("fastnn.cli.train", "train a network and report its test metrics"),
    "evaluate": CommandInfo(
        "fastnn.cli.evaluate", "report a saved model's metrics on a data set's test rows"
    ),
    "predict": CommandInfo("fastnn.cli.predict", "predict labels or values for the rows of a file"),
    "bench": CommandInfo(
        "fastnn.cli.bench",
        "time one MNIST epoch per backend (and, with --peers, in PyTorch, JAX, scikit-learn)",
    ),
}


def load_command(name):
    """The module of command ``name``, imported now."""
    return importlib.import_module(COMMANDS[name].module)


def build_parser(command=None):
    """The parser of the ``fastnn`` command, with the options of ``command`` only.

    The other commands are listed by name and summary, so ``fastnn --help`` imports none of them.
    """
    parser = argparse.ArgumentParser(
        prog="fastnn",
        description="Train dense neural networks fast on the CPU.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # --version on one line
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, info in COMMANDS.items():
        if name != command:
            commands.add_parser(name, help=info.summary)
            continue
        module = load_command(name)
        module.add_options(
            commands.add_parser(name, help=info.summary, description=module.DESCRIPTION)
        )
    return parser


def version_text():
    """``fastnn --version``: fastnn's version and what its numbers depend on, read from the
    installed packages' metadata, so that nothing heavy is imported."""
    parts = [f"fastnn {__version__} (installed as {DISTRIBUTION})",
             f"Python {platform.python_version()}"]  # fmt: skip
    for name in ("numpy", "numba", "scikit-learn"):
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(parts)


def _error_text(exc):
    """One line for an error: an OSError names its file first, as the shell does; an error
    whose fix is an option says it as the command line spells it."""
    if isinstance(exc, FastnnError) and exc.cli_message:
        return exc.cli_message
    if isinstance(exc, OSError) and not isinstance(exc, FastnnError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def main(argv=None):
    """Entry point of the ``fastnn`` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    name = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(name if name in COMMANDS else None).parse_args(argv)
    args.argv = argv  # the command as typed, for the results files that record it
    try:
        return load_command(args.command).run(args)
    except (FastnnError, OSError) as exc:
        print(f"fastnn {args.command}: error: {_error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        message = str(exc) if isinstance(exc, Interrupted) else "interrupted"
        print(f"fastnn {args.command}: {message}", file=sys.stderr)
        return 130


__all__ = ["COMMANDS", "build_parser", "load_command", "main", "version_text"]
