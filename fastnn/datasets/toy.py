"""Small data sets that need no files: scikit-learn's 8x8 digits and the spiral arms, plus two of
scikit-learn's tables written as CSV files for :func:`fastnn.datasets.load_csv`."""

from __future__ import annotations

import csv

import numpy as np

from .._files import as_path, atomic_write
from .._typing import PathLike, TrainTest
from .._validation import check_choice, check_int, check_memory, check_number
from ..errors import InputError
from .split import split

# make_spiral's peak, per point: the labels, positions on the arm, steps, radii and angles (8
# bytes each), the float32 point (8), and a sine and its product with the radius (8 each)
_SPIRAL_BYTES_PER_POINT = 5 * 8 + 8 + 2 * 8


def load_digits(test_size: float = 0.2, seed: int = 0) -> TrainTest:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images), split for training.

    Parameters
    ----------
    test_size : float, default 0.2
        The fraction held out for testing, stratified by class.
    seed : int, default 0
        Seeds the split.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        Images as float32 rows of 64 pixels scaled from 0-16 to [0, 1]; int64 labels 0-9.
    """
    from sklearn import datasets as sk_datasets

    test_size = check_number(test_size, "test_size", low=0, high=1, low_open=True, high_open=True)
    seed = check_int(seed, "seed", low=0)
    digits = sk_datasets.load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = split(X, y, test_size, seed, stratify=True)
    return (X_train, y_train), (X_test, y_test)


def make_spiral(
    n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Points on interleaved spiral arms, one arm per class (the classic CS231n data set).

    Arm ``k`` has radius ``r`` from 0 to 1 and angle ``4 k + 4 r`` plus Gaussian noise of
    standard deviation ``noise`` (radians); a point is ``(r sin t, r cos t)``.

    Parameters
    ----------
    n_samples : int, default 300
        Points in all; the arms share them as evenly as possible.
    n_classes : int, default 3
    noise : float, default 0.2
    seed : int, default 0

    Returns
    -------
    X : ndarray of float32, shape (n_samples, 2)
    y : ndarray of int64, shape (n_samples,)
        Points are ordered by class; shuffle or split before use.
    """
    n_samples = check_int(n_samples, "n_samples", low=1)
    n_classes = check_int(n_classes, "n_classes", low=2)
    noise = check_number(noise, "noise", low=0)
    seed = check_int(seed, "seed", low=0)
    if n_samples < n_classes:
        raise InputError(
            f"n_samples must be at least n_classes ({n_classes}) so that every arm has a "
            f"point; got {n_samples}"
        )
    check_memory(_SPIRAL_BYTES_PER_POINT * n_samples, f"make_spiral with n_samples={n_samples}")
    # Arm k holds `count` consecutive points (the first n_samples % n_classes arms one more than
    # the others). Its radii and angles are np.linspace(0, 1, count) and np.linspace(4k, 4k + 4,
    # count) to the bit (NumPy computes i * step + start, then sets the end point exactly),
    # for all arms at once; the noise is one draw, arm after arm.
    counts = np.full(n_classes, n_samples // n_classes)
    counts[: n_samples % n_classes] += 1
    y = np.repeat(np.arange(n_classes, dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    i = np.arange(n_samples, dtype=np.float64) - first[y]
    steps = np.maximum(counts - 1, 1)[y]
    r = i * (1.0 / steps)
    t = i * (4.0 / steps) + 4.0 * y
    last = (first + counts - 1)[counts > 1]
    r[last] = 1.0
    t[last] = 4.0 * (y[last] + 1)
    t += np.random.default_rng(seed).normal(0.0, noise, n_samples)
    X = np.empty((n_samples, 2), np.float32)
    X[:, 0] = r * np.sin(t)
    X[:, 1] = r * np.cos(t)
    return X, y


def write_sklearn_csv(name: str, path: PathLike) -> str:
    """Write one of scikit-learn's bundled tables as a CSV file with a header row.

    Parameters
    ----------
    name : {"diabetes", "breast_cancer"}
        ``"diabetes"``: 442 patients, 10 raw features (age, sex, bmi, bp, s1-s6) and the
        target ``progression`` (disease progression after one year), for regression.
        ``"breast_cancer"``: 569 tumours, 30 features and the target ``diagnosis``
        (``malignant`` or ``benign``), for binary classification.
    path : str, bytes or path-like
        Written through a temporary file renamed into place.

    Returns
    -------
    str
        The path written.
    """
    from sklearn import datasets as sk_datasets

    name = check_choice(name, "name", ("diabetes", "breast_cancer"))
    if name == "diabetes":
        bunch = sk_datasets.load_diabetes(scaled=False)
        header = [*bunch.feature_names, "progression"]
        targets = [f"{value:g}" for value in bunch.target]
    else:
        bunch = sk_datasets.load_breast_cancer()
        header = [*bunch.feature_names, "diagnosis"]
        targets = [str(bunch.target_names[label]) for label in bunch.target]
    path = as_path(path)
    with atomic_write(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row, value in zip(bunch.data, targets):
            writer.writerow([str(float(x)) for x in row] + [value])
    return path
