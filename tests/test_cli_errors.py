"""The command line's errors: a user's mistake is one line and status 2, a bug in fastnn shows
its traceback; the commands are imported only when they run."""

import subprocess
import sys
import zipfile

import numpy as np
import pytest

import fastnn as fn
from fastnn import cli

FAST = ["--backend", "numpy", "--quiet"]


def fastnn(*args, code=None, env=None):
    """``fastnn ARGS`` in a subprocess; ``code`` runs first (say, to plant a bug)."""
    program = (code or "") + "\nimport sys\nfrom fastnn.cli import main\nsys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", program, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def one_line_error(capsys, argv, command):
    assert cli.main([str(arg) for arg in argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"fastnn {command}: error: ") and captured.err.count("\n") == 1
    return captured


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small digits model, saved with the numba backend recorded in its file."""
    path = tmp_path_factory.mktemp("model") / "m.npz"
    model = fn.Sequential(fn.dense_stack([64, 8, 10]), backend="numba", seed=0)
    model.metadata = {"dataset": "digits", "image_shape": [8, 8], "pixel_max": 16,
                      "classes": [str(i) for i in range(10)]}  # fmt: skip
    model.save(path)
    return path


# -- bugs are not user errors ----------------------------------------------------------------


@pytest.mark.parametrize("bug", [RuntimeError("broken"), KeyError("epoch_time"), TypeError("x")])
def test_a_bug_in_a_command_propagates(monkeypatch, bug):
    train = cli.load_command("train")

    def run(args):
        raise bug

    monkeypatch.setattr(train, "run", run)
    with pytest.raises(type(bug)):
        cli.main(["train"])


@pytest.mark.slow
def test_a_bug_shows_its_traceback_and_not_status_2():
    plant = (
        "import fastnn.cli.train as train\n"
        "def run(args):\n"
        "    raise KeyError('epoch_time')\n"
        "train.run = run"
    )
    result = fastnn("train", code=plant)
    assert result.returncode not in (0, 2)
    assert "Traceback" in result.stderr and "KeyError: 'epoch_time'" in result.stderr


def test_a_file_the_system_refuses_is_one_line_naming_it(monkeypatch, capsys):
    def run(args):
        raise PermissionError(13, "Permission denied", "/data/out.csv")

    monkeypatch.setattr(cli.load_command("predict"), "run", run)
    captured = one_line_error(capsys, ["predict", "m.npz", "x.npy"], "predict")
    assert captured.err == "fastnn predict: error: /data/out.csv: Permission denied\n"


# -- malformed model files -------------------------------------------------------------------


def _malformed(folder):
    garbage = folder / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    no_config = folder / "no_config.npz"
    np.savez(no_config, W0=np.zeros((2, 2)))
    bad_json = folder / "bad_json.npz"
    np.savez(bad_json, config=np.array("{not json"))
    truncated = folder / "truncated.npz"
    model = fn.Sequential(fn.dense_stack([4, 3]), backend="numpy")
    model.save(folder / "whole.npz")
    truncated.write_bytes((folder / "whole.npz").read_bytes()[:300])
    pickled = folder / "pickled.npz"
    with zipfile.ZipFile(pickled, "w") as z:
        with z.open("config.npy", "w") as f:
            np.lib.format.write_array(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return [garbage, no_config, bad_json, truncated, pickled]


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_malformed_model_files_are_one_line(tmp_path, capsys, command):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((2, 4)))
    for path in _malformed(tmp_path):
        argv = [command, path] + ([rows] if command == "predict" else []) + ["--backend", "numpy"]
        captured = one_line_error(capsys, argv, command)
        assert path.name in captured.err, captured.err


# -- the backend of a saved model ------------------------------------------------------------


def test_evaluate_takes_a_backend(saved, capsys):
    assert cli.main(["evaluate", str(saved), "--backend", "numpy"]) == 0
    assert "backend numpy" in capsys.readouterr().out


def test_predict_passes_its_backend_to_load(saved, tmp_path, capsys, monkeypatch):
    import fastnn.serialization

    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((3, 64)))
    asked = []
    real = fastnn.serialization.load

    def load(path, backend=None):
        asked.append(backend)
        return real(path, backend=backend)

    monkeypatch.setattr(fastnn.serialization, "load", load)
    assert cli.main(["predict", str(saved), str(rows), "--backend", "numpy"]) == 0
    assert cli.main(["predict", str(saved), str(rows)]) == 0
    assert asked == ["numpy", None]  # no option: fastnn.load decides ($FASTNN_BACKEND, the file)
    assert capsys.readouterr().out.startswith("prediction\n")


# -- the lazy registry -----------------------------------------------------------------------


@pytest.mark.slow
def test_commands_are_imported_only_when_they_run():
    code = (
        "import sys\n"
        "from fastnn.cli import build_parser\n"
        "build_parser().format_help()\n"
        "before = sorted(m for m in sys.modules if m.startswith(('fastnn.cli.', 'fastnn.bench')))\n"
        "build_parser('evaluate')\n"
        "after = sorted(m for m in sys.modules if m.startswith(('fastnn.cli.', 'fastnn.bench')))\n"
        "print(before, after)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    before, after = result.stdout.strip().split("] [")
    assert "train" not in before and "evaluate" not in before and "bench" not in before
    assert "fastnn.cli.evaluate" in after and "fastnn.cli.train" not in after


def test_fastnn_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name, info_ in cli.COMMANDS.items():
        assert name in out and info_.summary.split()[0] in out
