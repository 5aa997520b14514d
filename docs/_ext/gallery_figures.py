"""The gallery's figures: fastnn's plots are plain matplotlib Figures that never touch pyplot, so
sphinx-gallery's own scraper (which asks pyplot for its figures) does not see them. This one
collects the Figures an example's code block leaves in its variables, once each."""

from pathlib import PurePosixPath

_SEEN: dict[str, set[int]] = {}


def scrape(block, block_vars, gallery_conf, **kwargs):
    """Save each Figure first seen after this block; return the reST that shows them."""
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    seen = _SEEN.setdefault(str(block_vars["src_file"]), set())
    paths = []
    for value in list(block_vars["example_globals"].values()):
        if isinstance(value, Figure) and id(value) not in seen:
            seen.add(id(value))
            path = PurePosixPath(next(block_vars["image_path_iterator"]))
            value.savefig(str(path), dpi=100)
            paths.append(str(path))
    return figure_rst(paths, gallery_conf["src_dir"])


def reset(gallery_conf, fname):
    """Forget the Figures of the examples before this one."""
    _SEEN.clear()
