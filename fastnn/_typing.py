"""The type aliases of fastnn's public signatures.

Only annotations use these names. SciPy's sparse types are named for type checkers alone (under
``TYPE_CHECKING``), so that ``import fastnn`` never imports SciPy; modules that annotate with
them start with ``from __future__ import annotations``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

#: A path as every reader and writer of fastnn takes it (see :func:`fastnn._files.as_path`).
PathLike: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]

#: A path that :class:`pathlib.Path` takes (no ``bytes``).
StrPath: TypeAlias = str | os.PathLike[str]

#: ``(X_train, y_train), (X_test, y_test)``, as the image loaders return them.
TrainTest: TypeAlias = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

if TYPE_CHECKING:
    import scipy.sparse

    #: A SciPy sparse matrix or array, of any format.
    SparseMatrix: TypeAlias = scipy.sparse.spmatrix | scipy.sparse.sparray
    #: A SciPy CSR matrix or array: the sparse form fastnn hands back.
    CSRMatrix: TypeAlias = scipy.sparse.csr_matrix | scipy.sparse.csr_array

__all__ = ["PathLike", "StrPath", "TrainTest"]  # and SparseMatrix, CSRMatrix for type checkers
