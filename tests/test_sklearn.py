"""The scikit-learn estimators: scikit-learn's own checks, and the behaviour MLP users expect."""

import pickle
import pickletools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor

from helpers import WEIGHTED_MATRIX

BACKENDS = ["numpy", "numba"]

# BLAS computes one row with other kernels than a block of rows: in float32 a row's prediction
# alone and in a batch may differ in the last place, more than the check's rtol=1e-7.
FLOAT32_SUBSET = (
    "float32 predictions of one row and of a batch of rows can differ by one or two units in "
    "the last place (BLAS kernels differ by shape); the check asks for rtol=1e-7"
)


FLOAT32_WEIGHTS = (
    "in float32, training with weight 2 and training on a repeated sample round differently, "
    "by more than the check's tolerance"
)


def _expected_failed_checks(estimator):
    if estimator.dtype == "float32":
        return {
            "check_methods_subset_invariance": FLOAT32_SUBSET,
            "check_sample_weight_equivalence_on_dense_data": FLOAT32_WEIGHTS,
            "check_sample_weight_equivalence_on_sparse_data": FLOAT32_WEIGHTS,
        }
    return {}


def _listed(marker):
    """The same ``parametrize`` with its cases in a list: some scikit-learn releases hand
    pytest a generator, which pytest deprecates."""
    names, cases, *rest = marker.args
    return pytest.mark.parametrize(names, list(cases), *rest, **marker.kwargs)


@pytest.mark.slow
@_listed(
    parametrize_with_checks(
        [
            FastMLPClassifier(backend="numba"),
            FastMLPRegressor(backend="numba"),
            FastMLPClassifier(backend="numba", dtype="float32"),
            FastMLPRegressor(backend="numba", dtype="float32"),
            FastMLPClassifier(backend="numpy"),
            FastMLPRegressor(backend="numpy"),
        ],
        expected_failed_checks=_expected_failed_checks,
    )
)
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    # check_array_api_input (NumPy inputs with array API dispatch on) runs only with this set
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


@pytest.fixture
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# -- the same numbers as scikit-learn's MLP -----------------------------------------------------


def _xy(kind, n=130):
    X = np.random.default_rng(0).standard_normal((n, 5))
    y = {
        "binary": (X[:, 0] + X[:, 1] > 0).astype(int),
        "multiclass": np.digitize(X[:, 0], [-0.5, 0.5]),
        "multilabel": np.c_[X[:, 0] > 0, X[:, 1] > 0.3, X[:, 2] < 0].astype(int),
        "regression": X[:, 0] - 2 * X[:, 1],
        "multioutput": np.c_[X[:, 0], X[:, 1] * X[:, 2], X[:, 3]],
        "poisson": np.exp(0.5 * X[:, 0]).round(),
    }[kind]
    return X, y


KINDS = ["binary", "multiclass", "multilabel", "regression", "multioutput", "poisson"]
SOLVERS = {
    "adam": dict(solver="adam"),
    "adam-custom": dict(solver="adam", beta_1=0.8, beta_2=0.95, epsilon=1e-4, alpha=0.3),
    "sgd": dict(solver="sgd"),
    "sgd-nesterov-off": dict(solver="sgd", nesterovs_momentum=False, momentum=0.5),
    "sgd-invscaling": dict(solver="sgd", learning_rate="invscaling", power_t=0.3),
    "sgd-adaptive": dict(solver="sgd", learning_rate="adaptive", n_iter_no_change=1, tol=1.0),
    "lbfgs": dict(solver="lbfgs"),
}


def _pair(kind, solver, **more):
    X, y = _xy(kind)
    fast_cls, sk_cls = (
        (FastMLPClassifier, MLPClassifier)
        if kind in ("binary", "multiclass", "multilabel")
        else (FastMLPRegressor, MLPRegressor)
    )
    args = dict(hidden_layer_sizes=(7, 4), activation="tanh", batch_size=20, max_iter=8,
                learning_rate_init=0.01, random_state=0, **SOLVERS[solver])  # fmt: skip
    args.update(more)
    if kind == "poisson":
        args["loss"] = "poisson"
    return X, y, fast_cls(dtype="float64", **args), sk_cls(**args)


def assert_same_model(fast, sk, rtol=1e-8, atol=None):
    """The same weights and the same fitted attributes as scikit-learn's estimator."""
    atol = rtol * 1e-2 if atol is None else atol
    for mine, theirs in zip(fast.coefs_ + fast.intercepts_, sk.coefs_ + sk.intercepts_,
                            strict=True):  # fmt: skip
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=atol)
    for name in ("n_iter_", "n_layers_", "n_outputs_", "out_activation_"):
        assert getattr(fast, name) == getattr(sk, name), name
    assert fast.loss_ == pytest.approx(sk.loss_, rel=rtol)
    for name in ("t_", "best_loss_", "best_validation_score_"):
        if not hasattr(sk, name):
            continue
        expected = getattr(sk, name)
        if expected is None:  # scikit-learn's "does not apply"
            assert getattr(fast, name) is None, name
        else:
            assert getattr(fast, name) == pytest.approx(expected, rel=rtol), name
    for name in ("loss_curve_", "validation_scores_"):
        if getattr(sk, name, None) is not None:
            np.testing.assert_allclose(getattr(fast, name), getattr(sk, name), rtol=rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("solver", list(SOLVERS))
@WEIGHTED_MATRIX
def test_the_same_numbers_as_sklearn_mlp(backend, kind, solver, weighted):
    """The same random_state gives scikit-learn's initial weights, validation split and
    shuffles, and then every solver, schedule and target gives scikit-learn's numbers."""
    X, y, fast, sk = _pair(kind, solver)
    w = np.random.default_rng(1).uniform(0.2, 2.0, len(X)) if weighted else None
    fast.set_params(backend=backend).fit(X, y, sample_weight=w)
    sk.fit(X, y, sample_weight=w)
    rtol = 1e-8
    assert_same_model(fast, sk, rtol)
    if kind in ("binary", "multiclass", "multilabel"):
        np.testing.assert_allclose(fast.predict_proba(X), sk.predict_proba(X), rtol=1e-6)
        np.testing.assert_array_equal(fast.predict(X), sk.predict(X))
    else:
        np.testing.assert_allclose(fast.predict(X), sk.predict(X), rtol=rtol * 100, atol=rtol)


# -- sparse X: the dense numbers, and scikit-learn's on the same sparse X ------------------------


def _sparsify(X):
    """``X`` with about 60% zeros, an all-zero row and an all-zero column (dense, a copy)."""
    X = np.where(np.random.default_rng(2).random(X.shape) < 0.6, 0.0, X)
    X[3] = 0.0
    X[:, 4] = 0.0
    return X


SPARSE_SETTINGS = {  # (solver, weighted, more arguments)
    "adam": ("adam", False, {}),
    "adam-weighted": ("adam", True, {}),
    "sgd-weighted": ("sgd", True, {}),
    "lbfgs": ("lbfgs", False, {}),
    "lbfgs-weighted": ("lbfgs", True, {}),
    "adam-early-stopping-weighted": ("adam", True, {"early_stopping": True}),
    "sgd-early-stopping": ("sgd", False, {"early_stopping": True}),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["multiclass", "regression"])
@pytest.mark.parametrize("setting", list(SPARSE_SETTINGS))
def test_sparse_x_gives_the_dense_numbers_and_sklearns(backend, kind, setting):
    """A CSR X trains the same weights as the same X dense (to rounding: the kernels sum a
    row's nonzeros only), and the same as scikit-learn's MLP fitted on that CSR X."""
    solver, weighted, more = SPARSE_SETTINGS[setting]
    if more.get("early_stopping"):
        more = dict(more, validation_fraction=0.2, max_iter=12)
    X, y, fast, sk = _pair(kind, solver, **more)
    fast.set_params(backend=backend)
    X = _sparsify(X)
    X_csr = sp.csr_matrix(X)
    w = np.random.default_rng(1).uniform(0.2, 2.0, X.shape[0]) if weighted else None
    dense = clone(fast).fit(X, y, sample_weight=w)
    fast.fit(X_csr, y, sample_weight=w)
    sk.fit(X_csr, y, sample_weight=w)
    assert_same_model(fast, dense, rtol=1e-12, atol=1e-13)
    assert_same_model(fast, sk)
    assert fast.n_features_in_ == sk.n_features_in_ == X.shape[1]
    if kind == "multiclass":
        np.testing.assert_allclose(fast.predict_proba(X_csr), dense.predict_proba(X), rtol=1e-12)
        np.testing.assert_allclose(fast.predict_proba(X_csr), sk.predict_proba(X_csr), rtol=1e-6)
        np.testing.assert_array_equal(fast.predict(X_csr), sk.predict(X_csr))
    else:
        np.testing.assert_allclose(fast.predict(X_csr), dense.predict(X), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(fast.predict(X_csr), sk.predict(X_csr), rtol=1e-6, atol=1e-8)
    assert fast.score(X_csr, y) == pytest.approx(sk.score(X_csr, y), rel=1e-8)


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_partial_fit_and_warm_start_on_sparse_x_follow_dense_and_sklearn(kind):
    X, y, fast, sk = _pair(kind, "sgd", max_iter=3, warm_start=True)
    X = _sparsify(X)
    X_csc = sp.csc_matrix(X)
    classes = {"classes": np.unique(y)} if kind == "multiclass" else {}
    dense = clone(fast)
    for est, data in ((fast, X_csc), (dense, X), (sk, X_csc)):
        est.fit(data, y)
        est.fit(data, y)  # warm start
        est.partial_fit(data, y)
    assert_same_model(fast, dense, rtol=1e-12, atol=1e-13)
    assert_same_model(fast, sk)
    _, _, fast, sk = _pair(kind, "adam")
    dense = clone(fast)
    for est, data in ((fast, X_csc), (dense, X), (sk, X_csc)):
        for _ in range(3):
            est.partial_fit(data, y, **classes)
    assert_same_model(fast, dense, rtol=1e-12, atol=1e-13)
    assert_same_model(fast, sk)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_sparse_format_and_dtype(backend, iris):
    """CSR, CSC, COO (and any other SciPy format, converted to CSR as scikit-learn's MLP does),
    as matrices or arrays, of any numeric dtype; float32 stays float32; X is left as it was."""
    X, y = iris
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    args = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0, backend=backend)
    dense = FastMLPClassifier(**args).fit(X, y)
    expected = dense.predict_proba(X)
    for fmt in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.lil_matrix, sp.csr_array,
                sp.coo_array):  # fmt: skip
        clf = FastMLPClassifier(**args).fit(fmt(X), y)
        assert clf.model_.dtype == "float64"
        np.testing.assert_allclose(clf.predict_proba(fmt(X)), expected, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(clf.predict_log_proba(fmt(X)), np.log(expected), rtol=1e-10)
        np.testing.assert_array_equal(dense.predict(fmt(X)), dense.predict(X))
        assert clf.score(fmt(X), y) == dense.score(X, y)
    # integer values (trained in float64), and float32 (trained in float32)
    X_int = sp.csr_matrix(np.round(X * 3).astype(np.int64))
    reg = FastMLPRegressor(**args).fit(X_int, y)
    assert reg.model_.dtype == "float64" and reg.predict(X_int).dtype == np.float64
    X32 = sp.csr_matrix(X.astype(np.float32))
    clf32 = FastMLPClassifier(**args).fit(X32, y)
    assert clf32.coefs_[0].dtype == np.float32 and clf32.predict_proba(X32).dtype == np.float32
    # a stored zero and unsorted indices: the caller's matrix is not tidied in place
    messy = sp.csr_matrix((np.array([0.0, 2.0, 1.0]), np.array([0, 3, 1]), np.array([0, 3])),
                          shape=(1, 4))  # fmt: skip
    messy = sp.vstack([messy, sp.csr_matrix(X[1:])], format="csr")
    messy.has_sorted_indices = False
    before = (messy.data.copy(), messy.indices.copy(), messy.indptr.copy())
    fitted = FastMLPClassifier(**args).fit(messy, y)
    for a, b in zip((messy.data, messy.indices, messy.indptr), before):
        np.testing.assert_array_equal(a, b)
    fitted.predict(messy)
    np.testing.assert_array_equal(messy.indices, before[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_x_is_never_densified(backend):
    """fit (with the early-stopping split), predict_proba and score on a CSR X of 2,000 x
    10,000 that would take 160 MB dense: what they allocate stays a small fraction of that."""
    import tracemalloc

    n, n_features = 2000, 10_000
    X = sp.random(n, n_features, density=1e-3, format="csr", random_state=0, dtype=np.float64)
    y = np.arange(n) % 2
    args = dict(hidden_layer_sizes=(2,), max_iter=2, batch_size=10, random_state=0,
                backend=backend)  # fmt: skip
    FastMLPClassifier(**args).fit(X[:50], y[:50])  # any compiling happens outside the trace
    tracemalloc.start()
    try:
        clf = FastMLPClassifier(early_stopping=True, validation_fraction=0.2, **args).fit(X, y)
        clf.predict_proba(X)
        clf.score(sp.csc_matrix(X), y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < n * n_features * 8 / 10, f"{peak / 1e6:.1f} MB"


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_early_stopping_follows_sklearn(kind, solver):
    X, y, fast, sk = _pair(kind, solver, early_stopping=True, max_iter=12, validation_fraction=0.2)
    fast.fit(X, y)
    sk.fit(X, y)
    assert_same_model(fast, sk)


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_warm_start_and_partial_fit_follow_sklearn(kind, solver):
    """A warm-start fit keeps the weights and restarts the optimizer; partial_fit keeps both."""
    X, y, fast, sk = _pair(kind, solver, max_iter=4, warm_start=True)
    classes = {"classes": np.unique(y)} if kind == "multiclass" else {}
    for est in (fast, sk):
        est.fit(X, y)
        est.set_params(max_iter=3).fit(X, y)
    assert_same_model(fast, sk)
    for est in (fast, sk):
        est.partial_fit(X, y)
        est.partial_fit(X, y)
    assert_same_model(fast, sk)
    _, _, fast, sk = _pair(kind, solver)
    for est in (fast, sk):
        for _ in range(3):
            est.partial_fit(X, y, **classes)
    assert_same_model(fast, sk)


def test_a_warm_start_refit_with_early_stopping_keeps_the_best_weights_so_far():
    """scikit-learn keeps its best weights in the arrays it goes on training after a fit with
    early stopping, so a warm-start refit that finds nothing better ends on its last weights;
    fastnn keeps a copy and ends on the best weights seen, as early stopping promises."""
    X, y, fast, _ = _pair("multiclass", "sgd", early_stopping=True, max_iter=6, warm_start=True)
    fast.fit(X, y)
    best = fast.best_validation_score_
    fast.set_params(max_iter=3).fit(X, y)
    assert max(fast.validation_scores_[-3:]) <= best  # nothing better in the refit
    for (W, b), (W_best, b_best) in zip(fast.model_.get_weights(), fast._best_weights):
        np.testing.assert_array_equal(W, W_best)
        np.testing.assert_array_equal(b, b_best)


def test_lbfgs_has_no_partial_fit():
    for est in (FastMLPClassifier(solver="lbfgs"), FastMLPRegressor(solver="lbfgs")):
        assert not hasattr(est, "partial_fit")  # as scikit-learn's MLP
    assert hasattr(FastMLPClassifier(solver="sgd"), "partial_fit")


def test_constructor_matches_sklearn():
    """Every argument of the installed scikit-learn's MLP, with its default, plus two."""
    import inspect

    for fast, sk in ((FastMLPClassifier, MLPClassifier), (FastMLPRegressor, MLPRegressor)):
        mine = dict(inspect.signature(fast).parameters)
        assert [mine.pop("backend").default, mine.pop("dtype").default] == [None, None]
        theirs = inspect.signature(sk).parameters
        assert list(mine) == list(theirs)
        for name, param in theirs.items():
            assert mine[name].default == param.default, name


# -- classification ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_uses_one_sigmoid_output(backend, iris):
    X, y = iris
    labels = np.where(y == 0, "setosa", "other")
    clf = FastMLPClassifier(hidden_layer_sizes=(8,), backend=backend, random_state=0)
    clf.fit(X, labels)
    assert list(clf.classes_) == ["other", "setosa"]
    assert clf.model_.loss == "binary_cross_entropy"
    assert clf.model_.layers[-1].n_out == 1
    assert clf.out_activation_ == "logistic"
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {"other", "setosa"}
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, labels) > 0.95


@pytest.mark.parametrize("backend", BACKENDS)
def test_multiclass_uses_softmax_and_any_labels(backend, iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = FastMLPClassifier(
        hidden_layer_sizes=(16,),
        learning_rate_init=0.05,
        backend=backend,
        random_state=0,
    ).fit(X, names)
    np.testing.assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    assert clf.model_.loss == "softmax_cross_entropy"
    assert clf.model_.layers[-1].n_out == 3
    assert clf.out_activation_ == "softmax"
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert clf.score(X, names) > 0.9
    # labels that sort differently from their codes
    shifted = clf.__class__(**clf.get_params()).fit(X, y * 10 - 7)
    np.testing.assert_array_equal(shifted.classes_, [-7, 3, 13])


def test_one_class_trains_and_predicts_it_as_sklearn_does(iris):
    X, _ = iris
    fast = FastMLPClassifier(max_iter=3, random_state=0).fit(X, np.full(len(X), 7))
    sk = MLPClassifier(max_iter=3, random_state=0).fit(X, np.full(len(X), 7))
    np.testing.assert_array_equal(fast.predict(X), sk.predict(X))
    np.testing.assert_allclose(fast.predict_proba(X), sk.predict_proba(X), rtol=1e-8)


def test_regression_targets_are_rejected_by_the_classifier(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="Unknown label type"):
        FastMLPClassifier().fit(X, np.linspace(0, 1, len(X)))


# -- regression ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_regressor_single_and_multi_output(backend):
    X, y = make_regression(300, 6, n_informative=4, n_targets=3, noise=1.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = y / y.std(axis=0)
    args = dict(hidden_layer_sizes=(32,), learning_rate_init=0.01, backend=backend)
    multi = FastMLPRegressor(random_state=0, **args).fit(X, y)
    assert multi.n_outputs_ == 3 and multi.model_.loss == "mse"
    assert multi.predict(X).shape == (300, 3)
    assert multi.predict(X).dtype == np.float64
    assert multi.score(X, y) > 0.9
    single = FastMLPRegressor(random_state=0, **args).fit(X, y[:, 0])
    assert single.predict(X).shape == (300,)
    assert single.score(X, y[:, 0]) > 0.9


# -- fit, partial_fit, warm_start, early_stopping ------------------------------------------


def test_fitted_attributes(iris):
    X, y = iris
    clf = FastMLPClassifier(hidden_layer_sizes=(10, 5), max_iter=7, random_state=0).fit(X, y)
    assert clf.n_iter_ == 7 and len(clf.loss_curve_) == 7 and clf.t_ == 7 * len(X)
    assert clf.loss_ == clf.loss_curve_[-1] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert [W.shape for W in clf.coefs_] == [(4, 10), (10, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(10,), (5,), (3,)]
    assert clf.n_layers_ == 4 and clf.n_features_in_ == 4
    # coefs_ are the model's own parameters
    clf.coefs_[-1][...] = 0
    clf.intercepts_[-1][...] = [0, 0, 1]
    np.testing.assert_array_equal(clf.predict(X), np.full(len(X), 2))


def test_stops_when_training_loss_stalls(iris):
    X, y = iris
    clf = FastMLPClassifier(
        learning_rate_init=0.1, tol=10.0, n_iter_no_change=3, max_iter=100, random_state=0
    ).fit(X, y)
    assert clf.n_iter_ == 5  # the first epoch sets best_loss_; then 4 > 3 epochs without a gain


def test_max_iter_warns_convergence(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("always", ConvergenceWarning)
            FastMLPClassifier(max_iter=3).fit(X, y)


@pytest.mark.parametrize("estimator", [FastMLPClassifier, FastMLPRegressor])
def test_partial_fit_is_fit_one_epoch_at_a_time(estimator, iris):
    X, y = iris
    y = y if estimator is FastMLPClassifier else X[:, 0] - X[:, 1]
    args = dict(hidden_layer_sizes=(9,), random_state=0, shuffle=True, n_iter_no_change=100)
    whole = estimator(max_iter=6, **args).fit(X, y)
    step = estimator(**args)
    extra = {"classes": np.unique(y)} if estimator is FastMLPClassifier else {}
    for _ in range(6):
        step.partial_fit(X, y, **extra)
        extra = {}
        assert step.n_iter_ == 1
    assert len(step.loss_curve_) == 6
    np.testing.assert_allclose(step.loss_curve_, whole.loss_curve_, rtol=1e-6)
    for a, b in zip(step.coefs_, whole.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def test_partial_fit_needs_classes_first(iris):
    X, y = iris
    clf = FastMLPClassifier()
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    # the first batch may hold only some of the classes
    clf.partial_fit(X[y == 0], y[y == 0], classes=[0, 1, 2])
    clf.partial_fit(X[y == 2], y[y == 2])
    assert clf.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="early_stopping"):
        clone(clf).set_params(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_warm_start_continues(iris):
    X, y = iris
    clf = FastMLPClassifier(warm_start=True, max_iter=5, random_state=0, n_iter_no_change=100)
    clf.fit(X, y)
    first = [W.copy() for W in clf.coefs_]
    clf.fit(X, y)
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 10
    assert clf.loss_curve_[5] < clf.loss_curve_[0]
    assert not np.allclose(first[0], clf.coefs_[0])
    # without warm_start, fit starts anew from the same seed
    cold = clone(clf).set_params(warm_start=False)
    np.testing.assert_allclose(cold.fit(X, y).coefs_[0], cold.fit(X, y).coefs_[0])
    assert len(cold.loss_curve_) == 5
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 2], y[y < 2])


@pytest.mark.parametrize("estimator", [FastMLPClassifier, FastMLPRegressor])
def test_early_stopping_keeps_the_best_weights(estimator, iris):
    X, y = iris
    y = y if estimator is FastMLPClassifier else X[:, 0] * X[:, 1]
    rs = 3
    est = estimator(
        hidden_layer_sizes=(8,),
        learning_rate_init=0.05,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=4,
        max_iter=200,
        random_state=rs,
    ).fit(X, y)
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.n_iter_ < 200
    # the held-out split, drawn as scikit-learn's fit draws it: first the initial weights
    # (a matrix and a vector per layer), then the split (not stratified: several outputs)
    random_state = check_random_state(rs)
    n_out = 3 if estimator is FastMLPClassifier else 1
    for size in ((4, 8), 8, (8, n_out), n_out):
        random_state.uniform(size=size)
    _, X_val, _, y_val = train_test_split(X, y, random_state=random_state, test_size=0.2)
    assert est.score(X_val, y_val) == pytest.approx(est.best_validation_score_)


def test_warm_start_can_switch_early_stopping(iris):
    X, y = iris
    clf = FastMLPClassifier(warm_start=True, max_iter=3, n_iter_no_change=100, random_state=0)
    clf.fit(X, y)
    clf.set_params(early_stopping=True).fit(X, y)
    assert len(clf.validation_scores_) == 3 and len(clf.loss_curve_) == 6
    clf.set_params(early_stopping=False).fit(X, y)
    assert clf.best_loss_ == min(clf.loss_curve_[6:])
    clf.partial_fit(X, y)
    assert len(clf.loss_curve_) == 10


def test_verbose_prints_the_loss(iris, capsys):
    X, y = iris
    FastMLPClassifier(max_iter=2, verbose=True, early_stopping=True).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out
    assert "Validation score: " in out


def test_early_stopping_needs_two_validation_samples():
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match="validation set is too small"):
        FastMLPRegressor(early_stopping=True, validation_fraction=0.1).fit(X, X[:, 0])


def test_same_random_state_same_model(iris):
    X, y = iris
    a = FastMLPClassifier(max_iter=5, random_state=1).fit(X, y)
    b = FastMLPClassifier(max_iter=5, random_state=1).fit(X, y)
    c = FastMLPClassifier(max_iter=5, random_state=2).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def test_batch_size_and_dtype(iris):
    X, y = iris
    per_sample = FastMLPClassifier(batch_size=1, max_iter=3, random_state=0).fit(X, y)
    assert per_sample._optimizer.iterations == 3 * len(X)
    assert per_sample.model_.dtype == "float64"
    assert FastMLPClassifier(max_iter=1).fit(X.astype(np.float32), y).model_.dtype == "float32"
    forced = FastMLPClassifier(dtype="float32", max_iter=1).fit(X, y)
    assert forced.model_.dtype == "float32" and forced.coefs_[0].dtype == np.float32
    with pytest.warns(UserWarning, match="clipped"):
        FastMLPClassifier(batch_size=1000, max_iter=1).fit(X, y)


@pytest.mark.parametrize(
    "args, match",
    [
        ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes"),
        ({"activation": "softplus"}, "activation"),
        ({"alpha": -1.0}, "alpha"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate_init": 0.0}, "learning_rate_init"),
        ({"momentum": 1.5}, "momentum"),
        ({"max_iter": 0}, "max_iter"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
        ({"backend": "torch"}, "backend"),
        ({"dtype": "float16"}, "dtype"),
    ],
)
def test_bad_arguments_name_themselves(args, match, iris):
    X, y = iris
    est = FastMLPClassifier(**args)  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_unfitted(iris):
    X, _ = iris
    with pytest.raises(NotFittedError):
        FastMLPClassifier().predict(X)
    with pytest.raises(NotFittedError):
        FastMLPRegressor().predict(sp.csr_matrix(X))


# -- inputs are never written, pickles carry no compiled code ------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_read_only_inputs_are_left_alone(backend, dtype, iris, tmp_path):
    X, y = iris
    path = tmp_path / "X.dat"
    X.astype(dtype).tofile(path)
    X_ro = np.memmap(path, dtype=dtype, mode="r", shape=X.shape)
    y_ro = y.copy()
    y_ro.setflags(write=False)
    clf = FastMLPClassifier(dtype=dtype, backend=backend, max_iter=3, batch_size=16).fit(X_ro, y_ro)
    clf.partial_fit(X_ro, y_ro)
    clf.predict_proba(X_ro)
    np.testing.assert_array_equal(np.asarray(X_ro), X.astype(dtype))
    reg = FastMLPRegressor(dtype=dtype, backend=backend, max_iter=3).fit(X_ro, X_ro[:, :2])
    reg.predict(X_ro)
    np.testing.assert_array_equal(np.asarray(X_ro), X.astype(dtype))


def _pickled_globals(data):
    """The (module, name) pairs that a pickle imports."""
    found, strings = set(), []
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif opcode.name == "STACK_GLOBAL":
            found.add((strings[-2], strings[-1]))
        elif opcode.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
    return found


@pytest.mark.parametrize("backend", BACKENDS)
def test_pickle_carries_no_compiled_objects(backend, iris):
    X, y = iris
    clf = FastMLPClassifier(hidden_layer_sizes=(6,), backend=backend, max_iter=3).fit(X, y)
    data = pickle.dumps(clf)
    modules = {module for module, _ in _pickled_globals(data)}
    assert not any(m.startswith(("numba", "fastnn.kernels", "llvmlite")) for m in modules)
    again = pickle.loads(data)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    again.partial_fit(X, y)  # training goes on after unpickling
    assert len(again.loss_curve_) == 4


# -- the scikit-learn tools ----------------------------------------------------------------


def test_pipeline_with_standard_scaler():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(), FastMLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.05)
    )
    pipe.set_params(fastmlpclassifier__random_state=0)
    assert pipe.fit(X, y).score(X, y) > 0.9
    assert pipe.predict_proba(X[:5]).shape == (5, 3)


def test_grid_search(iris):
    X, y = iris
    search = GridSearchCV(
        FastMLPClassifier(max_iter=50, random_state=0),
        {"hidden_layer_sizes": [(4,), (16,)], "learning_rate_init": [0.001, 0.05]},
        cv=3,
    ).fit(X, y)
    assert search.best_params_["learning_rate_init"] == 0.05
    assert search.best_score_ > 0.85
    assert isinstance(search.best_estimator_, FastMLPClassifier)


def test_cross_val_score():
    X, y = make_regression(200, 5, noise=5.0, random_state=0)
    pipe = make_pipeline(
        StandardScaler(), FastMLPRegressor(learning_rate_init=0.01, random_state=0)
    )
    scores = cross_val_score(pipe, X, y / y.std(), cv=4)
    assert scores.shape == (4,) and scores.min() > 0.8


@pytest.mark.slow
def test_an_estimator_fitted_with_backend_none_unpickles_on_the_numpy_backend(iris, tmp_path):
    """``backend=None`` means ``$FASTNN_BACKEND`` wherever the estimator is used: unpickled under
    ``FASTNN_BACKEND=numpy``, it predicts without ever importing Numba."""
    import os
    import subprocess
    import sys

    X, y = iris
    clf = FastMLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, y)
    path = tmp_path / "clf.pkl"
    path.write_bytes(pickle.dumps(clf))
    code = (
        "import pickle, sys, numpy as np; "
        f"clf = pickle.loads(open({str(path)!r}, 'rb').read()); "
        f"print(clf.predict(np.array({X[:4].tolist()!r})).tolist(), clf.model_.backend, "
        "'numba' in sys.modules)"
    )
    env = dict(os.environ, FASTNN_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()  # fmt: skip
    assert out == f"{clf.predict(X[:4]).tolist()} numpy False"
