"""The project's own promises: CI runs the README's commands."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ci_command(name):
    match = re.search(rf"^{name}='(.+)'$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    assert match, f".ci/run sets no {name}"
    return match[1]


def test_ci_runs_the_readmes_install_and_test_commands():
    readme = (ROOT / "README.md").read_text()
    install, test = _ci_command("INSTALL"), _ci_command("TEST")
    assert re.search(rf"^{re.escape(install)}\s", readme, re.MULTILINE), install
    assert re.search(rf"^{re.escape(test)}\s", readme, re.MULTILINE), test
    assert re.search(r'^pytest -m "not slow"\s', readme, re.MULTILINE)


def test_ci_starts_from_a_new_virtual_environment():
    script = (ROOT / ".ci" / "run").read_text()
    assert "-m venv" in script and "pip freeze" in script


def test_the_oldest_releases_tested_are_the_floors_of_pyproject():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = dict(
        re.fullmatch(r"([\w-]+)>=([\d.]+)", dep).groups() for dep in project["dependencies"]
    )
    pinned = dict(
        line.split("==")
        for line in (ROOT / ".ci" / "oldest.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert pinned.keys() == floors.keys()
    for name, floor in floors.items():  # the pin is the floor's first release
        assert pinned[name].startswith(floor), (name, floor, pinned[name])


# -- the distribution and its install hints ------------------------------------------------

INSTALL = re.compile(r"""pip install (?:-e )?["']?(?P<name>[\w.-]+)(?:\[(?P<extras>[\w,-]+)\])?""")
HINT_CALL = re.compile(r"""pip_install\(["'](\w+)["']\)""")


def _pyproject():
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _texts():
    """Every file a user reads an install command in: the code, the README, the docs, the
    examples, the benchmarks and the changelog."""
    patterns = ["fastnn/**/*.py", "kernels/*.py", "benchmarks/*.py", "examples/*.py",
                "docs/**/*.md", "docs/**/*.py", "README.md", "CHANGELOG.md"]  # fmt: skip
    for pattern in patterns:
        for path in ROOT.glob(pattern):
            if "_build" not in path.parts and "auto_examples" not in path.parts:
                yield path, path.read_text(encoding="utf-8")


def test_the_distribution_name_is_the_one_in_pyproject():
    import fastnn
    from fastnn._distribution import DISTRIBUTION, pip_install

    project = _pyproject()
    assert project["name"] == DISTRIBUTION and DISTRIBUTION != "fastnn"
    assert project["version"] == fastnn.__version__
    assert pip_install("plot") == f'pip install "{DISTRIBUTION}[plot]"'


def test_every_install_hint_names_the_distribution_and_a_real_extra():
    from fastnn._distribution import DISTRIBUTION

    extras = set(_pyproject()["optional-dependencies"])
    seen = 0
    for path, text in _texts():
        for match in INSTALL.finditer(text):
            name, wanted = match["name"], match["extras"]
            if name.startswith("fastnn") or name.startswith("."):
                seen += 1
                assert name in (DISTRIBUTION, "."), f"{path.name}: {match[0]}"
                named = set((wanted or "").split(",")) - {"", "EXTRA"}  # EXTRA: a placeholder
                assert named <= extras, f"{path.name}: {match[0]}"
        for extra in HINT_CALL.findall(text):
            seen += 1
            assert extra in extras, f"{path.name}: pip_install({extra!r})"
    assert seen >= 10


def test_the_hints_fastnn_prints_use_the_distribution():
    from fastnn import plots
    from fastnn._distribution import DISTRIBUTION

    assert f'pip install "{DISTRIBUTION}[plot]"' in plots._INSTALL_HINT


# -- the README: a front page whose figures come from the results files ----------------------


def _render_results():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "render_results", ROOT / "benchmarks" / "render_results.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_figure_in_the_readme_comes_from_its_results_file():
    render = _render_results()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render.render(readme) == readme, "run python benchmarks/render_results.py"
    blocks = render.BLOCK.findall(readme)
    assert {name for _, name, _, _ in blocks} >= {"performance", "mnist-sgd-summary"}
    # outside the rendered blocks, no timing or ratio is typed by hand
    outside = render.BLOCK.sub("", readme)
    typed = re.search(r"\b\d+(\.\d+)?x\b|\b\d+(\.\d+)? ?(s|ms|µs)\b", outside)
    assert typed is None, typed


def test_the_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for note in ("load average", "this round", "Tried, and not kept", "restructuring"):
        assert note not in readme
    for target in re.findall(r"\]\(((?!https?:)[^)#]+)", readme):  # relative links resolve
        assert (ROOT / target).exists(), target


def test_the_results_renderer_reads_a_bench_file(tmp_path):
    render = _render_results()
    result = {
        "date": "2030-01-02T03:04:05+00:00",
        "command": "fastnn bench --peers --json benchmarks/results/mnist-sgd.json",
        "settings": {"regimes": ["per-sample"], "samples": 100, "layers": "784-128-10"},
        "machine": {
            "cpu": "Some CPU",
            "usable_cores": 2,
            "python": "3.11.7",
            "versions": {"numpy": "2.0", "numba": "0.60"},
            "blas": [
                {
                    "user_api": "blas",
                    "internal_api": "openblas",
                    "version": "0.3.27",
                    "num_threads": 2,
                    "architecture": "Haswell",
                }
            ],  # fmt: skip
        },
        "results": [
            {
                "implementation": "fastnn numba",
                "regime": "per-sample",
                "batch_size": 1,
                "samples": 100,
                "median_s": 0.5,
                "test_accuracy": 0.9,
                "speedup": 1.0,
                "samples_per_s": 200.0,
            },
            {
                "implementation": "PyTorch, 1 thread",
                "regime": "per-sample",
                "batch_size": 1,
                "samples": 100,
                "median_s": 20.0,
                "test_accuracy": 0.9,
                "speedup": 40.0,
                "samples_per_s": 5.0,
            },
        ],  # fmt: skip
    }
    (tmp_path / "mnist-sgd.json").write_text(__import__("json").dumps(result))
    block = render.render_block("performance", tmp_path)
    assert "| MNIST, 784-128-10 | per sample | PyTorch, 1 thread | 100 | 20.000 | 0.9000 | " \
           "40.00x |" in block  # fmt: skip
    assert "OpenBLAS 0.3.27 (Haswell kernel, 2 threads)" in block and "2030-01-02" in block
    assert "40x PyTorch" in render.render_block("mnist-sgd-summary", tmp_path)
    assert "No results file yet" in render.render_block("sklearn-digits-summary", tmp_path)


@pytest.mark.slow
def test_the_readmes_python_examples_run(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "mnist.npz").exists()
