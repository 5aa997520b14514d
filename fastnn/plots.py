"""Plots of training and of results, drawn with matplotlib (the optional extra ``plot``).

Every function returns a :class:`matplotlib.figure.Figure` and, given ``path``, also writes it as
a PNG (through a temporary file renamed into place). No pyplot state is touched, so the functions
work without a display and inside scripts that use pyplot themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ._distribution import pip_install
from ._files import as_path, atomic_write
from ._validation import as_array
from .errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ._typing import PathLike
    from .training import History

_INSTALL_HINT = f"fastnn.plots needs matplotlib: {pip_install('plot')} (or matplotlib>=3.5)"


def _figure(width=6.4, height=4.8):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig, path):
    if path is None:
        return fig
    path = as_path(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path) as f:
        fig.savefig(f, format="png")
    return fig


def plot_history(
    history: History | Mapping[str, Sequence[float]], path: PathLike | None = None
) -> Figure:
    """Training and validation loss (and accuracy, for classification) per epoch.

    Parameters
    ----------
    history : fastnn.History or dict
        What :meth:`fastnn.Sequential.fit` returns, or its ``.history`` dict.
    path : str, bytes or path-like, optional
        Write the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure()  # fails first, with the install hint, when matplotlib is missing
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs.get("loss"):
        raise InputError("history must be a fastnn.History (or its dict) with a 'loss' list")
    from matplotlib.ticker import MaxNLocator

    panels = [("loss", "loss")] + ([("accuracy", "accuracy")] if "accuracy" in logs else [])
    fig.set_size_inches(5.0 * len(panels), 4.0)
    epochs = np.arange(1, len(logs["loss"]) + 1)
    for ax, (key, label) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        ax.plot(epochs, logs[key], marker="o", label="training")
        if f"val_{key}" in logs:
            ax.plot(epochs, logs[f"val_{key}"], marker="s", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{label} per epoch")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def plot_confusion_matrix(
    cm: ArrayLike,
    path: PathLike | None = None,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
) -> Figure:
    """A confusion matrix as a heat map, with the counts written in the cells.

    Parameters
    ----------
    cm : array-like of int, shape (n_classes, n_classes)
        Rows are true classes, columns predicted ones (:func:`fastnn.metrics.confusion_matrix`).
    path : str, bytes or path-like, optional
    class_names : sequence of str, optional
    normalize : bool, default False
        Colour by the fraction of each true class rather than by the count.

    Returns
    -------
    matplotlib.figure.Figure
    """
    cm = as_array(cm, "cm")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise InputError(f"cm must be a square matrix; got shape {cm.shape}")
    n = cm.shape[0]
    names = [str(i) for i in range(n)] if class_names is None else [str(c) for c in class_names]
    if len(names) != n:
        raise InputError(f"class_names must name the {n} classes; got {len(names)} names")
    totals = cm.sum(axis=1, keepdims=True)
    shade = cm / np.where(totals == 0, 1, totals) if normalize else cm
    size = max(4.0, 0.55 * n + 2.5)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    image = ax.imshow(shade, cmap="Blues")
    fig.colorbar(image, ax=ax, label="fraction of true class" if normalize else "samples")
    threshold = shade.max() / 2 if shade.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(int(cm[i, j])),
                ha="center",
                va="center",
                fontsize=9 if n <= 10 else 7,
                color="white" if shade[i, j] > threshold else "black",
            )
    ax.set_xticks(range(n), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("confusion matrix")
    return _save(fig, path)


def plot_roc_curve(
    fpr: ArrayLike, tpr: ArrayLike, path: PathLike | None = None, auc: float | None = None
) -> Figure:
    """A binary classifier's ROC curve, with the chance diagonal.

    Parameters
    ----------
    fpr, tpr : array-like
        From :func:`fastnn.metrics.roc_curve`.
    path : str, bytes or path-like, optional
    auc : float, optional
        Shown in the legend.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fpr = as_array(fpr, "fpr").astype(np.float64)
    tpr = as_array(tpr, "tpr").astype(np.float64)
    if fpr.ndim != 1 or fpr.shape != tpr.shape:
        raise InputError(f"fpr and tpr must be 1-D of one length; got {fpr.shape}, {tpr.shape}")
    fig = _figure(5.0, 5.0)
    ax = fig.subplots()
    label = "model" if auc is None else f"model (AUC = {auc:.4f})"
    ax.plot(fpr, tpr, lw=2, label=label)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="chance")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_predictions(
    y_true: ArrayLike, y_pred: ArrayLike, path: PathLike | None = None, r2: float | None = None
) -> Figure:
    """Predicted against actual values of a regression, with the identity line.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n_samples,)
    path : str, bytes or path-like, optional
    r2 : float, optional
        Shown in the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    y_true = as_array(y_true, "y_true").astype(np.float64).reshape(-1)
    y_pred = as_array(y_pred, "y_pred").astype(np.float64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise InputError(f"y_true and y_pred differ in size: {y_true.size} and {y_pred.size}")
    fig = _figure(5.0, 5.0)
    ax = fig.subplots()
    ax.scatter(y_true, y_pred, s=14, alpha=0.7, edgecolors="none")
    low = float(min(y_true.min(), y_pred.min()))
    high = float(max(y_true.max(), y_pred.max()))
    ax.plot([low, high], [low, high], ls="--", color="grey", label="predicted = actual")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("predicted vs actual" + ("" if r2 is None else f" (R$^2$ = {r2:.3f})"))
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_report(
    history: History | Mapping[str, Sequence[float]] | None,
    scores: Mapping[str, Any],
    folder: PathLike,
    class_names: Sequence[str] | None = None,
) -> list[str]:
    """Write the plots that fit a task into ``folder`` and return their paths.

    ``history.png`` (when ``history`` is given), then ``confusion_matrix.png`` and, for two
    classes, ``roc_curve.png`` for classification, or ``predictions.png`` for regression.
    ``scores`` is a :func:`fastnn.metrics.report` of the test data.
    """
    folder = as_path(folder, "folder")
    written = []
    if history is not None:
        written.append(os.path.join(folder, "history.png"))
        plot_history(history, written[-1])
    if "confusion_matrix" in scores:
        written.append(os.path.join(folder, "confusion_matrix.png"))
        plot_confusion_matrix(scores["confusion_matrix"], written[-1], class_names)
    if "fpr" in scores:
        written.append(os.path.join(folder, "roc_curve.png"))
        plot_roc_curve(scores["fpr"], scores["tpr"], written[-1], auc=scores.get("roc_auc"))
    if "r2" in scores and "y_true" in scores:
        written.append(os.path.join(folder, "predictions.png"))
        plot_predictions(scores["y_true"], scores["y_pred"], written[-1], r2=scores["r2"])
    return written


__all__ = [
    "plot_confusion_matrix",
    "plot_history",
    "plot_predictions",
    "plot_report",
    "plot_roc_curve",
]
