"""The register tiles of the matrix products (kernels/tiles.py): every tile height (8, 4, 2 and
1 rows), the columns they leave to BLAS, both orders of the tiles, ``beta`` 0 (``C`` not read)
and 1, either ``A`` or its transpose, over every step and row or over the steps or rows
listed (or both), against NumPy in float64; Adam's step inside the tiles, against the
gradient's tiles and then :func:`adam_update`, bit for bit; and :func:`gemm`, which uses
them, on the epoch's shapes."""

import numpy as np
import pytest
from numba import njit

from fastnn.kernels.adam import adam_scalars, adam_update
from fastnn.kernels.blas import gemm, gemm_scratch
from fastnn.kernels.tiles import (
    BOTH,
    IN_CACHE,
    ROWS,
    STEPS,
    TILE_ROWS,
    TILES,
    adam_rows_gemm,
    picked_gemm,
    tiled_gemm,
)
from fastnn.optimizers import Adam

needs_tiles = pytest.mark.skipif(not TILES, reason="the tiles need AVX-512 and FMA")


def _operands(rng, dtype, trans_a, m, n, k, extra=3):
    """A, B and C as blocks of wider matrices (their rows start 2 columns in), C full of NaN
    outside the block and inside it where beta is 0."""
    A = rng.normal(size=(k, m + extra) if trans_a else (m, k + extra)).astype(dtype)
    B = rng.normal(size=(k, n + extra)).astype(dtype)
    C = rng.normal(size=(m, n + extra)).astype(dtype)
    op_a = A[:, 2 : 2 + m].T if trans_a else A[:, 2 : 2 + k]
    return A, B, C, op_a.astype(np.float64) @ B[:, 2 : 2 + n].astype(np.float64)


@njit
def _gemm(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    gemm(trans_a, False, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, gemm_scratch(c))


@needs_tiles
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("k", [1, 7, 300])
@pytest.mark.parametrize("m", [1, 15, 24])
def test_the_tiles_give_numpys_product_and_leave_the_other_columns(dtype, trans_a, beta, k, m):
    rng = np.random.default_rng(k * m)
    width = 32 if dtype == np.float32 else 16
    n = 2 * width + 5  # two tiles' columns, and five for the caller
    alpha = -0.5
    A, B, C, product = _operands(rng, dtype, trans_a, m, n, k)
    if beta == 0:
        C[:, 2 : 2 + n] = np.nan  # not read
    before = C.copy()
    covered = tiled_gemm(trans_a, m, n, k, alpha, A.ravel()[2:], A.shape[1], B.ravel()[2:],
                         B.shape[1], beta, C.ravel()[2:], C.shape[1])  # fmt: skip
    assert covered == 2 * width
    expected = alpha * product[:, :covered] + (beta * before[:, 2 : 2 + covered] if beta else 0)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(C[:, 2 : 2 + covered], expected, rtol=rtol, atol=rtol * k)
    np.testing.assert_array_equal(C[:, 2 + covered :], before[:, 2 + covered :])
    np.testing.assert_array_equal(C[:, :2], before[:, :2])


@needs_tiles
@pytest.mark.parametrize("trans_a", [False, True])
def test_a_wide_b_goes_by_columns_and_a_product_too_large_for_the_cache_goes_to_blas(trans_a):
    """B too large to stay in cache: the tiles go a column of tiles at a time (A stays); both
    too large: nothing is tiled, and :func:`gemm` gives the product through BLAS."""
    rng = np.random.default_rng(5)
    k = 300
    n = 32 * (IN_CACHE // (4 * k * 32) + 1)  # B just over the cache's share
    for m in (20, IN_CACHE // (4 * k) + 8):  # A inside it, then over it
        A, B, C, product = _operands(rng, np.float32, trans_a, m, n, k)
        covered = tiled_gemm(trans_a, m, n, k, 1.0, A.ravel()[2:], A.shape[1], B.ravel()[2:],
                             B.shape[1], 0.0, C.ravel()[2:], C.shape[1])  # fmt: skip
        assert covered == (n if m == 20 else 0)
        if covered:
            np.testing.assert_allclose(C[:, 2 : 2 + n], product, rtol=1e-5, atol=1e-3)
        _gemm(trans_a, m, n, k, 1.0, A.ravel()[2:], A.shape[1], B.ravel()[2:], B.shape[1], 0.0,
              C.ravel()[2:], C.shape[1])  # fmt: skip
        np.testing.assert_allclose(C[:, 2 : 2 + n], product, rtol=1e-5, atol=1e-3)


@needs_tiles
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("steps", [list(range(40)), [3, 4, 5, 12, 20, 21, 39], [30, 2, 17], []])
def test_tiles_over_listed_steps_sum_those_steps_alone(dtype, trans_a, beta, steps):
    """STEPS: the sum over the listed steps of the inner dimension, in their order (none:
    C = beta C), the others left out, 19 rows (tiles of 8, 2 and 1)."""
    rng = np.random.default_rng(len(steps))
    m, n, k = 19, 2 * (32 if dtype == np.float32 else 16) + 3, 40
    A, B, C, _ = _operands(rng, dtype, trans_a, m, n, k)
    if beta == 0:
        C[:, 2 : 2 + n] = np.nan
    before = C.copy()
    listed = np.array(steps, np.int64)
    op_a = (A[:, 2 : 2 + m].T if trans_a else A[:, 2 : 2 + k]).astype(np.float64)
    product = op_a[:, listed] @ B[listed, 2 : 2 + n].astype(np.float64)
    covered = picked_gemm(trans_a, m, n, len(listed), 0.5, A.ravel()[2:], A.shape[1],
                          B.ravel()[2:], B.shape[1], beta, C.ravel()[2:], C.shape[1], listed,
                          STEPS)  # fmt: skip
    assert covered == n - 3
    expected = 0.5 * product[:, :covered] + (beta * before[:, 2 : 2 + covered] if beta else 0)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(C[:, 2 : 2 + covered], expected, rtol=rtol, atol=rtol * k)
    np.testing.assert_array_equal(C[:, 2 + covered :], before[:, 2 + covered :])


@needs_tiles
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("n_rows", [0, 1, 15])
def test_tiles_over_listed_rows_write_those_rows_alone(dtype, trans_a, beta, n_rows):
    """ROWS: the rows of op(A) and of C listed (out of order, with gaps), the other rows of C
    untouched (none listed: C untouched)."""
    rng = np.random.default_rng(n_rows)
    m, n, k = 40, 32 if dtype == np.float32 else 16, 23
    A, B, C, product = _operands(rng, dtype, trans_a, m, n, k)
    rows = rng.permutation(m)[:n_rows].astype(np.int64)
    if beta == 0:
        C[rows, 2 : 2 + n] = np.nan
    before = C.copy()
    covered = picked_gemm(trans_a, n_rows, n, k, -1.5, A.ravel()[2:], A.shape[1], B.ravel()[2:],
                          B.shape[1], beta, C.ravel()[2:], C.shape[1], rows, ROWS)  # fmt: skip
    assert covered == n
    expected = before.copy()
    expected[rows, 2 : 2 + n] = -1.5 * product[rows] + (beta * before[rows, 2 : 2 + n] if beta
                                                         else 0)  # fmt: skip
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(C, expected, rtol=rtol, atol=rtol * k)
    others = np.setdiff1d(np.arange(m), rows)
    np.testing.assert_array_equal(C[others], before[others])


def _both_list(rows, steps):
    """A BOTH tile's list: its rows, padded to TILE_ROWS, then its steps."""
    padding = [-1] * (TILE_ROWS - len(rows))
    return np.array(list(rows) + padding + list(steps), np.int64)


@needs_tiles
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("height", [8, 4, 2, 1])
@pytest.mark.parametrize("n_steps", [0, 1, 9])
def test_a_tile_over_listed_rows_and_steps_sums_those_steps_into_those_rows(dtype, trans_a,
                                                                          beta, height,
                                                                          n_steps):  # fmt: skip
    """BOTH: one tile of listed rows (out of order) over listed steps (out of order, with gaps):
    ``C[rows] = alpha op(A)[rows][:, steps] B[steps] + beta C[rows]``, the other rows of ``C``
    untouched (no steps: ``alpha 0 + beta C``)."""
    rng = np.random.default_rng(10 * height + n_steps)
    m, n, k = 20, 32 if dtype == np.float32 else 16, 23
    A, B, C, _ = _operands(rng, dtype, trans_a, m, n, k)
    rows = rng.permutation(m)[:height]
    steps = rng.permutation(k)[:n_steps]
    if beta == 0:
        C[rows, 2 : 2 + n] = np.nan
    before = C.copy()
    covered = picked_gemm(trans_a, height, n, n_steps, -1.5, A.ravel()[2:], A.shape[1],
                          B.ravel()[2:], B.shape[1], beta, C.ravel()[2:], C.shape[1],
                          _both_list(rows, steps), BOTH)  # fmt: skip
    assert covered == n
    op_a = (A[:, 2 : 2 + m].T if trans_a else A[:, 2 : 2 + k]).astype(np.float64)
    product = op_a[np.ix_(rows, steps)] @ B[steps, 2 : 2 + n].astype(np.float64)
    expected = before.copy()
    expected[rows, 2 : 2 + n] = -1.5 * product + (beta * before[rows, 2 : 2 + n] if beta else 0)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(C, expected, rtol=rtol, atol=rtol * k)
    others = np.setdiff1d(np.arange(m), rows)
    np.testing.assert_array_equal(C[others], before[others])


@njit
def _gradient_then_adam(m, n, k, a, lda, b, ldb, c, moment, square, ldc, rows, picks, grads, opt,
                        rate):  # fmt: skip
    """The listed rows' gradient by the tiles (``picks`` ROWS or BOTH) into ``grads``, then
    Adam's step along it."""
    done = picked_gemm(True, m, n, k, 1.0, a, lda, b, ldb, 0.0, grads, ldc, rows, picks)
    for r in range(m):
        first = rows[r] * ldc
        last = first + done
        adam_update(c[first:last], moment[first:last], square[first:last], grads[first:last],
                    opt, rate, 0.0)  # fmt: skip
    return done


@njit
def _adam_in_the_tiles(m, n, k, a, lda, b, ldb, c, moment, square, ldc, rows, picks, opt, rate):
    return adam_rows_gemm(m, n, k, a, lda, b, ldb, c, moment, square, ldc, rows, picks,
                          adam_scalars(c, opt, rate))  # fmt: skip


@needs_tiles
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_rows", [0, 1, 15, 40])
def test_adams_step_inside_the_tiles_is_the_gradient_then_the_step_to_the_bit(dtype, n_rows):
    """:func:`adam_rows_gemm` steps the listed rows of C (out of order, with gaps) and of the
    moments as the gradient written out and then :func:`adam_update` do, to the bit: moments
    that flush to zero (subnormal), a gradient whose square overflows (v inf, a step of 0),
    NaN in a gradient. Other rows, and the columns beyond the tiles', are untouched."""
    rng = np.random.default_rng(n_rows)
    m, k = 40, 23
    n = 2 * (32 if dtype == np.float32 else 16) + 3  # two tiles' columns, and three left
    A, B, C, _ = _operands(rng, dtype, True, m, n, k)
    huge = 100 * np.finfo(dtype).max ** 0.5  # its square overflows
    B[0, 2:6], B[1, 6], B[:, 7:9] = huge, np.nan, 0  # (C's columns 0:4, 4, 5:7)
    tiny = np.finfo(dtype).smallest_normal
    moment = rng.normal(size=C.shape).astype(dtype) * 1e-3
    square = np.abs(rng.normal(size=C.shape)).astype(dtype) * 1e-5
    moment[:, 7:9], square[:, 7:9] = tiny, tiny / 2  # subnormal once decayed, or already
    rows = rng.permutation(m)[:n_rows].astype(np.int64)
    opt = Adam(lr=1e-3, beta1=0.8, beta2=0.99, eps=1e-7).config()
    flat = [x.ravel()[2:] for x in (A, B)]
    expected = [x.copy() for x in (C, moment, square)]
    grads = np.full_like(C, np.nan)
    done = _gradient_then_adam(n_rows, n, k, flat[0], A.shape[1], flat[1], B.shape[1],
                               *(x.ravel()[2:] for x in expected), C.shape[1], rows, ROWS,
                               grads.ravel()[2:], opt, 0.003)  # fmt: skip
    state = [x.copy() for x in (C, moment, square)]
    covered = _adam_in_the_tiles(n_rows, n, k, flat[0], A.shape[1], flat[1], B.shape[1],
                                 *(x.ravel()[2:] for x in state), C.shape[1], rows, ROWS,
                                 opt, 0.003)  # fmt: skip
    assert covered == done == n - 3
    for got, want, before in zip(state, expected, (C, moment, square), strict=True):
        np.testing.assert_array_equal(got, want)
        others = np.setdiff1d(np.arange(m), rows)
        np.testing.assert_array_equal(got[others], before[others])
        np.testing.assert_array_equal(got[:, 2 + covered :], before[:, 2 + covered :])
    if n_rows:  # the cases the test is about did occur
        stepped = expected[2][rows, 2 : 2 + covered]
        assert np.isinf(stepped).any() and np.isnan(stepped).any()
        assert not expected[1][rows, 7:9].any() and not expected[2][rows, 7:9].any()
        assert not np.array_equal(state[0][rows], C[rows])


@needs_tiles
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("height", [8, 4, 2, 1])
def test_adams_step_inside_a_tile_over_listed_rows_and_steps_is_the_same_bits(dtype, height):
    """BOTH with Adam's step: the rows listed, over the steps listed (the batch's rows that use
    them), to the bit as the tile's gradient written out and then :func:`adam_update`."""
    rng = np.random.default_rng(height)
    m, k = 30, 40
    n = 32 if dtype == np.float32 else 16
    A, B, C, _ = _operands(rng, dtype, True, m, n, k)
    moment = rng.normal(size=C.shape).astype(dtype) * 1e-3
    square = np.abs(rng.normal(size=C.shape)).astype(dtype) * 1e-5
    listed = _both_list(rng.permutation(m)[:height], np.sort(rng.permutation(k)[:25]))
    opt = Adam(lr=1e-3).config()
    flat = [x.ravel()[2:] for x in (A, B)]
    expected = [x.copy() for x in (C, moment, square)]
    grads = np.full_like(C, np.nan)
    done = _gradient_then_adam(height, n, 25, flat[0], A.shape[1], flat[1], B.shape[1],
                               *(x.ravel()[2:] for x in expected), C.shape[1], listed, BOTH,
                               grads.ravel()[2:], opt, 0.003)  # fmt: skip
    state = [x.copy() for x in (C, moment, square)]
    covered = _adam_in_the_tiles(height, n, 25, flat[0], A.shape[1], flat[1], B.shape[1],
                                 *(x.ravel()[2:] for x in state), C.shape[1], listed, BOTH,
                                 opt, 0.003)  # fmt: skip
    assert covered == done == n
    for got, want in zip(state, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(state[0], C)
    assert np.isfinite(state[0]).all()


@needs_tiles
def test_adams_step_inside_the_tiles_leaves_a_gradient_too_large_for_the_cache_alone():
    """B (the batch's deltas) beyond IN_CACHE: nothing is done, nothing is written."""
    k, n = IN_CACHE // (32 * 4) + 1, 32
    B = np.ones((k, n), np.float32)
    A = np.ones((k, 4), np.float32)
    C, moment, square = np.zeros((3, 4, n), np.float32)
    rows = np.arange(4, dtype=np.int64)
    opt = Adam().config()
    assert _adam_in_the_tiles(4, n, k, A.ravel(), 4, B.ravel(), n, C.ravel(), moment.ravel(),
                              square.ravel(), n, rows, ROWS, opt, 1e-3) == 0  # fmt: skip
    assert not C.any() and not moment.any() and not square.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize(
    "m, n, k", [(64, 128, 518), (77, 128, 128), (200, 100, 64), (13, 10, 100), (3, 40, 5)]
)
def test_gemm_gives_numpys_product_on_the_epochs_shapes(dtype, trans_a, beta, m, n, k):
    """A block of a batch's rows by a stretch of inputs, a stretch of inputs' gradient, the
    digits' layers, an output layer narrower than a tile, a few rows: tiles where they apply
    and BLAS for the rest give NumPy's product (also where the tiles do not apply)."""
    rng = np.random.default_rng(m + n + k)
    A, B, C, product = _operands(rng, dtype, trans_a, m, n, k, extra=40)
    before = C.copy()
    _gemm(trans_a, m, n, k, -2.0, A.ravel()[2:], A.shape[1], B.ravel()[2:], B.shape[1], beta,
          C.ravel()[2:], C.shape[1])  # fmt: skip
    expected = -2.0 * product + beta * before[:, 2 : 2 + n]
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(C[:, 2 : 2 + n], expected, rtol=rtol, atol=rtol * k)
    np.testing.assert_array_equal(C[:, 2 + n :], before[:, 2 + n :])


def test_the_tiles_follow_the_processor_numba_compiles_for(monkeypatch):
    """The host's features, unless NUMBA_CPU_NAME names another processor (a portable cache
    built for "generic" gets no AVX-512, so no tiles)."""
    import llvmlite.binding as ll
    from numba import config

    from fastnn.kernels.tiles import _target_has

    host = bool(ll.get_host_cpu_features().get("avx512f", False))
    for name in ("", "host"):
        monkeypatch.setattr(config, "CPU_NAME", name)
        assert _target_has("avx512f") == host
    monkeypatch.setattr(config, "CPU_NAME", "generic")
    monkeypatch.setattr(config, "CPU_FEATURES", "")
    assert not _target_has("avx512f")
    monkeypatch.setattr(config, "CPU_NAME", "skylake-avx512")
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx512f,+fma,-avx512vnni")
    assert _target_has("avx512f") and _target_has("fma") and not _target_has("avx512vnni")


def test_no_tiles_where_the_kernels_run_as_python():
    """With NUMBA_DISABLE_JIT=1 the kernels run as Python, where an intrinsic cannot: the
    products go to :func:`gemm`'s NumPy version instead."""
    import os
    import subprocess
    import sys

    script = "from fastnn.kernels.tiles import TILES; print(TILES)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=dict(os.environ, NUMBA_DISABLE_JIT="1"), timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
