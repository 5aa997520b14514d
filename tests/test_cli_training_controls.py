"""``fastnn train --early-stopping --checkpoint --resume --dropout --log-csv``: the library's
callbacks on the command line, and a checkpoint that ``--resume`` continues exactly, after a
Ctrl-C too."""

import csv

import numpy as np
import pytest

import fastnn as fn
from fastnn import training

from helpers import main, refused

SMALL = ["--dataset", "digits", "--hidden", "16", "--quiet", "--backend", "numpy",
         "--momentum", "0.9", "--lr", "0.02"]  # fmt: skip


def train(capsys, *args, status=0):
    assert main("train", *SMALL, *args) == status, capsys.readouterr().err
    return capsys.readouterr()


def assert_same_weights(a, b):
    for (Wa, ba), (Wb, bb) in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


def test_early_stopping_keeps_the_best_epoch(capsys):
    out = train(capsys, "--epochs", "30", "--val-split", "0.2", "--early-stopping", "1",
                "--lr", "0.1").out  # fmt: skip
    assert "early stopping" in out and "restoring the weights of the end of the best epoch" in out
    assert "epoch 30/30" not in out


def test_a_checkpoint_resumes_the_run_exactly(capsys, tmp_path):
    straight, resumed = tmp_path / "straight.npz", tmp_path / "resumed.npz"
    checkpoint, log = tmp_path / "checkpoint.npz", tmp_path / "log.csv"
    train(capsys, "--epochs", "3", "--val-split", "0.1", "--save", straight)
    train(capsys, "--epochs", "1", "--val-split", "0.1", "--checkpoint", checkpoint,
          "--log-csv", log)  # fmt: skip
    assert fn.load(checkpoint).epochs_trained == 1
    out = train(capsys, "--epochs", "3", "--val-split", "0.1", "--resume", checkpoint,
                "--checkpoint", checkpoint, "--log-csv", log, "--save", resumed).out  # fmt: skip
    assert f"resuming {checkpoint} after epoch 1, up to 3 epoch(s) in all" in out
    assert "epoch 2/3" in out and "epoch 1/3" not in out
    assert_same_weights(fn.load(resumed), fn.load(straight))
    assert fn.load(checkpoint).epochs_trained == 3
    with open(log, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]  # appended after the resume
    assert list(rows[0]) == ["epoch", "accuracy", "epoch_time", "loss", "val_accuracy",
                             "val_loss"]  # fmt: skip


def test_ctrl_c_with_a_checkpoint_leaves_a_file_that_resume_continues(capsys, tmp_path,
                                                                      monkeypatch):  # fmt: skip
    straight, resumed = tmp_path / "straight.npz", tmp_path / "resumed.npz"
    checkpoint = tmp_path / "checkpoint.npz"
    train(capsys, "--epochs", "4", "--save", straight)
    part = training.EpochRunner.run_part

    def interrupting(runner, order, stats):
        part(runner, order, stats)
        if runner._epoch == 2:  # within the third epoch
            raise KeyboardInterrupt

    monkeypatch.setattr(training.EpochRunner, "run_part", interrupting)
    err = train(capsys, "--epochs", "4", "--checkpoint", checkpoint, status=130).err
    assert f"interrupted after 2 of 4 epoch(s); continue with --resume {checkpoint}" in err
    monkeypatch.setattr(training.EpochRunner, "run_part", part)
    assert fn.load(checkpoint).epochs_trained == 2
    train(capsys, "--epochs", "4", "--resume", checkpoint, "--save", resumed)
    assert_same_weights(fn.load(resumed), fn.load(straight))


def test_resume_with_nothing_left_to_train_reports(capsys, tmp_path):
    saved = tmp_path / "m.npz"
    train(capsys, "--epochs", "2", "--save", saved)
    out = train(capsys, "--epochs", "2", "--resume", saved).out
    assert "epoch 1/" not in out and "test accuracy" in out


def test_dropout_on_the_command_line(capsys, tmp_path):
    saved = tmp_path / "m.npz"
    out = train(capsys, "--epochs", "1", "--dropout", "0.2", "--batch-size", "8", "--save",
                saved).out  # fmt: skip
    assert "model: 64 -> 16 relu (dropout 0.2) -> 10" in out
    assert [type(layer).__name__ for layer in fn.load(saved).stack] == ["Dense", "Dropout",
                                                                        "Dense"]  # fmt: skip


@pytest.mark.parametrize(
    "args, message",
    [
        (["--optimizer", "lbfgs", "--early-stopping", "2"],
         "--early-stopping applies to --optimizer sgd and adam, not to lbfgs"),
        (["--optimizer", "lbfgs", "--dropout", "0.1"], "--dropout applies to --optimizer sgd"),
        (["--optimizer", "lbfgs", "--checkpoint", "c.npz"], "--checkpoint applies to"),
        (["--optimizer", "lbfgs", "--log-csv", "log.csv"], "--log-csv applies to"),
        (["--optimizer", "lbfgs", "--resume", "c.npz"], "--resume applies to"),
        (["--early-stopping", "-1"], "--early-stopping must be an integer >= 0; got -1"),
        (["--resume", "missing.npz"], "--resume 'missing.npz' does not exist"),
        (["--checkpoint", "no/such/folder/c.npz"], "--checkpoint no/such/folder/c.npz: the "
         "folder"),
    ],
)  # fmt: skip
def test_training_controls_that_do_not_apply_are_refused(capsys, args, message):
    lbfgs = "--optimizer" in args
    base = [a for a in SMALL if a not in ("--momentum", "0.9", "--lr", "0.02")] if lbfgs else SMALL
    assert main("train", *base, *args) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and message in captured.err, captured.err
    assert "epoch" not in captured.out


def test_resume_refuses_another_network_optimizer_or_data_set(capsys, tmp_path):
    saved = tmp_path / "m.npz"
    train(capsys, "--epochs", "1", "--save", saved)
    refused(capsys, "train", *SMALL, "--epochs", "2", "--resume", saved, "--hidden", "32",
            message="holds 64 -> 16 relu -> 10 | loss softmax_cross_entropy | 1,210 parameters "
            "| float32, but the options build 64 -> 32 relu -> 10")  # fmt: skip
    refused(capsys, "train", *SMALL, "--epochs", "2", "--resume", saved, "--lr", "0.5",
            message="was trained with SGD(lr=0.02, momentum=0.9")  # fmt: skip
    other = fn.load(saved)
    other.metadata["dataset"] = "spiral"  # as if trained on another data set of 64 features
    other.save(tmp_path / "other.npz")
    refused(capsys, "train", *SMALL, "--epochs", "2", "--resume", tmp_path / "other.npz",
            message="was trained on --dataset spiral, not digits")  # fmt: skip
    refused(capsys, "train", *SMALL, "--epochs", "2", "--resume", saved, "--log-csv", saved,
            message="is the --resume file")  # fmt: skip
