"""Metrics for classification and regression.

Thin, checked wrappers around scikit-learn's implementations, plus the expected calibration
error (ours) and :func:`report`, which gathers the metrics that fit a model's task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn import metrics as sk

from ._codes import CLASSIFICATION_LOSSES
from ._validation import as_array, check_int
from .errors import InputError

if TYPE_CHECKING:
    from ._typing import SparseMatrix
    from .model import Sequential


def _labels_1d(y, name):
    arr = as_array(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, shape (n_samples,); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"{name} must hold at least one sample; got none")
    return arr


def _pair(y_true, y_pred, pred_name="y_pred"):
    y_true = _labels_1d(y_true, "y_true")
    y_pred = _labels_1d(y_pred, pred_name)
    if y_true.shape[0] != y_pred.shape[0]:
        raise InputError(
            f"y_true has {y_true.shape[0]} samples but {pred_name} has {y_pred.shape[0]}"
        )
    return y_true, y_pred


def _proba(y_true, proba):
    """Labels and a (n_samples, n_classes) probability matrix (a 1-D input is P(class 1))."""
    y_true = _labels_1d(y_true, "y_true").astype(np.int64)
    proba = as_array(proba, "proba").astype(np.float64)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    if proba.ndim != 2 or proba.shape[0] != y_true.shape[0]:
        raise InputError(
            f"proba must have shape ({y_true.shape[0]}, n_classes) (or ({y_true.shape[0]},) for "
            f"P(class 1)); got {proba.shape}"
        )
    if y_true.min() < 0 or y_true.max() >= proba.shape[1]:
        raise InputError(
            f"y_true must hold labels 0..{proba.shape[1] - 1} to index proba's columns; got "
            f"min {y_true.min()}, max {y_true.max()}"
        )
    return y_true, proba


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The fraction of predictions equal to the truth."""
    return float(sk.accuracy_score(*_pair(y_true, y_pred)))


def precision_recall_f1(
    y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike | None = None
) -> dict[str, Any]:
    """Precision, recall, F1 and support per class, and their macro averages.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n_samples,)
    labels : sequence of int, optional
        The classes to report, in order; by default every label seen in either array.

    Returns
    -------
    dict
        ``"precision"``, ``"recall"``, ``"f1"`` (arrays, one value per class), ``"support"``
        (true samples per class), ``"labels"``, and ``"macro_precision"``, ``"macro_recall"``,
        ``"macro_f1"`` (unweighted means over the classes). A class never predicted has
        precision 0.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if labels is None:
        labels = np.union1d(y_true, y_pred)
    p, r, f, s = sk.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "labels": np.asarray(labels),
        "precision": p,
        "recall": r,
        "f1": f,
        "support": s,
        "macro_precision": float(np.mean(p)),
        "macro_recall": float(np.mean(r)),
        "macro_f1": float(np.mean(f)),
    }


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, n_classes: int | None = None
) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of class ``i`` predicted as ``j``.

    ``n_classes`` fixes the size (labels ``0..n_classes-1``); by default the labels seen.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    labels = None if n_classes is None else np.arange(check_int(n_classes, "n_classes", low=1))
    return sk.confusion_matrix(y_true, y_pred, labels=labels)


def classification_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    target_names: Sequence[str] | None = None,
    digits: int = 4,
) -> str:
    """scikit-learn's text table of per-class precision, recall, F1 and support."""
    y_true, y_pred = _pair(y_true, y_pred)
    labels = None if target_names is None else np.arange(len(target_names))
    return sk.classification_report(
        y_true,
        y_pred,
        labels=labels,
        target_names=None if target_names is None else [str(n) for n in target_names],
        digits=digits,
        zero_division=0,
    )


def _binary_scores(y_true, scores):
    y_true, scores = _pair(y_true, scores, "scores")
    values = set(np.unique(y_true).tolist())
    if not values <= {0, 1} or len(values) != 2:
        raise InputError(
            f"y_true must hold both binary labels 0 and 1 for an ROC curve; got {sorted(values)}"
        )
    return y_true, scores.astype(np.float64)


def roc_curve(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve of a binary classifier.

    Parameters
    ----------
    y_true : array-like of 0/1
    scores : array-like of float
        Higher means more likely class 1, e.g. ``model.predict_proba(X)[:, 1]``.

    Returns
    -------
    fpr, tpr, thresholds : ndarray
    """
    return sk.roc_curve(*_binary_scores(y_true, scores))


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """The area under the ROC curve (binary)."""
    return float(sk.roc_auc_score(*_binary_scores(y_true, scores)))


def expected_calibration_error(y_true: ArrayLike, proba: ArrayLike, n_bins: int = 15) -> float:
    """The expected calibration error of the top-class confidence.

    Samples are grouped into ``n_bins`` equal-width bins of confidence ``max(proba)``, and
    ``ECE = sum_b (|B_b| / n) |accuracy(B_b) - mean confidence(B_b)|`` (Guo et al., 2017).
    Bins are ``(lo, hi]``; a confidence of exactly 0 joins the first bin.

    Parameters
    ----------
    y_true : array-like of int, shape (n_samples,)
    proba : array-like, shape (n_samples, n_classes), or (n_samples,) for P(class 1)
    n_bins : int, default 15

    Returns
    -------
    float
        0 for a perfectly calibrated model, at most 1.
    """
    y_true, proba = _proba(y_true, proba)
    n_bins = check_int(n_bins, "n_bins", low=1)
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            gap = abs(correct[members].mean() - confidence[members].mean())
            ece += members.mean() * gap
    return float(ece)


def top_k_accuracy(y_true: ArrayLike, proba: ArrayLike, k: int = 2) -> float:
    """The fraction of samples whose true class is among the ``k`` most probable."""
    y_true, proba = _proba(y_true, proba)
    k = check_int(k, "k", low=1)
    if k > proba.shape[1]:
        raise InputError(f"k must be at most the number of classes ({proba.shape[1]}); got {k}")
    n_classes = proba.shape[1]
    if k == n_classes:
        return 1.0
    if n_classes == 2:  # k == 1
        return accuracy(y_true, proba.argmax(axis=1))
    return float(sk.top_k_accuracy_score(y_true, proba, k=k, labels=np.arange(n_classes)))


def _values(y_true, y_pred):
    y_true = as_array(y_true, "y_true").astype(np.float64)
    y_pred = as_array(y_pred, "y_pred").astype(np.float64)
    if y_true.shape != y_pred.shape:
        if y_true.size == y_pred.size and y_true.size == y_true.shape[0]:
            y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
        else:
            raise InputError(
                f"y_true and y_pred must have the same shape; got {y_true.shape} and {y_pred.shape}"
            )
    if y_true.size == 0:
        raise InputError("y_true must hold at least one value; got none")
    return y_true, y_pred


def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """``mean((y_pred - y_true) ** 2)``."""
    return float(sk.mean_squared_error(*_values(y_true, y_pred)))


def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """``mean(|y_pred - y_true|)``."""
    return float(sk.mean_absolute_error(*_values(y_true, y_pred)))


def r2_score(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """The coefficient of determination, ``1 - SS_res / SS_tot`` (1 is perfect)."""
    return float(sk.r2_score(*_values(y_true, y_pred)))


def report(
    model: Sequential,
    X: ArrayLike | SparseMatrix,
    y: ArrayLike,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every metric that fits the model's loss, on ``(X, y)``.

    Parameters
    ----------
    model : fastnn.Sequential
    X, y : array-like
        Features and labels or targets as the model takes them: raw, when the model has a
        :attr:`~fastnn.Sequential.scaling` (it standardises them itself).
    class_names : sequence of str, optional
        Names for the classes, used by the text report.

    Returns
    -------
    dict
        Regression (``mse`` loss): ``loss`` (the model's loss, on the standardised target when
        its scaling has target statistics: then ``target_standardised`` is True), ``mse``,
        ``mae``, ``r2``, and the targets ``y_true`` and predictions ``y_pred``, all in the
        target's units. Classification: ``loss``, ``accuracy``, the
        :func:`precision_recall_f1` entries, ``confusion_matrix``, ``ece``, ``top_2_accuracy``
        (more than two classes), ``roc_auc``, ``fpr`` and ``tpr`` (two classes, when both occur
        in ``y``), the text ``classification_report``, and ``y_true``, ``y_pred`` and
        ``proba``.
    """
    scores = model.evaluate(X, y)
    out = {"loss": scores["loss"]}
    if model.loss not in CLASSIFICATION_LOSSES:  # regression (mse, poisson)
        y_pred = model.predict(X).astype(np.float64)  # in the target's units
        y_true = np.asarray(y, np.float64).reshape(np.shape(y_pred))
        scaling = model.scaling
        out.update(
            target_standardised=scaling is not None and scaling.target_mean is not None,
            mse=mean_squared_error(y_true, y_pred),
            mae=mean_absolute_error(y_true, y_pred),
            r2=r2_score(y_true, y_pred),
            y_true=y_true,
            y_pred=y_pred,
        )
        return out
    y_true = _labels_1d(y, "y").astype(np.int64)
    proba = model.predict_proba(X)
    y_pred = proba.argmax(axis=1)
    n_classes = proba.shape[1]
    out["accuracy"] = accuracy(y_true, y_pred)
    out.update(precision_recall_f1(y_true, y_pred, labels=np.arange(n_classes)))
    out["confusion_matrix"] = confusion_matrix(y_true, y_pred, n_classes)
    out["ece"] = expected_calibration_error(y_true, proba)
    if n_classes > 2:
        out["top_2_accuracy"] = top_k_accuracy(y_true, proba, k=2)
    elif len(np.unique(y_true)) == 2:
        out["roc_auc"] = roc_auc(y_true, proba[:, 1])
        out["fpr"], out["tpr"], _ = roc_curve(y_true, proba[:, 1])
    names = class_names if class_names is not None else [str(i) for i in range(n_classes)]
    out["classification_report"] = classification_report(y_true, y_pred, names)
    out["y_true"], out["y_pred"], out["proba"] = y_true, y_pred, proba
    return out


def format_report(scores: Mapping[str, Any]) -> str:
    """The text of a :func:`report`: the scalar metrics, then the tables."""
    order = [
        ("loss", "loss"),
        ("accuracy", "accuracy"),
        ("macro_precision", "macro precision"),
        ("macro_recall", "macro recall"),
        ("macro_f1", "macro F1"),
        ("top_2_accuracy", "top-2 accuracy"),
        ("roc_auc", "ROC AUC"),
        ("ece", "ECE (15 bins)"),
        ("mse", "MSE"),
        ("mae", "MAE"),
        ("r2", "R^2"),
    ]
    if scores.get("target_standardised"):
        order[0] = ("loss", "loss (std. y)")
    lines = [f"{label:<16}{scores[key]:.4f}" for key, label in order if key in scores]
    if "classification_report" in scores:
        lines += ["", "classification report:", scores["classification_report"].rstrip()]
    if "confusion_matrix" in scores:
        cm = scores["confusion_matrix"]
        width = max(len(str(cm.max())), len(str(cm.shape[0] - 1))) + 1
        head = " " * 6 + "".join(f"{j:>{width}}" for j in range(cm.shape[1]))
        rows = [f"{i:>5} " + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(cm)]
        lines += ["", "confusion matrix (rows: true class, columns: predicted):", head, *rows]
    return "\n".join(lines)


__all__ = [
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "expected_calibration_error",
    "format_report",
    "mean_absolute_error",
    "mean_squared_error",
    "precision_recall_f1",
    "r2_score",
    "report",
    "roc_auc",
    "roc_curve",
    "top_k_accuracy",
]
