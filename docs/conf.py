"""Sphinx configuration: numpydoc docstrings through autodoc, MyST Markdown pages, the
pydata theme, and the example gallery built from ``examples/`` by sphinx-gallery.

Nothing here reaches the network (no intersphinx), so the build runs where only the package
registry is reachable. The benchmark tables are rendered from ``benchmarks/results/`` at each
build (``_generated/``), so they always match the results files.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(DOCS / "_ext"), str(ROOT / "benchmarks")]

import render_results  # noqa: E402

import fastnn  # noqa: E402

project = "fastnn"
author = "the fastnn developers"
copyright = "the fastnn developers"
release = version = fastnn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated", "auto_examples/*.ipynb", "auto_examples/*.py", "**.md5",
                    "**/sg_execution_times.rst"]  # fmt: skip
myst_enable_extensions = ["colon_fence", "dollarmath", "substitution"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc sections give the types
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
default_role = "literal"

html_theme = "pydata_sphinx_theme"
html_title = f"fastnn {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "image_scrapers": ("matplotlib", "gallery_figures.scrape"),
    "reset_modules": ("matplotlib", "gallery_figures.reset"),
    "download_all_examples": False,
    "show_signature": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "capture_repr": (),
    "abort_on_example_error": True,
}


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """scikit-learn adds ``set_fit_request`` and its kin to every estimator class; they are
    scikit-learn's metadata routing, documented there, not part of fastnn's API."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)


# The benchmark tables, rendered from the results files at every build.
_generated = DOCS / "_generated"
_generated.mkdir(exist_ok=True)
for _name, _page in (("benchmarks.md", render_results.benchmarks_page()),
                     ("phases.md", render_results.phases_page())):  # fmt: skip
    _file = _generated / _name
    if not _file.exists() or _file.read_text(encoding="utf-8") != _page:
        _file.write_text(_page, encoding="utf-8")
