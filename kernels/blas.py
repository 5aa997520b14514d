"""BLAS's matrix product called straight from compiled code.

The kernels call SciPy's ``sgemm``/``dgemm`` (``scipy.linalg.cython_blas``, the OpenBLAS that
SciPy ships), as NumPy's and Numba's own products do, but with what ``np.dot`` cannot express:
row and column blocks of a larger matrix (any leading dimension), either operand transposed,
and ``C = alpha A B + beta C`` into a preallocated buffer. ``beta = 1`` with ``alpha = -rate``
folds a plain SGD step into the product that computes the gradient, so the gradient is never
written out.

The function's address is registered with LLVM under a name of its own at import, so the
compiled kernels refer to it by name and can be cached on disk like any other.
"""

import llvmlite.binding as ll
import numpy as np
from numba import config, njit, types
from numba.extending import get_cython_function_address

from ._config import JIT_OPTIONS
from .tiles import TILES, tiled_gemm

for _name in ("sgemm", "dgemm"):
    ll.add_symbol(f"fastnn_{_name}", get_cython_function_address("scipy.linalg.cython_blas",
                                                                _name))  # fmt: skip

# Fortran's interface: every argument by reference
_GEMM = types.void(*([types.voidptr] * 13))
_sgemm = types.ExternalFunction("fastnn_sgemm", _GEMM)
_dgemm = types.ExternalFunction("fastnn_dgemm", _GEMM)

_N, _T = ord("N"), ord("T")


@njit(**JIT_OPTIONS)
def gemm_scratch(dtype_like):
    """The small arrays :func:`gemm` passes its scalars through (by reference, as Fortran
    takes them): two characters, six integers, and alpha and beta in the matrices' dtype.
    Allocate them once per thread, not per product."""
    return (np.empty(2, np.int8), np.empty(6, np.int32), np.empty(2, dtype_like.dtype))


@njit(**JIT_OPTIONS)
def gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, scratch):
    """``C = alpha op(A) op(B) + beta C`` on row-major matrices: ``op(A)`` is (m, k), ``op(B)``
    (k, n) and ``C`` (m, n); ``op(X)`` is ``X`` or, with ``trans_x``, its transpose.

    ``a``, ``b`` and ``c`` are 1-D arrays whose first item is the matrix's first item (a slice
    of a flat buffer); ``lda``, ``ldb``, ``ldc`` are their row strides in items, so a block of
    columns of a wider matrix is its slice from the block's first column, with the wider
    matrix's width as the stride. Nothing is done when a size is 0. Where the register tiles
    apply (:mod:`.tiles`: ``B`` as stored, a processor with AVX-512), they compute the columns
    they cover and BLAS the others.
    """
    if m == 0 or n == 0:
        return
    if TILES and not trans_b and k > 0:  # register tiles where they apply, BLAS for the rest
        done = tiled_gemm(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        if done == n:
            return
        n, b, c = n - done, b[done:], c[done:]
    chars, ints, scalars = scratch
    # row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: BLAS gets B first
    chars[0] = _T if trans_b else _N
    chars[1] = _T if trans_a else _N
    ints[0], ints[1], ints[2] = n, m, k
    ints[3], ints[4], ints[5] = ldb, lda, ldc
    scalars[0] = alpha
    scalars[1] = beta
    if k == 0:  # BLAS may leave C alone then; the product is empty: C = beta C
        for r in range(m):
            row = c[r * ldc : r * ldc + n]
            for j in range(n):
                row[j] = scalars[1] * row[j] if beta != 0 else scalars[1]
        return
    args = (chars[0:1].ctypes, chars[1:2].ctypes, ints[0:1].ctypes, ints[1:2].ctypes,
            ints[2:3].ctypes, scalars[0:1].ctypes, b.ctypes, ints[3:4].ctypes, a.ctypes,
            ints[4:5].ctypes, scalars[1:2].ctypes, c.ctypes, ints[5:6].ctypes)  # fmt: skip
    if c.itemsize == 4:
        _sgemm(*args)
    else:
        _dgemm(*args)


def _python_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, scratch):
    """:func:`gemm` in NumPy, for the kernels run as Python (``NUMBA_DISABLE_JIT=1``), where
    no compiled code can call BLAS by address."""
    if m == 0 or n == 0:
        return

    def matrix(x, rows, cols, ld):
        return np.lib.stride_tricks.as_strided(x, (rows, cols), (ld * x.itemsize, x.itemsize))

    A = matrix(a, k, m, lda).T if trans_a else matrix(a, m, k, lda)
    B = matrix(b, n, k, ldb).T if trans_b else matrix(b, k, n, ldb)
    C = matrix(c, m, n, ldc)
    product = alpha * (A @ B)
    C[...] = product if beta == 0 else product + beta * C


if config.DISABLE_JIT:
    gemm = _python_gemm  # noqa: F811
