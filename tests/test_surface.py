"""What a user meets first: the modules as attributes, ``fastnn --version``, error messages in
the words of the interface in use, and a progress bar that stays out of log files."""

import io
import subprocess
import sys

import numpy as np
import pytest

import fastnn as fn
from fastnn import cli, datasets


@pytest.mark.slow  # a fresh interpreter
def test_modules_are_attributes_imported_on_first_use():
    program = (
        "import sys, fastnn as fn\n"
        "heavy = ('sklearn', 'matplotlib', 'fastnn.plots', 'fastnn.metrics', 'fastnn.sklearn')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "assert fn.plots.plot_history and fn.metrics.accuracy and fn.bench.run\n"
        "assert fn.sklearn.FastMLPClassifier.__name__ == 'FastMLPClassifier'\n"
        "assert {'plots', 'metrics', 'sklearn'} <= set(dir(fn))\n"
    )
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        fn.nonsense  # noqa: B018


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"fastnn {fn.__version__} (installed as fastnn-cpu), Python ")
    assert out.count("\n") == 1 and "numpy" in out


@pytest.fixture
def text_target(tmp_path):
    path = tmp_path / "cancer.csv"
    rows = "\n".join(f"{i},{i % 7},{'M' if i % 2 else 'B'}" for i in range(40))
    path.write_text("a,b,diagnosis\n" + rows + "\n")
    return path


def test_a_text_target_asks_for_the_task_argument_in_python(text_target):
    with pytest.raises(ValueError, match=r"row 2 holds 'B'; .*pass task='binary'") as error:
        datasets.load_csv(text_target, target="diagnosis")
    assert "--task" not in str(error.value)


def test_a_text_target_asks_for_the_task_option_on_the_command_line(text_target, capsys):
    argv = ["train", "--dataset", f"csv:{text_target}", "--target", "diagnosis", "--quiet",
            "--backend", "numpy"]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "add --task binary (two classes) or --task classification" in err
    assert "task='binary'" not in err and err.count("\n") == 1


def test_a_text_feature_names_the_option_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "songs.csv"
    path.write_text("name,tempo,y\n" + "\n".join(f"s{i},{i},{i % 3}" for i in range(30)) + "\n")
    with pytest.raises(ValueError, match=r"leave it out with features=\[\.\.\.\]"):
        datasets.load_csv(path, target="y")
    argv = ["train", "--dataset", f"csv:{path}", "--target", "y", "--quiet", "--backend", "numpy"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "--features names the columns to use" in err and "features=[" not in err


def test_labels_numbered_from_one_are_told_to_start_at_zero():
    X = np.random.default_rng(0).random((30, 4))
    model = fn.Sequential(fn.dense_stack([4, 10]), backend="numpy")
    with pytest.raises(ValueError, match=r"got 10 \(min 1, max 10\); they look numbered from 1: "
                       r"pass y - 1$"):  # fmt: skip
        model.fit(X, np.arange(30) % 10 + 1, verbose=0)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_the_progress_bar_is_drawn_on_a_terminal_only(monkeypatch, terminal):
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    X = np.random.default_rng(0).random((200, 4))
    model = fn.Sequential(fn.dense_stack([4, 3]), backend="numpy", seed=0)
    model.fit(X, np.arange(200) % 3, epochs=2, verbose=1)
    assert ("\r" in stderr.getvalue()) == terminal
