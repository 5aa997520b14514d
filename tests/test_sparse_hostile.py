"""Sparse matrices whose index arrays lie: every way into the kernels (fit, predict, evaluate,
validation data, the scikit-learn estimators, ``fastnn predict ROWS.npz``, svmlight rows) refuses
them in one line before SciPy or a kernel reads an index; and values that overflow the model's
dtype are named as such, apart from a NaN or infinity given."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

import fastnn as fn
from fastnn import datasets
from fastnn._validation import check_sparse_features, check_sparse_structure
from fastnn.errors import InputError, InputTypeError
from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor

from helpers import refused

BACKENDS = ["numpy", "numba"]
# 3 rows, 8 columns, 6 stored values: row 0 holds columns 0 and 3, row 1 columns 1, 4 and 6,
# row 2 column 7. As CSC its index pointer is [0, 1, 2, 2, 3, 4, 4, 5, 6]; as COO its entries
# come in row order.
DENSE = np.zeros((3, 8))
DENSE[[0, 0, 1, 1, 1, 2], [0, 3, 1, 4, 6, 7]] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
Y = np.array([0, 1, 2])


def _int64(X, attr, position, value):
    setattr(X, attr, getattr(X, attr).astype(np.int64))
    getattr(X, attr)[position] = value


def _set(X, **arrays):
    for attr, value in arrays.items():
        setattr(X, attr, np.asarray(value))


# (format, id, change made in place to a valid matrix, error type, message)
HOSTILE = [
    ("csr", "column-too-large", lambda X: X.indices.__setitem__(2, 100), InputError,
     r"X has a column index 100 at row 1, outside 0\.\.7 \(the matrix has 8 columns\)"),
    ("csr", "column-negative", lambda X: X.indices.__setitem__(5, -3), InputError,
     r"X has a column index -3 at row 2, outside 0\.\.7"),
    ("csr", "column-wraps-in-int32", lambda X: _int64(X, "indices", 0, 2**32 + 1), InputError,
     r"X has a column index 4294967297 at row 0, outside 0\.\.7"),
    ("csr", "column-unsigned-huge", lambda X: _set(X, indices=X.indices.astype(np.uint64) + 2**63),
     InputError, r"X has a column index 9223372036854775808 at row 0"),
    ("csr", "indptr-falls", lambda X: _set(X, indptr=[0, 5, 2, 6]), InputError,
     r"X\.indptr must start at 0, rise monotonically and end at nnz=6; it falls from 5 to 2 "
     r"at row 1$"),
    ("csr", "indptr-starts-above-0", lambda X: _set(X, indptr=[1, 2, 5, 6]), InputError,
     r"X\.indptr must start at 0, .*; it starts at 1$"),
    ("csr", "indptr-negative", lambda X: _set(X, indptr=[-4, 2, 5, 6]), InputError,
     r"X\.indptr must start at 0, .*; it starts at -4$"),
    ("csr", "indptr-ends-short", lambda X: _set(X, indptr=[0, 2, 5, 5]), InputError,
     r"X\.indptr must start at 0, .* end at nnz=6; it ends at 5$"),
    ("csr", "indptr-ends-beyond", lambda X: X.indptr.__setitem__(3, 1000), InputError,
     r"X\.indptr must start at 0, .* end at nnz=6; it ends at 1000$"),
    ("csr", "indptr-too-short", lambda X: _set(X, indptr=[0, 2, 6]), InputError,
     r"X\.indptr has 3 entries; a CSR matrix of 3 rows needs 4"),
    ("csr", "indptr-too-long", lambda X: _set(X, indptr=[0, 2, 5, 6, 6, 6]), InputError,
     r"X\.indptr has 6 entries; a CSR matrix of 3 rows needs 4"),
    ("csr", "indices-float", lambda X: _set(X, indices=X.indices.astype(float)), InputTypeError,
     r"X\.indices must be a 1-D array of integers; got a 1-D array of float64"),
    ("csr", "indptr-bool", lambda X: _set(X, indptr=np.ones(4, bool)), InputTypeError,
     r"X\.indptr must be a 1-D array of integers; got a 1-D array of bool"),
    ("csr", "indices-2d", lambda X: _set(X, indices=X.indices[:, None]), InputTypeError,
     r"X\.indices must be a 1-D array of integers; got a 2-D array"),
    ("csr", "indices-a-list", lambda X: setattr(X, "indices", [0, 3, 1, 4, 6, 7]), InputTypeError,
     r"X\.indices must be a 1-D array of integers; got list"),
    ("csr", "data-short", lambda X: _set(X, data=X.data[:5]), InputError,
     r"X\.data must have shape \(6,\), one entry per stored index; got \(5,\)"),
    ("csr", "indices-beyond-indptr", lambda X: _set(X, indices=np.append(X.indices, 99),
                                                    data=np.append(X.data, 1.0)), InputError,
     r"X\.indptr must start at 0, .* end at nnz=7; it ends at 6$"),
    ("csc", "row-too-large", lambda X: X.indices.__setitem__(0, 3), InputError,
     r"X has a row index 3 at column 0, outside 0\.\.2 \(the matrix has 3 rows\)"),
    ("csc", "row-negative", lambda X: X.indices.__setitem__(5, -1), InputError,
     r"X has a row index -1 at column 7, outside 0\.\.2"),
    ("csc", "indptr-falls", lambda X: X.indptr.__setitem__(3, 0), InputError,
     r"X\.indptr must start at 0, .* end at nnz=6; it falls from 2 to 0 at column 2$"),
    ("csc", "indptr-ends-beyond", lambda X: X.indptr.__setitem__(8, 7), InputError,
     r"X\.indptr must start at 0, .* end at nnz=6; it ends at 7$"),
    ("csc", "indptr-counts-rows", lambda X: _set(X, indptr=[0, 2, 5, 6]), InputError,
     r"X\.indptr has 4 entries; a CSC matrix of 8 columns needs 9"),
    ("coo", "row-too-large", lambda X: X.row.__setitem__(1, 3), InputError,
     r"X has a row index 3 at stored value 1 \(column 3\), outside 0\.\.2 \(the matrix has 3 "
     r"rows\)"),
    ("coo", "row-negative", lambda X: X.row.__setitem__(0, -7), InputError,
     r"X has a row index -7 at stored value 0 \(column 0\), outside 0\.\.2"),
    ("coo", "column-too-large", lambda X: X.col.__setitem__(2, 8), InputError,
     r"X has a column index 8 at row 1, outside 0\.\.7 \(the matrix has 8 columns\)"),
    ("coo", "column-negative", lambda X: X.col.__setitem__(5, -1), InputError,
     r"X has a column index -1 at row 2, outside 0\.\.7"),
    ("coo", "row-short", lambda X: _set(X, row=X.row[:5]), InputError,
     r"X\.row has 5 entries and X\.col 6; a COO matrix holds one of each per stored value"),
    ("coo", "data-long", lambda X: _set(X, data=np.ones(9)), InputError,
     r"X\.data must have shape \(6,\), one entry per stored index; got \(9,\)"),
]  # fmt: skip
CLASSES = {"csr": (sp.csr_matrix, sp.csr_array), "csc": (sp.csc_matrix, sp.csc_array),
           "coo": (sp.coo_matrix, sp.coo_array)}  # fmt: skip
CASES = [
    pytest.param(cls, change, error, message, id=f"{cls.__name__}-{name}")
    for fmt, name, change, error, message in HOSTILE
    for cls in CLASSES[fmt]
]


def hostile(cls, change):
    """A valid ``cls`` matrix of DENSE with ``change`` made to its arrays in place, after SciPy
    built it (so SciPy's checks when building have passed), and copies of its arrays then."""
    X = cls(DENSE)
    assert X.has_canonical_format  # SciPy caches the answer; the change leaves it stale
    change(X)
    return X, _arrays(X)


def _arrays(X):
    names = ("data", "row", "col") if X.format == "coo" else ("data", "indices", "indptr")
    return {name: np.array(getattr(X, name), copy=True) for name in names}


def assert_unchanged(X, arrays):
    for name, before in arrays.items():
        np.testing.assert_array_equal(getattr(X, name), before, err_msg=name)


def small_model(backend):
    return fn.Sequential([fn.Dense(8, 4, "relu"), fn.Dense(4, 3)], backend=backend, seed=0)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


# -- the check itself ------------------------------------------------------------------------


@pytest.mark.parametrize("cls, change, error, message", CASES)
def test_the_check_names_the_first_bad_index(cls, change, error, message):
    X, arrays = hostile(cls, change)
    for check in (lambda: check_sparse_structure(X, "X"),
                  lambda: check_sparse_features(X, "X", np.float32, 8)):  # fmt: skip
        with pytest.raises(error, match=message) as info:
            check()
        assert "\n" not in str(info.value)
    assert_unchanged(X, arrays)


def test_bsr_blocks_are_checked_by_block():
    X = sp.bsr_matrix(DENSE, blocksize=(1, 2))  # 3 block rows of 4 block columns
    check_sparse_structure(X, "X")
    X.indices[0] = 4
    with pytest.raises(InputError, match=r"X has a block column index 4 at block row 0, "
                       r"outside 0\.\.3 \(the matrix has 4 block columns\)"):  # fmt: skip
        check_sparse_structure(X, "X")
    X = sp.bsr_array(DENSE, blocksize=(1, 2))
    X.indptr[1] = 9
    with pytest.raises(InputError, match=r"X\.indptr must start at 0, .*; it falls from 9 "):
        check_sparse_structure(X, "X")


def test_dense_input_and_formats_without_index_arrays_pass_the_structure_check():
    for X in (DENSE, DENSE.tolist(), sp.lil_matrix(DENSE), sp.dok_array(DENSE),
              sp.dia_matrix(DENSE)):  # fmt: skip
        check_sparse_structure(X, "X")


def test_an_array_name_reads_as_prose_for_a_matrix_without_a_variable():
    X = sp.csr_matrix(DENSE)
    X.indptr[1] = 7
    with pytest.raises(InputError, match=r"^indptr of the matrix must start at 0"):
        check_sparse_structure(X, "the matrix")
    X = sp.csr_matrix(DENSE)
    X.indices[0] = 8
    with pytest.raises(InputError, match=r"^the matrix has a column index 8 at row 0"):
        check_sparse_structure(X, "the matrix")


def test_valid_but_unusual_structures_pass():
    """Empty rows, index arrays of any integer type, stored zeros, an empty matrix."""
    X = sp.csr_matrix((np.ones(3), np.array([2, 0, 7]), np.array([0, 0, 1, 1, 3])), shape=(4, 8))
    for dtype in (np.int8, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        typed = sp.csr_matrix(X)
        typed.indices, typed.indptr = X.indices.astype(dtype), X.indptr.astype(dtype)
        checked = check_sparse_features(typed, "X", np.float64, 8)
        np.testing.assert_array_equal(checked.toarray(), X.toarray())
    zeros = sp.coo_array((np.array([0.0, 2.0]), (np.array([1, 0]), np.array([3, 3]))),
                         shape=(2, 8))  # fmt: skip
    assert check_sparse_features(zeros, "X", np.float32, 8).nnz == 1
    assert check_sparse_features(sp.csc_matrix((5, 8)), "X", np.float32, 8).nnz == 0


# -- every way in, both backends -------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls, change, error, message", CASES)
def test_the_model_refuses_hostile_matrices_everywhere(backend, cls, change, error, message):
    X, arrays = hostile(cls, change)
    good = sp.csr_matrix(DENSE)
    model = small_model(backend)
    model.fit(good, Y, epochs=1, verbose=0)
    before = [w.copy() for pair in model.get_weights() for w in pair]
    calls = {
        "fit, batch_size=1": lambda: model.fit(X, Y, verbose=0),
        "fit, batch_size=7": lambda: model.fit(X, Y, batch_size=7, verbose=0),
        "fit, L-BFGS": lambda: model.fit(X, Y, optimizer=fn.LBFGS(max_iter=2), verbose=0),
        "fit, workers=2": lambda: model.fit(X, Y, workers=2, verbose=0),
        "predict": lambda: model.predict(X),
        "predict_proba": lambda: model.predict_proba(X),
        "evaluate": lambda: model.evaluate(X, Y),
    }
    for call in calls.values():
        with pytest.raises(error, match=message):
            call()
    val_message = message.replace("X", r"validation_data\[0\]")
    with pytest.raises(error, match=val_message):
        model.fit(good, Y, validation_data=(X, Y), verbose=0)
    after = [w for pair in model.get_weights() for w in pair]
    for w0, w1 in zip(before, after):
        np.testing.assert_array_equal(w0, w1)
    assert_unchanged(X, arrays)
    assert model.predict(good).shape == (3,)  # the model still works


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stale_canonical_flag_is_not_trusted(backend):
    """A matrix that SciPy once found canonical, whose arrays were then replaced by a row of 5
    stored values in 2 columns (duplicates, unsorted): trusted, that row would overrun the
    kernels' row buffers; it trains and predicts as its dense sum."""
    X = sp.csr_matrix(np.eye(2))
    assert X.has_canonical_format
    X.indices = np.array([1, 0, 0, 1, 0, 1], np.int32)
    X.data = np.array([1.0, 2.0, 3.0, -1.0, 0.5, 4.0])
    X.indptr = np.array([0, 5, 6], np.int32)
    dense = np.array([[5.5, 0.0], [0.0, 4.0]])
    weights = {}
    for name, data in (("sparse", X), ("dense", dense)):
        model = fn.Sequential([fn.Dense(2, 3, "tanh"), fn.Dense(3, 2)], backend=backend, seed=0)
        for batch_size in (1, 7):
            model.fit(data, [0, 1], batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
        weights[name] = model.get_weights()
        np.testing.assert_allclose(model.predict_proba(data), model.predict_proba(dense))
    for (W0, b0), (W1, b1) in zip(weights["sparse"], weights["dense"]):
        np.testing.assert_allclose(W0, W1, rtol=1e-9)
        np.testing.assert_allclose(b0, b1, rtol=1e-9)
    assert X.indptr.tolist() == [0, 5, 6]  # fixed in a copy, not in place


# -- the scikit-learn estimators -------------------------------------------------------------

ESTIMATOR_CASES = [*CASES, pytest.param(sp.bsr_matrix, "bsr", InputError,
                   r"X has a block column index 4 at block row 0", id="bsr_matrix")]  # fmt: skip


def _bsr_or(cls, change):
    if change == "bsr":
        X = sp.bsr_matrix(DENSE, blocksize=(1, 2))
        X.indices[0] = 4
        return X, _arrays(X)
    return hostile(cls, change)


@pytest.fixture(scope="module", params=BACKENDS)
def fitted(request):
    """A classifier and a regressor fitted on the valid matrix, per backend."""
    args = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0, backend=request.param)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return (FastMLPClassifier(**args).fit(sp.csr_matrix(DENSE), Y),
                FastMLPRegressor(**args).fit(sp.csr_matrix(DENSE), Y.astype(float)))  # fmt: skip


@pytest.mark.parametrize("cls, change, error, message", ESTIMATOR_CASES)
def test_the_estimators_refuse_hostile_matrices_before_scikit_learn_converts_them(
    fitted, cls, change, error, message
):
    X, arrays = _bsr_or(cls, change)
    classifier, regressor = fitted
    backend = classifier.backend
    args = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0, backend=backend)
    calls = [
        lambda: FastMLPClassifier(**args).fit(X, Y),
        lambda: FastMLPClassifier(**args, solver="lbfgs").fit(X, Y),
        lambda: FastMLPClassifier(**args, early_stopping=True).fit(X, Y),
        lambda: FastMLPClassifier(**args).partial_fit(X, Y, classes=[0, 1, 2]),
        lambda: FastMLPRegressor(**args).fit(X, Y.astype(float)),
        lambda: FastMLPRegressor(**args).partial_fit(X, Y.astype(float)),
        lambda: classifier.predict(X),
        lambda: classifier.predict_proba(X),
        lambda: classifier.predict_log_proba(X),
        lambda: classifier.score(X, Y),
        lambda: classifier.partial_fit(X, Y),
        lambda: regressor.predict(X),
        lambda: regressor.score(X, Y.astype(float)),
    ]
    for call in calls:
        with pytest.raises(error, match=message):
            call()
    assert_unchanged(X, arrays)


# -- the command line: fastnn predict ROWS.npz, svmlight rows --------------------------------


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "small.npz"
    model = small_model("numpy")
    model.metadata = {"classes": ["a", "b", "c"]}
    model.save(path)
    return path


NPZ_CASES = {
    "csr": (lambda: sp.csr_matrix(DENSE), lambda X: X.indices.__setitem__(2, 100),
            "the matrix has a column index 100 at row 1, outside 0..7"),
    "csr-indptr": (lambda: sp.csr_array(DENSE), lambda X: X.indptr.__setitem__(1, 6),
                   "indptr of the matrix must start at 0, rise monotonically and end at nnz=6; "
                   "it falls from 6 to 5 at row 1"),
    "csc": (lambda: sp.csc_matrix(DENSE), lambda X: X.indices.__setitem__(0, 10**6),
            "the matrix has a row index 1000000 at column 0, outside 0..2"),
    "csc-indptr": (lambda: sp.csc_matrix(DENSE), lambda X: X.indptr.__setitem__(3, 0),
                   "it falls from 2 to 0 at column 2"),
    "bsr": (lambda: sp.bsr_matrix(DENSE, blocksize=(1, 2)),
            lambda X: X.indices.__setitem__(0, 10**6),
            "the matrix has a block column index 1000000 at block row 0, outside 0..3"),
    "coo": (lambda: sp.coo_matrix(DENSE), lambda X: X.col.__setitem__(0, 10**6),
            "is not a readable sparse matrix (scipy.sparse.save_npz):"),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(NPZ_CASES))
def test_predict_refuses_a_hostile_npz_before_converting_it(saved_model, tmp_path, capsys, kind):
    make, change, message = NPZ_CASES[kind]
    X = make()
    change(X)
    path = tmp_path / "rows.npz"
    sp.save_npz(path, X)  # writes the arrays as they are
    err = refused(capsys, "predict", saved_model, path, "--backend", "numpy", message=message)
    assert str(path) in err


def test_rows_read_from_svmlight_reach_the_same_check(tmp_path):
    path = tmp_path / "rows.svm"
    path.write_text("".join(f"{i % 2} {i % 5 + 1}:1 7:{i}\n" for i in range(1, 41)))
    data = datasets.load_svmlight(path, val_size=0.0, test_size=0.25)
    model = fn.Sequential(fn.dense_stack([data.n_features, 4, 2]), backend="numpy", seed=0)
    model.fit(data.X_train, data.y_train, verbose=0)
    data.X_test.indices[0] = data.n_features  # as if the rows came from elsewhere
    with pytest.raises(InputError, match=rf"X has a column index {data.n_features} at row 0"):
        model.predict(data.X_test)
    with pytest.raises(InputError, match=r"rows\.svm"):  # the parser's own bound
        datasets.read_svmlight(path, n_features=3)


# -- values beyond the dtype's range ---------------------------------------------------------

BEYOND_FLOAT32 = r"beyond the range of float32 \(largest finite 3\.403e\+38\)"


@pytest.mark.parametrize("backend", BACKENDS)
def test_values_that_overflow_float32_are_named_as_such(backend):
    model = fn.Sequential([fn.Dense(4, 3)], backend=backend, dtype="float32", seed=0)
    X, y = np.ones((5, 4)), np.arange(5) % 3
    big = X.copy()
    big[2, 1], big[4, 0] = -1e300, 1e39
    hint = r'; use dtype="float64" or rescale them$'
    with pytest.raises(InputError, match=rf"^X holds 2 value\(s\) {BEYOND_FLOAT32}, first "
                       rf"-1e\+300 at index \(2, 1\){hint}"):  # fmt: skip
        model.fit(big, y, verbose=0)
    with pytest.raises(InputError, match=rf"^X\.data holds 2 value\(s\) {BEYOND_FLOAT32}, "
                       rf"first -1e\+300 at row 2, column 1{hint}"):  # fmt: skip
        model.predict(sp.csc_matrix(big))
    with pytest.raises(InputError, match=rf"^validation_data\[0\] holds 2 .*{BEYOND_FLOAT32}"):
        model.fit(X, y, validation_data=(big, y), verbose=0)
    with pytest.raises(InputError, match=rf"^sample_weight holds 1 .*{BEYOND_FLOAT32}"):
        model.fit(X, y, sample_weight=[1, 1, 1e300, 1, 1], verbose=0)
    W = np.ones((4, 3))
    W[0, 2] = 1e300
    with pytest.raises(InputError, match=r"^weights\[0\] \(W\) holds 1 .*at index \(0, 2\)"):
        model.set_weights([(W, np.zeros(3))])
    regression = fn.Sequential([fn.Dense(4, 1)], loss="mse", backend=backend, dtype="float32")
    with pytest.raises(InputError, match=rf"^y holds 1 .*{BEYOND_FLOAT32}, first 1e\+300"):
        regression.fit(X, [0, 1, 1e300, 0, 1], verbose=0)
    wide = fn.Sequential([fn.Dense(4, 3)], backend=backend, dtype="float64", seed=0)
    wide.fit(big / 1e250, y, verbose=0)  # float64 holds them


def test_a_nan_or_infinity_given_is_named_first():
    model = fn.Sequential([fn.Dense(4, 3)], backend="numpy", dtype="float32", seed=0)
    y = np.arange(3)
    for bad in (np.nan, np.inf, -np.inf):
        X = np.ones((3, 4))
        X[0, 0], X[1, 3] = 1e300, bad  # the overflow comes first, the given value is named
        with pytest.raises(InputError, match=r"^X contains NaN or infinity \(1 value\(s\) in "
                           r"float64, first at index \(1, 3\)\); remove or impute"):  # fmt: skip
            model.fit(X, y, verbose=0)
        with pytest.raises(InputError, match=r"^X\.data contains NaN or infinity .* first at "
                           r"row 1, column 3\)"):  # fmt: skip
            model.predict(sp.coo_matrix(X))


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
                    reason="long double is double here")  # fmt: skip
def test_a_float64_model_names_its_own_range_without_suggesting_float64():
    model = fn.Sequential([fn.Dense(2, 2)], backend="numpy", dtype="float64", seed=0)
    X = np.ones((2, 2), np.longdouble)
    X[1, 1] = np.longdouble("1e400")
    message = (r"beyond the range of float64 \(largest finite 1\.798e\+308\), first 1e\+400 at "
               r"index \(1, 1\); rescale them$")  # fmt: skip
    with pytest.raises(InputError, match=message):
        model.predict(X)
