"""The name fastnn is installed by, and the command that adds one of its optional extras.

The package imports as ``fastnn``, but the package index knows it as :data:`DISTRIBUTION`
(``fastnn`` there is an unrelated project), as ``scikit-learn`` installs ``sklearn``. Every
install hint is built here, so that a test can hold them to ``pyproject.toml``.
"""

DISTRIBUTION = "fastnn-cpu"


def pip_install(extra: str) -> str:
    """``pip install "fastnn-cpu[EXTRA]"``: the command that adds the optional extra ``extra``."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


__all__ = ["DISTRIBUTION", "pip_install"]
