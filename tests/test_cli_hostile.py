"""Hostile and unusual input at the command line: sizes that would exhaust memory, files that lie
about their size, destinations that cannot be written, names with commas, Ctrl-C."""

import os
import signal
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

import fastnn as fn
from fastnn import datasets

from helpers import ctrl_c_as_typed, main, refused

FAST = ["--backend", "numpy", "--quiet"]
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root writes where permissions forbid


# -- sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--hidden", "99999999999"], "would need"),
        (["--hidden", "100000,100000"], "would need"),
        (["--epochs", "0"], "--epochs must be an integer >= 1; got 0"),
        (["--epochs", "-3"], "--epochs must be an integer >= 1; got -3"),
        (["--batch-size", "0"], "--batch-size must be an integer >= 1; got 0"),
    ],
)
def test_sizes_are_bounded_before_anything_is_allocated(capsys, args, message):
    refused(capsys, "train", "--dataset", "digits", *args, *FAST, message=message)


def test_the_batch_size_counts_towards_the_memory_bound(capsys, monkeypatch):
    import fastnn._validation

    monkeypatch.setattr(fastnn._validation, "memory_limit", lambda: 256 * 2**20)
    refused(capsys, "train", "--hidden", "1000", "--batch-size", "60000", *FAST,
            message="in batches of 60,000 would need")  # fmt: skip


def test_a_batch_larger_than_the_data_is_one_batch_of_all(capsys):
    assert main("train", "--dataset", "digits", "--batch-size", 10**12, "--hidden", "4", *FAST) == 0
    assert "batch size 1437" in capsys.readouterr().out  # every training row


# -- destinations, checked before training ---------------------------------------------------


def test_save_destination_is_checked_before_training(tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "folder.npz").mkdir()
    cases = [
        (tmp_path / "no" / "such" / "m.npz", "the folder"),
        (tmp_path, "is a folder"),
        (str(tmp_path) + "/", "is a folder"),
        (tmp_path / "folder", "is a folder"),  # .npz is appended, as save does
        (tmp_path / "file.txt" / "m.npz", "does not exist"),
    ]
    for path, message in cases:
        refused(capsys, "train", "--dataset", "digits", "--save", path, *FAST, message=message)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_folder_that_takes_no_files_is_refused_before_training(capsys):
    refused(capsys, "train", "--dataset", "digits", "--save", "/proc/m.npz", *FAST,
            message="--save /proc/m.npz: cannot write into /proc")  # fmt: skip


@pytest.mark.skipif(ROOT, reason="root may write into a read-only folder")
def test_save_into_a_read_only_folder_is_refused_before_training(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "m.npz").write_bytes(b"old")
    folder.chmod(0o500)
    try:
        refused(capsys, "train", "--dataset", "digits", "--save", folder / "new.npz", *FAST,
                message="cannot write into")  # fmt: skip
        (folder / "m.npz").chmod(0o400)
        refused(capsys, "train", "--dataset", "digits", "--save", folder / "m.npz", *FAST,
                message="not writable")  # fmt: skip
    finally:
        folder.chmod(0o700)


def test_plots_and_output_destinations_are_checked_first(tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    refused(capsys, "train", "--dataset", "digits", "--plots", tmp_path / "file.txt" / "p",
            *FAST, message="is a file, not a folder")  # fmt: skip
    refused(capsys, "predict", "missing.npz", "x.npy", "--output", tmp_path / "no" / "out.csv",
            message="--output")  # fmt: skip
    refused(capsys, "evaluate", "missing.npz", "--plots", tmp_path / "file.txt",
            message="is a file, not a folder")  # fmt: skip


# -- files that lie about their size ---------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n"


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def black_png(path, height, width):
    """A valid grey PNG of black pixels; 14000x14000 compresses to about 190 KB."""
    z = zlib.compressobj(9)
    row = bytes(width + 1)  # filter type 0, then the pixels
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(PNG + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    model = fn.Sequential(fn.dense_stack([64, 8, 10]), backend="numpy", seed=0)
    model.metadata = {"dataset": "digits", "image_shape": [8, 8], "pixel_max": 16,
                      "classes": [str(i) for i in range(10)]}  # fmt: skip
    model.save(path)
    return path


CAPPED = """
import resource, sys
import matplotlib.image, PIL.PngImagePlugin  # imported before the cap, as predict would
import fastnn.cli.predict
from fastnn.cli import main
with open("/proc/self/status") as f:
    size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (size + {headroom}, hard))
sys.exit(main())
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_a_png_bomb_is_refused_by_its_header_within_a_memory_cap(tmp_path, digits_model):
    pytest.importorskip("matplotlib")
    bomb = black_png(tmp_path / "bomb.png", 14000, 14000)  # decodes to 196 MB, 784 MB as float
    assert bomb.stat().st_size < 300_000
    code = CAPPED.format(headroom=300 * 2**20)
    result = subprocess.run(
        [sys.executable, "-c", code, "predict", str(digits_model), str(bomb), *FAST[:2]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "is 14000x14000 pixels; the model takes 8x8 images" in result.stderr
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    # the same cap leaves room for an image of the model's size
    small = black_png(tmp_path / "small.png", 8, 8)
    result = subprocess.run(
        [sys.executable, "-c", code, "predict", str(digits_model), str(small), *FAST[:2]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_files_that_are_not_what_their_name_says(tmp_path, digits_model, capsys):
    fake_png = tmp_path / "fake.png"
    fake_png.write_text("hello")
    refused(capsys, "predict", digits_model, fake_png, message="is not a PNG image")
    short_png = tmp_path / "short.png"
    short_png.write_bytes(PNG + _chunk(b"IHDR", struct.pack(">II", 8, 8))[:10])
    refused(capsys, "predict", digits_model, short_png, message="is not a PNG image")
    lying_npy = tmp_path / "lying.npy"  # declares 10^9 rows of 64 floats, holds none
    with open(lying_npy, "wb") as f:
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**9, 64)}
        np.lib.format.write_array_header_1_0(f, header)
    refused(capsys, "predict", digits_model, lying_npy, message="is not a readable .npy array")
    text_npy = tmp_path / "text.npy"
    np.save(text_npy, np.array(["a", "b"]))
    refused(capsys, "predict", digits_model, text_npy, message="expected numbers")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("caf\xe9,1\n1,2\n".encode("latin-1"))
    refused(capsys, "predict", digits_model, latin1, message="is not a readable CSV file")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(",".join(["0"] * 64) + "\n" + ",".join(["0"] * 63) + "\n")
    refused(capsys, "predict", digits_model, ragged, message="line 2: 63 fields, expected 64")


# -- column names with commas ----------------------------------------------------------------


def test_column_names_with_commas_survive_train_evaluate_and_predict(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5] + 3
    table = tmp_path / "t.csv"
    lines = ['"size, in cm",weight,"age, years",y'] + [f"{a},{b},{c},{t}" for (a, b, c), t in
                                                      zip(X, y)]  # fmt: skip
    table.write_text("\n".join(lines) + "\n")
    model = tmp_path / "m.npz"
    assert main("train", "--dataset", f"csv:{table}", "--target", "y", "--hidden", "4",
                "--epochs", "3", "--batch-size", "8", "--save", model, *FAST) == 0  # fmt: skip
    assert fn.load(model).metadata["features"] == ["size, in cm", "weight", "age, years"]
    assert main("evaluate", model, "--backend", "numpy") == 0
    assert "R^2" in capsys.readouterr().out
    # a subset, named as in a CSV line
    assert main("train", "--dataset", f"csv:{table}", "--target", "y", "--epochs", "1",
                "--features", '"age, years",weight', *FAST) == 0  # fmt: skip
    assert "2 -> 128 relu -> 1" in capsys.readouterr().out
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(lines[:4]) + "\n")
    assert main("predict", model, rows, "--backend", "numpy") == 0
    values = [float(v) for v in capsys.readouterr().out.split()[1:]]
    assert len(values) == 3


# -- Ctrl-C ----------------------------------------------------------------------------------


def _interrupt_training(*args):
    """Start ``fastnn train`` on slow epochs, Ctrl-C it once the first epoch is done."""
    with ctrl_c_as_typed():
        process = subprocess.Popen(
            [sys.executable, "-m", "fastnn.cli", "train", "--dataset", "digits", "--hidden",
             "512,512", "--epochs", "500", *FAST, *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    try:
        for line in process.stdout:  # the process says when its first epoch is done
            if line.startswith("epoch 1/500"):
                break
        else:
            pytest.fail(f"fastnn train ended before its first epoch: {process.stderr.read()}")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, err


@pytest.mark.slow
def test_ctrl_c_saves_the_last_completed_epoch(tmp_path):
    path = tmp_path / "m.npz"
    status, err = _interrupt_training("--save", path)
    assert status == 130, err
    assert err.strip().splitlines()[-1].startswith("fastnn train: interrupted after ")
    assert "saved the model as of epoch " in err and str(path) in err
    assert "Traceback" not in err
    model = fn.load(path)
    assert [layer.n_out for layer in model.layers] == [512, 512, 10]
    (_, _), (X_test, y_test) = datasets.load_digits()
    assert model.evaluate(X_test, y_test)["accuracy"] > 0.5  # trained, not the initial weights


@pytest.mark.slow
def test_ctrl_c_without_save_is_one_line():
    status, err = _interrupt_training()
    assert status == 130
    assert err.strip() == err.strip().splitlines()[-1]
    assert err.startswith("fastnn train: interrupted after ") and "Traceback" not in err
