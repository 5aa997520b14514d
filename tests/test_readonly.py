"""Where nothing can be written: the numba backend compiles in memory or reads a read-only
cache, run as an unprivileged user on a read-only copy of the package; and the numpy backend
never needs Numba at all."""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import fastnn
import fastnn.kernels

pytestmark = pytest.mark.slow

NOTICE = "fastnn: no writable folder for the compiled kernels"
READ_ONLY_NOTICE = "is read-only: the kernels it lacks are compiled in memory and not saved"

PROBE = """
import json, sys, numpy as np, fastnn.kernels as k
dtype = sys.argv[1] if len(sys.argv) > 1 else "float32"
z = np.zeros((2, 3), dtype)
k.softmax(z, np.empty_like(z))
print(json.dumps({"hits": sum(k.softmax.stats.cache_hits.values()),
                  "misses": sum(k.softmax.stats.cache_misses.values()),
                  "path": k.softmax.stats.cache_path, "file": k.__file__}))
"""


def _run(prefix, env, *args):
    # Run from the root folder, so that the current folder's fastnn (a checkout) is not found.
    return subprocess.run([*prefix, sys.executable, *args], env=env, capture_output=True,
                          text=True, timeout=300, cwd="/")  # fmt: skip


def _unprivileged():
    """A command prefix that runs a program as an unprivileged user, with that user's id."""
    if os.geteuid() != 0:
        return [], os.geteuid(), os.getegid()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop to an unprivileged user")
    try:
        import pwd

        user = pwd.getpwnam("nobody")
    except KeyError:
        if subprocess.run(["useradd", "--system", "--no-create-home", "fastnn-test"]).returncode:
            pytest.skip("no unprivileged user, and useradd failed")
        user = pwd.getpwnam("fastnn-test")
    drop = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    # Where the interpreter sits under a private folder (/root/...), the user may still read
    # everything, as with a world-readable install; it still cannot write what root owns.
    read = ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    check = "import os, numba, numpy; assert os.geteuid() != 0"
    for prefix in (drop, drop + read):
        if _run(prefix, dict(os.environ), "-c", check).returncode == 0:
            return prefix, user.pw_uid, user.pw_gid
    pytest.skip("an unprivileged user cannot run this Python with Numba")


@pytest.fixture
def world_tmp():
    """A folder every user can enter (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="fastnn-readonly-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(folder)


def read_only_install(folder):
    """A copy of fastnn (kernels included, no compiled cache) that nobody may write to."""
    site = folder / "site"
    package = Path(fastnn.__file__).parent
    ignore = shutil.ignore_patterns("__pycache__", "data", "kernels")
    shutil.copytree(package, site / "fastnn", ignore=ignore)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(
        Path(fastnn.kernels.__file__).parent, site / "fastnn" / "kernels", ignore=ignore
    )
    for path in [site, *site.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return site


def user_env(site, home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "FASTNN_"))}
    env.pop("XDG_CACHE_HOME", None)
    return dict(env, HOME=str(home), PYTHONPATH=str(site), **extra)


def probe(prefix, env, *args):
    run = _run(prefix, env, "-c", PROBE, *args)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1]), run.stderr


def test_with_nothing_writable_the_kernels_compile_in_memory_and_say_so_once(world_tmp):
    prefix, _, _ = _unprivileged()
    site = read_only_install(world_tmp)
    locked = world_tmp / "locked"
    locked.mkdir(mode=0o555)
    env = user_env(site, locked / "no-such-home")
    result, stderr = probe(prefix, env)
    assert result["file"].startswith(str(site))
    assert result == dict(result, hits=0, misses=1, path=None)
    assert stderr.count(NOTICE) == 1, stderr
    assert not any(p.name == "__pycache__" for p in site.rglob("*"))


def test_a_read_only_shared_cache_is_loaded_not_recompiled(world_tmp):
    prefix, uid, gid = _unprivileged()
    site = read_only_install(world_tmp)
    shared = world_tmp / "shared"
    # Populated by its owner, then made read-only.
    env = user_env(site, world_tmp / "no-such-home", NUMBA_CACHE_DIR=str(shared))
    first, _ = probe([], env)
    assert first["misses"] == 1 and first["path"].startswith(str(shared))
    for path in [shared, *shared.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    # The user has a writable home, where Numba would otherwise compile again.
    home = world_tmp / "home"
    home.mkdir()
    os.chown(home, uid, gid)
    env = user_env(site, home, NUMBA_CACHE_DIR=str(shared))
    result, stderr = probe(prefix, env)
    assert result["file"].startswith(str(site))
    assert (result["hits"], result["misses"], result["path"]) == (1, 0, first["path"])
    assert NOTICE not in stderr and READ_ONLY_NOTICE not in stderr
    # What the cache lacks (float64 here) compiles in memory, with one notice.
    result, stderr = probe(prefix, env, "float64")
    assert (result["hits"], result["misses"]) == (0, 1)
    assert stderr.count(READ_ONLY_NOTICE) == 1, stderr


NUMPY_ONLY = """
import sys, numpy as np, fastnn as fn
rng = np.random.default_rng(0)
X, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
model = fn.Sequential([fn.Dense(4, 6, "tanh"), fn.Dense(6, 3)])
model.fit(X, y, epochs=2, batch_size=4, verbose=0)
model.predict(X)
model.save(sys.argv[1])
backends = [fn.load(path).backend for path in sys.argv[1:]]
fn.load(sys.argv[2]).fit(X, y, verbose=0)
assert backends == ["numpy", "numpy"], backends
# the kernels package and its pure-Python codes, which both backends share, but no kernel
shared = {"fastnn.kernels", "fastnn.kernels.codes"}
print(sorted(name for name in sys.modules if name.split(".")[0] in ("numba", "llvmlite")
             or (name.startswith("fastnn.kernels") and name not in shared)))
"""


def test_the_numpy_backend_never_imports_numba(tmp_path):
    saved_with_numba = tmp_path / "numba.npz"
    model = fastnn.Sequential([fastnn.Dense(4, 3)], backend="numba")
    model.set_weights([(np.ones((4, 3)), np.zeros(3))])
    model.save(saved_with_numba)
    env = dict(os.environ, FASTNN_BACKEND="numpy")
    run = _run([], env, "-c", NUMPY_ONLY, str(tmp_path / "numpy.npz"), str(saved_with_numba))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
