"""The fit arguments a Keras user expects: validation_split (the command line's split),
class_weight (times sample_weight), and no silent change of regime after L-BFGS."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastnn as fn
from fastnn.errors import InputError


def blobs(n=90, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (3, 5))
    y = rng.integers(0, 3, n)
    return centers[y] + rng.normal(size=(n, 5)), y


def classifier(backend="numpy", seed=0):
    return fn.Sequential([fn.Dense(5, 8, "relu"), fn.Dense(8, 3)], backend=backend,
                         dtype="float64", seed=seed)  # fmt: skip


def assert_same_weights(a, b):
    for (Wa, ba), (Wb, bb) in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


def without_time(history):
    return {key: values for key, values in history.history.items() if key != "epoch_time"}


# -- validation_split --------------------------------------------------------------------------


@pytest.mark.parametrize("sparse", [False, True])
def test_validation_split_holds_out_the_rows_the_command_line_holds_out(sparse):
    X, y = blobs()
    w = np.random.default_rng(1).uniform(0.5, 2, len(y))
    held = classifier()
    history = held.fit(sp.csr_matrix(X) if sparse else X, y, epochs=2, validation_split=0.2,
                       sample_weight=w, verbose=0)  # fmt: skip
    # fastnn train --val-split: datasets.split, stratified, seed 0
    train, val = fn.datasets.split_indices(len(y), 0.2, 0, stratify=y)
    X_train, X_val, y_train, y_val = fn.datasets.split(X, y, 0.2, 0, stratify=True)
    np.testing.assert_array_equal(X_train, X[train])
    if sparse:
        X_train, X_val = sp.csr_matrix(X_train), sp.csr_matrix(X_val)
    given = classifier()
    expected = given.fit(X_train, y_train, epochs=2, sample_weight=w[train], verbose=0,
                         validation_data=(X_val, y_val, w[val]))  # fmt: skip
    assert_same_weights(held, given)
    assert without_time(history) == without_time(expected)
    assert history.params["samples"] == 72 and history.params["validation_samples"] == 18


def test_validation_split_for_regression_is_not_stratified():
    X, _ = blobs()
    targets = X[:, 0] * 2
    train, val = fn.datasets.validation_rows(len(targets), 0.25)
    held = fn.Sequential([fn.Dense(5, 1)], loss="mse", backend="numpy", dtype="float64")
    history = held.fit(X, targets, validation_split=0.25, verbose=0)
    given = fn.Sequential([fn.Dense(5, 1)], loss="mse", backend="numpy", dtype="float64")
    given.fit(X[train], targets[train], validation_data=(X[val], targets[val]), verbose=0)
    assert_same_weights(held, given)
    assert "val_r2" in history.history


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(validation_split=1.0), ValueError, "validation_split must be a finite number >= 0"),
        (dict(validation_split=-0.1), ValueError, "validation_split must be a finite number"),
        (dict(validation_split="0.1"), TypeError, "validation_split must be a real number"),
        (dict(validation_split=0.1, validation_data="given"), ValueError,
         "give validation_data or validation_split, not both"),
        (dict(validation_split=0.01), ValueError, "cannot split 90 rows with test_size=0.01"),
    ],
)  # fmt: skip
def test_bad_validation_splits_are_one_line_errors(kwargs, error, match):
    X, y = blobs()
    if kwargs.get("validation_data") == "given":
        kwargs["validation_data"] = (X, y)
    with pytest.raises(error, match=match) as info:
        classifier().fit(X, y, verbose=0, **kwargs)
    assert "\n" not in str(info.value)


# -- class_weight --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("batch_size", [1, 8])
def test_class_weight_is_a_sample_weight_per_class_times_the_sample_weight(backend, batch_size):
    X, y = blobs()
    w = np.random.default_rng(2).uniform(0.5, 2, len(y))
    weighted = classifier(backend)
    weighted.fit(X, y, epochs=2, batch_size=batch_size, class_weight={0: 2.0, 2: 0.5},
                 sample_weight=w, verbose=0)  # fmt: skip
    expected = classifier(backend)
    per_class = np.array([2.0, 1.0, 0.5])[y]  # class 1 is not named: weight 1
    expected.fit(X, y, epochs=2, batch_size=batch_size, sample_weight=per_class * w, verbose=0)
    assert_same_weights(weighted, expected)


def test_balanced_class_weight_is_scikit_learns():
    from sklearn.utils.class_weight import compute_class_weight

    X, y = blobs(n=100, seed=3)
    y[:30] = 0  # unbalanced
    balanced = classifier()
    balanced.fit(X, y, class_weight="balanced", verbose=0)
    expected = classifier()
    table = compute_class_weight("balanced", classes=np.unique(y), y=y)
    expected.fit(X, y, sample_weight=table[y], verbose=0)
    assert_same_weights(balanced, expected)


def test_balanced_weights_are_counted_over_the_training_rows():
    X, y = blobs(n=100, seed=3)
    train, val = fn.datasets.validation_rows(len(y), 0.2, y)
    split = classifier()
    split.fit(X, y, class_weight="balanced", validation_split=0.2, verbose=0)
    counts = np.bincount(y[train], minlength=3)
    expected = classifier()
    expected.fit(X[train], y[train], sample_weight=(80 / (3 * counts))[y[train]], verbose=0,
                 validation_data=(X[val], y[val]))  # fmt: skip
    assert_same_weights(split, expected)


def test_class_weight_with_one_binary_output():
    X, y = blobs()
    y = (y == 1).astype(int)
    model = fn.Sequential([fn.Dense(5, 1)], loss="binary_cross_entropy", backend="numpy",
                          dtype="float64")  # fmt: skip
    model.fit(X, y, class_weight={1: 3.0}, verbose=0)
    expected = fn.Sequential([fn.Dense(5, 1)], loss="binary_cross_entropy", backend="numpy",
                             dtype="float64")  # fmt: skip
    expected.fit(X, y, sample_weight=np.where(y == 1, 3.0, 1.0), verbose=0)
    assert_same_weights(model, expected)


@pytest.mark.parametrize(
    "class_weight, error, match",
    [
        ({3: 1.0}, ValueError, "class_weight names the label 3; this model's labels are the "
                               "integers 0 to 2"),
        ({"a": 1.0}, ValueError, "class_weight names the label 'a'"),
        ({True: 1.0}, ValueError, "class_weight names the label True"),
        ({0: -1.0}, ValueError, r"class_weight\[0\] must be a finite number >= 0"),
        ({0: 0.0, 1: 0.0, 2: 0.0}, ValueError, "gives every training row the weight 0"),
        ("auto", ValueError, "class_weight must be a dict of {label: weight} or 'balanced'"),
        ([1.0, 2.0, 3.0], TypeError, "class_weight must be a dict"),
    ],
)  # fmt: skip
def test_bad_class_weights_are_one_line_errors(class_weight, error, match):
    X, y = blobs()
    with pytest.raises(error, match=match):
        classifier().fit(X, y, class_weight=class_weight, verbose=0)


def test_class_weight_needs_one_label_per_row():
    X, y = blobs()
    regression = fn.Sequential([fn.Dense(5, 1)], loss="mse")
    with pytest.raises(InputError, match="class_weight applies to classification"):
        regression.fit(X, X[:, 0], class_weight="balanced", verbose=0)
    multilabel = fn.Sequential([fn.Dense(5, 2)], loss="binary_cross_entropy")
    with pytest.raises(InputError, match="with 2 output"):
        multilabel.fit(X, np.stack([y == 0, y == 1], 1).astype(int), class_weight={0: 1.0},
                       verbose=0)  # fmt: skip


# -- L-BFGS: no silent change of regime ----------------------------------------------------------


def test_fit_without_an_optimizer_after_lbfgs_asks_for_one():
    X, y = blobs()
    model = classifier()
    lbfgs = fn.LBFGS(max_iter=3)
    history = model.fit(X, y, optimizer=lbfgs, verbose=0)
    assert len(history.epoch) <= 3 and history.params["iterations"] == 3
    assert history.params["optimizer"] == {"name": "LBFGS", "max_iter": 3, "tol": 1e-4,
                                           "max_fun": 15000, "l2": 0.0}  # fmt: skip
    before = model.get_weights()
    with pytest.raises(InputError, match=r"last fit used LBFGS\(max_iter=3.*pass optimizer="):
        model.fit(X, y, epochs=5, verbose=0)
    for (W, _), (W0, _) in zip(model.get_weights(), before):
        np.testing.assert_array_equal(W, W0)  # nothing trained
    again = model.fit(X, y, optimizer=lbfgs, verbose=0)  # asked for: L-BFGS again
    assert len(again.epoch) <= 3
    epochs = model.fit(X, y, epochs=5, optimizer=fn.SGD(), verbose=0)  # asked for: epochs
    assert epochs.epoch == [0, 1, 2, 3, 4]
    assert model.fit(X, y, epochs=2, verbose=0).epoch == [5, 6]  # SGD is reused as before


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(callbacks=[fn.EarlyStopping(monitor="loss")]), "callbacks applies to the epochs"),
        (dict(validation_split=0.2), "validation_split applies to the epochs"),
        (dict(initial_epoch=1), "initial_epoch applies to the epochs"),
    ],
)
def test_lbfgs_refuses_what_only_epochs_have(kwargs, match):
    X, y = blobs()
    with pytest.raises(InputError, match=match):
        classifier().fit(X, y, optimizer=fn.LBFGS(max_iter=2), verbose=0, **kwargs)


def test_class_weight_applies_to_lbfgs():
    X, y = blobs()
    weighted, expected = classifier(), classifier()
    weighted.fit(X, y, optimizer=fn.LBFGS(max_iter=5), class_weight={0: 3.0}, verbose=0)
    expected.fit(X, y, optimizer=fn.LBFGS(max_iter=5), verbose=0,
                 sample_weight=np.where(y == 0, 3.0, 1.0))  # fmt: skip
    assert_same_weights(weighted, expected)
