"""The kernels' disk cache: a second process loads compiled code instead of compiling it, and
NUMBA_CACHE_DIR moves the cache (for an install whose folder is read-only)."""

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, numpy as np, fastnn.kernels as k
z = np.zeros((2, 3), np.float32)
k.softmax(z, np.empty_like(z))
print(json.dumps({"hits": sum(k.softmax.stats.cache_hits.values()),
                  "misses": sum(k.softmax.stats.cache_misses.values()),
                  "path": k.softmax.stats.cache_path}))
"""


@pytest.mark.skipif(os.environ.get("FASTNN_NUMBA_CACHE", "1") == "0",
                    reason="the disk cache is turned off")  # fmt: skip
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


STALE_PROBE = """
import json, numpy as np, fastnn as fn
from fastnn.kernels.update import optimizer_update
p, state, g = np.zeros(4), np.zeros((2, 4)), np.ones(4)
optimizer_update(p, state, 0, g, fn.SGD().config(), 0.1, 1.0)
s = optimizer_update.stats
print(json.dumps([fn.__file__, sum(s.cache_hits.values()), sum(s.cache_misses.values())]))
"""


@pytest.mark.skipif(os.environ.get("FASTNN_NUMBA_CACHE", "1") == "0",
                    reason="the disk cache is turned off")  # fmt: skip
def test_a_change_to_a_callee_in_another_file_recompiles_its_callers(tmp_path):
    """Numba keys a cached function on its own file only; fastnn keys every kernel on all the
    kernel sources, so editing sgd.py recompiles optimizer_update (update.py) instead of loading
    machine code with the old sgd_update inlined."""
    import shutil

    import fastnn
    import fastnn.kernels

    tree = tmp_path / "src"
    shutil.copytree(os.path.dirname(fastnn.__file__), tree / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__", "data", "kernels"))  # fmt: skip
    shutil.copytree(os.path.dirname(fastnn.kernels.__file__), tree / "fastnn" / "kernels",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def probe():
        out = subprocess.run([sys.executable, "-c", STALE_PROBE], env=env, capture_output=True,
                             text=True, check=True, cwd=tmp_path).stdout  # fmt: skip
        return json.loads(out.strip().splitlines()[-1])

    first, second = probe(), probe()
    assert first[0].startswith(str(tree)) and first[1:] == [0, 1] and second[1:] == [1, 0]
    with open(tree / "fastnn" / "kernels" / "sgd.py", "a") as f:
        f.write("\n# an edit\n")
    assert probe()[1:] == [0, 1]  # recompiled, not loaded
    assert probe()[1:] == [1, 0]


def test_processes_compiling_at_once_never_mix_up_saved_kernels(tmp_path):
    """Two processes that compile different signatures of a kernel at the same moment each
    saw an empty index. Numba would name both data files ``.1.nbc``, so the index could point
    one signature at the other's machine code; fastnn's entries are named by their key."""
    from numba.core.caching import IndexDataCacheFile

    from fastnn.kernels import _config

    stamp = ("source", _config._sources_digest())
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


def test_a_save_deletes_the_kernels_old_cache_files_that_no_index_names(tmp_path):
    """Entries named by key would pile up, a set per edit of the sources: a save deletes the
    kernel's data files its index does not name, and its files from another line of the source
    (where an earlier version had it), once they are old enough not to be another process's
    save in progress; other kernels' files, and young ones, stay."""
    from numba.core.caching import IndexDataCacheFile

    from fastnn.kernels import _config

    digest = _config._sources_digest()
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
    long_ago = os.stat(old_file).st_mtime - 2 * _config.UNINDEXED_GRACE
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
