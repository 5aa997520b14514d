"""Whole epochs: numba vs numpy vs the naive oracle, gradients vs finite differences,
determinism, and switching backends on a live model."""

import numpy as np
import pytest

import fastnn as fn
import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend
from fastnn._codes import LOSSES

import naive

LOSS_NAMES = list(LOSSES)
PLAIN = dict(momentum=0.0, nesterov=False, decay=0.0, l1=0.0, l2=0.0)
EVERYTHING = dict(momentum=0.9, nesterov=True, decay=0.01, l1=1e-3, l2=1e-2)
HEAVY_BALL = dict(momentum=0.5, nesterov=False, decay=0.0, l1=0.0, l2=0.0)
OPTIONS = {"plain": PLAIN, "everything": EVERYTHING, "momentum": HEAVY_BALL}
EPOCH_RTOL = 1e-9  # DESIGN.md: whole epochs on small data, float64 parameters


def make_problem(loss, seed=0, n=40, n_in=12, zeros=0.5):
    """Inputs with a fraction ``zeros`` of zeros: the zero-skipping paths are exercised (batches
    below a density of 0.3 take the sparse first layer, the others BLAS)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    X[rng.random(X.shape) < zeros] = 0
    if loss == "softmax_cross_entropy":
        return X, rng.integers(0, 4, n), 4
    if loss == "binary_cross_entropy":
        return X, rng.integers(0, 2, n), 1
    return X, rng.normal(size=(n, 2)), 2


def make_model(loss, n_in, n_out, backend, dtype="float64", seed=0):
    last = "sigmoid" if loss == "binary_cross_entropy" else None
    return fn.Sequential(
        [
            fn.Dense(n_in, 9, activation="relu"),
            fn.Dense(9, 6, activation="tanh"),
            fn.Dense(6, 5, activation="sigmoid"),
            fn.Dense(5, n_out, activation=last),
        ],
        loss=loss,
        backend=backend,
        dtype=dtype,
        seed=seed,
    )


def assert_weights_close(a, b, rtol, atol=1e-12):
    for (Wa, ba), (Wb, bb) in zip(a, b, strict=True):
        np.testing.assert_allclose(Wa, Wb, rtol=rtol, atol=atol)
        np.testing.assert_allclose(ba, bb, rtol=rtol, atol=atol)


def run_epoch(module, model, X, labels, targets, order, batch_size, opts, lr=0.05, workers=None):
    """One call of ``module.train_epoch`` (or of ``train_epoch_hogwild`` when ``workers`` is
    given) on copies of the model's parameters, starting at t = 3."""
    params = model._params.copy()
    velocity = np.zeros_like(params)
    stats = np.zeros(2)
    # fmt: off
    args = (params, velocity, model._layout, X, labels, targets, order, batch_size,
            LOSSES[model.loss], lr, opts["momentum"], opts["nesterov"], opts["decay"], opts["l1"],
            opts["l2"], 3, stats)
    # fmt: on
    if workers is None:
        t = module.train_epoch(*args)
    else:
        t = module.train_epoch_hogwild(*args, workers)
    return params, velocity, stats, t


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("batch_size", [1, 7])
@pytest.mark.parametrize("opts", list(OPTIONS), ids=str)
@pytest.mark.parametrize("zeros", [0.5, 0.85])
def test_epoch_kernels_match_the_naive_oracle(loss, batch_size, opts, zeros):
    X, y, n_out = make_problem(loss, zeros=zeros)
    model = make_model(loss, X.shape[1], n_out, "numpy")
    X, labels, targets = model._check_xy(X, y)
    order = np.random.default_rng(5).permutation(len(X))
    results = {
        module.__name__: run_epoch(
            module, model, X, labels, targets, order, batch_size, OPTIONS[opts]
        )
        for module in (numba_backend, numpy_backend, naive)
    }
    ref = results["naive"]
    assert not np.allclose(ref[0], model._params)  # the epoch moved the parameters
    for name, (params, velocity, stats, t) in results.items():
        np.testing.assert_allclose(params, ref[0], rtol=EPOCH_RTOL, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(velocity, ref[1], rtol=EPOCH_RTOL, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(stats, ref[2], rtol=1e-9, err_msg=name)
        assert t == 3 + -(-len(X) // batch_size)


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("batch_size", [1, 7])
@pytest.mark.parametrize("opts", list(OPTIONS), ids=str)
@pytest.mark.parametrize("zeros", [0.0, 0.85])
def test_backends_agree_over_several_epochs(loss, batch_size, opts, zeros):
    X, y, n_out = make_problem(loss, seed=1, zeros=zeros)
    trained = {}
    for backend in ("numba", "numpy"):
        model = make_model(loss, X.shape[1], n_out, backend)
        history = model.fit(
            X,
            y,
            epochs=3,
            batch_size=batch_size,
            optimizer=fn.SGD(lr=0.05, **OPTIONS[opts]),
            verbose=0,
        )
        trained[backend] = (model.get_weights(), history.history["loss"])
    assert_weights_close(trained["numba"][0], trained["numpy"][0], rtol=EPOCH_RTOL)
    np.testing.assert_allclose(trained["numba"][1], trained["numpy"][1], rtol=1e-9)


@pytest.mark.parametrize("batch_size", [1, 16])
def test_backends_agree_in_float32(batch_size):
    X, y, n_out = make_problem("softmax_cross_entropy", seed=2)
    trained = []
    for backend in ("numba", "numpy"):
        model = make_model("softmax_cross_entropy", X.shape[1], n_out, backend, dtype="float32")
        model.fit(X, y, epochs=1, batch_size=batch_size, optimizer=fn.SGD(lr=0.05), verbose=0)
        trained.append(model.get_weights())
    assert trained[0][0][0].dtype == np.float32
    assert_weights_close(*trained, rtol=1e-4, atol=1e-5)


def _mean_loss(model, params, X, labels, targets, l1, l2):
    """The regularised mean loss at ``params``, by the numpy backend's forward pass."""
    a = X
    for layer in range(len(model.layers)):
        W, b = numpy_backend._layer(params, model._layout, layer)
        z = np.empty((len(X), W.shape[1]))
        nxt = np.empty_like(z)
        numpy_backend.dense_forward(a, W, b, model._layout[layer, 4], z, nxt)
        a = nxt
    loss = numpy_backend._loss_and_grad(LOSSES[model.loss], a, labels, targets, np.empty_like(a))
    for layer in range(len(model.layers)):
        W, _ = numpy_backend._layer(params, model._layout, layer)
        loss += l1 * np.abs(W).sum() + l2 * (W**2).sum()
    return loss


@pytest.mark.parametrize("backend", [numba_backend, numpy_backend], ids=["numba", "numpy"])
@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("m", [1, 6])
@pytest.mark.parametrize("penalty", [(0.0, 0.0), (1e-3, 1e-2)], ids=["none", "l1l2"])
def test_gradient_matches_finite_differences(backend, loss, m, penalty):
    """One step with lr=1 and no momentum moves the parameters by exactly -gradient."""
    X, y, n_out = make_problem(loss, seed=3, n=m)
    model = make_model(loss, X.shape[1], n_out, "numpy")
    X, labels, targets = model._check_xy(X, y)
    l1, l2 = penalty
    opts = dict(PLAIN, l1=l1, l2=l2)
    after, *_ = run_epoch(backend, model, X, labels, targets, np.arange(m), m, opts, lr=1.0)
    analytic = model._params - after
    numeric = np.zeros_like(analytic)
    eps = 1e-5
    for i in range(len(numeric)):
        up, down = model._params.copy(), model._params.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (
            _mean_loss(model, up, X, labels, targets, l1, l2)
            - _mean_loss(model, down, X, labels, targets, l1, l2)
        ) / (2 * eps)
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_same_seed_gives_bit_identical_weights(backend):
    X, y, n_out = make_problem("softmax_cross_entropy", seed=4)
    runs = []
    for _ in range(2):
        model = make_model("softmax_cross_entropy", X.shape[1], n_out, backend, dtype="float32")
        model.fit(X, y, epochs=2, optimizer=fn.SGD(lr=0.05, momentum=0.5), verbose=0)
        runs.append(model.get_weights())
    for (Wa, ba), (Wb, bb) in zip(*runs):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


def test_initial_weights_are_identical_on_both_backends_and_differ_by_seed():
    inits = [
        make_model("mse", 12, 2, backend, seed=seed).get_weights()
        for backend, seed in (("numba", 3), ("numpy", 3), ("numpy", 4))
    ]
    for (Wa, ba), (Wb, bb) in zip(inits[0], inits[1]):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)
    assert not np.array_equal(inits[0][0][0], inits[2][0][0])


@pytest.mark.parametrize("batch_size", [1, 8])
def test_switching_backend_between_epochs_continues_the_trajectory(batch_size):
    X, y, n_out = make_problem("softmax_cross_entropy", seed=5)
    straight = make_model("softmax_cross_entropy", X.shape[1], n_out, "numba")
    straight.fit(
        X,
        y,
        epochs=4,
        batch_size=batch_size,
        verbose=0,
        optimizer=fn.SGD(lr=0.05, momentum=0.9, decay=0.01),
    )
    switched = make_model("softmax_cross_entropy", X.shape[1], n_out, "numba")
    optimizer = fn.SGD(lr=0.05, momentum=0.9, decay=0.01)
    for backend in ("numba", "numpy", "numba", "numpy"):
        switched.backend = backend
        switched.fit(X, y, epochs=1, batch_size=batch_size, optimizer=optimizer, verbose=0)
    assert optimizer.iterations == 4 * -(-len(X) // batch_size)
    assert_weights_close(straight.get_weights(), switched.get_weights(), rtol=EPOCH_RTOL)


def test_progress_bar_does_not_change_the_numbers(capsys):
    X, y, n_out = make_problem("softmax_cross_entropy", seed=6, n=90)
    weights = []
    for verbose in (0, 1, 2):
        model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numba")
        model.fit(X, y, epochs=2, batch_size=4, verbose=verbose)
        weights.append(model.get_weights())
    assert "epoch 2/2" in capsys.readouterr().out
    for other in weights[1:]:
        for (Wa, ba), (Wb, bb) in zip(weights[0], other):
            np.testing.assert_array_equal(Wa, Wb)
            np.testing.assert_array_equal(ba, bb)


def test_shuffle_false_visits_samples_in_order():
    X, y, n_out = make_problem("mse", seed=7)
    model = make_model("mse", X.shape[1], n_out, "numba")
    Xc, labels, targets = model._check_xy(X, y)
    expected, *_ = run_epoch(naive, model, Xc, labels, targets, np.arange(len(X)), 1, PLAIN)
    model.fit(X, y, epochs=1, shuffle=False, optimizer=fn.SGD(lr=0.05), verbose=0)
    np.testing.assert_allclose(model._params, expected, rtol=EPOCH_RTOL, atol=1e-12)


def test_hogwild_with_one_worker_is_the_serial_epoch():
    X, y, n_out = make_problem("softmax_cross_entropy", seed=8, zeros=0.85)
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numpy")
    X, labels, targets = model._check_xy(X, y)
    order = np.random.default_rng(2).permutation(len(X))
    serial = run_epoch(numba_backend, model, X, labels, targets, order, 1, EVERYTHING)
    for module in (numba_backend, numpy_backend):
        params, _, stats, t = run_epoch(module, model, X, labels, targets, order, 1, EVERYTHING,
                                        workers=1)  # fmt: skip
        np.testing.assert_allclose(params, serial[0], rtol=EPOCH_RTOL, atol=1e-12)
        np.testing.assert_allclose(stats, serial[2], rtol=1e-9)
        assert t == serial[3]


def test_hogwild_workers_train_as_well_as_one():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (3, 10))
    y = rng.integers(0, 3, 3000)
    X = centers[y] + rng.normal(size=(3000, 10))
    scores = {}
    for workers in (1, 2):
        model = fn.Sequential([fn.Dense(10, 16, activation="relu"), fn.Dense(16, 3)], seed=0)
        model.fit(X, y, epochs=2, optimizer=fn.SGD(lr=0.01, decay=1e-4), workers=workers, verbose=0)
        assert model.optimizer.iterations == 2 * len(X)
        scores[workers] = model.evaluate(X, y)["accuracy"]
    assert scores[1] > 0.95 and scores[2] > scores[1] - 0.03


def test_hogwild_needs_per_sample_sgd():
    X, y, n_out = make_problem("softmax_cross_entropy")
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numba")
    with pytest.raises(ValueError, match="workers > 1 runs per-sample SGD only: batch_size must"):
        model.fit(X, y, batch_size=4, workers=2, verbose=0)
