"""The documentation builds with warnings as errors, and its pages show their images: the
front page, the tutorial and a gallery page with the figures its example drew."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "html"
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(ROOT / "docs"), str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]
    return out


def _images(page):
    """The local images a page shows, each checked to exist."""
    text = page.read_text(encoding="utf-8")
    sources = re.findall(r'<img [^>]*src="([^"]+)"', text)
    local = [src for src in sources if not src.startswith(("http:", "https:", "data:"))]
    for src in local:
        assert (page.parent / src).is_file(), f"{page.name} shows a missing {src}"
    return local


@pytest.mark.slow
def test_the_documentation_builds_without_warnings(html):
    for page in ("index.html", "getting-started.html", "reference/maths.html",
                 "reference/fastnn.html", "benchmarks.html", "changelog.html"):  # fmt: skip
        assert (html / page).is_file(), page
    assert "fastnn.Sequential.fit" in (html / "reference" / "fastnn.html").read_text()


@pytest.mark.slow
def test_the_gallery_shows_the_figures_its_examples_drew(html):
    gallery = html / "auto_examples"
    index = _images(gallery / "index.html")
    assert len(index) >= 5  # a thumbnail per example
    for name, figures in (("plot_mnist_training_curves", 2), ("plot_digits_confusion_matrix", 1),
                          ("plot_sklearn_digits", 1), ("plot_sparse_text", 1),
                          ("plot_speed_chart", 1)):  # fmt: skip
        shown = [src for src in _images(gallery / f"{name}.html") if "sphx_glr" in src]
        assert len(shown) >= figures, (name, shown)


@pytest.mark.slow
def test_every_example_runs_in_the_gallery_under_30_seconds(html):
    times = (ROOT / "docs" / "sg_execution_times.rst").read_text()
    for minutes, seconds in re.findall(r"^\s+- (\d\d):(\d\d)\.\d+$", times, re.MULTILINE):
        assert int(minutes) * 60 + int(seconds) < 30, times
