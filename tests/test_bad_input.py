"""Bad input gets a ValueError/TypeError naming the argument, before any kernel runs."""

import numpy as np
import pytest

import fastnn as fn

BACKENDS = ["numba", "numpy"]


@pytest.fixture(params=BACKENDS)
def model(request):
    return fn.Sequential(
        [fn.Dense(4, 8, activation="relu"), fn.Dense(8, 3)], backend=request.param, dtype="float64"
    )


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 4)), rng.integers(0, 3, 20)


def test_nan_and_inf_in_X(model, data):
    X, y = data
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[3, 2] = bad
        with pytest.raises(ValueError, match=r"X contains NaN or infinity .*\(3, 2\)"):
            model.fit(Xb, y, verbose=0)
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            model.predict(Xb)


def _weights_of(model):
    return [array.copy() for pair in model.get_weights() for array in pair]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch_size", [8, 64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])
def test_a_bad_value_refused_in_batches_leaves_no_trace(backend, batch_size, bad):
    """In batches the numba backend checks X's rows as it copies them, instead of in a pass of
    their own first: a batch with a NaN or an infinity (or a value that float32 cannot hold)
    stops the epoch before any training on it. The fit raises what the check before training
    raises, and the model is as it was: its weights, its Adam moments and step count, its
    shuffles and its epoch count (a model that never saw the bad fit trains on alike)."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(64, 5)), rng.integers(0, 3, 64)
    Xb = X.copy()
    Xb[50, 4] = bad

    def model():
        return fn.Sequential([fn.Dense(5, 8, activation="relu"), fn.Dense(8, 3)], seed=0,
                             backend=backend, dtype="float32")  # fmt: skip

    refused, clean = model(), model()
    for m in (refused, clean):
        m.fit(X, y, epochs=1, batch_size=batch_size, optimizer=fn.Adam(lr=0.01), verbose=0)
    before, adam = _weights_of(refused), refused.optimizer
    message = r"X holds 1 value\(s\) beyond the range of float32" if bad == 1e300 else (
        "X contains NaN or infinity")  # fmt: skip
    with pytest.raises(ValueError, match=rf"^{message} .*\(50, 4\)"):
        refused.fit(Xb, y, epochs=3, batch_size=batch_size, optimizer=fn.SGD(), verbose=0)
    assert refused.epochs_trained == 1
    assert refused.optimizer is adam
    for a, b in zip(_weights_of(refused), before, strict=True):
        np.testing.assert_array_equal(a, b)
    for m in (refused, clean):
        m.fit(X, y, epochs=1, batch_size=batch_size, verbose=0)  # the optimizer of the model
    for a, b in zip(_weights_of(refused), _weights_of(clean), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("row", [300, 364])
def test_a_bad_value_stops_both_threads_of_a_batch(row):
    """Batches of 128 rows into 128 units are shared by two threads (where two CPUs are
    there), each copying half of the rows: a bad value in either half stops both."""
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(512, 200)).astype(np.float32), rng.integers(0, 3, 512)
    X[row, 150] = np.nan
    model = fn.Sequential([fn.Dense(200, 128, activation="relu"), fn.Dense(128, 3)], seed=0)
    before = _weights_of(model)
    with pytest.raises(ValueError, match=rf"X contains NaN or infinity .*\({row}, 150\)"):
        model.fit(X, y, batch_size=128, shuffle=False, verbose=0)
    for a, b in zip(_weights_of(model), before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bad_value_in_a_batch_of_weight_zero_is_refused(backend):
    """A batch whose samples all weigh 0 trains on nothing, but its rows are checked too."""
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(16, 3)), rng.integers(0, 2, 16)
    X[9, 1] = np.nan
    weights = np.ones(16)
    weights[8:12] = 0
    model = fn.Sequential([fn.Dense(3, 2)], backend=backend)
    with pytest.raises(ValueError, match=r"X contains NaN or infinity .*\(9, 1\)"):
        model.fit(X, y, batch_size=4, shuffle=False, sample_weight=weights, verbose=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 0},
        {"validation_split": 0.25},
        {"rollback": False},
        {"callbacks": "csv"},
        {"optimizer": "lbfgs"},
    ],  # fmt: skip
    ids=["no-epochs", "validation-split", "no-rollback", "callbacks", "lbfgs"],
)
def test_a_bad_value_is_refused_before_training_where_the_epochs_cannot_refuse_it(
    backend, kwargs, tmp_path
):
    """X is checked first where no epoch runs, where some rows are held out, where there is
    no copy of the weights to go back to, and where a callback acts on the training's start:
    a CSV log keeps its rows."""
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    X[30, 2] = np.inf
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\n0,0.5\n")
    if kwargs.get("callbacks") == "csv":
        kwargs = {"callbacks": [fn.callbacks.CSVLogger(log)]}
    if kwargs.get("optimizer") == "lbfgs":
        kwargs = {"optimizer": fn.LBFGS(max_iter=5), "batch_size": 1}
    model = fn.Sequential([fn.Dense(3, 2)], backend=backend, seed=0)
    model.optimizer = adam = fn.Adam()
    before = _weights_of(model)
    with pytest.raises(ValueError, match=r"X contains NaN or infinity .*\(30, 2\)"):
        model.fit(X, y, **{"batch_size": 8, "verbose": 0, "optimizer": fn.SGD(), **kwargs})
    assert log.read_text() == "epoch,loss\n0,0.5\n"
    assert model.optimizer is adam
    for a, b in zip(_weights_of(model), before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_finite_values_whose_sum_overflows_are_accepted(dtype):
    # the finiteness check sums the values first: an overflowing sum is no reason to refuse
    big = np.finfo(dtype).max / 2
    X = np.array([[big, big], [big, -big], [0.5, big]], dtype)
    model = fn.Sequential([fn.Dense(2, 2)], dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        model.fit(X * 0, [0, 1, 0], epochs=1, verbose=0)
        assert model.predict(X).shape == (3,)
    Xb = X.copy()
    Xb[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or infinity .*\(2, 0\)"):
        model.predict(Xb)


def test_values_that_overflow_float32(data):
    X, y = data
    model = fn.Sequential([fn.Dense(4, 3)], dtype="float32")
    X = X.copy()
    X[0, 0] = 1e300
    with pytest.raises(ValueError, match=r"X holds 1 value\(s\) beyond the range of float32"):
        model.fit(X, y, verbose=0)


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 1, 3], r"y must hold class labels 0\.\.2; got 3 .*number the 3 classes 0\.\.2"),
        ([1, 2, 3], r"y must hold class labels 0\.\.2; got 3 .*numbered from 1: pass y - 1"),
        ([0, -1, 2], r"y must hold class labels 0\.\.2; got -1"),
        ([0, 1.5, 2], r"y must hold integer class labels 0\.\.2; got the fractional value 1\.5"),
    ],
)
def test_bad_labels(model, data, labels, message):
    X, _ = data
    with pytest.raises(ValueError, match=message):
        model.fit(X[:3], labels, verbose=0)


def test_float_labels_that_are_whole_numbers_are_fine(model, data):
    X, y = data
    model.fit(X, y.astype(float), verbose=0)


def test_length_mismatch(model, data):
    X, y = data
    with pytest.raises(ValueError, match="y has 19 entries but X has 20 samples"):
        model.fit(X, y[:-1], verbose=0)


def test_wrong_feature_count(model, data):
    X, y = data
    with pytest.raises(
        ValueError, match="X has 5 features per sample, but the model's first layer expects 4"
    ):
        model.fit(np.ones((20, 5)), y, verbose=0)
    with pytest.raises(ValueError, match="X has 3 features"):
        model.predict(np.ones((2, 3)))


@pytest.mark.parametrize(
    "X, error, message",
    [
        (np.ones(4), ValueError, r"X must be 2-D.*got 1-D.*reshape\(1, -1\)"),
        (np.ones((2, 2, 2)), ValueError, "X must be 2-D"),
        (np.ones((0, 4)), ValueError, "at least one sample"),
        (np.array([["a", "b", "c", "d"]]), TypeError, "X must hold numbers"),
        ([[1, 2], [3]], TypeError, "X must be an array of numbers"),
        (np.array([[object(), 1, 2, 3]], dtype=object), TypeError, "X must hold numbers only"),
    ],
)
def test_malformed_X(model, X, error, message):
    with pytest.raises(error, match=message):
        model.predict(X)


def test_an_unsupported_sparse_format_is_refused_with_a_hint(model):
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match=r"sparse lil matrix; fastnn takes CSR.*X\.tocsr\(\)"):
        model.predict(sparse.lil_matrix(np.ones((2, 4))))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(loss="hinge"), ValueError, "loss must be one of 'softmax_cross_entropy'"),
        (dict(backend="cuda"), ValueError, r"backend must be one of \['numba', 'numpy'\]"),
        (dict(backend=3), TypeError, "backend must be a string"),
        (dict(dtype="float16"), ValueError, "dtype must be one of 'float32', 'float64'"),
        (dict(seed=-1), ValueError, "seed must be an integer >= 0"),
        (dict(seed=1.5), TypeError, "seed must be an integer"),
    ],
)
def test_bad_model_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        fn.Sequential([fn.Dense(2, 2)], **kwargs)


def test_backend_setter_validates():
    model = fn.Sequential([fn.Dense(2, 2)])
    with pytest.raises(ValueError, match="backend must be one of"):
        model.backend = "torch"
    assert model.backend == "numba"


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [
        ((4, 8), dict(activation="swish"), ValueError, "activation must be one of"),
        ((0, 8), {}, ValueError, "n_in must be an integer >= 1"),
        ((4, 2.5), {}, TypeError, "n_out must be an integer"),
        ((4, 8), dict(bias_init=float("nan")), ValueError, "bias_init must be a finite number"),
    ],
)
def test_bad_dense_arguments(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        fn.Dense(*args, **kwargs)


def test_layers_that_do_not_chain():
    with pytest.raises(
        ValueError, match="layers do not chain: layer 0 has n_out=8 but the next Dense has n_in=7"
    ):
        fn.Sequential([fn.Dense(4, 8), fn.Dense(7, 3)])
    with pytest.raises(TypeError, match="layers must be a list of Dense"):
        fn.Sequential(fn.Dense(4, 8))
    with pytest.raises(TypeError, match="layer must be a fastnn.Dense"):
        fn.Sequential([fn.Dense(4, 8), "relu"])


def test_output_layer_must_fit_the_loss(data):
    X, y = data
    with pytest.raises(ValueError, match=r"must have shape \(20, 2\) to match the output layer"):
        fn.Sequential([fn.Dense(4, 2)], loss="binary_cross_entropy").fit(X, y % 2, verbose=0)
    with pytest.raises(ValueError, match="must be a 0/1 indicator matrix"):
        fn.Sequential([fn.Dense(4, 2)], loss="binary_cross_entropy").fit(X, np.c_[y, y], verbose=0)
    with pytest.raises(ValueError, match="binary_cross_entropy needs output units with activati"):
        fn.Sequential([fn.Dense(4, 1, activation="relu")], loss="binary_cross_entropy").predict(X)
    with pytest.raises(ValueError, match="poisson needs a linear last layer"):
        fn.Sequential([fn.Dense(4, 1, activation="relu")], loss="poisson").predict(X)
    with pytest.raises(ValueError, match="must not be negative for the poisson loss"):
        fn.Sequential([fn.Dense(4, 1)], loss="poisson").fit(X, y - 1.0, verbose=0)
    with pytest.raises(ValueError, match="softmax_cross_entropy needs at least 2 output units"):
        fn.Sequential([fn.Dense(4, 1)]).fit(X, y, verbose=0)
    with pytest.raises(ValueError, match="no layers"):
        fn.Sequential().fit(X, y, verbose=0)
    with pytest.raises(ValueError, match="labels 0/1"):
        fn.Sequential([fn.Dense(4, 1)], loss="binary_cross_entropy").fit(X, y, verbose=0)


def test_softmax_output_narrower_than_the_classes(data):
    X, _ = data
    model = fn.Sequential([fn.Dense(4, 3)])
    with pytest.raises(ValueError, match="the output layer has 3 units, one per class"):
        model.fit(X, np.arange(20) % 5, verbose=0)


def test_regression_target_shape(data):
    X, _ = data
    model = fn.Sequential([fn.Dense(4, 2)], loss="mse")
    with pytest.raises(ValueError, match=r"y must have shape \(20, 2\)"):
        model.fit(X, np.ones(20), verbose=0)
    with pytest.raises(ValueError, match="y contains NaN"):
        fn.Sequential([fn.Dense(4, 1)], loss="mse").fit(X, np.full(20, np.nan), verbose=0)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(lr=0), ValueError, "lr must be a finite number > 0"),
        (dict(lr=-0.1), ValueError, "lr must be a finite number > 0"),
        (dict(lr=float("nan")), ValueError, "lr must be a finite number > 0; got nan"),
        (dict(lr="0.1"), TypeError, "lr must be a real number"),
        (dict(momentum=1.5), ValueError, r"momentum must be a finite number >= 0 and <= 1"),
        (dict(momentum=-0.1), ValueError, "momentum must be"),
        (dict(nesterov=1), TypeError, "nesterov must be True or False"),
        (dict(decay=-1), ValueError, "decay must be a finite number >= 0"),
        (dict(l1=-1), ValueError, "l1 must be"),
        (dict(l2=float("inf")), ValueError, "l2 must be"),
    ],
)
def test_bad_optimizer_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        fn.SGD(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(batch_size=0), ValueError, "batch_size must be an integer >= 1"),
        (dict(epochs=-1), ValueError, "epochs must be an integer >= 0"),
        (dict(epochs=1.5), TypeError, "epochs must be an integer"),
        (dict(optimizer="sgd"), TypeError, "optimizer must be a fastnn optimizer"),
        (dict(shuffle="yes"), TypeError, "shuffle must be True or False"),
        (dict(workers=0), ValueError, "workers must be an integer >= 1"),
        (dict(validation_data=[1, 2, 3, 4]), ValueError, r"validation_data must be a tuple"),
    ],
)
def test_bad_fit_arguments(model, data, kwargs, error, message):
    X, y = data
    with pytest.raises(error, match=message):
        model.fit(X, y, verbose=0, **kwargs)


def test_bad_validation_data(model, data):
    X, y = data
    with pytest.raises(ValueError, match=r"validation_data\[0\] has 5 features"):
        model.fit(X, y, validation_data=(np.ones((3, 5)), [0, 1, 2]), verbose=0)
    with pytest.raises(ValueError, match=r"validation_data\[1\] must hold class labels"):
        model.fit(X, y, validation_data=(X, y + 5), verbose=0)


def test_set_weights_checks_count_and_shapes_before_changing_anything(model):
    before = model.get_weights()
    with pytest.raises(ValueError, match="one \\(W, b\\) pair per layer: expected 2, got 1"):
        model.set_weights(before[:1])
    bad = [before[0], (np.ones((8, 4)), before[1][1])]
    with pytest.raises(
        ValueError,
        match=r"weights\[1\] \(W\) must have shape \(8, 3\); got \(8, "
        r"4\)",
    ):
        model.set_weights(bad)
    with pytest.raises(ValueError, match=r"weights\[0\] \(b\) contains NaN"):
        model.set_weights([(before[0][0], np.full(8, np.nan)), before[1]])
    with pytest.raises(TypeError, match="weights must be a list"):
        model.set_weights(5)
    np.testing.assert_array_equal(model.get_weights()[0][0], before[0][0])


def test_non_finite_training_loss_stops_with_advice_and_restores_weights(model, data):
    X, y = data
    model.fit(X, y, epochs=1, verbose=0)  # a healthy epoch first: the next is epoch 2
    before = model.get_weights()
    with pytest.raises(
        ValueError, match="the training loss became (nan|inf) in epoch 2 .*try a smaller one"
    ):
        model.fit(X * 1e3, y, epochs=3, optimizer=fn.SGD(lr=1e30), verbose=0)
    for (W, b), (W0, b0) in zip(model.get_weights(), before):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)


def test_adding_to_a_built_model_is_refused(model, data):
    model.predict(data[0])
    with pytest.raises(ValueError, match="already built"):
        model.add(fn.Dense(3, 3))
    with pytest.raises(ValueError, match="already belongs to a model"):
        fn.Sequential([model.layers[0]])


# NumPy warns as the numpy backend's float32 squares overflow; the error names the cause.
@pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")
@pytest.mark.parametrize("dtype, target, lr, cause", [
    ("float64", 1e15, 0.01, "learning rate is probably too large"),
    ("float32", 1e20, 1e-45, "the squared targets overflow float32"),
])  # fmt: skip
def test_both_backends_stop_alike_on_huge_targets_and_name_the_cause(dtype, target, lr, cause):
    X = np.random.default_rng(0).normal(size=(50, 3))
    for backend in ("numba", "numpy"):
        model = fn.Sequential(fn.dense_stack([3, 4, 1]), loss="mse", backend=backend,
                              dtype=dtype)  # fmt: skip
        before = model.get_weights()
        with pytest.raises(ValueError, match=cause):
            model.fit(X, np.full(50, target), epochs=5, optimizer=fn.SGD(lr=lr), verbose=0)
        for (W, b), (W0, b0) in zip(model.get_weights(), before):
            np.testing.assert_array_equal(W, W0)
            np.testing.assert_array_equal(b, b0)


def test_without_rollback_a_diverged_model_stays_as_it_diverged():
    X = np.random.default_rng(0).normal(size=(50, 3))
    model = fn.Sequential(fn.dense_stack([3, 4, 1]), loss="mse", dtype="float64")
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"as the divergence left them \(rollback=False\)"):
        model.fit(X, np.full(50, 1e15), epochs=5, optimizer=fn.SGD(lr=0.01), verbose=0,
                  rollback=False)  # fmt: skip
    assert not np.array_equal(model.get_weights()[0][0], before[0][0])
    with pytest.raises(TypeError, match="rollback must be True or False"):
        model.fit(X, np.zeros(50), rollback="no", verbose=0)
