"""``fastnn train`` as a user runs it: a subprocess."""

import subprocess
import sys

import numpy as np
import pytest

import fastnn as fn

pytestmark = pytest.mark.slow


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "fastnn.cli", *args], capture_output=True, text=True, timeout=600
    )


def test_train_defaults_report_architecture_backend_time_loss_and_accuracy(tmp_path):
    path = tmp_path / "mnist.npz"
    result = run("train", "--save", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "784 -> 128 relu -> 10 | loss softmax_cross_entropy" in out
    assert "backend numba" in out and "batch size 1" in out
    assert "epoch 1/1" in out and "train time:" in out
    accuracy = float(out.split("test accuracy: ")[1].split()[0])
    assert accuracy >= 0.95
    model = fn.load(path)
    assert [layer.n_out for layer in model.layers] == [128, 10]


def test_train_options_and_backend_switch():
    result = run(
        "train",
        "--backend",
        "numpy",
        "--hidden",
        "16,8",
        "--batch-size",
        "256",
        "--lr",
        "0.1",
        "--momentum",
        "0.9",
        "--dtype",
        "float64",
        "--seed",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert "784 -> 16 relu -> 8 relu -> 10" in result.stdout
    assert "float64 | backend numpy" in result.stdout and "momentum=0.9" in result.stdout
    assert np.isfinite(float(result.stdout.split("test loss: ")[1].split()[0]))


def test_user_errors_are_one_line_without_traceback():
    result = run("train", "--lr", "-1")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "fastnn train: error: lr must be a finite number > 0; got -1.0"
    )
    result = run("train", "--hidden", "12,x")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "comma-separated layer widths" in result.stderr
