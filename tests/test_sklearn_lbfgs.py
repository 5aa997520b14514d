"""solver="lbfgs" in the scikit-learn estimators: scikit-learn's own objective (its log-loss
clips the probabilities to [eps, 1 - eps]), so the same iterates as its MLP for every
activation and target, and fastnn's own L-BFGS keeps the exact loss."""

import warnings

import numpy as np
import pytest
from scipy.special import xlogy
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

import fastnn as fn
from fastnn.lbfgs import _Objective
from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor, _base

BACKENDS = ["numpy", "numba"]
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
KINDS = ["binary", "multiclass", "multilabel", "regression", "multioutput", "poisson"]
CLASSIFICATION = ("binary", "multiclass", "multilabel")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _xy(kind, n=120):
    X = np.random.default_rng(3).standard_normal((n, 6))
    y = {
        "binary": (X[:, 0] + X[:, 1] > 0).astype(int),
        "multiclass": np.digitize(X[:, 0] - X[:, 2], [-0.6, 0.6]),
        "multilabel": np.c_[X[:, 0] > 0, X[:, 1] > 0.3, X[:, 2] * X[:, 3] < 0].astype(int),
        "regression": X[:, 0] - 2 * X[:, 1] + np.sin(X[:, 2]),
        "multioutput": np.c_[X[:, 0], X[:, 1] * X[:, 2], 0.5 * X[:, 3] - 1],
        "poisson": np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]).round(),
    }[kind]
    return X, y


def _pair(kind, backend, **args):
    """(fastnn's estimator, scikit-learn's) with the same arguments."""
    fast, sk = (FastMLPClassifier, MLPClassifier) if kind in CLASSIFICATION else (
        FastMLPRegressor, MLPRegressor)  # fmt: skip
    if kind == "poisson":
        args["loss"] = "poisson"
    args = dict(solver="lbfgs", random_state=0, **args)
    return fast(backend=backend, dtype="float64", **args), sk(**args)


def assert_same_fit(fast, sk, rtol=1e-8):
    """The weights, ``loss_`` and ``n_iter_`` of scikit-learn's fit."""
    for mine, theirs in zip(fast.coefs_ + fast.intercepts_, sk.coefs_ + sk.intercepts_,
                            strict=True):  # fmt: skip
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=rtol * 1e-2)
    assert fast.loss_ == pytest.approx(sk.loss_, rel=rtol)
    assert fast.n_iter_ == sk.n_iter_


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_lbfgs_gives_sklearns_numbers(backend, activation, kind):
    X, y = _xy(kind)
    fast, sk = _pair(kind, backend, hidden_layer_sizes=(8, 5), activation=activation,
                     max_iter=25)  # fmt: skip
    fast.fit(X, y)
    sk.fit(X, y)
    assert_same_fit(fast, sk)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["multiclass", "multilabel", "multioutput", "poisson"])
def test_lbfgs_with_sample_weights_and_alpha_gives_sklearns_numbers(backend, kind):
    X, y = _xy(kind)
    w = np.random.default_rng(4).uniform(0.2, 2.0, len(X))
    fast, sk = _pair(kind, backend, hidden_layer_sizes=(6,), activation="tanh", alpha=0.05,
                     max_iter=30)  # fmt: skip
    fast.fit(X, y, sample_weight=w)
    sk.fit(X, y, sample_weight=w)
    assert_same_fit(fast, sk)


def _digits_targets(kind, y):
    if kind == "multiclass":
        return y
    if kind == "binary":
        return y % 2
    return np.c_[y == 0, y == 1, y % 2].astype(int)


def _unclipped_log_loss(y_true, y_prob, sample_weight=None):
    with np.errstate(divide="ignore"):  # -log(0) = inf, where clipping would stop at -log(eps)
        return -np.average(xlogy(y_true, y_prob), weights=sample_weight, axis=0).sum()


def _unclipped_binary_log_loss(y_true, y_prob, sample_weight=None):
    with np.errstate(divide="ignore"):
        terms = xlogy(y_true, y_prob) + xlogy(1 - y_true, 1 - y_prob)
        return -np.average(terms, weights=sample_weight, axis=0).sum()


# Unscaled digits (pixels up to 16) and ReLU: L-BFGS's line search tries points where some
# probabilities are below eps or above 1 - eps, and the clipped value decides its next step.
CLIPPED = {
    "multiclass": dict(hidden_layer_sizes=(12,), max_iter=30, random_state=12),
    "binary": dict(hidden_layer_sizes=(12,), max_iter=40, random_state=5, alpha=1e-5),
    "multilabel": dict(hidden_layer_sizes=(12,), max_iter=40, random_state=16, alpha=1e-5),
}
UNCLIPPED = {"softmax": _unclipped_log_loss, "logistic": _unclipped_binary_log_loss}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(CLIPPED))
def test_lbfgs_through_clipped_probabilities_gives_sklearns_numbers(backend, kind, monkeypatch):
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], _digits_targets(kind, y[:300])
    args = dict(solver="lbfgs", activation="relu", **CLIPPED[kind])
    fast = FastMLPClassifier(backend=backend, **args).fit(X, y)
    sk = MLPClassifier(**args).fit(X, y)
    assert_same_fit(fast, sk)
    # the clipping decides this fit: the same objective without it ends far away
    monkeypatch.setitem(_base.LOSS_FUNCTIONS, fast.out_activation_,
                        UNCLIPPED[fast.out_activation_])  # fmt: skip
    unclipped = clone(fast).fit(X, y)
    gaps = [np.abs(a - b).max() for a, b in zip(unclipped.coefs_, sk.coefs_)]
    assert max(gaps) > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_lbfgs_value_is_sklearns_clipped_loss_and_the_gradient_the_exact_one(backend):
    """Where a probability is below eps, scikit-learn's value costs a row at most -log(eps),
    and its gradient is y_prob - y, unclipped; the estimators' objective is the same."""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array([0, 1, 2])
    clf = FastMLPClassifier(hidden_layer_sizes=(2,), solver="lbfgs", max_iter=1, alpha=0.0,
                            random_state=0, backend=backend).fit(X, y)  # fmt: skip
    model = clf.model_
    # hidden units >= 1 for every row, and class 0 for sure
    hidden, out = (np.ones((2, 2)), np.zeros(2)), (np.array([[40.0, 0.0, 0.0]] * 2), np.zeros(3))
    model.set_weights([hidden, out])
    data = model._epoch_data(X, y)

    def value(outputs):
        return _base.log_loss(np.eye(3)[y], _base.OUTPUT_ACTIVATIONS["softmax"](outputs))

    x = model._params.astype(np.float64).copy()
    clipped_value, clipped_grad = _Objective(model, data, 0.0, value)(x)
    exact_value, exact_grad = _Objective(model, data, 0.0)(x)
    eps = np.finfo(np.float64).eps
    # rows 1 and 2 have probability e^-80 < eps for their class, row 0 about 1 - 2 e^-80
    assert clipped_value == pytest.approx((-2 * np.log(eps) - np.log1p(-eps)) / 3, rel=1e-12)
    assert exact_value == pytest.approx((80 + 160) / 3, rel=1e-12)
    np.testing.assert_array_equal(clipped_grad, exact_grad)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fastnns_own_lbfgs_keeps_the_exact_loss(backend):
    """fn.LBFGS (Sequential.fit) takes the exact loss, beyond -log(eps) for a confidently
    wrong prediction: its value and its gradient agree everywhere."""
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([1, 0])
    model = fn.Sequential(fn.dense_stack([2, 2]), backend=backend, seed=0)
    model.set_weights([(np.array([[60.0, 0.0], [0.0, 60.0]]), np.zeros(2))])  # both wrong
    value, _ = _Objective(model, model._epoch_data(X, y), 0.0)(model._params.copy())
    assert value == pytest.approx(60.0, rel=1e-12)  # 60 + log(1 + e^-60), far above 36.04
    assert value == pytest.approx(model.evaluate(X, y)["loss"], rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("limit", [dict(max_iter=3), dict(max_fun=5, max_iter=150)])
def test_lbfgs_stopping_short_warns_as_sklearn(backend, limit):
    X, y = _xy("multiclass")
    fast, sk = _pair("multiclass", backend, hidden_layer_sizes=(8,), **limit)
    caught = {}
    for name, est in (("fast", fast), ("sk", sk)):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            est.fit(X, y)
        caught[name] = [(w.category, str(w.message)) for w in record
                        if w.category is not RuntimeWarning]  # fmt: skip
    assert caught["fast"] == caught["sk"]
    assert len(caught["sk"]) == 1 and caught["sk"][0][0] is ConvergenceWarning
    assert fast.n_iter_ == sk.n_iter_
