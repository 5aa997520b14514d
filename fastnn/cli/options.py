"""What the commands share: each shared option declared once, the checks of option values, and
the errors that end a command with one line on stderr."""

import argparse
import csv
import os
import stat
import tempfile

from .._distribution import pip_install
from .._files import kind_of
from ..backend import BACKENDS
from ..datasets import TASKS
from ..errors import FastnnError
from ..serialization import DATASET_FILE_KINDS as FILE_KINDS  # --dataset KIND:PATH
from ..serialization import DATASET_NAMES as DATASETS


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


# -- comma-separated lists: parsed by the command, so that a mistake is one line ------------------


def positive_ints(text, option, what, example):
    """Comma-separated whole numbers >= 1 (``what``, as in ``example``); a :class:`UsageError`
    naming ``option`` for an empty item, a zero, a negative or anything but ASCII digits."""
    values = []
    for position, item in enumerate(text.split(","), start=1):
        item = item.strip()
        if not item:
            problem = f"item {position} is empty"
        elif not (item.isascii() and item.isdigit()):
            problem = f"{item[:20]!r} is not a whole number"
        elif int(item) < 1:
            problem = f"{item!r} is not >= 1"
        else:
            values.append(int(item))
            continue
        raise UsageError(
            f"{option} must be comma-separated {what} >= 1 such as {example}; got {text!r:.60} "
            f"({problem})"
        )
    return values


def widths(text, option="--hidden"):
    """``--hidden``: comma-separated layer widths, each >= 1; an empty string for none."""
    if not text.strip():
        return []
    return positive_ints(text, option, "layer widths", "128 or 256,128 (or '' for none)")


def column_names(text, option="--features"):
    """Comma-separated column names, read as a CSV line: ``'"a,b",c'`` names ``a,b`` and ``c``;
    each non-empty and named once, else a :class:`UsageError` naming ``option``."""
    try:
        names = [name.strip() for name in next(csv.reader([text]), [])]
    except csv.Error as exc:  # a NUL character
        names, problem = None, str(exc)
    else:
        empty = [i for i, name in enumerate(names, start=1) if not name]
        twice = [name for i, name in enumerate(names) if name and name in names[:i]]
        problem = None
        if not names:
            problem = "no names"
        elif empty:
            problem = f"item {empty[0]} is empty"
        elif twice:
            problem = f"{twice[0]!r} is named twice"
    if problem is not None:
        raise UsageError(
            f"{option} must be comma-separated column names, each once (quote a name holding a "
            f'comma: "a,b"); got {text!r:.60} ({problem})'
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
    default="128",
    metavar="WIDTHS",
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
    f"predictions.png (regression); needs matplotlib ({pip_install('plot')})",
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
    """``path`` if it is a regular file (or a link to one); else a :class:`UsageError` naming
    it. A FIFO or a device is refused here, unopened: reading one may block or never end."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{what} {path!r} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        kind = kind_of(info.st_mode)
        wanted = "a file" if kind == "a folder" else "a regular file"
        raise UsageError(f"{what} {path!r} is {kind}, not {wanted}")
    return path


def load_model(path, backend):
    """The model in ``path`` (checked with :func:`input_file`) on ``backend`` (None:
    ``fastnn.load`` decides)."""
    from ..serialization import load

    return load(input_file(path, "model file"), backend=backend)


def same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file (through a link, hard or symbolic, too)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist
        return False


def not_an_input(path, option, inputs):
    """Refuse, before any work, a destination ``path`` that is one of the files read:
    ``inputs`` maps what each is ("the model file") to its path."""
    for what, source in inputs.items():
        if source is not None and same_file(path, source):
            same = "" if os.path.abspath(path) == os.path.abspath(source) else f" {source}"
            raise UsageError(
                f"{option} {path} is {what}{same}: writing there would destroy it; name "
                "another file"
            )
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
        raise UsageError(f"--plots needs matplotlib: {pip_install('plot')}") from None
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
    "column_names",
    "file_kind",
    "input_file",
    "load_model",
    "not_an_input",
    "output_file",
    "output_folder",
    "plots_folder",
    "positive_ints",
    "same_file",
    "widths",
]
