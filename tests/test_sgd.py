import numpy as np
import pytest

from conftest import DTYPES, SEEDS, assert_agree, call_all

OPTIONS = [
    dict(momentum=0.0, nesterov=False, l1=0.0, l2=0.0),
    dict(momentum=0.0, nesterov=False, l1=1e-3, l2=1e-2),
    dict(momentum=0.9, nesterov=False, l1=0.0, l2=0.0),
    dict(momentum=0.9, nesterov=True, l1=1e-3, l2=1e-2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "-".join(f"{k}{v}" for k, v in o.items()))
def test_sgd_update_parity(dtype, seed, opts):
    rng = np.random.default_rng(seed)
    p, v, g = (rng.normal(size=33).astype(dtype) for _ in range(3))
    p[:3] = 0  # sign(0) = 0 under L1
    results = call_all(
        "sgd_update", p, v, g, 0.05, opts["momentum"], opts["nesterov"], opts["l1"], opts["l2"]
    )
    assert_agree(results, dtype, positions=[0, 1])


def test_sgd_update_follows_the_equations():
    import fastnn.kernels as k

    p, v, g = np.array([1.0, -2.0, 0.0]), np.array([0.5, 0.5, 0.5]), np.array([0.1, 0.2, 0.3])
    lr, mu, l1, l2 = 0.1, 0.9, 0.01, 0.02
    gp = g + l1 * np.sign(p) + 2 * l2 * p
    v_new = mu * v - lr * gp
    expected = p + mu * v_new - lr * gp  # Nesterov
    k.sgd_update(p, v, g, lr, mu, True, l1, l2)
    np.testing.assert_allclose(v, v_new, rtol=1e-14)
    np.testing.assert_allclose(p, expected, rtol=1e-14)


def test_without_momentum_the_velocity_is_untouched():
    import fastnn.kernels as k

    p, v, g = np.ones(4), np.full(4, 7.0), np.ones(4)
    k.sgd_update(p, v, g, 0.5, 0.0, False, 0.0, 0.0)
    np.testing.assert_array_equal(p, 0.5)
    np.testing.assert_array_equal(v, 7.0)
