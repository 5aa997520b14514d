"""Every plot writes a non-empty PNG."""

import sys

import numpy as np
import pytest

from fastnn import History, plots

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(path):
    data = path.read_bytes()
    return len(data) > 1000 and data[:8] == PNG


def history(classification=True):
    h = History()
    for epoch in range(4):
        logs = {"loss": 1.0 / (epoch + 1), "val_loss": 1.2 / (epoch + 1)}
        if classification:
            logs.update(accuracy=0.5 + 0.1 * epoch, val_accuracy=0.45 + 0.1 * epoch)
        h._append(epoch, logs)
    return h


def test_plot_history(tmp_path):
    plots.plot_history(history(), tmp_path / "h.png")
    plots.plot_history(history(False).history, tmp_path / "sub" / "r.png")
    assert is_png(tmp_path / "h.png") and is_png(tmp_path / "sub" / "r.png")
    assert not list(tmp_path.glob("*.part"))


def test_plot_confusion_matrix(tmp_path):
    cm = np.array([[5, 1], [2, 7]])
    plots.plot_confusion_matrix(cm, tmp_path / "cm.png", class_names=["benign", "malignant"])
    plots.plot_confusion_matrix(np.eye(10, dtype=int) * 9, tmp_path / "cm10.png", normalize=True)
    assert is_png(tmp_path / "cm.png") and is_png(tmp_path / "cm10.png")
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix(np.ones((2, 3)))


def test_plot_roc_curve(tmp_path):
    plots.plot_roc_curve([0, 0, 0.5, 1], [0, 0.5, 1, 1], tmp_path / "roc.png", auc=0.875)
    assert is_png(tmp_path / "roc.png")


def test_plot_predictions(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    plots.plot_predictions(y, y + rng.normal(0, 0.3, 40), tmp_path / "p.png", r2=0.9)
    assert is_png(tmp_path / "p.png")


def test_plot_report_picks_plots_by_task(tmp_path):
    scores = {"confusion_matrix": np.eye(2, dtype=int), "fpr": [0, 1], "tpr": [0, 1]}
    written = plots.plot_report(history(), scores, tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in written] == [
        "history.png",
        "confusion_matrix.png",
        "roc_curve.png",
    ]
    scores = {"r2": 0.5, "y_true": [1.0, 2.0], "y_pred": [1.1, 1.8]}
    assert plots.plot_report(None, scores, tmp_path)[0].endswith("predictions.png")


def test_clear_message_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install \"fastnn-cpu\[plot\]\""):
        plots.plot_history(history())
