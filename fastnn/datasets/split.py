"""The one train/test split that the loaders and the command line share.

It is scikit-learn's ``train_test_split`` (shuffled, optionally stratified), so that a seed gives
the same rows as it always has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .._validation import check_int, check_memory, check_sparse_structure, is_sparse
from ..errors import InputError

if TYPE_CHECKING:
    from .._typing import CSRMatrix, SparseMatrix


def split_indices(
    n_samples: int, test_size: float, seed: int = 0, stratify: ArrayLike | None = None
) -> list[np.ndarray]:
    """Shuffled row indices for a training part and a test part.

    Parameters
    ----------
    n_samples : int
    test_size : float or int
        A fraction of the rows in (0, 1), rounded up, or a number of rows.
    seed : int, default 0
        The same seed gives the same split.
    stratify : array-like of shape (n_samples,), optional
        Class labels: each class keeps its share of rows in both parts.

    Returns
    -------
    train, test : ndarray of int
        Row indices, exactly those that scikit-learn's ``train_test_split(..., test_size=
        test_size, random_state=seed, stratify=stratify)`` gives.

    Raises
    ------
    ValueError
        When the rows cannot be split that way (too few rows, or too few of a class).
    """
    from sklearn.model_selection import train_test_split

    n_samples = check_int(n_samples, "n_samples", low=1)
    check_memory(16 * n_samples, f"splitting {n_samples:,} rows")  # their indices, twice
    try:
        return train_test_split(
            np.arange(n_samples), test_size=test_size, random_state=seed, stratify=stratify
        )
    except ValueError as exc:
        what = f"{n_samples} rows with test_size={test_size}"
        raise InputError(f"cannot split {what}: {exc}") from exc


VALIDATION_SEED = 0  # every validation split, so that the same rows are held out each time


def validation_rows(
    n_samples: int, fraction: float, labels: ArrayLike | None = None
) -> list[np.ndarray]:
    """The rows that ``Sequential.fit(..., validation_split=fraction)`` and ``fastnn train
    --val-split FRACTION`` hold out for validation.

    :func:`split_indices` with the seed :data:`VALIDATION_SEED`, stratified by ``labels`` when
    given (the classes of a classification task): the same rows for the same labels, whatever
    the model's seed.

    Returns
    -------
    train, validation : ndarray of int
        Row indices, in the order the split gives them.
    """
    return split_indices(n_samples, fraction, VALIDATION_SEED, labels)


def split(
    X: ArrayLike | SparseMatrix,
    y: ArrayLike,
    test_size: float,
    seed: int = 0,
    stratify: bool = False,
) -> tuple[np.ndarray | CSRMatrix, np.ndarray | CSRMatrix, np.ndarray, np.ndarray]:
    """``X_train, X_test, y_train, y_test`` from :func:`split_indices`, stratified on request.

    A SciPy sparse ``X`` stays sparse: its parts are CSR matrices of the same kind (matrix or
    array).
    """
    y = np.asarray(y)
    train, test = split_indices(len(y), test_size, seed, y if stratify else None)
    X = _rows_indexable(X)
    return X[train], X[test], y[train], y[test]


def _rows_indexable(X):
    """``X`` as something whose rows ``X[indices]`` picks: CSR for a sparse matrix, else an
    ndarray."""
    if isinstance(X, np.ndarray):
        return X
    if is_sparse(X):  # SciPy's conversions read the index arrays unchecked
        check_sparse_structure(X, "X")
        return X.tocsr()
    return np.asarray(X)
