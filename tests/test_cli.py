"""The command line, run as a subprocess with tiny settings."""

import subprocess
import sys

import numpy as np
import pytest

from fastnn import datasets

pytestmark = pytest.mark.slow

FAST = ["--backend", "numpy", "--quiet"]


def fastnn(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "fastnn.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    model = folder / "digits.npz"
    run = fastnn(
        "train", "--dataset", "digits", "--hidden", "32", "--epochs", "3", "--val-split", "0.1",
        "--save", model, "--plots", folder / "plots", *FAST,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    return model, run


def test_train_digits_prints_epochs_metrics_and_writes_plots(digits_model):
    model, run = digits_model
    out = run.stdout
    assert "model: 64 -> 32 relu -> 10" in out
    assert "epoch 3/3" in out and "val_accuracy" in out
    accuracy = float(out.split("test accuracy: ")[1].split()[0])
    assert accuracy > 0.85
    for name in ("history.png", "confusion_matrix.png"):
        assert (model.parent / "plots" / name).stat().st_size > 1000
    assert model.exists()


def test_evaluate_prints_the_report(digits_model):
    model, _ = digits_model
    run = fastnn("evaluate", model)
    assert run.returncode == 0, run.stderr
    for text in ("macro F1", "top-2 accuracy", "ECE", "classification report", "confusion"):
        assert text in run.stdout


def test_predict_npy_csv_and_png(digits_model, tmp_path):
    model, _ = digits_model
    (_, _), (X_test, y_test) = datasets.load_digits()
    np.save(tmp_path / "rows.npy", X_test[:5])
    np.save(tmp_path / "image.npy", (X_test[0] * 16).reshape(8, 8))  # 0-16 grey levels
    np.savetxt(tmp_path / "rows.csv", X_test[:3], delimiter=",")
    import matplotlib.image

    matplotlib.image.imsave(tmp_path / "d.png", X_test[0].reshape(8, 8), cmap="gray")
    run = fastnn("predict", model, tmp_path / "rows.npy")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split()
    assert lines[0] == "prediction" and len(lines) == 6
    single = fastnn("predict", model, tmp_path / "image.npy", "--proba").stdout.splitlines()
    assert single[0].startswith("prediction,p_0") and len(single) == 2
    from_png = fastnn("predict", model, tmp_path / "d.png").stdout.split()
    assert from_png[1] == single[1].split(",")[0]
    run = fastnn("predict", model, tmp_path / "rows.csv", "--output", tmp_path / "out.csv")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out.csv").read_text().count("\n") == 4


def test_csv_regression_and_binary(tmp_path):
    diabetes = datasets.write_sklearn_csv("diabetes", tmp_path / "diabetes.csv")
    model = tmp_path / "reg.npz"
    run = fastnn(
        "train", "--dataset", f"csv:{diabetes}", "--target", "progression", "--hidden", "8",
        "--epochs", "5", "--batch-size", "16", "--lr", "0.003", "--save", model,
        "--plots", tmp_path / "p", *FAST,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "R^2" in run.stdout and (tmp_path / "p" / "predictions.png").exists()
    run = fastnn("evaluate", model)
    assert run.returncode == 0 and "MAE" in run.stdout
    # raw rows with a header: selected by name, standardised by the model, answered in the
    # target's units
    rows = tmp_path / "new.csv"
    rows.write_text("".join(open(diabetes).readlines()[:4]))
    run = fastnn("predict", model, rows)
    assert run.returncode == 0, run.stderr
    values = [float(v) for v in run.stdout.split()[1:]]
    assert len(values) == 3 and all(0 < v < 400 for v in values)

    cancer = datasets.write_sklearn_csv("breast_cancer", tmp_path / "cancer.csv")
    run = fastnn(
        "train", "--dataset", f"csv:{cancer}", "--target", "diagnosis", "--task", "binary",
        "--hidden", "8", "--epochs", "3", "--batch-size", "16", "--lr", "0.05",
        "--momentum", "0.5", "--nesterov", "--l2", "1e-4", "--decay", "1e-4",
        "--plots", tmp_path / "b", *FAST,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert float(run.stdout.split("test accuracy: ")[1].split()[0]) > 0.85
    assert (tmp_path / "b" / "roc_curve.png").exists()


def test_spiral_with_options():
    run = fastnn(
        "train", "--dataset", "spiral", "--hidden", "16,16", "--activation", "tanh",
        "--epochs", "2", "--batch-size", "64", "--lr", "0.1", "--dtype", "float64",
        "--seed", "3", *FAST,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "2 -> 16 tanh -> 16 tanh -> 3" in run.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--dataset", "csv:nope.csv", "--target", "y"], "nope.csv"),
        (["train", "--dataset", "spiral", "--target", "y"], "--target and --task apply"),
        (["train", "--dataset", "digits", "--loss", "mse"], "does not fit"),
        (["train", "--dataset", "wat"], "expected one of mnist"),
        (["evaluate", "missing.npz"], "does not exist"),
        (["predict", "missing.npz", "x.npy"], "does not exist"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message, tmp_path):
    run = fastnn(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_help_explains_every_option(command):
    run = fastnn(command, "--help")
    assert run.returncode == 0
    assert "--dataset" in run.stdout or command == "predict"
    assert run.stdout.count("--") >= 5
