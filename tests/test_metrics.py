"""Metrics against scikit-learn and against values computed by hand."""

import numpy as np
import pytest
from sklearn import metrics as sk

import fastnn as fn
from fastnn import metrics
from fastnn.scaling import Scaling


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 4, 200))
    return y_true, y_pred


def test_accuracy_by_hand():
    assert metrics.accuracy([0, 1, 1, 2], [0, 1, 2, 2]) == 0.75


def test_precision_recall_f1_by_hand_and_against_sklearn(labels):
    out = metrics.precision_recall_f1([0, 0, 1, 1], [0, 1, 1, 1])
    np.testing.assert_allclose(out["precision"], [1.0, 2 / 3])
    np.testing.assert_allclose(out["recall"], [0.5, 1.0])
    np.testing.assert_allclose(out["f1"], [2 / 3, 0.8])
    assert out["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    y_true, y_pred = labels
    out = metrics.precision_recall_f1(y_true, y_pred)
    for key, average in (("macro_precision", "macro"), ("macro_recall", "macro")):
        fn_ = sk.precision_score if "precision" in key else sk.recall_score
        assert out[key] == pytest.approx(fn_(y_true, y_pred, average=average))
    assert out["macro_f1"] == pytest.approx(sk.f1_score(y_true, y_pred, average="macro"))
    np.testing.assert_array_equal(out["support"], np.bincount(y_true))


def test_confusion_matrix(labels):
    np.testing.assert_array_equal(
        metrics.confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2]), [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    )
    assert metrics.confusion_matrix([0, 1], [0, 1], n_classes=4).shape == (4, 4)
    y_true, y_pred = labels
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y_true, y_pred), sk.confusion_matrix(y_true, y_pred)
    )


def test_roc_and_auc_by_hand():
    y = [0, 0, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.8]
    assert metrics.roc_auc(y, scores) == pytest.approx(0.75)  # 3 of 4 pairs ordered right
    fpr, tpr, _ = metrics.roc_curve(y, scores)
    assert fpr[0] == 0 and tpr[-1] == 1 and fpr[-1] == 1
    with pytest.raises(ValueError, match="both binary labels"):
        metrics.roc_auc([1, 1], [0.2, 0.3])


def test_expected_calibration_error_by_hand():
    # two bins: (0, 0.5] and (0.5, 1]
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    y = np.array([0, 1, 1, 0])
    # confidences 0.9, 0.8, 0.7, 0.6 all in the upper bin: accuracy 3/4, mean confidence 0.75
    assert metrics.expected_calibration_error(y, proba, n_bins=2) == pytest.approx(0.0)
    # ten bins: each sample alone; |1-0.9| + |0-0.8| + |1-0.7| + |1-0.6| over 4
    expected = (0.1 + 0.8 + 0.3 + 0.4) / 4
    assert metrics.expected_calibration_error(y, proba, n_bins=10) == pytest.approx(expected)
    # a 1-D input is P(class 1)
    assert metrics.expected_calibration_error(y, proba[:, 1], n_bins=10) == pytest.approx(expected)
    perfect = np.eye(3)[[0, 1, 2]]
    assert metrics.expected_calibration_error([0, 1, 2], perfect) == 0.0


def test_top_k_accuracy():
    proba = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.5, 0.2]])
    y = [1, 1, 2]
    assert metrics.top_k_accuracy(y, proba, k=1) == pytest.approx(0.0)
    assert metrics.top_k_accuracy(y, proba, k=2) == pytest.approx(2 / 3)
    assert metrics.top_k_accuracy(y, proba, k=3) == 1.0
    with pytest.raises(ValueError, match="k must be at most"):
        metrics.top_k_accuracy(y, proba, k=4)


def test_regression_metrics():
    y, p = [1.0, 2.0, 3.0], [1.5, 2.0, 2.0]
    assert metrics.mean_squared_error(y, p) == pytest.approx((0.25 + 0 + 1) / 3)
    assert metrics.mean_absolute_error(y, p) == pytest.approx(0.5)
    assert metrics.r2_score(y, p) == pytest.approx(1 - 1.25 / 2)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert metrics.r2_score(a, b) == pytest.approx(sk.r2_score(a, b))


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="y_true has 2 samples but y_pred has 3"):
        metrics.accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="proba must have shape"):
        metrics.expected_calibration_error([0, 1], np.ones((3, 2)) / 2)


def test_report_classification_and_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = fn.Sequential([fn.Dense(3, 1)], loss="binary_cross_entropy", backend="numpy")
    model.fit(X, y, epochs=5, optimizer=fn.SGD(lr=0.1), verbose=0)
    report = metrics.report(model, X, y, class_names=["neg", "pos"])
    assert {"accuracy", "macro_f1", "roc_auc", "ece", "fpr", "confusion_matrix"} <= set(report)
    assert "neg" in report["classification_report"]
    assert "ROC AUC" in metrics.format_report(report)
    reg = fn.Sequential([fn.Dense(3, 1)], loss="mse", backend="numpy")
    target = X @ np.array([1.0, 2.0, 0.0], np.float32)
    reg.fit(X, target, epochs=20, optimizer=fn.SGD(lr=0.05), verbose=0)
    report = metrics.report(reg, X, target)
    assert report["r2"] > 0.9 and report["mse"] == pytest.approx(report["loss"], rel=1e-4)
    assert not report["target_standardised"]


def test_report_of_a_model_with_a_target_scaling_is_in_the_target_units():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 3))
    target = X @ np.array([1.0, 2.0, 0.0])
    reg = fn.Sequential([fn.Dense(3, 1)], loss="mse", backend="numpy", dtype="float64")
    reg.fit(X, target, epochs=10, optimizer=fn.SGD(lr=0.05), verbose=0)
    plain = metrics.report(reg, X, target)
    scaled = fn.Sequential([fn.Dense(3, 1)], loss="mse", backend="numpy", dtype="float64")
    scaled.set_weights(reg.get_weights())
    scaled.scaling = Scaling(np.zeros(3), np.ones(3), target_mean=10.0, target_scale=2.0)
    report = metrics.report(scaled, X, target * 2 + 10)  # raw targets, in their own units
    assert report["target_standardised"]
    assert report["loss"] == pytest.approx(plain["loss"], rel=1e-9)  # on the model's scale
    assert report["mse"] == pytest.approx(4 * plain["mse"], rel=1e-9)
    assert report["r2"] == pytest.approx(plain["r2"], rel=1e-9)
    np.testing.assert_allclose(report["y_pred"], plain["y_pred"] * 2 + 10, rtol=1e-12)
    assert "loss (std. y)" in metrics.format_report(report)
