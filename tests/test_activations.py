import numpy as np
import pytest

import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend
from fastnn._codes import IDENTITY, RELU, SIGMOID, TANH

from conftest import DTYPES, SEEDS, assert_agree, call_all

ACTS = [IDENTITY, RELU, SIGMOID, TANH]


def _z(rng, dtype, shape=(7, 9)):
    z = rng.normal(0, 3, shape)
    z[0, :4] = [0.0, -0.0, 50.0, -50.0]  # the ReLU kink and saturated sigmoid/tanh
    return z.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_activate_parity(dtype, act, seed):
    z = _z(np.random.default_rng(seed), dtype)
    results = call_all("activate", z, act, np.empty_like(z))
    assert_agree(results, dtype, positions=[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_activation_derivative_parity(dtype, act, seed):
    z = _z(np.random.default_rng(seed), dtype)
    a = np.empty_like(z)
    numpy_backend.activate(z, act, a)
    results = call_all("activation_derivative", z, a, act, np.empty_like(z))
    assert_agree(results, dtype, positions=[3])


@pytest.mark.parametrize("act", [SIGMOID, TANH])
def test_derivative_matches_finite_differences(act):
    z = np.random.default_rng(3).normal(0, 2, (4, 6))
    eps = 1e-6
    up, down, a, d = (np.empty_like(z) for _ in range(4))
    numba_backend.activate(z + eps, act, up)
    numba_backend.activate(z - eps, act, down)
    numba_backend.activate(z, act, a)
    numba_backend.activation_derivative(z, a, act, d)
    np.testing.assert_allclose(d, (up - down) / (2 * eps), rtol=1e-6, atol=1e-9)


def test_relu_mask_is_z_positive():
    z = np.array([[-1.0, 0.0, 2.0, -0.0]])
    a, d = np.empty_like(z), np.empty_like(z)
    numba_backend.activate(z, RELU, a)
    numba_backend.activation_derivative(z, a, RELU, d)
    np.testing.assert_array_equal(a, [[0, 0, 2, 0]])
    np.testing.assert_array_equal(d, [[0, 0, 1, 0]])


def test_sigmoid_is_stable_for_extreme_inputs():
    for dtype in DTYPES:
        z = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype)
        a = np.empty_like(z)
        numba_backend.activate(z, SIGMOID, a)
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a[0, [0, 2, 4]], [0.0, 0.5, 1.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_nan_and_infinity_mean_the_same_on_every_backend(dtype, act):
    """One definition at the extremes: NaN stays NaN (ReLU too), +-inf saturate."""
    special = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, 3e38, -3e38]], dtype)
    results = call_all("activate", special, act, np.empty_like(special))
    expected = results["naive"][1][2]
    for label in ("numba", "numpy"):
        np.testing.assert_allclose(results[label][1][2], expected, rtol=1e-6, err_msg=label)
    assert np.isnan(expected[0, 0])  # NaN in, NaN out, whatever the activation
    derivatives = call_all("activation_derivative", special, expected, act, np.empty_like(special))
    for label in ("numba", "numpy"):
        np.testing.assert_allclose(derivatives[label][1][3], derivatives["naive"][1][3],
                                   rtol=1e-6, err_msg=label)  # fmt: skip
