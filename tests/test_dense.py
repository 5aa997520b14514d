import numpy as np
import pytest

from fastnn._codes import IDENTITY, RELU, SIGMOID, TANH

from conftest import DTYPES, SEEDS, assert_agree, call_all


def _inputs(seed, dtype, m=5, n_in=11, n_out=7):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, n_in))
    x[rng.random(x.shape) < 0.5] = 0  # sparse rows, as MNIST pixels are
    W = rng.normal(0, 0.5, (n_in, n_out))
    b = rng.normal(0, 0.1, n_out)
    return x.astype(dtype), W.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", [IDENTITY, RELU, SIGMOID, TANH])
@pytest.mark.parametrize("seed", SEEDS)
def test_dense_forward_parity(dtype, act, seed):
    x, W, b = _inputs(seed, dtype)
    z = np.empty((x.shape[0], W.shape[1]), dtype)
    results = call_all("dense_forward", x, W, b, act, z, np.empty_like(z))
    assert_agree(results, dtype, positions=[4, 5])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("with_dx", [True, False])
def test_dense_backward_parity(dtype, seed, with_dx):
    x, W, _ = _inputs(seed, dtype)
    delta = np.random.default_rng(seed + 10).normal(size=(x.shape[0], W.shape[1])).astype(dtype)
    dx = np.empty((x.shape[0] if with_dx else 0, W.shape[0]), dtype)
    results = call_all(
        "dense_backward", x, W, delta, np.empty_like(W), np.empty(W.shape[1], dtype), dx
    )
    assert_agree(results, dtype, positions=[3, 4, 5])


def test_dense_forward_is_x_at_W_plus_b():
    import fastnn.kernels as k

    x, W, b = _inputs(4, np.float64)
    z, a = np.empty((5, 7)), np.empty((5, 7))
    k.dense_forward(x, W, b, RELU, z, a)
    np.testing.assert_allclose(z, x @ W + b, rtol=1e-12)
    np.testing.assert_allclose(a, np.maximum(x @ W + b, 0), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_leave_read_only_inputs_alone(dtype):
    import fastnn.kernels as k

    x, W, b = _inputs(5, dtype)
    for arr in (x, W, b):
        arr.flags.writeable = False
    z = np.empty((5, 7), dtype)
    k.dense_forward(x, W, b, TANH, z, np.empty_like(z))
    delta = np.ones((5, 7), dtype)
    delta.flags.writeable = False
    k.dense_backward(x, W, delta, np.empty_like(W), np.empty(7, dtype), np.empty_like(x))
