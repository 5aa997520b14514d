"""What the commands share: each shared option declared once, the checks of option values, and
the errors that end a command with one line on stderr."""

import argparse
import csv
import os
import tempfile

from ..backend import BACKENDS
from ..datasets import TASKS
from ..errors import FastnnError

DATASETS = ("mnist", "fashion-mnist", "digits", "spiral")
FILE_KINDS = ("csv", "svmlight")  # --dataset KIND:PATH


class UsageError(FastnnError):
    """A mistake in the command line: reported in one line, exit status 2."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the command did about it: said in one line, exit status 130."""


class Option:
    """One option, declared once: the arguments of :meth:`argparse.ArgumentParser.add_argument`.

    A command adds it with :meth:`add`, changing a keyword (a default, the help) where it needs.
    """

    def __init__(self, *flags, **kwargs):
        self.flags = flags
        self.kwargs = kwargs

    def add(self, parser, **changes):
        return parser.add_argument(*self.flags, **{**self.kwargs, **changes})


# -- argument types: argparse reports their errors with the command's usage ----------------------


def widths(text):
    """``--hidden``: comma-separated layer widths, each >= 1; an empty string for none."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 128 or 256,128; got {text!r}"
        ) from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1; got {text!r}")
    return sizes


def fraction(text):
    """A fraction in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1); got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1); got {text!r}")
    return value


def dataset_name(text):
    """One of :data:`DATASETS`, or ``KIND:PATH`` for a kind of :data:`FILE_KINDS`."""
    kind, colon, path = text.partition(":")
    if text in DATASETS or (colon and kind in FILE_KINDS and path):
        return text
    raise argparse.ArgumentTypeError(
        f"expected one of {', '.join(DATASETS)}, csv:PATH or svmlight:PATH; got {text!r}"
    )


def file_kind(name):
    """``"csv"`` or ``"svmlight"`` for a ``--dataset`` that names a file, else None."""
    kind, colon, _ = name.partition(":")
    return kind if colon and kind in FILE_KINDS else None


def column_names(text):
    """Comma-separated column names, read as a CSV line: ``'"a,b",c'`` names ``a,b`` and ``c``."""
    names = [name.strip() for name in next(csv.reader([text]), [])]
    if not names or not all(names):
        raise argparse.ArgumentTypeError(
            f'expected comma-separated column names (quote a name holding a comma: "a,b"); '
            f"got {text!r}"
        )
    return names


# -- the shared options --------------------------------------------------------------------------

BACKEND = Option(
    "--backend",
    choices=sorted(BACKENDS),
    default=None,
    help="compute backend (default: $FASTNN_BACKEND, else the backend a saved model was saved "
    "with, else numba)",
)
SEED = Option("--seed", type=int, default=0)
HIDDEN = Option(
    "--hidden",
    type=widths,
    default=[128],
    help="hidden layer widths, comma-separated, e.g. 128 or 256,128; an empty string for none "
    "(default: 128)",
)
OPTIMIZER = Option("--optimizer", default="sgd")
BATCH_SIZE = Option("--batch-size", type=int)
QUIET = Option("--quiet", action="store_true")
PLOTS = Option(
    "--plots",
    metavar="DIR",
    default=None,
    help="write PNG plots into DIR (created if needed): history.png (loss and accuracy per "
    "epoch, after training), and confusion_matrix.png, roc_curve.png (binary) or "
    'predictions.png (regression); needs matplotlib (pip install "fastnn[plot]")',
)
MODEL = Option("model", metavar="MODEL", help="a model file (.npz) written by fastnn train --save")
DATASET = Option(
    "--dataset",
    type=dataset_name,
    metavar="NAME",
    help="mnist (bundled), fashion-mnist (downloaded once, then cached), digits "
    "(scikit-learn's 8x8 digits, 80/20 split), spiral (3,000 points on 3 arms, noise 0.2, "
    "80/20 split), csv:PATH (a CSV table with a header row) or svmlight:PATH (a libsvm/svmlight "
    "text file, LABEL INDEX:VALUE ... per line, read as sparse rows and never standardised); "
    "the files are split 70/10/20 into training, validation and test rows unless --val-split "
    "says otherwise",
)
DATA_DIR = Option(
    "--data-dir",
    metavar="DIR",
    default=None,
    help="folder holding the four IDX files of mnist or fashion-mnist (default: bundled MNIST; "
    "Fashion-MNIST in $FASTNN_DATA/fashion-mnist, else ~/.cache/fastnn/fashion-mnist)",
)
TARGET = Option("--target", default=None, help="csv:PATH only: the column to predict")
TASK = Option(
    "--task",
    choices=TASKS,
    default=None,
    help="csv:PATH and svmlight:PATH only: regression (linear output, MSE), binary (one "
    "sigmoid output, binary cross-entropy; the target has two values) or classification "
    "(softmax over the target's values)",
)
FEATURES = Option(
    "--features",
    type=column_names,
    default=None,
    metavar="COLS",
    help='csv:PATH only: comma-separated feature columns, quoted as in a CSV line ("a,b",c) '
    "when a name holds a comma (default: every column but the target)",
)


TRAINING_TASK = " (default: regression for csv, classification for svmlight)"


def add_data_options(parser, for_training):
    """``--dataset``, ``--data-dir``, ``--target``, ``--task`` and ``--features``."""
    saved = " (default: the one the model was trained on)"
    DATASET.add(
        parser,
        default="mnist" if for_training else None,
        help=DATASET.kwargs["help"] + (" (default: mnist)" if for_training else saved),
    )
    DATA_DIR.add(parser)
    TARGET.add(parser, help=TARGET.kwargs["help"] + ("" if for_training else saved))
    TASK.add(
        parser,
        help=TASK.kwargs["help"] + (TRAINING_TASK if for_training else saved),
    )
    FEATURES.add(parser)


# -- checks of values, before anything is loaded, trained or allocated ---------------------------


def at_least(value, option, low):
    """``value`` if it is at least ``low``; else a :class:`UsageError` naming ``option``."""
    if value < low:
        raise UsageError(f"{option} must be an integer >= {low}; got {value}")
    return value


def at_most(value, option, high, what=""):
    """``value`` if it is at most ``high``; ``what`` says where the bound comes from."""
    if value > high:
        raise UsageError(f"{option} must be at most {high}{what}; got {value}")
    return value


def input_file(path, what):
    """``path`` if it is a file that exists; else a :class:`UsageError` naming it."""
    if not os.path.exists(path):
        raise UsageError(f"{what} {path!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{what} {path!r} is a folder, not a file")
    if not os.path.isfile(path):
        raise UsageError(f"{what} {path!r} is not a regular file")
    return path


def _probe(folder, option, path):
    """Create and remove a file in ``folder``: the one sure test that it takes new files."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".fastnn-", suffix=".part", dir=folder)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write into {folder}: {exc.strerror}") from None
    os.close(fd)
    os.unlink(probe)


def output_file(path, option):
    """Check, before any work, that a file can be written at ``path``; return ``path``.

    Its folder must exist and take new files (files are written next to their target, then
    renamed); an existing ``path`` must be a file that may be written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder; name a file in it")
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: the folder {folder} does not exist")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {path}: the file exists and is not writable")
    _probe(folder, option, path)
    return path


def output_folder(path, option):
    """Check, before any work, that ``path`` is a folder that takes files, or can be created."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"{option} {path}: {existing} is a file, not a folder")
    _probe(existing, option, path)
    return path


def plots_folder(path):
    """``--plots DIR``: a folder that takes files, and matplotlib to draw them, checked first."""
    output_folder(path, "--plots")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError('--plots needs matplotlib: pip install "fastnn[plot]"') from None
    return path


__all__ = [
    "BACKEND",
    "BATCH_SIZE",
    "DATASETS",
    "FILE_KINDS",
    "HIDDEN",
    "Interrupted",
    "MODEL",
    "OPTIMIZER",
    "Option",
    "PLOTS",
    "QUIET",
    "SEED",
    "UsageError",
    "add_data_options",
    "at_least",
    "at_most",
    "file_kind",
    "input_file",
    "output_file",
    "output_folder",
    "plots_folder",
]
