"""Sparse rows from a file in the svmlight / libsvm text format: :func:`load_svmlight` reads one
with scikit-learn's parser, checks it, and splits it the way :func:`~.tabular.load_csv` splits a
table; :class:`SparseData` holds the result.

Each line of such a file is ``LABEL INDEX:VALUE INDEX:VALUE ...`` with increasing indices; text
after ``#`` is a comment, and a ``qid:N`` before the features is ignored. Every problem with the
file is an :class:`~fastnn.errors.InputError` of one line that names the file (and the line,
where it can be found), never a traceback from the parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._files import Lines, as_path, check_size, open_regular
from .._typing import PathLike
from .._validation import check_choice, check_int
from ..errors import InputError, InputTypeError
from .download import DataFileNotFoundError
from .tabular import TASKS, _split_rows, check_split_options

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
_MAX_INDEX = 2**31 - 1  # the largest feature index scikit-learn's parser reads
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class SparseData:
    """What :func:`load_svmlight` returns: the split rows and their labels.

    Attributes
    ----------
    X_train, X_val, X_test : scipy.sparse.csr_matrix of float32, shape (n, n_features)
        Raw feature values (never standardised: that would make them dense), sorted column
        indices, no stored zeros. ``X_val`` has no rows when ``val_size=0``.
    y_train, y_val, y_test : ndarray
        float32 values (regression) or int64 labels ``0..K-1`` (binary, classification).
    task : {"regression", "binary", "classification"}
    classes : list of str
        The file's labels in label order (empty for regression): label ``i`` stands for
        ``classes[i]``, the number as the file has it (``"-1"``, ``"1"``).
    zero_based : bool
        Whether the file's feature indices were read as starting at 0 (column ``j`` is index
        ``j``) or at 1 (column ``j`` is index ``j + 1``): give it back to read more rows the
        same way.
    """

    X_train: csr_matrix
    y_train: np.ndarray
    X_val: csr_matrix
    y_val: np.ndarray
    X_test: csr_matrix
    y_test: np.ndarray
    task: str
    classes: list[str] = field(default_factory=list)
    zero_based: bool = True

    @property
    def n_features(self) -> int:
        """The number of columns of the rows."""
        return self.X_train.shape[1]


def load_svmlight(
    path: PathLike,
    task: str = "classification",
    val_size: float = 0.1,
    test_size: float = 0.2,
    seed: int = 0,
    n_features: int | None = None,
    zero_based: bool | Literal["auto"] = "auto",
    classes: list[str] | None = None,
) -> SparseData:
    """Read a file in the svmlight / libsvm format as sparse rows, check it and split it.

    The file is parsed by scikit-learn's :func:`~sklearn.datasets.load_svmlight_file` (which
    wants sorted, distinct feature indices on each line), as plain text: a compressed file is
    refused (decompress it first), and so is anything but a regular file (a FIFO, a device).
    Values must be finite and fit in float32; labels must be finite, and whole numbers for
    classification (``-1``/``+1``, ``1..K``).

    Parameters
    ----------
    path : str, bytes or path-like
    task : {"regression", "binary", "classification"}, default "classification"
        ``"classification"`` and ``"binary"`` (exactly two labels) map the file's labels,
        sorted, to ``0..K-1``; ``"regression"`` keeps them as float32 targets.
    val_size, test_size : float, default 0.1 and 0.2
        Fractions of all rows held out for validation and for testing (``val_size`` may be 0),
        stratified for classification; the test rows do not depend on ``val_size``.
    seed : int, default 0
        Seeds the split.
    n_features : int, optional
        The number of columns (say, a trained model's inputs); by default as many as the
        largest index in the file needs. A file may use fewer; an index beyond them is an
        error naming its line.
    zero_based : bool or "auto", default "auto"
        Whether the file's indices start at 0; ``"auto"`` (scikit-learn's rule) takes them as
        starting at 1 unless some line holds index 0, so column ``j`` is the file's index
        ``j + 1``. :attr:`SparseData.zero_based` says which was taken.
    classes : list of str, optional
        The class names to map the labels to, in label order (say, a trained model's
        ``metadata["classes"]``), instead of the file's own labels: every label must be one of
        them, and a file may hold only some (even one). Classification and binary tasks only.

    Returns
    -------
    SparseData
        CSR float32 features, never standardised.
    """
    task, val_size, test_size, seed = check_split_options(task, val_size, test_size, seed)
    X, y, classes, zero_based = read_labelled(path, task, n_features, zero_based, classes)
    path = as_path(path)
    parts = _split_rows(X, y, val_size, test_size, seed, task, path)
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = parts
    return SparseData(X_train, y_train, X_val, y_val, X_test, y_test, task, classes, zero_based)


def read_labelled(
    path: PathLike,
    task: str = "classification",
    n_features: int | None = None,
    zero_based: bool | Literal["auto"] = "auto",
    classes: list[str] | None = None,
) -> tuple[csr_matrix, np.ndarray, list[str], bool]:
    """Every row of an svmlight file, unsplit, with its targets: ``(X, y, classes,
    zero_based)``, as :func:`load_svmlight` reads them (see its parameters).

    Without ``classes``, a file whose rows hold no non-zero value, or (classification) a
    single label, is refused: there is nothing to learn from it. With ``classes`` (rows to
    evaluate a trained model on) both are fine.
    """
    task = check_choice(task, "task", TASKS)
    if classes is not None:
        if task == "regression":
            raise InputError("classes applies to classification and binary tasks, not regression")
        if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
            raise InputTypeError(f"classes must be a list of class names; got {classes!r:.80}")
    path = as_path(path)
    X, y, zero_based = _read(path, n_features, zero_based)
    if classes is None and X.nnz == 0:
        raise InputError(f"{path} holds no non-zero feature values; nothing to learn from")
    if task == "regression":
        return X, _float32_targets(y, path), [], zero_based
    y, classes = _encode_labels(y, task, path, classes)
    return X, y, classes, zero_based


def read_svmlight(
    path: PathLike, n_features: int | None = None, zero_based: bool | Literal["auto"] = "auto"
) -> tuple[csr_matrix, np.ndarray]:
    """The rows of an svmlight / libsvm file as a checked CSR float32 matrix, and the labels as
    float64 (see :func:`load_svmlight` for the parameters)."""
    X, y, _ = _read(as_path(path), n_features, zero_based)
    return X, y


def _read(path, n_features, zero_based):
    """(X, y, zero_based): the rows with the base taken, and that base."""
    from sklearn.datasets import load_svmlight_file

    if n_features is not None:
        n_features = check_int(n_features, "n_features", low=1)
    if zero_based not in (True, False, "auto"):
        raise InputTypeError(f"zero_based must be True, False or 'auto'; got {zero_based!r}")
    try:
        with open_regular(path, what="an svmlight file") as f:
            check_size(f, 1, f"reading {path}")  # its arrays hold at least as many bytes
            _refuse_compressed(f.read(8), path)
            f.seek(0)
            # the indices as written, whatever the base: the base is taken below
            X, y = load_svmlight_file(Lines(f, path), dtype=np.float64, zero_based=True)
    except InputError:
        raise
    except FileNotFoundError:
        raise DataFileNotFoundError(f"the svmlight file {path!r} does not exist") from None
    except (ValueError, OverflowError) as exc:  # the parser's errors name no line
        raise InputError(_malformed(path, exc, zero_based)) from None
    if X.shape[0] == 0:
        raise InputError(f"{path} holds no rows; expected lines of LABEL INDEX:VALUE ...")
    X, zero_based = _with_base(X, path, n_features, zero_based)
    X.eliminate_zeros()
    _check_finite(X.data, lambda i: _row_of_entry(X, i), path, "feature value")
    _check_finite(y, lambda i: i, path, "label")
    return _float32_rows(X, path), y, zero_based


def _with_base(raw, path, n_features, zero_based):
    """The matrix of the file's indices as written, with its columns counted from the base
    (scikit-learn's "auto" rule: 1 unless some index is 0) and ``n_features`` of them."""
    import scipy.sparse as sp

    indices = raw.indices
    lowest = int(indices.min()) if indices.size else 0
    if zero_based == "auto":
        zero_based = not indices.size or lowest == 0
    base = 0 if zero_based else 1
    if lowest < base:  # index 0 in a file declared one-based
        first = int(np.argmax(indices < base))
        raise InputError(
            f"{path}, line {_line_of_row(path, _row_of_entry(raw, first))}: the feature index 0 "
            "is out of range: with zero_based=False indices start at 1"
        )
    needed = int(indices.max()) + 1 - base if indices.size else 0
    width = needed if n_features is None else n_features
    if needed > width:
        first = int(np.argmax(indices >= width + base))
        raise InputError(
            f"{path}, line {_line_of_row(path, _row_of_entry(raw, first))}: the feature index "
            f"{int(indices[first])} is beyond the {width:,} features expected (indices "
            f"{base} to {width - 1 + base})"
        )
    columns = indices - base if base else indices
    X = sp.csr_matrix((raw.data, columns, raw.indptr), shape=(raw.shape[0], width))
    return X, zero_based


def _refuse_compressed(head, path):
    for magic, kind in _COMPRESSED.items():
        if head.startswith(magic):
            raise InputError(f"{path} is {kind}-compressed; decompress it first")


# -- where a problem is: the line of the file ---------------------------------------------------


def _lines(path):
    """``(line number, fields)`` of each line that holds a row, as scikit-learn's parser reads
    the file (comments after ``#`` dropped, blank lines skipped)."""
    with open_regular(path, what="an svmlight file") as f:
        for number, line in enumerate(Lines(f, path), start=1):
            fields = line.split(b"#", 1)[0].split()
            if fields:
                yield number, fields


def _line_of_row(path, row):
    for i, (number, _) in enumerate(_lines(path)):
        if i == row:
            return number
    return None


def _field_problem(fields, zero_based):
    """What is wrong with one line's fields, or None."""
    try:
        float(fields[0])
    except ValueError:
        return f"the label {_shown(fields[0])} is not a number"
    features = fields[1:]
    if features and features[0].startswith(b"qid"):
        features = features[1:]
    previous = -1
    for item in features:
        index, colon, value = item.partition(b":")
        if not colon:
            return f"{_shown(item)} is not INDEX:VALUE"
        try:
            index = int(index)
        except ValueError:
            return f"the feature index {_shown(index)} is not an integer"
        if index < 0 or (index == 0 and zero_based is False):
            return f"the feature index {index} is out of range (indices start at 1, or 0)"
        if index > _MAX_INDEX:
            return f"the feature index {index} is too large (at most {_MAX_INDEX})"
        if index <= previous:
            return f"the feature index {index} follows {previous}: indices must increase"
        try:
            float(value)
        except ValueError:
            return f"the value {_shown(value)} of feature {index} is not a number"
        previous = index
    return None


def _malformed(path, exc, zero_based):
    reason = str(exc) or type(exc).__name__
    try:
        for number, fields in _lines(path):
            problem = _field_problem(fields, zero_based)
            if problem:
                return f"{path}, line {number}: {problem}; is it an svmlight/libsvm file?"
    except OSError:
        pass
    return f"{path} is not a readable svmlight/libsvm file: {reason}"


def _shown(raw):
    return repr(raw[:40].decode("utf-8", "replace"))


# -- the values --------------------------------------------------------------------------------


def _row_of_entry(X, i):
    """The row of the ``i``-th stored value of a CSR matrix."""
    return int(np.searchsorted(X.indptr, i, side="right") - 1)


def _check_finite(values, row_of, path, what):
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.argmax(bad))
        line = _line_of_row(path, row_of(first))
        raise InputError(
            f"{path}, line {line}: a {what} is {values[first]}; fastnn needs finite numbers "
            "(remove or impute it)"
        )


def _float32_rows(X, path):
    """``X`` in float32, refusing values that float32 cannot hold, with int32 indices when
    they fit."""
    with np.errstate(over="ignore", under="ignore"):
        data = X.data.astype(np.float32)
    lost = ~np.isfinite(data) | (data == 0)
    if lost.any():
        first = int(np.argmax(lost))
        line = _line_of_row(path, _row_of_entry(X, first))
        raise InputError(
            f"{path}, line {line}: the value {X.data[first]:.6g} becomes "
            f"{float(data[first]):g} in float32 (largest {_FLOAT32_MAX:.4g}, smallest non-zero "
            "about 1.4e-45); rescale that feature"
        )
    X.data = data
    if max(X.shape[1], X.nnz) < 2**31:
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int32)
    return X


def _float32_targets(y, path):
    with np.errstate(over="ignore", under="ignore"):
        y32 = y.astype(np.float32)
    lost = ~np.isfinite(y32) | ((y32 == 0) & (y != 0))
    if lost.any():
        first = int(np.argmax(lost))
        raise InputError(
            f"{path}, line {_line_of_row(path, first)}: the target {y[first]:.6g} becomes "
            f"{float(y32[first]):g} in float32; rescale the targets"
        )
    return y32


def _encode_labels(y, task, path, classes=None):
    """Labels ``0..K-1`` and the class names (the labels as the file writes whole numbers);
    with ``classes``, the labels' positions among them."""
    fractional = y != np.round(y)
    if fractional.any():
        first = int(np.argmax(fractional))
        raise InputError(
            f"{path}, line {_line_of_row(path, first)}: the label {y[first]:g} is not a whole "
            f"number; task {task!r} needs class labels such as -1/1 or 1..K (use task "
            "'regression' for real-valued targets)"
        )
    values = np.unique(y)
    if classes is not None:
        return _positions(y, values, list(classes), path), list(classes)
    if task == "binary" and len(values) != 2:
        shown = [f"{v:g}" for v in values[:10]]
        raise InputError(
            f"task 'binary' needs exactly 2 distinct labels, but {path} has {len(values)}: "
            f"{shown}; use task 'classification' or 'regression'"
        )
    if len(values) < 2:
        raise InputError(f"{path} has a single label {values[0]:g}; nothing to learn")
    classes = [str(int(v)) for v in values]
    return np.searchsorted(values, y).astype(np.int64), classes


def _class_number(name):
    try:
        return float(name)
    except ValueError:
        return None


def _positions(y, values, classes, path):
    """The position of each label among ``classes``, names compared as numbers ("+1" is 1)."""
    numbers = {}
    for position, name in enumerate(classes):
        number = _class_number(name)
        if number is not None:
            numbers.setdefault(number, position)
    unknown = [v for v in values if float(v) not in numbers]
    if unknown:
        first = int(np.argmax(y == unknown[0]))
        raise InputError(
            f"{path}, line {_line_of_row(path, first)}: the label {unknown[0]:g} is not one of "
            f"the classes {classes[:20]}"
        )
    lookup = np.array([numbers[float(v)] for v in values], np.int64)
    return lookup[np.searchsorted(values, y)]


__all__ = ["SparseData", "load_svmlight", "read_labelled", "read_svmlight"]
