"""Numeric tables: :func:`load_csv` reads, splits and standardises one; :class:`TabularData`
holds the result, and its :attr:`~TabularData.scaling` (a :class:`fastnn.scaling.Scaling`)
carries the statistics to a model, or to new rows through :func:`standardize`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from .._files import as_path
from .._typing import PathLike
from .._validation import check_choice, check_int, check_number
from ..errors import InputError, InputTypeError
from ..scaling import Scaling
from .csvfile import (
    encode_target,
    note_missing_cells,
    numeric_columns,
    parse_number,
    read_table,
    report_missing,
    select_columns,
)
from .split import split

TASKS = ("regression", "binary", "classification")
_SAFE_MAGNITUDE = (1e-100, 1e100)  # columns whose squares neither overflow nor underflow
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class TabularData:
    """What :func:`load_csv` returns: the split table and how it was made.

    Attributes
    ----------
    X_train, X_val, X_test : ndarray of float32, shape (n, n_features)
        Standardised features, ``(raw - mean) / scale`` (or the raw features with
        ``standardize=False``). ``X_val`` has no rows when ``val_size=0``.
    y_train, y_val, y_test : ndarray
        float32 values (regression) or int64 labels ``0..K-1`` (binary, classification).
    features : list of str
        The feature columns, in order.
    target : str
    task : {"regression", "binary", "classification"}
    classes : list of str
        The target's values in label order (empty for regression): label ``i`` stands for
        ``classes[i]``.
    mean, scale : ndarray of float64, shape (n_features,)
        Computed from the training rows only. Constant columns get scale 1.
    target_mean, target_scale : float
        Regression only (else 0 and 1): the training targets' mean and standard deviation.
        The targets are returned unscaled; a model given :attr:`scaling` trains on
        ``(y - target_mean) / target_scale`` and answers in the target's units, which keeps
        SGD's learning rate independent of those units.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    features: list[str]
    target: str
    task: str
    classes: list[str] = field(default_factory=list)
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    target_mean: float = 0.0
    target_scale: float = 1.0

    @property
    def scaling(self) -> Scaling:
        """The training rows' statistics as a :class:`fastnn.scaling.Scaling`, with the
        target's for regression: assign it to :attr:`fastnn.Sequential.scaling` and the model
        takes raw rows and raw targets, answers in the target's units, and keeps it when saved.
        """
        if self.task != "regression":
            return Scaling(self.mean, self.scale)
        return Scaling(self.mean, self.scale, self.target_mean, self.target_scale)

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Standardise raw feature rows with the training statistics."""
        return standardize(X, self.scaling)


def standardize(X: ArrayLike, scaling: Scaling | tuple[ArrayLike, ArrayLike]) -> np.ndarray:
    """Raw rows standardised, ``(X - mean) / scale``, as float32.

    ``scaling`` is a :class:`fastnn.scaling.Scaling` (what :attr:`TabularData.scaling` gives
    and :attr:`fastnn.Sequential.scaling` keeps) or a ``(mean, scale)`` pair; the arithmetic is
    :meth:`Scaling.features`. A finite value whose standardised form does not fit in float32
    (far outside the rows the statistics came from) is refused rather than turned into
    infinity; missing values (NaN) pass through.
    """
    if not isinstance(scaling, Scaling):
        scaling = Scaling(*scaling)
    X = np.asarray(X, np.float64)
    if X.ndim != 2 or X.shape[1] != scaling.n_features:
        raise InputError(
            f"X must have shape (n_rows, {scaling.n_features}) to match the scaling; got {X.shape}"
        )
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        Z = scaling.features(X, np.float64)
        bad = ~np.isfinite(Z) & np.isfinite(X)
        if bad.any():  # X - mean overflowed: divide first
            mean, scale = scaling.feature_mean, scaling.feature_scale
            Z[bad] = (X / scale - mean / scale)[bad]
        Z = Z.astype(np.float32)
    _check_fits(Z, X, "X", "standardised with the given scaling, is", zero_from_nonzero=False)
    return Z


def _check_fits(Z, X, name, what, zero_from_nonzero=True):
    """Refuse float32 values ``Z`` that lost a finite ``X``: infinite, or zero from non-zero."""
    lost = ~np.isfinite(Z)
    if zero_from_nonzero:
        lost |= (Z == 0) & (X != 0)
    lost &= np.isfinite(X)
    if lost.any():
        row, column = (int(i[0]) for i in np.nonzero(lost))
        raise InputError(
            f"{name}[{row}, {column}] = {X[row, column]:.6g}, {what} {float(Z[row, column]):g} "
            f"in float32 (largest {_FLOAT32_MAX:.4g}, smallest non-zero about 1.4e-45)"
        )


def column_statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column, without overflow or underflow.

    Columns of ordinary magnitude get NumPy's ``mean`` and ``std``. A column whose largest
    magnitude is beyond 1e100 (or below 1e-100) is divided by that magnitude first, so that
    squaring it neither overflows to infinity nor underflows to zero; its statistics are
    scaled back afterwards. Constant columns get scale 1.
    """
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        mean = X.mean(axis=0)
        std = X.std(axis=0)
    peak = np.max(np.abs(X), axis=0, initial=0.0)
    low, high = _SAFE_MAGNITUDE
    extreme = (peak > high) | ((peak < low) & (peak > 0))
    if extreme.any():
        unit = X[:, extreme] / peak[extreme]
        mean[extreme] = unit.mean(axis=0) * peak[extreme]
        std[extreme] = unit.std(axis=0) * peak[extreme]
    std[std == 0] = 1.0
    return mean, std


def check_split_options(
    task: str, val_size: float, test_size: float, seed: int
) -> tuple[str, float, float, int]:
    """The task and the split's sizes and seed of a loaded table or file, checked."""
    task = check_choice(task, "task", TASKS)
    val_size = check_number(val_size, "val_size", low=0, high=1, high_open=True)
    test_size = check_number(test_size, "test_size", low=0, high=1, low_open=True, high_open=True)
    if val_size + test_size >= 1:
        raise InputError(
            f"val_size + test_size must leave rows to train on; got {val_size} + {test_size}"
        )
    return task, val_size, test_size, check_int(seed, "seed", low=0)


def _check_features(features, target):
    if features is None:
        return None
    if isinstance(features, str):
        raise InputTypeError(
            f"features must be a list of column names; got the string {features!r}"
        )
    features = list(features)
    if target in features:
        raise InputError(f"features must not include the target {target!r}")
    return features


def _read_xy(path, target, task, features, classes=None):
    """Features (float64) and targets of every row, the feature names and the classes."""
    header, rows = read_table(path)
    features, t_index, f_indices = select_columns(header, target, features, path)
    missing = {}
    X = numeric_columns(rows, f_indices, features, path, missing)
    target_cells = [row[t_index] for row in rows]
    note_missing_cells(target_cells, target, missing)
    if missing:
        report_missing(missing, path)
    if task == "regression":
        try:
            y = numeric_columns(rows, [t_index], [target], path, missing)
        except InputError as exc:
            raise _text_target(exc, target_cells, target, path) from None
        if missing:
            report_missing(missing, path)
        with np.errstate(over="ignore", under="ignore"):
            y32 = y.astype(np.float32)
        try:
            _check_fits(y32, y, "y", "as a float32 regression target, becomes")
        except InputError as exc:
            raise InputError(f"{path}, target {target!r}: {exc}; rescale it") from None
        return X, y32[:, 0], features, []
    y, classes = encode_target(target_cells, task, target, path, classes)
    return X, y, features, classes


def _text_target(exc, cells, target, path):
    """The error for a regression target that holds text (``exc`` otherwise): it is most likely
    classes, and the fix is the task."""
    found = next(((i, c.strip()) for i, c in enumerate(cells) if not _is_number(c.strip())), None)
    if found is None:
        return exc
    row, cell = found
    message = (
        f"the target {target!r} of {path} must be numeric for regression, but row {row + 2} "
        f"holds {cell[:40]!r}; "
    )
    return InputError(
        message + "if it names classes, pass task='binary' (two classes) or "
        "task='classification'"
    ).for_cli(message + "if it names classes, add --task binary (two classes) or --task "
              "classification")  # fmt: skip


def _is_number(cell):
    try:
        parse_number(cell)
    except ValueError:
        return False
    return True


def _check_classes(classes, task):
    if classes is None:
        return None
    if task == "regression":
        raise InputError("classes applies to classification and binary tasks, not regression")
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        raise InputTypeError(f"classes must be a list of class names; got {classes!r:.80}")
    return classes


def read_labelled_csv(
    path: PathLike,
    target: str,
    task: str = "regression",
    features: Sequence[str] | None = None,
    classes: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Every row of a CSV table, unsplit and raw: ``(X, y, features, classes)``.

    What :func:`load_csv` reads (see its parameters), without splitting or standardising it:
    ``X`` holds the raw features as float32 (a value float32 cannot hold is refused). Rows to
    evaluate a trained model on: with ``classes``, a table of one row, or of one class, is fine.
    """
    task = check_choice(task, "task", TASKS)
    if not isinstance(target, str):
        raise InputTypeError(f"target must be a column name (str); got {target!r}")
    classes = _check_classes(classes, task)
    features = _check_features(features, target)
    path = as_path(path)
    X, y, features, classes = _read_xy(path, target, task, features, classes)
    return _raw_float32(X, path, "standardize"), y, features, classes


def _split_rows(X, y, val_size, test_size, seed, task, path):
    """(X_train, y_train), (X_val, y_val), (X_test, y_test); classification is stratified."""
    stratify = task != "regression"
    n = len(y)
    n_test = math.ceil(test_size * n)
    n_val = math.ceil(val_size * n) if val_size > 0 else 0
    if n - n_test - n_val < 1:
        raise InputError(f"{path} has {n} rows: too few to split for training and testing")
    try:
        X_rest, X_test, y_rest, y_test = split(X, y, n_test, seed, stratify)
        if n_val:
            X_train, X_val, y_train, y_val = split(X_rest, y_rest, n_val, seed, stratify)
        else:
            X_train, y_train = X_rest, y_rest
            X_val, y_val = X[:0], y[:0]
    except ValueError as exc:  # too few rows of a class to stratify
        raise InputError(f"cannot split {path} ({n} rows) for task {task!r}: {exc}") from exc
    return (X_train, y_train), (X_val, y_val), (X_test, y_test)


def _standardised(X, path, scaling):
    try:
        return standardize(X, scaling)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def _raw_float32(X, path, option):
    """Raw features as float32, refusing values that float32 cannot hold."""
    with np.errstate(over="ignore", under="ignore"):
        X32 = X.astype(np.float32)
    try:
        _check_fits(X32, X, "X", f"as a raw feature ({option}=False), becomes")
    except InputError as exc:
        raise InputError(f"{path}: {exc}; keep {option}=True, or rescale that column") from None
    return X32


def _standardize_option(standardize, scale):
    """The value of ``standardize`` and the name the caller gave it (``scale`` is its alias)."""
    if scale is None:
        return bool(standardize), "standardize"
    if not standardize and scale:
        raise InputError("standardize=False and scale=True contradict each other; give one")
    return bool(scale), "scale"


def load_csv(
    path: PathLike,
    target: str,
    task: str = "regression",
    features: Sequence[str] | None = None,
    val_size: float = 0.1,
    test_size: float = 0.2,
    seed: int = 0,
    standardize: bool = True,
    scale: bool | None = None,
    classes: list[str] | None = None,
) -> TabularData:
    """Read a numeric table from a CSV file, split it, and (by default) standardise its features.

    The file must be UTF-8 text (a byte-order mark is allowed). The first row names the
    columns; the columns used must have distinct, non-empty names. Feature columns must be
    numeric, written as plain ASCII decimals (``-1.5e3``; not ``1_000``, ``0x10`` or non-ASCII
    digits, which Python's ``float`` would take); cells that are empty or read ``NA``, ``NaN``,
    ``null``, ``?``, ``inf`` and the like count as missing and are reported (column, count and
    line numbers) rather than guessed. A classification target may hold text (say, genre
    names); its values, sorted, become labels ``0..K-1``. Columns of any magnitude (1e200,
    1e-200) are standardised without overflow or underflow. Every problem with the file is a
    one-line ``ValueError`` naming it.

    Parameters
    ----------
    path : str, bytes or path-like
        A regular file (a FIFO or a device is refused unread).
    target : str
        The column to predict.
    task : {"regression", "binary", "classification"}, default "regression"
    features : list of str, optional
        The feature columns, in order; by default every column but the target.
    val_size, test_size : float, default 0.1 and 0.2
        Fractions of all rows held out for validation and for testing (``val_size`` may be 0).
        Classification splits are stratified.
    seed : int, default 0
        Seeds the split.
    standardize : bool, default True
        ``False`` returns the raw features (as float32) while still computing ``mean`` and
        ``scale`` from the training rows: give the model :attr:`TabularData.scaling` and it
        standardises them itself. A value float32 cannot hold (beyond about 3.4e38, or so
        small that it would become zero) is then refused.
    scale : bool, optional
        An alias of ``standardize``: when given, it decides (``standardize=False`` with
        ``scale=True`` is refused as a contradiction).
    classes : list of str, optional
        The class names to map the target to, in label order (say, a trained model's
        ``metadata["classes"]``), instead of its own values sorted: every value must be one of
        them (compared as numbers where both are), and the table may hold only some.
        Classification and binary tasks only.

    Returns
    -------
    TabularData
        The splits, standardised with the training rows' mean and standard deviation (unless
        ``standardize=False``), with the statistics themselves (``.scaling``, a
        :class:`fastnn.scaling.Scaling`) to give the model.
    """
    task, val_size, test_size, seed = check_split_options(task, val_size, test_size, seed)
    if not isinstance(target, str):
        raise InputTypeError(f"target must be a column name (str); got {target!r}")
    standardize, option = _standardize_option(standardize, scale)
    features = _check_features(features, target)
    classes = _check_classes(classes, task)
    path = as_path(path)
    X, y, features, classes = _read_xy(path, target, task, features, classes)
    parts = _split_rows(X, y, val_size, test_size, seed, task, path)
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = parts
    mean, std = column_statistics(X_train)
    target_mean, target_scale = 0.0, 1.0
    if task == "regression":
        target_mean = float(np.mean(y_train, dtype=np.float64))
        target_scale = float(np.std(y_train, dtype=np.float64)) or 1.0
    if standardize:
        scaling = Scaling(mean, std)
        X_train, X_val, X_test = (_standardised(part, path, scaling) for part, _ in parts)
    else:
        X_train, X_val, X_test = (_raw_float32(part, path, option) for part, _ in parts)
    return TabularData(
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        features=features,
        target=target,
        task=task,
        classes=classes,
        mean=mean,
        scale=std,
        target_mean=target_mean,
        target_scale=target_scale,
    )
