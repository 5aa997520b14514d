"""Numbers beyond what a dtype or the memory holds get one line naming the cause, never an
OverflowError or a MemoryError: a diverging epoch, the invscaling schedule at a large power_t,
and sizes whose arrays would not fit in memory."""

import math
import re
import warnings

import numpy as np
import pytest

import fastnn as fn
import fastnn._validation
import fastnn.inference
from fastnn import cli, datasets
from fastnn.sklearn import FastMLPRegressor

BACKENDS = ["numba", "numpy"]


def _data(n=50):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    return X, rng.normal(size=n), rng.integers(0, 3, n)


# (what, dtype, loss, scale of X, targets (None: normal ones), optimizer, fit's keywords, message)
DIVERGING = [
    ("huge targets", "float64", "mse", 1, 1e200, fn.SGD, {},
     r": the squared targets overflow float64 \(\|y\| up to 1e\+200\): standardise them \(see "
     r"fastnn.scaling.Scaling\)\. The weights"),
    ("huge float32 targets", "float32", "mse", 1, 1e20, lambda: fn.SGD(lr=1e-45), {},
     r"the squared targets overflow float32 .* or use dtype='float64'\."),
    ("targets whose squares sum past float64", "float64", "mse", 1, 1e154,
     lambda: fn.SGD(lr=1e-300), {}, r"overflow the float64 sum of the epoch's loss"),
    ("large targets", "float64", "mse", 1, 1e15, fn.SGD, {},
     r" with lr=0\.01: the learning rate is probably too large, try a smaller one, and "
     r"standardise the targets \(\|y\| up to 1e\+15; see fastnn\.scaling\.Scaling\)\. The"),
    ("an L2 penalty", "float64", "mse", 1, None, lambda: fn.SGD(l2=1e300), {},
     r": the L2 penalty is too large for the learning rate: each update multiplies the weights "
     r"by about -2e\+298 \(1 - 2\*lr\*l2 with lr=0\.01, l2=1e\+300\), so they grow without "
     r"bound: use a smaller l2\. The weights"),
    ("an L2 penalty, classifying", "float64", "softmax_cross_entropy", 1, None,
     lambda: fn.SGD(l2=1e300), {}, r"the L2 penalty is too large for the learning rate"),
    ("an L2 penalty, Hogwild", "float64", "mse", 1, None, lambda: fn.SGD(l2=1e300),
     {"workers": 2}, r"the L2 penalty is too large for the learning rate"),
    ("an L1 penalty", "float64", "mse", 1, None, lambda: fn.SGD(l1=1e300, momentum=0.9), {},
     r"the L1 penalty is too large for the learning rate: each update moves every weight by "
     r"1e\+298 \(lr\*l1 with lr=0\.01, l1=1e\+300\)"),
    ("Adam's L2 gradient", "float32", "mse", 1, None, lambda: fn.Adam(l2=1e300), {},
     r"the L2 penalty's gradient 2\*l2\*W overflows float32 \(l2=1e\+300"),
    ("Adam's L1 gradient", "float32", "mse", 1, None, lambda: fn.Adam(l1=1e300), {},
     r"the L1 penalty's gradient l1 overflows float32 \(l1=1e\+300\)"),
    ("tiny sample weights and L2", "float64", "mse", 1, None, lambda: fn.SGD(l2=1e-4),
     {"sample_weight": np.full(50, 1e-300)},
     r"\(1 - 2\*lr\*l2/w with lr=0\.01, l2=0\.0001 and sample weights w down to 1e-300\)"),
    ("tiny sample weights and L2 in batches", "float64", "mse", 1, None,
     lambda: fn.SGD(l2=1e-4), {"sample_weight": np.full(50, 1e-300), "batch_size": 5},
     r"\(1 - 2\*lr\*l2/W with lr=0\.01, l2=0\.0001 and batch weight sums W from 5e-300\)"),
    ("huge sample weights", "float64", "mse", 1, None, fn.SGD,
     {"sample_weight": np.full(50, 1e307)},
     r": the sample weights sum to 5e\+308, so weighted losses and gradients overflow float64: "
     r"divide them by their mean"),
    ("huge inputs", "float64", "mse", 1e300, None, fn.SGD, {},
     r": the inputs are too large for float64 \(\|X\| up to 2\.37e\+300; their squares "
     r"overflow\): standardise them"),
    ("huge inputs, classifying", "float64", "softmax_cross_entropy", 1e300, None, fn.SGD, {},
     r"the inputs are too large for float64"),
    ("huge float32 inputs", "float32", "mse", 1e30, None, fn.SGD, {},
     r"the inputs are too large for float32 .* or use dtype='float64'\."),
    ("unstandardised inputs", "float64", "mse", 1e3, None, fn.SGD, {},
     r": the inputs are large \(\|X\| up to 2\.37e\+03, so lr\*\|x\|\^2 reaches 7\.22e\+04 with "
     r"lr=0\.01\): standardise them"),
    ("the learning rate, and large inputs", "float64", "mse", 1e3, None,
     lambda: fn.SGD(lr=1e30), {},
     r" with lr=1e\+30: the learning rate is probably too large, try a smaller one, and "
     r"standardise the inputs \(\|X\| up to 2\.37e\+03; see fastnn\.scaling\.Scaling\)\. The"),
    ("the learning rate", "float64", "mse", 1, None, lambda: fn.SGD(lr=1e300), {},
     r" with lr=1e\+300: the learning rate is probably too large, try a smaller one\."),
    ("Adam's learning rate", "float64", "mse", 1, None, lambda: fn.Adam(lr=1e300), {},
     r" with lr=1e\+300: the learning rate is probably too large, try a smaller one\."),
]  # fmt: skip


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("what, dtype, loss, scale, target, optimizer, fit, cause", DIVERGING,
                         ids=[case[0] for case in DIVERGING])  # fmt: skip
def test_a_diverging_epoch_names_its_cause_in_one_line(backend, what, dtype, loss, scale, target,
                                                       optimizer, fit, cause):  # fmt: skip
    X, y, labels = _data()
    if loss == "softmax_cross_entropy":
        y = labels
    elif target is not None:
        y = np.full(50, target)
    n_out = 3 if loss == "softmax_cross_entropy" else 1
    model = fn.Sequential(fn.dense_stack([3, 4, n_out]), loss=loss, backend=backend, dtype=dtype,
                          seed=0)  # fmt: skip
    before = model.get_weights()
    started = r"^the training loss became (nan|inf) in epoch 1 "
    with pytest.raises(ValueError, match=started) as info:
        model.fit(X * scale, y, epochs=3, optimizer=optimizer(), verbose=0, **fit)
    message = str(info.value)
    assert "\n" not in message
    assert re.search(cause, message), message
    assert message.endswith("The weights were restored to the start of that epoch.")
    for (W, b), (W0, b0) in zip(model.get_weights(), before):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)


# -- the invscaling schedule ---------------------------------------------------------------------


def test_invscaling_is_scikit_learns_expression_and_underflows_instead_of_overflowing():
    opt = fn.SGD(lr=0.3, schedule="invscaling", power_t=0.75)
    opt.iteration_ends(99)
    assert opt.current_lr == 0.3 / (99 + 1) ** 0.75  # the very expression scikit-learn uses
    for lr, power_t, seen in [(0.01, 200.0, 50), (1e300, 200.0, 50), (1.0, 1e308, 1)]:
        opt = fn.SGD(lr=lr, schedule="invscaling", power_t=power_t)
        opt.iteration_ends(seen)
        wanted = math.log10(lr) - power_t * math.log10(seen + 1)  # log10 of the rate
        if wanted < -324:  # below float64's smallest subnormal number
            assert opt.current_lr == 0.0
        else:
            assert math.isclose(math.log10(opt.current_lr), wanted, rel_tol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_invscaling_at_a_large_power_t_stops_moving_the_weights(backend):
    X, _, y = _data()
    model = fn.Sequential(fn.dense_stack([3, 4, 3]), backend=backend, seed=0)
    opt = fn.SGD(lr=0.05, schedule="invscaling", power_t=200)
    model.fit(X, y, epochs=1, optimizer=opt, verbose=0)
    assert opt.current_lr == 0.0
    after_one = model.get_weights()
    history = model.fit(X, y, epochs=2, optimizer=opt, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for (W, b), (W1, b1) in zip(model.get_weights(), after_one):
        np.testing.assert_array_equal(W, W1)
        np.testing.assert_array_equal(b, b1)


def test_invscaling_at_a_large_power_t_in_the_estimator_and_the_command_line(capsys):
    X, y, _ = _data(60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the estimator does not converge
        model = FastMLPRegressor(solver="sgd", learning_rate="invscaling", power_t=200,
                                 max_iter=3, random_state=0).fit(X, y)  # fmt: skip
    assert model.n_iter_ == 3 and np.isfinite(model.loss_)
    args = ["train", "--dataset", "digits", "--hidden", "16", "--epochs", "2", "--quiet",
            "--optimizer", "sgd", "--schedule", "invscaling", "--power-t", "200"]  # fmt: skip
    assert cli.main(args) == 0
    assert "schedule invscaling (power_t 200)" in capsys.readouterr().out


# -- sizes that would not fit in memory ----------------------------------------------------------


def _per_arm_spiral(n_samples, n_classes, noise, seed):
    """make_spiral as its docstring reads: each arm's np.linspace, and the noise drawn arm after
    arm."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(n_classes):
        count = n_samples // n_classes + (k < n_samples % n_classes)
        r = np.linspace(0.0, 1.0, count)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), count) + rng.normal(0.0, noise, count)
        X.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        y.append(np.full(count, k))
    return np.concatenate(X).astype(np.float32), np.concatenate(y)


@pytest.mark.parametrize("n_samples, n_classes, noise, seed", [
    (300, 3, 0.2, 0), (3, 3, 0.2, 0), (4, 3, 0.0, 1), (5, 2, 1.0, 7), (1000, 7, 0.3, 3),
    (10, 10, 0.1, 2), (11, 10, 0.1, 2), (4097, 13, 0.5, 9),
])  # fmt: skip
def test_make_spiral_draws_each_arm_as_its_docstring_reads(n_samples, n_classes, noise, seed):
    X, y = datasets.make_spiral(n_samples, n_classes, noise, seed)
    X_ref, y_ref = _per_arm_spiral(n_samples, n_classes, noise, seed)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert X.dtype == np.float32 and y.dtype == np.int64


def test_make_spiral_refuses_more_points_than_memory_holds():
    with pytest.raises(ValueError, match=r"^make_spiral with n_samples=10000000000 would need "
                       r"\d+\.\d GiB, more than the"):  # fmt: skip
        datasets.make_spiral(10**10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_are_bounded_by_the_cpus_and_the_samples(backend):
    X, _, y = _data(20)
    model = fn.Sequential(fn.dense_stack([3, 4, 3]), backend=backend, seed=0)
    with pytest.raises(ValueError, match=r"^workers must be at most (\d+), 4 per CPU this "
                       r"process may use .*; got 1099511627776$") as info:  # fmt: skip
        model.fit(X, y, workers=2**40, verbose=0)
    most = int(re.search(r"at most (\d+)", str(info.value)).group(1))
    with pytest.raises(ValueError, match=f"got {most + 1}$"):
        model.fit(X, y, workers=most + 1, verbose=0)
    few = X[:3], y[:3]  # fewer samples than workers: a thread per sample
    model.fit(*few, epochs=2, optimizer=fn.SGD(), workers=most, verbose=0)
    assert model.optimizer.iterations == 6


def test_hogwild_buffers_are_checked_against_memory(monkeypatch):
    X, _, y = _data(20)
    model = fn.Sequential(fn.dense_stack([3, 4, 3]), backend="numpy", seed=0)
    model.get_weights()  # built while the memory is plentiful
    monkeypatch.setattr(fastnn._validation, "memory_limit", lambda: 64)
    with pytest.raises(ValueError, match=r"^training with workers=2 would need"):
        model.fit(X, y, workers=2, optimizer=fn.SGD(momentum=0.9), verbose=0)


def test_bench_refuses_a_network_the_implementations_cannot_hold():
    from fastnn import bench

    with pytest.raises(ValueError, match=r"^timing a network of [\d,]+ parameters "
                       r"\(hidden=\[1000000, 1000000\]\) would need"):  # fmt: skip
        bench.run(hidden=[10**6, 10**6])  # refused before MNIST is loaded


def test_predict_takes_fewer_rows_a_pass_when_a_layer_is_wide(monkeypatch):
    X = np.random.default_rng(0).normal(size=(100, 3))
    model = fn.Sequential(fn.dense_stack([3, 64, 2]), backend="numpy", dtype="float64", seed=0)
    expected = model.predict_proba(X)
    passes = []
    forward = model._ops.forward
    monkeypatch.setattr(model._ops, "forward", lambda *a: passes.append(1) or forward(*a))
    monkeypatch.setattr(fastnn.inference, "PREDICT_BYTES", 2 * 66 * 8 * 7)  # 7 rows of 64 + 2
    # BLAS may round a row differently in a smaller block
    np.testing.assert_allclose(model.predict_proba(X), expected, rtol=1e-12, atol=1e-15)
    assert len(passes) == 15  # 100 rows in passes of 7
