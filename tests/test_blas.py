"""BLAS's product called from compiled code (kernels/blas.py): blocks of wider row-major
matrices, either operand transposed, ``beta`` 0 or 1, an empty inner dimension; the compiled
call and its NumPy stand-in give NumPy's product."""

import numpy as np
import pytest
from numba import njit

from fastnn.kernels.blas import _python_gemm, gemm, gemm_scratch


@njit
def _compiled(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, gemm_scratch(c))


def _python(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    _python_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("k", [0, 1, 7])
@pytest.mark.parametrize("call", [_compiled, _python], ids=["compiled", "python"])
def test_a_block_of_the_product_is_numpys(call, dtype, trans_a, trans_b, beta, k):
    rng = np.random.default_rng(0)
    m, n, alpha = 5, 3, -0.5
    # each operand a block of a wider matrix: its rows start 2 columns in, 4 columns wider
    A = rng.normal(size=(k, m + 4) if trans_a else (m, k + 4)).astype(dtype)
    B = rng.normal(size=(n, k + 4) if trans_b else (k, n + 4)).astype(dtype)
    C = rng.normal(size=(m, n + 4)).astype(dtype)
    a_block = A[:, 2 : 2 + m] if trans_a else A[:, 2 : 2 + k]
    b_block = B[:, 2 : 2 + k] if trans_b else B[:, 2 : 2 + n]
    op_a = a_block.T if trans_a else a_block
    op_b = b_block.T if trans_b else b_block
    expected = C.astype(np.float64)
    expected[:, 2 : 2 + n] = alpha * (op_a.astype(np.float64) @ op_b) + beta * C[:, 2 : 2 + n]

    flat_c = C.ravel()
    call(trans_a, trans_b, m, n, k, alpha, A.ravel()[2:], A.shape[1], B.ravel()[2:], B.shape[1],
         beta, flat_c[2:], C.shape[1])  # fmt: skip

    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(C, expected, rtol=rtol, atol=rtol)
