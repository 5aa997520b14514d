"""The project's own promises: CI runs the README's commands."""

import re
from pathlib import Path

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
