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
