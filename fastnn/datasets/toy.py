"""Small data sets that need no files: scikit-learn's 8x8 digits and the spiral arms, plus two of
scikit-learn's tables written as CSV files for :func:`fastnn.datasets.load_csv`."""

import csv
import os

import numpy as np

from .._files import atomic_write
from .._validation import check_choice, check_int, check_number
from ..errors import InputError
from .split import split


def load_digits(test_size=0.2, seed=0):
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


def make_spiral(n_samples=300, n_classes=3, noise=0.2, seed=0):
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
    rng = np.random.default_rng(seed)
    X = np.empty((n_samples, 2), np.float64)
    y = np.empty(n_samples, np.int64)
    start = 0
    for k in range(n_classes):
        count = n_samples // n_classes + (k < n_samples % n_classes)
        r = np.linspace(0.0, 1.0, count)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), count) + rng.normal(0.0, noise, count)
        X[start : start + count] = np.column_stack([r * np.sin(t), r * np.cos(t)])
        y[start : start + count] = k
        start += count
    return X.astype(np.float32), y


def write_sklearn_csv(name, path):
    """Write one of scikit-learn's bundled tables as a CSV file with a header row.

    Parameters
    ----------
    name : {"diabetes", "breast_cancer"}
        ``"diabetes"``: 442 patients, 10 raw features (age, sex, bmi, bp, s1-s6) and the
        target ``progression`` (disease progression after one year), for regression.
        ``"breast_cancer"``: 569 tumours, 30 features and the target ``diagnosis``
        (``malignant`` or ``benign``), for binary classification.
    path : str or path-like
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
    path = os.fspath(path)
    with atomic_write(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row, value in zip(bunch.data, targets):
            writer.writerow([str(float(x)) for x in row] + [value])
    return path
