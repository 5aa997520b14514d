"""The scikit-learn estimators when training diverges or overflows: scikit-learn's MLP tests
about non-finite values with the estimators swapped in, on both backends, and the same
exceptions, messages, warnings and scores as scikit-learn's MLP for the same inputs."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import MinMaxScaler

from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor

BACKENDS = ["numpy", "numba"]
NONFINITE_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may contain large values and "
    "need to be preprocessed."
)

X_iris, y_iris = load_iris(return_X_y=True)
X_digits, y_digits = load_digits(n_class=2, return_X_y=True)
X_digits_binary = MinMaxScaler().fit_transform(X_digits[:200])
y_digits_binary = y_digits[:200]


def _huge_inputs():
    """scikit-learn's test_nonfinite_params data: features near float64's largest value."""
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    return X, rng.standard_normal(size=10)


DIVERGING = dict(hidden_layer_sizes=100, activation="identity", solver="sgd", alpha=0.0001,
                 learning_rate="constant", learning_rate_init=1, shuffle=True, max_iter=20,
                 early_stopping=True, n_iter_no_change=10, random_state=0)  # fmt: skip


# -- scikit-learn's tests (sklearn/neural_network/tests/test_mlp.py), estimators swapped in ----


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_params(backend):
    X, y = _huge_inputs()
    clf = FastMLPRegressor(backend=backend)
    with pytest.raises(ValueError, match=NONFINITE_MESSAGE):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mlp_diverging_loss(backend):
    """A diverging model does not raise when early stopping is on."""
    mlp = FastMLPRegressor(backend=backend, **DIVERGING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X_iris, y_iris)
    assert str(mlp.validation_scores_[-1]) == str(np.nan)
    assert isinstance(mlp.validation_scores_[-1], float)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_n_iter_no_change_inf(backend):
    """n_iter_no_change=np.inf never stops training early."""
    X, y = X_digits_binary[:100], y_digits_binary[:100]
    clf = FastMLPClassifier(tol=1e9, max_iter=3000, solver="sgd", n_iter_no_change=np.inf,
                            backend=backend)  # fmt: skip
    clf.fit(X, y)
    assert clf.n_iter_ == 3000
    assert clf._no_improvement_count == clf.n_iter_ - 1


# -- the same outcome as scikit-learn's MLP for the same inputs ---------------------------------


def _fit(estimator, X, y):
    """Fit; return (the exception or None, [(category, message)] of the warnings other than
    NumPy's floating-point RuntimeWarnings, which only the numpy backend could raise alike)."""
    error = None
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            estimator.fit(X, y)
        except ValueError as exc:
            error = exc
    caught = [(w.category, str(w.message)) for w in record if w.category is not RuntimeWarning]
    return error, caught


def _assert_same_scores(mine, theirs):
    mine, theirs = np.asarray(mine, float), np.asarray(theirs, float)
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(theirs))
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(mine[finite], theirs[finite], rtol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_nonfinite_weights_raise_sklearns_error_after_its_warnings(backend, solver):
    """Training runs its max_iter epochs through NaN (a NaN loss never counts as no
    improvement), warns that it did not converge, then raises scikit-learn's ValueError."""
    X, y = _huge_inputs()
    args = dict(solver=solver, max_iter=30, random_state=0)
    error, caught = _fit(FastMLPRegressor(backend=backend, **args), X, y)
    sk_error, sk_caught = _fit(MLPRegressor(**args), X, y)
    assert isinstance(error, ValueError) and isinstance(sk_error, ValueError)
    assert str(error) == str(sk_error) == NONFINITE_MESSAGE
    assert caught == sk_caught
    assert [category for category, _ in caught] == [ConvergenceWarning]


@pytest.mark.parametrize("backend", BACKENDS)
def test_diverging_regressor_scores_nan_as_sklearn(backend):
    mlp, sk = FastMLPRegressor(backend=backend, **DIVERGING), MLPRegressor(**DIVERGING)
    error, caught = _fit(mlp, X_iris, y_iris)
    sk_error, sk_caught = _fit(sk, X_iris, y_iris)
    assert error is None and sk_error is None
    assert caught == sk_caught
    assert mlp.n_iter_ == sk.n_iter_ == 20
    _assert_same_scores(mlp.validation_scores_, sk.validation_scores_)
    _assert_same_scores(mlp.loss_curve_, sk.loss_curve_)
    assert mlp.best_validation_score_ == pytest.approx(sk.best_validation_score_, rel=1e-8)
    for mine, theirs in zip(mlp.coefs_, sk.coefs_):  # the best epoch's weights, restored
        np.testing.assert_allclose(mine, theirs, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("early_stopping", [True, False], ids=["early-stopping", "loss"])
def test_diverging_classifier_trains_on_as_sklearn(backend, early_stopping):
    """A learning rate of 1e4: the weights and the loss blow up, training goes on to the same
    epoch as scikit-learn's, with the same validation scores and no error."""
    args = dict(solver="sgd", learning_rate_init=1e4, max_iter=15, random_state=0,
                hidden_layer_sizes=(20,), activation="identity",
                early_stopping=early_stopping)  # fmt: skip
    mlp, sk = FastMLPClassifier(backend=backend, **args), MLPClassifier(**args)
    error, caught = _fit(mlp, X_iris, y_iris)
    sk_error, sk_caught = _fit(sk, X_iris, y_iris)
    assert error is None and sk_error is None
    assert caught == sk_caught
    assert mlp.n_iter_ == sk.n_iter_
    if early_stopping:
        _assert_same_scores(mlp.validation_scores_, sk.validation_scores_)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_lbfgs_on_overflowing_inputs_warns_as_sklearn(backend, kind):
    """The first objective is not finite: SciPy stops at once (ABNORMAL), and the estimator
    warns and keeps its starting weights, as scikit-learn's."""
    fast, sk = (FastMLPClassifier, MLPClassifier) if kind == "classifier" else (
        FastMLPRegressor, MLPRegressor)  # fmt: skip
    args = dict(solver="lbfgs", max_iter=5, random_state=0, hidden_layer_sizes=(20,))
    mlp, sk = fast(backend=backend, **args), sk(**args)
    X = X_iris * 1e200
    error, caught = _fit(mlp, X, y_iris)
    sk_error, sk_caught = _fit(sk, X, y_iris)
    assert error is None and sk_error is None
    assert caught == sk_caught and caught[0][0] is ConvergenceWarning
    assert mlp.n_iter_ == sk.n_iter_ == 0
    for mine, theirs in zip(mlp.coefs_ + mlp.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, scale", [("float64", 1e156), ("float32", 1e20)])
def test_adam_with_overflowing_squared_gradients_gives_sklearns_weights(backend, dtype, scale):
    """A feature large enough that its weights' gradients square to inf: Adam's second moment
    is inf and those weights take steps of 0, on both backends as in scikit-learn (a NaN here
    would make fit raise)."""
    X = (X_iris * np.array([scale, 1, 1, 1])).astype(dtype)
    args = dict(max_iter=5, random_state=0, hidden_layer_sizes=(20,))
    mlp = FastMLPClassifier(backend=backend, **args)
    sk = MLPClassifier(**args)
    error, caught = _fit(mlp, X, y_iris)
    sk_error, sk_caught = _fit(sk, X, y_iris)
    assert error is None and sk_error is None
    assert caught == sk_caught
    rtol = 1e-8 if dtype == "float64" else 1e-5
    for mine, theirs in zip(mlp.coefs_ + mlp.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=rtol * 1e-2)
    second_moment = mlp._optimizer.state[1]
    assert np.isposinf(second_moment).any() and np.isfinite(mlp.model_._params).all()
