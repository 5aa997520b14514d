"""The per-sample row kernels: numba vs numpy vs the naive oracle, on inputs with and without
zeros, and the zero-skipping claim itself (skipped rows change no number); the kernels of a
layer stored transposed against the row kernels on the same layer."""

import numpy as np
import pytest

import naive
from conftest import DTYPES, SEEDS, assert_agree, call_private, private_kernel

N_IN, N_OUT, W_AT, B_AT = 9, 6, 4, 4 + 9 * 6 + 2


def _layer(dtype, seed, zeros):
    rng = np.random.default_rng(seed)
    params = rng.normal(size=B_AT + N_OUT + 3).astype(dtype)
    x = rng.normal(size=N_IN).astype(dtype)
    x[rng.random(N_IN) < zeros] = 0
    nonzero = np.zeros(N_IN, np.int32)
    count = int(np.count_nonzero(x))
    nonzero[:count] = np.flatnonzero(x)
    values = np.zeros(N_IN, dtype)
    values[:count] = x[x != 0]
    return rng, params, x, nonzero, values, count


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("zeros", [0.0, 0.5, 1.0])
def test_find_nonzero_parity(dtype, seed, zeros):
    _, _, x, _, _, count = _layer(dtype, seed, zeros)
    results = call_private("find_nonzero", x, np.full(N_IN, -1, np.int32), np.full(N_IN, 7, dtype))
    for label, (value, args) in results.items():
        assert value == count, label
        np.testing.assert_array_equal(args[1][:count], np.flatnonzero(x), err_msg=label)
        np.testing.assert_array_equal(args[2][:count], x[x != 0], err_msg=label)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.9])
def test_forward_rows_parity(dtype, seed, zeros):
    _, params, x, nonzero, values, count = _layer(dtype, seed, zeros)
    results = call_private("forward_rows", nonzero, values, count, params, W_AT, B_AT,
                       np.empty(N_OUT, dtype))  # fmt: skip
    assert_agree(results, dtype, positions=[6])
    W = params[W_AT : W_AT + N_IN * N_OUT].reshape(N_IN, N_OUT)
    expected = x.astype(np.float64) @ W + params[B_AT : B_AT + N_OUT]  # every row, zeros too
    np.testing.assert_allclose(results["numba"][1][6], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.9])
def test_update_rows_parity(dtype, seed, zeros):
    rng, params, x, nonzero, values, count = _layer(dtype, seed, zeros)
    delta = rng.normal(size=N_OUT).astype(dtype)
    results = call_private("update_rows", nonzero, values, count, params, W_AT, B_AT, delta, 0.1)
    assert_agree(results, dtype, positions=[3])
    moved = results["numba"][1][3]
    np.testing.assert_array_equal(moved[:W_AT], params[:W_AT])  # nothing outside the layer
    rows = moved[W_AT : W_AT + N_IN * N_OUT].reshape(N_IN, N_OUT)
    before = params[W_AT : W_AT + N_IN * N_OUT].reshape(N_IN, N_OUT)
    np.testing.assert_array_equal(rows[x == 0], before[x == 0])  # zero inputs: rows stay


def _backward_inputs(dtype, seed):
    """A layer, its input (40% zeros), a ReLU mask for the derivative and a delta."""
    rng, params, x, _, _, _ = _layer(dtype, seed, 0.4)
    dact = (rng.random(N_IN) > 0.3).astype(dtype)
    delta = rng.normal(size=N_OUT).astype(dtype)
    return params, x, dact, delta


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("update", [False, True])
def test_backward_rows_parity(dtype, seed, update):
    params, x, dact, delta = _backward_inputs(dtype, seed)
    results = call_private("backward_rows", x, dact, params, W_AT, B_AT, delta,
                       np.empty(N_IN + 2, dtype), 0.1, update)  # fmt: skip
    assert_agree(results, dtype, positions=[2])
    np.testing.assert_allclose(results["numba"][1][6][:N_IN], results["naive"][1][6][:N_IN],
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def _transposed(params):
    """``params`` with the layer's W stored as W^T (N_OUT, N_IN), as the layout stores a layer
    with few outputs after the first."""
    flipped = params.copy()
    W = params[W_AT : W_AT + N_IN * N_OUT].reshape(N_IN, N_OUT)
    flipped[W_AT : W_AT + N_IN * N_OUT] = W.T.ravel()
    return flipped


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("zeros", [0.0, 0.5])
def test_forward_cols_parity(dtype, seed, zeros):
    _, params, x, nonzero, values, count = _layer(dtype, seed, zeros)
    results = call_private(
        "forward_cols", x, _transposed(params), W_AT, B_AT, np.empty(N_OUT, dtype)
    )
    assert_agree(results, dtype, positions=[4])
    rows = call_private("forward_rows", nonzero, values, count, params, W_AT, B_AT,
                    np.empty(N_OUT, dtype))  # fmt: skip
    np.testing.assert_allclose(results["numba"][1][4], rows["numba"][1][6], rtol=1e-5,
                               atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("update", [False, True])
def test_backward_cols_parity(dtype, seed, update):
    """backward_cols on W^T gives what backward_rows gives on W, the step included."""
    params, x, dact, delta = _backward_inputs(dtype, seed)
    results = call_private("backward_cols", x, dact, _transposed(params), W_AT, B_AT, delta,
                       np.zeros(N_IN + 2, dtype), 0.1, update)  # fmt: skip
    assert_agree(results, dtype, positions=[2, 6])
    rows = call_private("backward_rows", x, dact, params, W_AT, B_AT, delta,
                    np.zeros(N_IN + 2, dtype), 0.1, update)  # fmt: skip
    tol = dict(rtol=1e-5, atol=1e-6)
    for label, (_, args) in results.items():
        np.testing.assert_allclose(args[6][:N_IN], rows[label][1][6][:N_IN], err_msg=label, **tol)
        np.testing.assert_allclose(args[2], _transposed(rows[label][1][2]), err_msg=label, **tol)
    if not update:
        np.testing.assert_array_equal(results["numba"][1][2], _transposed(params))


def test_backward_cols_gives_zero_where_the_derivative_is_zero():
    """As backward_rows: a unit whose activation derivative is 0 gets delta 0, even when
    W delta is infinite."""
    _, params, x, _, _, _ = _layer(np.float64, 0, 0.0)
    params[W_AT : W_AT + N_IN * N_OUT] = np.inf
    dact = np.zeros(N_IN)
    dact[0] = 1.0
    for label, kernel in (
        ("numba", private_kernel("backward_cols")),
        ("naive", naive.backward_cols),
    ):
        delta_prev = np.empty(N_IN)
        kernel(x, dact, params, W_AT, B_AT, np.ones(N_OUT), delta_prev, 0.1, False)
        np.testing.assert_array_equal(delta_prev[1:], 0.0, err_msg=label)
        assert delta_prev[0] == np.inf, label
