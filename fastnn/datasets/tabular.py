"""Numeric tables: :func:`load_csv` reads, splits and standardises one; :class:`TabularData`
holds the result and :func:`standardize` applies its statistics to new rows."""

import csv
import math
import os
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_choice, check_int, check_number
from ..errors import InputError, InputTypeError
from .split import split as _split

TASKS = ("regression", "binary", "classification")


@dataclass
class TabularData:
    """What :func:`load_csv` returns: the split, standardised table and how it was made.

    Attributes
    ----------
    X_train, X_val, X_test : ndarray of float32, shape (n, n_features)
        Standardised features: ``(raw - mean) / scale``. ``X_val`` has no rows when
        ``val_size=0``.
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
        The targets are returned unscaled; training on ``(y - target_mean) / target_scale``
        and mapping predictions back with ``pred * target_scale + target_mean`` keeps SGD's
        learning rate independent of the target's units.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    features: list
    target: str
    task: str
    classes: list = field(default_factory=list)
    mean: np.ndarray = None
    scale: np.ndarray = None
    target_mean: float = 0.0
    target_scale: float = 1.0

    @property
    def scaling(self):
        """``(mean, scale)``, ready for :attr:`fastnn.Sequential.feature_scaling`."""
        return self.mean, self.scale

    def transform(self, X):
        """Standardise raw feature rows with the training statistics."""
        return standardize(X, (self.mean, self.scale))


def standardize(X, scaling):
    """``(X - mean) / scale`` as float32, for raw rows and a ``(mean, scale)`` pair.

    ``scaling`` is what :attr:`TabularData.scaling` gives and
    :attr:`fastnn.Sequential.feature_scaling` keeps.
    """
    mean, scale = (np.asarray(part, np.float64) for part in scaling)
    X = np.asarray(X, np.float64)
    if X.ndim != 2 or X.shape[1] != mean.shape[0]:
        raise InputError(
            f"X must have shape (n_rows, {mean.shape[0]}) to match the scaling; got {X.shape}"
        )
    return ((X - mean) / scale).astype(np.float32)


_MISSING = {"", "na", "nan", "n/a", "null", "none", "?", "-"}


def _parse_table(path):
    """Header and rows of a CSV file (delimiter sniffed among , ; tab)."""
    path = os.fspath(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read(1 << 16)
        f.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(f, dialect)
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path} is empty; expected a header row of column names")
        header = [name.strip() for name in header]
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise InputError(f"{path} has a header but no data rows")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise InputError(
                f"{path}, row {number}: {len(row)} fields, but the header has {len(header)}"
            )
    return header, rows


def _column_index(header, name, path, what):
    if name not in header:
        raise InputError(f"{what} {name!r} is not a column of {path}; its columns are {header}")
    return header.index(name)


def _numeric_column(rows, index, name, path, missing):
    values = np.empty(len(rows), np.float64)
    for i, row in enumerate(rows):
        cell = row[index].strip()
        if cell.lower() in _MISSING:
            missing.setdefault(name, []).append(i + 2)
            values[i] = np.nan
            continue
        try:
            values[i] = float(cell)
        except ValueError:
            raise InputError(
                f"column {name!r} of {path} must be numeric, but row {i + 2} holds {cell!r}; "
                "leave it out with features=[...] or encode it as numbers"
            ) from None
        if not math.isfinite(values[i]):
            missing.setdefault(name, []).append(i + 2)
    return values


def _report_missing(missing, path):
    parts = []
    for name, rows in missing.items():
        shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        parts.append(f"{name!r} ({len(rows)} row(s): {shown})")
    raise InputError(
        f"{path} has missing or non-finite values in column(s) {'; '.join(parts)} "
        "(rows numbered as lines of the file); fill them in or drop those rows first"
    )


def _encode_target(cells, task, target, path):
    """Labels 0..K-1 and the class names, for a classification target given as text cells."""
    values = [cell.strip() for cell in cells]
    try:
        order = sorted(set(values), key=float)  # numeric labels in numeric order
    except ValueError:
        order = sorted(set(values))
    if task == "binary" and len(order) != 2:
        shown = order[:10]
        raise InputError(
            f"task 'binary' needs a target with exactly 2 distinct values, but {target!r} in "
            f"{path} has {len(order)}: {shown}; use task='classification' or 'regression'"
        )
    if len(order) < 2:
        raise InputError(
            f"target {target!r} in {path} has a single value {order}; nothing to learn"
        )
    code = {value: i for i, value in enumerate(order)}
    return np.array([code[v] for v in values], np.int64), order


def load_csv(
    path,
    target,
    task="regression",
    features=None,
    val_size=0.1,
    test_size=0.2,
    seed=0,
    scale=True,
):
    """Read a numeric table from a CSV file, split it, and standardise its features.

    The first row names the columns. Feature columns must be numeric; cells that are empty or
    read ``NA``, ``NaN``, ``null``, ``?`` and the like count as missing and are reported (column,
    count and line numbers) rather than guessed. A classification target may hold text (say,
    genre names); its values, sorted, become labels ``0..K-1``.

    Parameters
    ----------
    path : str or path-like
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
    scale : bool, default True
        ``False`` returns the raw features (as float32) while still computing ``mean`` and
        ``scale`` from the training rows.

    Returns
    -------
    TabularData
        The splits, standardised with the training rows' mean and standard deviation, with the
        statistics themselves (``.scaling``) to keep with the model.
    """
    task = check_choice(task, "task", TASKS)
    val_size = check_number(val_size, "val_size", low=0, high=1, high_open=True)
    test_size = check_number(test_size, "test_size", low=0, high=1, low_open=True, high_open=True)
    if val_size + test_size >= 1:
        raise InputError(
            f"val_size + test_size must leave rows to train on; got {val_size} + {test_size}"
        )
    seed = check_int(seed, "seed", low=0)
    if not isinstance(target, str):
        raise InputTypeError(f"target must be a column name (str); got {target!r}")
    path = os.fspath(path)
    header, rows = _parse_table(path)
    t_index = _column_index(header, target, path, "target")
    if features is None:
        features = [name for name in header if name != target]
    else:
        if isinstance(features, str):
            raise InputTypeError(
                f"features must be a list of column names; got the string {features!r}"
            )
        features = list(features)
        if target in features:
            raise InputError(f"features must not include the target {target!r}")
    if not features:
        raise InputError(f"{path} has no feature columns besides the target {target!r}")
    missing = {}
    columns = [
        _numeric_column(rows, _column_index(header, name, path, "feature"), name, path, missing)
        for name in features
    ]
    target_cells = [row[t_index] for row in rows]
    for i, cell in enumerate(target_cells):
        if cell.strip().lower() in _MISSING:
            missing.setdefault(target, []).append(i + 2)
    if missing:
        _report_missing(missing, path)
    X = np.column_stack(columns)
    if task == "regression":
        y = _numeric_column(rows, t_index, target, path, missing).astype(np.float32)
        if missing:
            _report_missing(missing, path)
        classes = []
    else:
        y, classes = _encode_target(target_cells, task, target, path)
    stratify = task != "regression"
    n = len(rows)
    n_test = math.ceil(test_size * n)
    n_val = math.ceil(val_size * n) if val_size > 0 else 0
    if n - n_test - n_val < 1:
        raise InputError(f"{path} has {n} rows: too few to split for training and testing")
    try:
        X_rest, X_test, y_rest, y_test = _split(X, y, n_test, seed, stratify)
        if n_val:
            X_train, X_val, y_train, y_val = _split(X_rest, y_rest, n_val, seed, stratify)
        else:
            X_train, y_train = X_rest, y_rest
            X_val, y_val = X[:0], y[:0]
    except ValueError as exc:  # too few rows of a class to stratify
        raise InputError(f"cannot split {path} ({n} rows) for task {task!r}: {exc}") from exc
    mean = X_train.mean(axis=0)
    target_mean, target_scale = 0.0, 1.0
    if task == "regression":
        target_mean = float(np.mean(y_train, dtype=np.float64))
        target_scale = float(np.std(y_train, dtype=np.float64)) or 1.0
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    scaling = (mean, std) if scale else (np.zeros_like(mean), np.ones_like(std))
    return TabularData(
        X_train=standardize(X_train, scaling),
        y_train=y_train,
        X_val=standardize(X_val, scaling),
        y_val=y_val,
        X_test=standardize(X_test, scaling),
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
