"""The kernels' exponential (``kernels/exponential.py``) against the C library's, in float32 and
float64."""

import math

import numpy as np
import pytest
from numba import njit

from fastnn.kernels.exponential import exp


@njit
def _exp_all(z, out):
    for j in range(z.shape[0]):
        out[j] = exp(z[j])


def _compiled(z):
    out = np.empty_like(z)
    _exp_all(z, out)
    return out


def _exact(x):
    """The C library's ``exp`` of a float64 (within half an ulp): the reference, as NumPy's own
    vectorised ``exp`` may be an ulp or two off the exact value."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


RANGES = {np.float32: (-106.0, 90.0), np.float64: (-750.0, 712.0)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_is_within_an_ulp_over_the_whole_range(dtype):
    """Normal results within one unit in the last place of the exact value (the C library's
    float64 exponential, rounded to the dtype), subnormal ones within the smallest subnormal;
    inf above the largest float's logarithm, zero below the smallest subnormal's."""
    rng = np.random.default_rng(0)
    low, high = RANGES[dtype]
    z = np.concatenate([rng.uniform(low, high, 200_000), rng.uniform(-1, 1, 100_000),
                        rng.uniform(-30, 0, 100_000)]).astype(dtype)  # fmt: skip
    with np.errstate(over="ignore"):  # float64 beyond float32's range: inf
        exact = np.array([_exact(x) for x in z.astype(np.float64)]).astype(dtype)
    got = _compiled(z)
    assert got.dtype == dtype
    normal = np.isfinite(exact) & (exact >= np.finfo(dtype).tiny)
    ulps = np.abs(got[normal].astype(np.float64) - exact[normal]) / np.spacing(exact[normal])
    assert ulps.max() <= 1.0
    subnormal = np.isfinite(exact) & ~normal
    assert subnormal.any() and np.all(np.abs(got[subnormal] - exact[subnormal]) <= exact.dtype.type(
        np.finfo(dtype).smallest_subnormal))  # fmt: skip
    np.testing.assert_array_equal(np.isinf(got), np.isinf(exact))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_of_special_values(dtype):
    z = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-30, 1e300 if dtype == np.float64
                  else 1e30, -1e30, 88.0, -87.0], dtype)  # fmt: skip
    got = _compiled(z)
    with np.errstate(over="ignore"):
        expected = np.exp(z)
    np.testing.assert_array_max_ulp(got[np.isfinite(expected)], expected[np.isfinite(expected)], 1)
    np.testing.assert_array_equal(got[~np.isfinite(expected)], expected[~np.isfinite(expected)])
    assert got[3] == 1 and got[1] == np.inf and got[2] == 0 and np.isnan(got[0])


@pytest.mark.parametrize("x", [0.5, -745.5, 800.0, -np.inf, np.inf])
def test_exp_as_plain_python_is_math_exp_in_the_arguments_type(x):
    """Under NUMBA_DISABLE_JIT the kernels call the Python function: ``math.exp``, inf where
    that overflows, in the type of the argument."""
    for typ in (float, np.float64, np.float32):
        value = exp(typ(x))
        assert type(value) is typ
        assert value == typ(math.exp(x)) if x < 709 else value == np.inf
