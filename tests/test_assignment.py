"""Assigning a model's parameters: every public attribute that shows the parameter buffer copies
into it (or refuses), so training, inference and files always see the same numbers."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

import fastnn as fn
from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor

BACKENDS = ["numba", "numpy"]


def blobs(n=90, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (3, 4))
    y = rng.integers(0, 3, n)
    return centers[y] + rng.normal(size=(n, 4)), y


def classifier(backend, dtype="float64", seed=0):
    return fn.Sequential(
        [fn.Dense(4, 6, activation="relu"), fn.Dense(6, 3)],
        backend=backend,
        dtype=dtype,
        seed=seed,
    )


def other_weights(seed=1):
    """Float64 weights unlike any the models here draw or learn."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(4, 6)), rng.normal(size=6)), (rng.normal(size=(6, 3)),
                                                            rng.normal(size=3))]  # fmt: skip


def forward(X, weights):
    """The textbook forward pass of :func:`classifier` in float64: softmax probabilities."""
    (W0, b0), (W1, b1) = weights
    z = np.maximum(X @ W0 + b0, 0) @ W1 + b1
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def assert_one_line(excinfo, *words):
    message = str(excinfo.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


def assert_weights_equal(a, b):
    for (Wa, ba), (Wb, bb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


# -- Dense.W and Dense.b -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_assigned_weights_are_what_every_method_sees(backend, dtype, tmp_path):
    X, y = blobs()
    model = classifier(backend, dtype)
    model.fit(X, y, epochs=1, verbose=0)
    weights = other_weights()
    for layer, (W, b) in zip(model.layers, weights):
        layer.W = W
        layer.b = b
    cast = [(W.astype(dtype), b.astype(dtype)) for W, b in weights]
    for layer, (W, b) in zip(model.layers, cast):
        assert layer.W.dtype == dtype and layer.b.dtype == dtype
        assert np.shares_memory(layer.W, model._params)
        np.testing.assert_array_equal(layer.W, W)
        np.testing.assert_array_equal(layer.b, b)
    assert_weights_equal(model.get_weights(), cast)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba, forward(X, cast), rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(axis=1))
    assert model.evaluate(X, y)["accuracy"] == pytest.approx(np.mean(proba.argmax(axis=1) == y))

    loaded = fn.load(model.save(tmp_path / "m.npz"))
    assert_weights_equal(loaded.get_weights(), cast)
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)

    # training starts from the assigned weights, and what it learns is what the model shows
    twin = classifier(backend, dtype)
    twin.set_weights(weights)
    history = model.fit(X, y, epochs=2, shuffle=False, validation_data=(X, y), verbose=0)
    twin.fit(X, y, epochs=2, shuffle=False, verbose=0)
    assert_weights_equal(model.get_weights(), twin.get_weights())
    assert model.evaluate(X, y)["accuracy"] == history.history["val_accuracy"][-1]
    assert_weights_equal(model.get_weights(), [(la.W, la.b) for la in model.layers])


@pytest.mark.parametrize("backend", BACKENDS)
def test_views_still_write_through_and_in_place_operators_work(backend):
    X, _ = blobs()
    model = classifier(backend)
    before = model.get_weights()
    model.layers[0].W[...] = 0.5
    model.layers[1].b += 1
    model.layers[1].W = model.layers[1].W * 2
    (W0, b0), (W1, b1) = model.get_weights()
    np.testing.assert_array_equal(W0, np.full((4, 6), 0.5))
    np.testing.assert_array_equal(b1, before[1][1] + 1)
    np.testing.assert_array_equal(W1, before[1][0] * 2)
    np.testing.assert_allclose(model.predict_proba(X), forward(X, [(W0, b0), (W1, b1)]),
                               rtol=1e-12)  # fmt: skip


@pytest.mark.parametrize("name, value, words", [
    ("W", np.ones((6, 4)), ["Dense.W", "(4, 6)", "(6, 4)"]),
    ("W", np.ones((4, 6, 1)), ["Dense.W", "(4, 6)", "(4, 6, 1)"]),
    ("b", np.ones(3), ["Dense.b", "(6,)", "(3,)"]),
    ("b", 0.0, ["Dense.b", "(6,)", "()"]),
    ("W", np.full((4, 6), np.nan), ["Dense.W", "NaN or infinity"]),
    ("b", np.r_[np.ones(5), np.inf], ["Dense.b", "NaN or infinity", "(5,)"]),
    ("W", np.full((4, 6), 1e300), ["Dense.W", "1e+300", "float32"]),
    ("W", np.full((4, 6), "a"), ["Dense.W", "numbers", "<U1"]),
    ("b", [1, 2, "x", 4, 5, 6], ["Dense.b", "numbers"]),
    ("W", None, ["Dense.W", "(4, 6)", "None"]),
    ("b", np.ones(6, complex), ["Dense.b", "numbers", "complex128"]),
])  # fmt: skip
def test_bad_assignments_are_refused_in_one_line_and_change_nothing(name, value, words):
    model = classifier("numpy", dtype="float32")
    before = model.get_weights()
    with pytest.raises((ValueError, TypeError)) as excinfo:
        setattr(model.layers[0], name, value)
    assert_one_line(excinfo, *words)
    assert_weights_equal(model.get_weights(), before)


def test_weights_cannot_be_assigned_before_the_model_is_built():
    layer = fn.Dense(4, 6)
    with pytest.raises(ValueError) as excinfo:
        layer.W = np.zeros((4, 6))
    assert_one_line(excinfo, "Dense.W", "before the layer belongs to a built model", "set_weights")
    model = fn.Sequential([layer, fn.Dense(6, 3)], backend="numpy")
    assert layer.W is None and layer.b is None
    with pytest.raises(ValueError, match="Dense.b cannot be assigned before"):
        model.layers[1].b = np.zeros(3)
    model.set_weights(other_weights())  # the way to give initial weights: it builds the model
    model.layers[1].b = np.zeros(3)
    np.testing.assert_array_equal(model.get_weights()[1][1], np.zeros(3))


def test_a_layers_shape_and_activation_are_fixed():
    layer = fn.Dense(4, 6, activation="relu")
    for name, value in (("n_in", 5), ("n_out", 2), ("activation", "tanh")):
        with pytest.raises(AttributeError) as excinfo:
            setattr(layer, name, value)
        assert_one_line(excinfo, f"Dense.{name}", repr(value))
    assert (layer.n_in, layer.n_out, layer.activation) == (4, 6, "relu")
    layer.bias_init = 0.5  # only the initial value: it lays nothing out
    assert layer.to_config()["bias_init"] == 0.5


# -- Sequential ----------------------------------------------------------------------------------


def test_the_layers_cannot_be_replaced_or_extended_behind_add():
    model = classifier("numpy")
    assert isinstance(model.layers, tuple)
    with pytest.raises(AttributeError) as excinfo:
        model.layers = [fn.Dense(4, 3)]
    assert_one_line(excinfo, "Sequential.layers", "add()")
    with pytest.raises(AttributeError):
        model.layers.append(fn.Dense(3, 3))
    with pytest.raises(TypeError):
        model.layers[1] = fn.Dense(6, 3)
    assert [repr(layer) for layer in model.layers] == [
        "Dense(4, 6, activation='relu')",
        "Dense(6, 3, activation=None)",
    ]
    model.get_weights()
    with pytest.raises(ValueError, match="already built"):
        model.add(fn.Dense(3, 3))


def test_a_layer_joins_one_model_only():
    shared = fn.Dense(4, 3)
    fn.Sequential([shared], backend="numpy")
    with pytest.raises(ValueError) as excinfo:
        fn.Sequential([shared], backend="numpy")  # both unbuilt: the second would take it over
    assert_one_line(excinfo, "already belongs to a model", "copy.copy")
    fresh = copy.copy(shared)
    assert fresh.W is None and fresh.to_config() == shared.to_config()
    fn.Sequential([fresh], backend="numpy").get_weights()


def test_a_model_that_fails_to_build_its_layer_list_releases_its_layers():
    first = fn.Dense(4, 6)
    with pytest.raises(ValueError, match="do not chain"):
        fn.Sequential([first, fn.Dense(5, 3)])
    model = fn.Sequential([first, fn.Dense(6, 3)], backend="numpy")
    assert model.layers[0] is first


def test_a_copied_layer_of_a_built_model_is_a_new_layer():
    model = classifier("numpy")
    model.get_weights()
    layer = model.layers[0]
    for twin in (copy.copy(layer), copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert twin.W is None and twin.to_config() == layer.to_config()
        fn.Sequential([twin, fn.Dense(6, 2)], backend="numpy").get_weights()
    assert np.shares_memory(layer.W, model._params)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unpickled_model_assigns_into_its_own_buffer(backend):
    X, _ = blobs()
    model = classifier(backend)
    model.get_weights()
    model.layers[0].W = np.ones((4, 6))
    clone = pickle.loads(pickle.dumps(model))
    deep = copy.deepcopy(model)
    assert_weights_equal(clone.get_weights(), model.get_weights())
    weights = other_weights()
    for twin in (clone, deep):
        for layer, (W, b) in zip(twin.layers, weights):
            layer.W, layer.b = W, b
        assert not np.shares_memory(twin.layers[0].W, model._params)
        np.testing.assert_allclose(twin.predict_proba(X), forward(X, weights), rtol=1e-12)
    np.testing.assert_array_equal(model.layers[0].W, np.ones((4, 6)))
    with pytest.raises(ValueError, match="already belongs to a model"):
        fn.Sequential([clone.layers[0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_changing_the_loss_of_a_built_model_changes_what_it_computes(backend, tmp_path):
    X, y = blobs()
    y = (y > 0).astype(int)
    layers = [fn.Dense(4, 5, activation="tanh"), fn.Dense(5, 1, activation="sigmoid")]
    model = fn.Sequential(layers, loss="mse", backend=backend, dtype="float64")
    model.fit(X, y, epochs=1, verbose=0)
    model.loss = "binary_cross_entropy"
    reference = fn.Sequential(
        [fn.Dense(4, 5, activation="tanh"), fn.Dense(5, 1, activation="sigmoid")],
        loss="binary_cross_entropy", backend=backend, dtype="float64",
    )  # fmt: skip
    reference.set_weights(model.get_weights())
    for twin in (reference, fn.load(model.save(tmp_path / "m.npz"))):
        np.testing.assert_allclose(model.predict_proba(X), twin.predict_proba(X), rtol=1e-12)
        assert model.evaluate(X, y) == pytest.approx(twin.evaluate(X, y), rel=1e-12)
    with pytest.raises(ValueError, match="softmax_cross_entropy needs at least 2 output units"):
        model.loss = "softmax_cross_entropy"
    with pytest.raises(ValueError, match="loss must be one of"):
        model.loss = "hinge"
    assert model.loss == "binary_cross_entropy"


def test_the_seed_can_change_until_the_weights_are_drawn():
    model = classifier("numpy", seed=0)
    model.seed = 3
    assert_weights_equal(model.get_weights(), classifier("numpy", seed=3).get_weights())
    with pytest.raises(ValueError) as excinfo:
        model.seed = 4
    assert_one_line(excinfo, "seed", "seed=3", "got 4")
    assert model.seed == 3


# -- the scikit-learn estimators -----------------------------------------------------------------


@pytest.fixture
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def fitted_pair(kind, X, y, backend="numpy"):
    fast_cls, sk_cls = (
        (FastMLPClassifier, MLPClassifier) if kind == "classifier" else (FastMLPRegressor,
                                                                          MLPRegressor)
    )  # fmt: skip
    args = dict(hidden_layer_sizes=(5, 4), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = fast_cls(backend=backend, dtype="float64", **args).fit(X, y)
        return fast, sk_cls(**args).fit(X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_assigning_coefs_gives_sklearns_predictions_from_the_same_weights(backend, kind, iris):
    X, y = iris
    fast, sk = fitted_pair(kind, X, y, backend)
    rng = np.random.default_rng(7)
    coefs = [rng.normal(size=W.shape) for W in sk.coefs_]
    intercepts = [rng.normal(size=b.shape) for b in sk.intercepts_]
    for est in (fast, sk):
        est.coefs_ = [W.copy() for W in coefs]
        est.intercepts_ = tuple(b.copy() for b in intercepts)
    for mine, theirs in zip(fast.coefs_ + fast.intercepts_, coefs + intercepts, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    if kind == "classifier":
        np.testing.assert_allclose(fast.predict_proba(X), sk.predict_proba(X), rtol=1e-10)
        np.testing.assert_array_equal(fast.predict(X), sk.predict(X))
    else:
        np.testing.assert_allclose(fast.predict(X), sk.predict(X), rtol=1e-10, atol=1e-12)
    assert_weights_equal(fast.model_.get_weights(), list(zip(coefs, intercepts)))


def test_coefs_may_be_assigned_from_views_of_the_model_itself(iris):
    X, y = iris
    fast, _ = fitted_pair("classifier", X, y)
    (W0, _), (W1, _), (W2, _) = fast.model_.get_weights()
    first, second, last = fast.coefs_
    fast.coefs_ = [second.reshape(4, 5), first.reshape(5, 4), last]  # each read before any write
    for mine, expected in zip(fast.coefs_, [W1.reshape(4, 5), W0.reshape(5, 4), W2]):
        np.testing.assert_array_equal(mine, expected)


def test_coefs_items_write_through_but_replacing_an_item_reaches_nothing(iris):
    X, y = iris
    fast, _ = fitted_pair("classifier", X, y)
    before = fast.model_.get_weights()
    fast.coefs_[0][...] = 0.25
    np.testing.assert_array_equal(fast.model_.get_weights()[0][0], np.full((4, 5), 0.25))
    listed = fast.coefs_
    listed[1] = np.zeros((5, 4))  # a new list at every access: the model is not in it
    np.testing.assert_array_equal(fast.model_.get_weights()[1][0], before[1][0])


@pytest.mark.parametrize("name, make, words", [
    ("coefs_", lambda good: good[0], ["coefs_", "list of arrays", "got ndarray"]),
    ("coefs_", lambda good: iter(good), ["coefs_", "list of arrays", "got list_iterator"]),
    ("coefs_", lambda good: good[:2], ["coefs_", "expected 3, got 2"]),
    ("intercepts_", lambda good: [*good, good[-1]], ["intercepts_", "expected 3, got 4"]),
    ("coefs_", lambda good: [good[0], good[1].T, good[2]], ["coefs_[1]", "(5, 4)", "(4, 5)"]),
    ("intercepts_", lambda good: [*good[:2], good[2] * np.nan], ["intercepts_[2]", "NaN"]),
    ("coefs_", lambda good: [*good[:2], np.full(good[2].shape, "w")], ["coefs_[2]", "numbers"]),
    ("intercepts_", lambda good: [*good[:2], None], ["intercepts_[2]", "(3,)", "None"]),
])  # fmt: skip
def test_bad_coefs_are_refused_in_one_line_and_change_nothing(name, make, words, iris):
    X, y = iris
    fast, _ = fitted_pair("classifier", X, y)
    before = fast.model_.get_weights()
    good = [np.ones_like(a) for a in getattr(fast, name)]
    with pytest.raises((ValueError, TypeError)) as excinfo:
        setattr(fast, name, make(good))
    assert_one_line(excinfo, *words)
    assert_weights_equal(fast.model_.get_weights(), before)


def test_coefs_cannot_be_assigned_before_fit():
    with pytest.raises(NotFittedError) as excinfo:
        FastMLPClassifier().coefs_ = [np.zeros((4, 3))]
    assert_one_line(excinfo, "coefs_", "fit")
    with pytest.raises(AttributeError):
        FastMLPRegressor().intercepts_  # noqa: B018
