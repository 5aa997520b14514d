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

BACKENDS = ["numpy", "numba"]

# BLAS computes one row with other kernels than a block of rows: in float32 a row's prediction
# alone and in a batch may differ in the last place, more than the check's rtol=1e-7.
FLOAT32_SUBSET = (
    "float32 predictions of one row and of a batch of rows can differ by one or two units in "
    "the last place (BLAS kernels differ by shape); the check asks for rtol=1e-7"
)


def _expected_failed_checks(estimator):
    if estimator.dtype == "float32":
        return {"check_methods_subset_invariance": FLOAT32_SUBSET}
    return {}


@parametrize_with_checks(
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


# -- the same updates as scikit-learn's MLP with solver="sgd" ----------------------------------


def _xy(kind):
    X = np.random.default_rng(0).standard_normal((120, 5))
    y = {
        "binary": (X[:, 0] + X[:, 1] > 0).astype(int),
        "multiclass": np.digitize(X[:, 0], [-0.5, 0.5]),
        "regression": X[:, 0] - 2 * X[:, 1],
        "multioutput": np.c_[X[:, 0], X[:, 1] * X[:, 2], X[:, 3]],
    }[kind]
    return X, y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression", "multioutput"])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_updates_match_sklearn_mlp(backend, kind, alpha):
    """From the same weights, five epochs give scikit-learn's weights (lr, momentum, alpha)."""
    X, y = _xy(kind)
    fast_cls, sk_cls = (
        (FastMLPClassifier, MLPClassifier)
        if kind in ("binary", "multiclass")
        else (FastMLPRegressor, MLPRegressor)
    )
    args = dict(
        hidden_layer_sizes=(7, 4),
        activation="tanh",
        alpha=alpha,
        batch_size=20,  # divides 120: the penalty of a shorter last batch would differ
        learning_rate_init=0.05,
        momentum=0.9,
        nesterovs_momentum=True,
        shuffle=False,
        max_iter=1,
        warm_start=True,
        tol=0.0,
        n_iter_no_change=1000,
    )
    fast = fast_cls(backend=backend, dtype="float64", **args).fit(X, y)
    sk = sk_cls(solver="sgd", learning_rate="constant", random_state=0, **args).fit(X, y)
    for mine, theirs in zip(fast.coefs_ + fast.intercepts_, sk.coefs_ + sk.intercepts_):
        mine[...] = theirs
    fast.set_params(max_iter=5).fit(X, y)
    sk.set_params(max_iter=5).fit(X, y)
    for mine, theirs in zip(fast.coefs_ + fast.intercepts_, sk.coefs_ + sk.intercepts_):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    # the first entry is from the first fit, before the weights were made equal
    if alpha == 0:  # with a penalty, fastnn adds it with the end-of-epoch weights
        np.testing.assert_allclose(fast.loss_curve_[1:], sk.loss_curve_[1:], rtol=1e-10)
    else:
        np.testing.assert_allclose(fast.loss_curve_[1:], sk.loss_curve_[1:], rtol=0.05)


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


def test_one_class_is_a_clear_error(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="at least 2 classes"):
        FastMLPClassifier().fit(X, np.zeros(len(X)))


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
    with pytest.raises(ValueError, match="not in `classes_`"):
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
    # the held-out split, drawn as fit draws it: first the seed, then the split
    random_state = check_random_state(rs)
    random_state.randint(2**31 - 1)
    stratify = y if estimator is FastMLPClassifier else None
    _, X_val, _, y_val = train_test_split(
        X, y, random_state=random_state, test_size=0.2, stratify=stratify
    )
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
        ({"momentum": 1.0}, "momentum"),
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


def test_unfitted_and_sparse(iris):
    X, y = iris
    with pytest.raises(NotFittedError):
        FastMLPClassifier().predict(X)
    with pytest.raises(TypeError, match="Sparse data was passed"):
        FastMLPClassifier().fit(sp.csr_matrix(X), y)


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
