"""The kernels' disk cache: a second process loads compiled code instead of compiling it, and
NUMBA_CACHE_DIR moves the cache (for an install whose folder is read-only)."""

import json
import os
import subprocess
import sys

import pytest

from fastnn.kernels import _cache, _config

# The disk cache at all, and fastnn's extensions of Numba's cache (skipped where a Numba release
# has changed what they extend: the kernels then use Numba's own cache, tested below).
needs_cache = pytest.mark.skipif(not _config.CACHE, reason="the disk cache is turned off")
needs_extensions = pytest.mark.skipif(
    not _cache.installed, reason="fastnn's extensions of Numba's cache are not installed"
)

PROBE = """
import json, numpy as np, fastnn.kernels as k
z = np.zeros((2, 3), np.float32)
k.softmax(z, np.empty_like(z))
print(json.dumps({"hits": sum(k.softmax.stats.cache_hits.values()),
                  "misses": sum(k.softmax.stats.cache_misses.values()),
                  "path": k.softmax.stats.cache_path}))
"""


@pytest.mark.slow
@needs_cache
def test_a_second_process_loads_the_kernels_from_a_moved_cache(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))

    def probe():
        out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
        return json.loads(out.strip().splitlines()[-1])

    first, second = probe(), probe()
    assert first["misses"] == 1 and first["path"].startswith(str(tmp_path))
    assert second == {"hits": 1, "misses": 0, "path": first["path"]}
    assert any(p.suffix == ".nbi" for p in tmp_path.rglob("*"))


# A probe of two kernels: step_size (compiled from kernels/codes.py) and _optimizer_update
# (update.py, which inlines sgd_update from sgd.py). ``sys.argv[1]`` says where the package
# sits: "installed" (kernels/ inside fastnn/, on PYTHONPATH) or "editable" (kernels/ beside
# fastnn/, mapped to fastnn.kernels as setuptools' editable finder maps it).
STALE_PROBE = """
import importlib.util, json, os, sys
if sys.argv[1] == "editable":
    root = os.getcwd()
    class Finder:
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            folder = {"fastnn": "fastnn", "fastnn.kernels": "kernels"}.get(name)
            if folder is None:
                return None
            where = os.path.join(root, folder)
            return importlib.util.spec_from_file_location(
                name, os.path.join(where, "__init__.py"), submodule_search_locations=[where])
    sys.meta_path.insert(0, Finder)
import numpy as np, fastnn as fn, fastnn.kernels
from fastnn.kernels.update import _optimizer_update, step_size
opt = fn.SGD(lr=0.5).config()
p, state, g = np.zeros(4), np.zeros((2, 4)), np.ones(4)
_optimizer_update(p, state, 0, g, opt, 0.1, 1.0)
rate = step_size(opt, 0)
stats = [f.stats for f in (_optimizer_update, step_size)]
print(json.dumps({"files": [fn.__file__, fastnn.kernels.__file__], "rate": rate,
                  "hits": [sum(s.cache_hits.values()) for s in stats],
                  "misses": [sum(s.cache_misses.values()) for s in stats]}))
"""


def _source_tree(tmp_path, layout):
    """A copy of the package's sources laid out as an install or a checkout would be."""
    import shutil

    import fastnn
    import fastnn.kernels

    tree = tmp_path / "src"
    kernels = tree / ("kernels" if layout == "editable" else "fastnn/kernels")
    shutil.copytree(os.path.dirname(fastnn.__file__), tree / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__", "data", "kernels"))  # fmt: skip
    shutil.copytree(os.path.dirname(fastnn.kernels.__file__), kernels,
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    return tree, kernels


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


@needs_extensions
@pytest.mark.slow
@pytest.mark.parametrize("layout", ["installed", "editable"])
def test_edits_recompile_exactly_what_they_change(tmp_path, layout):
    """Numba keys a cached function on its own file only; fastnn keys every kernel on all the
    kernel sources, and compiles nothing outside kernels/. So, in an install and in a checkout
    installed in editable mode alike: editing fastnn/optimizers.py (a docstring, a function
    the kernels do not compile) recompiles nothing; editing step_size in kernels/codes.py takes
    effect at the next run; editing sgd.py recompiles _optimizer_update (update.py), which
    inlines it, instead of loading machine code with the old sgd_update inside."""
    tree, kernels = _source_tree(tmp_path, layout)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    if layout == "installed":
        env["PYTHONPATH"] = str(tree)

    def probe():
        out = subprocess.run([sys.executable, "-c", STALE_PROBE, layout], env=env, cwd=tree,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        return json.loads(out.strip().splitlines()[-1])

    first = probe()
    assert first["files"][0].startswith(str(tree / "fastnn"))
    assert first["files"][1].startswith(str(kernels))
    assert first["misses"] == [1, 1] and first["rate"] == 0.5
    assert probe()["hits"] == [1, 1]
    optimizers = tree / "fastnn" / "optimizers.py"
    _edit(optimizers, '"""Optimizers: each owns', '"""Optimizers (edited): each owns')
    _edit(optimizers, "    def __repr__(self):", "    def __repr__(self):  # edited")
    assert probe()["hits"] == [1, 1]  # nothing recompiled
    _edit(kernels / "codes.py", "return opt.lr / (1.0 + opt.decay * t)", "return 0.0 * opt.lr")
    edited = probe()
    assert edited["misses"] == [1, 1] and edited["rate"] == 0.0  # the new code runs
    with open(kernels / "sgd.py", "a") as f:
        f.write("\n# an edit\n")
    assert probe()["misses"] == [1, 1]  # recompiled, not loaded
    assert probe()["hits"] == [1, 1]


@needs_extensions
def test_processes_compiling_at_once_never_mix_up_saved_kernels(tmp_path):
    """Two processes that compile different signatures of a kernel at the same moment each
    saw an empty index. Numba would name both data files ``.1.nbc``, so the index could point
    one signature at the other's machine code; fastnn's entries are named by their key."""
    from numba.core.caching import IndexDataCacheFile

    stamp = ("source", _cache.sources_digest())
    first = IndexDataCacheFile(str(tmp_path), "epoch.kernel-1.py311", stamp)
    second = IndexDataCacheFile(str(tmp_path), "epoch.kernel-1.py311", stamp)
    first._load_index = second._load_index = dict  # both read the index before either saved
    late, write = [], first._save_data
    first._save_data = lambda name, data: late.append((name, data))  # the first writes last
    first.save(("float32",), "code for float32")
    second.save(("float64",), "code for float64")
    for name, data in late:
        write(name, data)
    fresh = IndexDataCacheFile(str(tmp_path), "epoch.kernel-1.py311", stamp)
    assert fresh.load(("float64",)) == "code for float64"
    assert fresh.load(("float32",)) in (None, "code for float32")  # dropped at worst
    assert fresh._load_index()  # the index is readable and points at files that exist


@needs_extensions
def test_a_save_deletes_the_kernels_old_cache_files_that_no_index_names(tmp_path):
    """Entries named by key would pile up, a set per edit of the sources: a save deletes the
    kernel's data files its index does not name, and its files from another line of the source
    (where the kernel sat before an edit moved it), once they are old enough not to be another
    process's save in progress; other kernels' files, and young ones, stay."""
    from numba.core.caching import IndexDataCacheFile

    digest = _cache.sources_digest()
    old = IndexDataCacheFile(str(tmp_path), "epoch.kernel-12.py311", ("old source", digest))
    old.save(("float32",), "old code")
    (old_file,) = [p for p in tmp_path.iterdir() if p.suffix == ".nbc"]
    moved = IndexDataCacheFile(str(tmp_path), "epoch.kernel-3.py311", ("older source", digest))
    moved.save(("float32",), "older code")  # the kernel when it sat at line 3
    moved_files = [p for p in tmp_path.iterdir() if "-3." in p.name]
    young = tmp_path / "epoch.kernel-12.py311.1.nbc"  # unindexed, but just written
    others = [
        tmp_path / name
        for name in (
            "epoch.kernel_b-3.py311.1.nbc",
            "epoch.kernel_b-3.py311.nbi",
            "rows.kernel-3.py311.nbi",
        )
    ]
    for path in (young, *others):
        path.write_bytes(b"code")
    long_ago = os.stat(old_file).st_mtime - 2 * _cache.UNINDEXED_GRACE
    for path in (old_file, *moved_files, *others):
        os.utime(path, (long_ago, long_ago))

    new = IndexDataCacheFile(str(tmp_path), "epoch.kernel-12.py311", ("new source", digest))
    new.save(("float32",), "new code")
    new.save(("float64",), "new code 64")

    assert len(moved_files) == 2 and not any(p.exists() for p in (old_file, *moved_files))
    assert young.exists() and all(p.exists() for p in others)
    fresh = IndexDataCacheFile(str(tmp_path), "epoch.kernel-12.py311", ("new source", digest))
    assert fresh.load(("float32",)) == "new code" and fresh.load(("float64",)) == "new code 64"
    names = {p.name for p in tmp_path.iterdir()}
    kept = {young.name, *(p.name for p in others), "epoch.kernel-12.py311.nbi"}
    assert names == set(fresh._load_index().values()) | kept


# -- when a Numba release changes what fastnn extends ---------------------------------------

# Each stands for a change a Numba release could make to numba.core.caching, run before fastnn
# is imported; Numba's own caching still works after each.
NUMBA_CHANGES = {
    "mixin renamed": (
        "c.SourceFileLocator = c._SourceFileBackedLocatorMixin; del c._SourceFileBackedLocatorMixin"
    ),
    "save takes another argument": (
        "save = c.IndexDataCacheFile.save\n"
        "def new_save(self, key, data, overwrite=True): return save(self, key, data)\n"
        "c.IndexDataCacheFile.save = new_save"
    ),
    "save_overload takes another argument": (
        "save = c.Cache.save_overload\n"
        "def new_save(self, sig, data, *, lock=None): return save(self, sig, data)\n"
        "c.Cache.save_overload = new_save"
    ),
    "locators in a tuple": "c.CacheImpl._locator_classes = tuple(c.CacheImpl._locator_classes)",
    "index writer renamed its argument": (
        "save_index = c.IndexDataCacheFile._save_index\n"
        "def new_save_index(self, index): return save_index(self, index)\n"
        "c.IndexDataCacheFile._save_index = new_save_index"
    ),
}
CHANGED_PROBE = """
import json, sys
import numba.core.caching as c
exec(sys.argv[1])
import numpy as np, fastnn.kernels as k
z = np.zeros((2, 3), np.float32)
k.softmax(z, np.empty_like(z))
if sys.argv[2] == "fit":
    import fastnn as fn
    X, y = np.random.default_rng(0).normal(size=(40, 5)), np.arange(40) % 3
    model = fn.Sequential(fn.dense_stack([5, 4, 3]), backend="numba")
    print(model.fit(X, y, epochs=2, verbose=0).history["loss"])
print(json.dumps({"hits": sum(k.softmax.stats.cache_hits.values()),
                  "misses": sum(k.softmax.stats.cache_misses.values())}))
"""


@needs_cache
@pytest.mark.slow
@pytest.mark.parametrize("change", list(NUMBA_CHANGES))
def test_a_numba_that_changed_its_cache_internals_still_trains_with_its_own_cache(tmp_path, change):
    """fastnn imports, the kernels compile and are cached by Numba alone (a second process
    loads them), and one line on stderr says why."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    trains = change == "index writer renamed its argument"  # one of them trains a model too

    def probe():
        args = [NUMBA_CHANGES[change], "fit" if trains else "probe"]
        done = subprocess.run([sys.executable, "-c", CHANGED_PROBE, *args], env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr

    (first, err), (second, again) = probe(), probe()
    notices = [line for line in err.splitlines() if line.startswith("fastnn: Numba ")]
    assert len(notices) == 1 and "has changed the caching internals" in notices[0], err
    assert first == {"hits": 0, "misses": 1} and second == {"hits": 1, "misses": 0}
    assert "Traceback" not in err + again


@pytest.mark.parametrize(
    "value, chosen",
    [("1", "fastnn"), ("TRUE", "fastnn"), (" yes ", "fastnn"), ("on", "fastnn"),
     ("0", "off"), ("false", "off"), ("No", "off"), ("OFF", "off"), ("numba", "numba")],
)  # fmt: skip
def test_the_cache_switch_takes_the_usual_spellings(value, chosen, capsys):
    assert _cache.setting({"FASTNN_NUMBA_CACHE": value}) == chosen
    assert capsys.readouterr().err == ""


def test_an_unknown_cache_switch_says_so_and_keeps_the_default(capsys):
    assert _cache.setting({"FASTNN_NUMBA_CACHE": "maybe"}) == "fastnn"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "FASTNN_NUMBA_CACHE='maybe' is not one of" in err
