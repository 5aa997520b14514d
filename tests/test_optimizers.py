"""The optimizer kernels (SGD, Adam, the dispatching update and the per-sample outer-product
update): numba vs numpy vs the naive oracle, the equations, and the optimizer objects."""

import math

import numpy as np
import pytest

import fastnn as fn
import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend

import naive
from conftest import DTYPES, SEEDS, TOLERANCE, assert_agree, call_all, call_private

OPTIMIZERS = {
    "sgd": fn.SGD(lr=0.05),
    "sgd-l1l2": fn.SGD(lr=0.05, l1=1e-3, l2=1e-2),
    "momentum": fn.SGD(lr=0.05, momentum=0.9),
    "nesterov-l1l2": fn.SGD(lr=0.05, momentum=0.9, nesterov=True, l1=1e-3, l2=1e-2),
    "adam": fn.Adam(lr=0.01),
    "adam-custom": fn.Adam(lr=0.01, beta1=0.7, beta2=0.95, eps=1e-4, l1=1e-3, l2=1e-2),
}


def _vectors(dtype, seed, n=33, count=4):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=n).astype(dtype) for _ in range(count)]
    arrays[0][:3] = 0  # sign(0) = 0 under L1
    return arrays


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", [k for k in OPTIMIZERS if k.startswith(("sgd", "mom", "nes"))])
@pytest.mark.parametrize("penalty", [1.0, 0.0, 0.25])
def test_sgd_update_parity(dtype, seed, name, penalty):
    p, v, g, _ = _vectors(dtype, seed)
    results = call_all("sgd_update", p, v, g, OPTIMIZERS[name].config(), 0.05, penalty)
    assert_agree(results, dtype, positions=[0, 1], compare_value=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["adam", "adam-custom"])
@pytest.mark.parametrize("penalty", [1.0, 0.0, 0.25])
def test_adam_update_parity(dtype, seed, name, penalty):
    p, m, v, g = _vectors(dtype, seed)
    v = np.abs(v)  # a second moment is never negative
    results = call_all("adam_update", p, m, v, g, OPTIMIZERS[name].config(), 0.003, penalty)
    assert_agree(results, dtype, positions=[0, 1, 2], compare_value=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_update_steps_only_its_stretch(dtype, name):
    rng = np.random.default_rng(4)
    params = rng.normal(size=40).astype(dtype)
    state = np.abs(rng.normal(size=(2, 40))).astype(dtype)
    grad = rng.normal(size=10).astype(dtype)
    results = call_private("optimizer_update", params, state, 16, grad, OPTIMIZERS[name].config(),
                       0.01, 1.0)  # fmt: skip
    assert_agree(results, dtype, positions=[0, 1], compare_value=True)
    after = results["numba"][1][0]
    np.testing.assert_array_equal(after[:16], params[:16])
    np.testing.assert_array_equal(after[26:], params[26:])
    assert not np.array_equal(after[16:26], params[16:26])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_outer_update_parity(dtype, name):
    rng = np.random.default_rng(5)
    x, delta = rng.normal(size=7).astype(dtype), rng.normal(size=5).astype(dtype)
    x[[1, 4]] = 0
    params = rng.normal(size=64).astype(dtype)
    state = np.abs(rng.normal(size=(2, 64))).astype(dtype)
    results = call_private("outer_update", x, delta, params, state, 0, 48,
                           OPTIMIZERS[name].config(), 0.01, 0.5, np.empty(35, dtype))  # fmt: skip
    assert_agree(results, dtype, positions=[2, 3], compare_value=True)


def test_sgd_update_follows_the_equations():
    import fastnn.kernels as k

    p, v, g = np.array([1.0, -2.0, 0.0]), np.array([0.5, 0.5, 0.5]), np.array([0.1, 0.2, 0.3])
    lr, mu, l1, l2 = 0.1, 0.9, 0.01, 0.02
    gp = g + l1 * np.sign(p) + 2 * l2 * p
    v_new = mu * v - lr * gp
    expected = p + mu * v_new - lr * gp  # Nesterov
    opt = fn.SGD(lr=lr, momentum=mu, nesterov=True, l1=l1, l2=l2).config()
    k.sgd_update(p, v, g, opt, lr, 1.0)
    np.testing.assert_allclose(v, v_new, rtol=1e-14)
    np.testing.assert_allclose(p, expected, rtol=1e-14)


def test_without_momentum_the_velocity_is_untouched():
    import fastnn.kernels as k

    p, v, g = np.ones(4), np.full(4, 7.0), np.ones(4)
    k.sgd_update(p, v, g, fn.SGD(lr=0.5).config(), 0.5, 1.0)
    np.testing.assert_array_equal(p, 0.5)
    np.testing.assert_array_equal(v, 7.0)


def test_adam_follows_the_equations_of_scikit_learn_and_keras():
    """Two steps written out by hand: t += 1, moments, lr_t with the bias correction."""
    import fastnn.kernels as k

    opt = fn.Adam(lr=0.01, beta1=0.8, beta2=0.9, eps=1e-3, l2=0.05)
    p = np.array([1.0, -2.0, 0.5])
    m, v = np.zeros(3), np.zeros(3)
    grads = [np.array([0.1, -0.3, 0.2]), np.array([0.4, 0.1, -0.2])]
    expected_p, em, ev = p.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, start=1):
        gp = g + 2 * 0.05 * expected_p
        em = 0.8 * em + 0.2 * gp
        ev = 0.9 * ev + 0.1 * gp**2
        lr_t = 0.01 * math.sqrt(1 - 0.9**t) / (1 - 0.8**t)
        expected_p = expected_p - lr_t * em / (np.sqrt(ev) + 1e-3)
        rate = fn.optimizers.step_size(opt.config(), t - 1)
        assert rate == pytest.approx(lr_t, rel=1e-15)
        k.adam_update(p, m, v, g, opt.config(), rate, 1.0)
    np.testing.assert_allclose(p, expected_p, rtol=1e-14)
    np.testing.assert_allclose(m, em, rtol=1e-14)
    np.testing.assert_allclose(v, ev, rtol=1e-14)


def test_sgd_schedule_decays_per_update():
    opt = fn.SGD(lr=0.1, decay=0.5)
    assert opt.learning_rate() == 0.1
    opt.iterations = 4
    assert opt.learning_rate() == pytest.approx(0.1 / 3)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: fn.Adam(lr=0), "lr must be"),
        (lambda: fn.Adam(beta1=1.0), "beta1 must be"),
        (lambda: fn.Adam(beta2=-0.1), "beta2 must be"),
        (lambda: fn.Adam(eps=0), "eps must be"),
        (lambda: fn.Adam(l2=-1), "l2 must be"),
        (lambda: fn.SGD(momentum=1.5), "momentum must be"),
    ],
)
def test_bad_hyperparameters_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_optimizer_state_mirrors_the_parameters_and_restarts_when_they_change():
    adam = fn.Adam()
    params = np.zeros(32, np.float32)
    state = adam.state_for(params)
    assert state.shape == (2, 32) and state.dtype == np.float32
    assert adam.state_for(params) is state
    assert adam.state_for(np.zeros(48, np.float32)).shape == (2, 48)
    assert fn.SGD(momentum=0.5).state_for(params).shape == (1, 32)
    assert fn.SGD().state_for(params).shape == (1, 0)  # plain SGD keeps no state


def test_invscaling_sets_the_rate_from_the_samples_seen_at_each_epoch_end():
    import fastnn as fn

    X = np.random.default_rng(0).normal(size=(30, 4))
    y = (X[:, 0] > 0).astype(int)
    opt = fn.SGD(lr=0.2, schedule="invscaling", power_t=0.25)
    model = fn.Sequential(fn.dense_stack([4, 3, 2]), seed=0)
    model.fit(X, y, epochs=3, batch_size=4, optimizer=opt, verbose=0)
    assert opt.samples_seen == 90
    assert opt.current_lr == pytest.approx(0.2 / 91**0.25)
    assert opt.config().lr == opt.current_lr


@pytest.mark.parametrize("make", [fn.SGD, fn.Adam])
def test_adaptive_divides_by_five_on_a_plateau_and_stops_at_1e_6(make):
    opt = make(lr=1e-4, schedule="adaptive", n_iter_no_change=2, tol=10.0)
    plateau = fn.callbacks.Plateau(opt.tol)
    rates, stopped = [], False
    for loss in [1.0] * 30:  # never improves by tol = 10
        plateau.update(loss)
        if plateau.count > opt.n_iter_no_change:
            if opt.trigger_stopping():
                stopped = True
                break
            plateau.count = 0
            rates.append(opt.current_lr)
    assert stopped
    assert rates == pytest.approx([2e-5, 4e-6, 8e-7])  # the last division goes below 1e-6


def test_adaptive_schedule_stops_fit_early():
    X = np.random.default_rng(1).normal(size=(20, 3))
    y = np.zeros(20, int)
    y[::2] = 1
    opt = fn.SGD(lr=1e-5, schedule="adaptive", n_iter_no_change=1, tol=1.0)
    history = fn.Sequential(fn.dense_stack([3, 2]), seed=0).fit(
        X, y, epochs=50, optimizer=opt, verbose=0
    )
    assert len(history.epoch) < 50 and opt.current_lr <= 1e-6


def test_plateau_counts_like_scikit_learn():
    losses = fn.callbacks.Plateau(tol=0.1)
    counts = []
    for value in [1.0, 0.95, 0.5, 0.45, 0.44, 0.2]:
        losses.update(value)
        counts.append(losses.count)
    assert counts == [0, 1, 0, 1, 2, 0]
    scores = fn.callbacks.Plateau(tol=0.1, mode="max")
    assert [scores.update(v) or scores.count for v in [0.5, 0.55, 0.7]] == [True, True, True]
    assert scores.count == 0 and scores.best == -0.7


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_decaying_state_is_flushed_to_zero_below_the_smallest_normal(dtype, name):
    """A velocity or moment that decays into the subnormal range becomes exactly 0 on every
    backend (subnormal arithmetic is slow on most CPUs); NaN stays NaN; normal values are kept."""
    tiny = np.finfo(dtype).tiny
    state = np.array([[tiny * 0.5, tiny * 20, -tiny * 0.9, np.nan, 0.3]] * 2, dtype)
    params = np.ones(5, dtype)
    grad = np.zeros(5, dtype)
    results = call_private("optimizer_update", params, state, 0, grad, OPTIMIZERS[name].config(),
                       0.01, 0.0)  # fmt: skip
    for label, (_, args) in results.items():
        after = args[1][0]
        assert after[0] == 0 and after[2] == 0, label  # decayed below tiny: flushed
        assert after[1] != 0 and after[4] != 0, label  # still normal numbers: kept
        assert np.isnan(after[3]), label


def test_compiled_epochs_flush_subnormals_and_restore_the_mode():
    """Inside a compiled epoch subnormal results are zero (x86's flush-to-zero mode, set and
    restored around the call); outside, Python and NumPy keep IEEE subnormals."""
    from numba import njit

    from fastnn.kernels import fpmode

    if not fpmode.X86:
        pytest.skip("the mode is only set on x86")

    @njit
    def tiny_product(x):
        return x * np.float32(1e-10)

    x = np.float32(1e-30)
    with fpmode.subnormals_flushed():
        inside = tiny_product(x)
    assert inside == 0 and tiny_product(x) > 0  # flushed inside, a subnormal again after
    model = fn.Sequential(fn.dense_stack([3, 2]), seed=0)
    model.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), verbose=0)
    assert tiny_product(x) > 0  # fit left the thread's mode as it was


@pytest.mark.parametrize("dtype", DTYPES)
def test_smallest_normal_is_the_dtypes(dtype):
    from fastnn.kernels.sgd import smallest_normal

    assert smallest_normal(np.zeros(1, dtype)) == float(np.finfo(dtype).tiny)


# -- overflow: every backend gives the textbook formula's inf and NaN -----------------------------


def _near_overflow(dtype):
    """Gradients around sqrt(max) of the dtype, where g**2 overflows (float32 ~1.8e19, float64
    ~1.3e154), both signs, and beyond; a few params huge, inf or NaN; states of both signs."""
    root = np.sqrt(np.finfo(dtype).max)
    big = root * np.array([0.5, 0.99, 1.01, 2.0, 1e3, 1e6])
    special = [np.finfo(dtype).max, np.inf, -np.inf, np.nan, 1.0, 0.0]
    grad = np.r_[big, -big, special, -np.asarray(special[:1]), root * np.array([0.999, 1.5, 3])]
    n = len(grad)
    rng = np.random.default_rng(7)
    params = rng.normal(size=n)
    params[[4, 9, 14]] = [np.inf, -np.inf, np.nan]
    params[[2, 11]] = [root * 10, -np.finfo(dtype).max / 2]
    state = rng.normal(size=(2, n))
    state[1] = np.abs(state[1])  # a second moment is never negative
    return [a.astype(dtype) for a in (params, state, grad)]


def _assert_same_values(actual, expected, dtype, what):
    """The same NaN, +inf and -inf positions; the finite values within the dtype's tolerance."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    for mask in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(mask(actual), mask(expected), err_msg=f"{what}: {mask}")
    finite = np.isfinite(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], err_msg=what, **TOLERANCE[dtype])


def _two_steps(kernel, arrays, *rest):
    """``kernel`` twice (the second step reads the state the first left) on each backend:
    {backend: (return values, arrays after)}."""
    results = {}
    for label, module in (("numba", numba_backend), ("numpy", numpy_backend), ("naive", naive)):
        copies = [a.copy() for a in arrays]
        with np.errstate(over="ignore", invalid="ignore"):
            values = [getattr(module, kernel)(*copies, *rest) for _ in range(2)]
        results[label] = (values, copies)
    return results


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("penalty", [1.0, 0.0])
def test_steps_near_overflow_give_the_same_inf_and_nan_on_every_backend(dtype, name, penalty):
    params, state, grad = _near_overflow(dtype)
    opt = OPTIMIZERS[name].config()
    if name.startswith("adam"):
        results = _two_steps("adam_update", [params, state[0], state[1], grad], opt, 0.003,
                             penalty)  # fmt: skip
    else:
        results = _two_steps("sgd_update", [params, state[0], grad], opt, 0.05, penalty)
    ref_values, ref_arrays = results["numpy"]
    for label in ("numba", "naive"):
        values, arrays = results[label]
        _assert_same_values(values, ref_values, dtype, f"{label}: returned squares")
        for i, (actual, expected) in enumerate(zip(arrays, ref_arrays)):
            _assert_same_values(actual, expected, dtype, f"{label} vs numpy, array {i}")
    assert not np.isfinite(ref_arrays[0]).all()  # the inputs do reach inf/NaN


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_step_where_the_squared_gradient_overflows_is_the_formulas(dtype):
    """scikit-learn's Adam in float64 and float32: g**2 = inf makes v = inf and the step
    m / (sqrt(inf) + eps) = 0, so the parameter stays; g = inf makes m = inf, and inf / inf is
    NaN. A regrouped b2 v + (1 - b2) g**2 would give NaN for the first."""
    root = np.sqrt(np.finfo(dtype).max)
    grad = np.array([1.5 * root, -4 * root, np.inf, 0.5 * root], dtype)
    opt = fn.Adam(lr=0.01).config()
    for module in (numba_backend, numpy_backend, naive):
        params, m, v = np.ones(4, dtype), np.zeros(4, dtype), np.zeros(4, dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            module.adam_update(params, m, v, grad, opt, 0.001, 1.0)
        name = module.__name__
        np.testing.assert_array_equal(v[:3], np.inf, err_msg=name)
        np.testing.assert_array_equal(params[:2], 1.0, err_msg=name)  # a step of -0.0
        assert np.isposinf(m[2]) and np.isnan(params[2]), name
        assert np.isfinite(v[3]) and params[3] < 1, name  # below the threshold: a normal step


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["momentum", "nesterov-l1l2"])
def test_sgd_step_of_an_infinite_gradient_is_the_formulas(dtype, name):
    """v = mu v - lr g: -inf for g = inf, NaN for an inf velocity meeting an opposite inf."""
    grad = np.array([np.inf, -np.inf, np.finfo(dtype).max], dtype)
    opt = OPTIMIZERS[name].config()
    for module in (numba_backend, numpy_backend, naive):
        params, velocity = np.zeros(3, dtype), np.zeros(3, dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            module.sgd_update(params, velocity, grad, opt, 0.05, 1.0)
            assert velocity[0] == -np.inf and velocity[1] == np.inf, module.__name__
            assert np.isfinite(velocity[2]), module.__name__
            module.sgd_update(params, velocity, -grad, opt, 0.05, 1.0)
        assert np.isnan(velocity[:2]).all(), module.__name__
