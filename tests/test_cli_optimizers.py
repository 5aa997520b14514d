"""``fastnn train --optimizer sgd|adam|lbfgs``: each trains, the options that do not apply to an
optimizer are refused in one line, and the help says so."""

import subprocess
import sys

import numpy as np
import pytest

import fastnn as fn
from fastnn import cli, datasets

SMALL = ["--dataset", "digits", "--hidden", "16", "--epochs", "2", "--quiet"]


def main(*args):
    return cli.main([str(arg) for arg in args])


def trained(capsys, *args):
    assert main("train", *SMALL, *args) == 0
    return capsys.readouterr().out


def test_sgd_stays_the_default(capsys):
    out = trained(capsys)
    assert "batch size 1, SGD(lr=0.01, momentum=0.0" in out
    assert "epoch 2/2" in out and "iteration" not in out


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_adam_trains_with_its_own_default_lr(capsys, tmp_path, backend):
    path = tmp_path / "adam.npz"
    out = trained(capsys, "--optimizer", "adam", "--backend", backend, "--save", path)
    assert "Adam(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08, l1=0.0, l2=0.0)" in out
    assert "epoch 2/2" in out
    assert float(out.split("test accuracy: ")[1].split()[0]) > 0.8
    # the same job through the API: the command line adds nothing to the numbers
    (X, y), (X_test, y_test) = datasets.load_digits(0.2, 0)
    model = fn.Sequential(fn.dense_stack([64, 16, 10]), backend=backend, seed=0)
    model.fit(X, y, epochs=2, batch_size=1, optimizer=fn.Adam(), verbose=0)
    for (W, b), (W_cli, b_cli) in zip(model.get_weights(), fn.load(path).get_weights()):
        np.testing.assert_array_equal(W, W_cli)
        np.testing.assert_array_equal(b, b_cli)


def test_adam_options_and_schedule(capsys):
    out = trained(capsys, "--optimizer", "adam", "--lr", "0.01", "--beta1", "0.8", "--beta2",
                  "0.99", "--eps", "1e-7", "--l1", "1e-5", "--batch-size", "32", "--schedule",
                  "invscaling", "--power-t", "0.25")  # fmt: skip
    assert "batch size 32, Adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-07, l1=1e-05" in out
    assert "schedule invscaling (power_t 0.25)" in out


def test_sgd_with_the_adaptive_schedule(capsys):
    out = trained(capsys, "--momentum", "0.9", "--nesterov", "--schedule", "adaptive")
    assert "momentum=0.9, nesterov=True" in out and "schedule adaptive" in out


def test_lbfgs_trains_for_at_most_epochs_iterations(capsys):
    out = trained(capsys, "--optimizer", "lbfgs", "--epochs", "15", "--l2", "1e-4")
    assert "L-BFGS on the full batch of 1,437 images, at most 15 iteration(s)" in out
    assert "LBFGS(max_iter=15" in out and "l2=0.0001" in out
    lines = [line for line in out.splitlines() if line.startswith("iteration ")]
    assert 1 <= len(lines) <= 15 and "epoch" not in out
    assert f"({len(lines)} iteration(s)" in out and "L-BFGS: " in out
    assert float(out.split("test accuracy: ")[1].split()[0]) > 0.8


@pytest.mark.slow
def test_lbfgs_in_a_subprocess_with_save(tmp_path):
    path = tmp_path / "lbfgs.npz"
    run = subprocess.run(
        [sys.executable, "-m", "fastnn.cli", "train", *SMALL, "--optimizer", "lbfgs",
         "--save", str(path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "iteration 2 - loss" in run.stdout and f"saved: {path}" in run.stdout
    assert [layer.n_out for layer in fn.load(path).layers] == [16, 10]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--optimizer", "adam", "--momentum", "0.9"],
            "--momentum applies to --optimizer sgd, not to adam",
        ),
        (
            ["--optimizer", "adam", "--nesterov"],
            "--nesterov applies to --optimizer sgd, not to adam",
        ),
        (["--optimizer", "adam", "--decay", "0.1"], "--decay applies to --optimizer sgd, not to"),
        (["--beta1", "0.8"], "--beta1 applies to --optimizer adam, not to sgd"),
        (["--beta2", "0.9"], "--beta2 applies to --optimizer adam, not to sgd"),
        (["--eps", "1e-7"], "--eps applies to --optimizer adam, not to sgd"),
        (
            ["--optimizer", "lbfgs", "--eps", "1e-7"],
            "--eps applies to --optimizer adam, not to lbfgs",
        ),
        (
            ["--optimizer", "lbfgs", "--momentum", "0.5"],
            "--momentum applies to --optimizer sgd, not to lbfgs",
        ),
        (
            ["--optimizer", "lbfgs", "--l1", "0.1"],
            "--l1 applies to --optimizer sgd and adam, not to lbfgs",
        ),
        (["--optimizer", "lbfgs", "--lr", "0.1"], "--lr applies to --optimizer sgd and adam"),
        (
            ["--optimizer", "lbfgs", "--batch-size", "8"],
            "--batch-size applies to --optimizer sgd and adam",
        ),
        (["--optimizer", "lbfgs", "--schedule", "adaptive"], "--schedule applies to"),
        (
            ["--optimizer", "lbfgs", "--val-split", "0.1"],
            "--val-split applies to --optimizer sgd and adam, not to lbfgs",
        ),
        (["--power-t", "0.3"], "--power-t applies to --schedule invscaling only"),
        (["--optimizer", "adam", "--beta1", "1"], "beta1 must be a finite number >= 0 and < 1"),
        (["--optimizer", "adam", "--eps", "0"], "eps must be a finite number > 0"),
        (["--optimizer", "adam", "--lr", "-1"], "lr must be a finite number > 0; got -1.0"),
        (["--optimizer", "lbfgs", "--epochs", "0"], "--epochs must be an integer >= 1; got 0"),
        (["--optimizer", "lbfgs", "--l2", "-1"], "l2 must be a finite number >= 0"),
    ],
)
def test_what_does_not_apply_is_one_line_and_status_2(capsys, args, message):
    assert main("train", "--dataset", "digits", *args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("fastnn train: error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and captured.out == ""  # refused before any work


def test_an_unknown_optimizer_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main("train", "--optimizer", "rmsprop")
    assert exc.value.code == 2
    assert "invalid choice: 'rmsprop'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_help_explains_the_optimizers():
    run = subprocess.run(
        [sys.executable, "-m", "fastnn.cli", "train", "--help"], capture_output=True, text=True
    )
    assert run.returncode == 0
    text = " ".join(run.stdout.split())  # argparse wraps lines
    for option in ("--optimizer {sgd,adam,lbfgs}", "--beta1", "--beta2", "--eps", "--schedule",
                   "--power-t", "--momentum", "--nesterov", "--decay", "--l1", "--l2"):  # fmt: skip
        assert option in text
    assert "0.01 for sgd, 0.001 for adam" in text
    assert "with --optimizer lbfgs, the most L-BFGS iterations" in text
    assert "sgd only" in text and "adam only" in text


def test_lbfgs_memory_is_bounded_before_anything_is_allocated(capsys):
    assert main("train", "--dataset", "digits", "--optimizer", "lbfgs", "--hidden",
                "100000,100000") == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "parameters with L-BFGS would need" in err and err.count("\n") == 1


@pytest.mark.parametrize("save", [False, True])
def test_ctrl_c_during_lbfgs_saves_nothing(capsys, monkeypatch, tmp_path, save):
    def interrupted(self, model, data, verbose=0):
        raise KeyboardInterrupt

    monkeypatch.setattr(fn.LBFGS, "minimize", interrupted)
    path = tmp_path / "m.npz"
    args = ["--save", path] if save else []
    assert main("train", *SMALL, "--optimizer", "lbfgs", *args) == 130
    err = capsys.readouterr().err
    assert err.startswith("fastnn train: interrupted during L-BFGS") and err.count("\n") == 1
    assert ("nothing saved" in err) == save and not path.exists()
