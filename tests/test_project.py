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
