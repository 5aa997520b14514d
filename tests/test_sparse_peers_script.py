"""The sparse benchmark scripts at a tiny size: benchmarks/sparse_peers.py prints the
bag-of-words table of ``fastnn bench`` and its memory table, benchmarks/mnist_csr.py the MNIST
table with its CSR rows. (The timing and the peers themselves are tested in test_bench.py.)"""

import subprocess
import sys

import pytest

from conftest import BENCHMARKS

pytestmark = pytest.mark.slow

SCRIPT = BENCHMARKS / "sparse_peers.py"
TINY = ["--documents", "600", "--features", "500", "--classes", "4", "--words", "30",
        "--repeat", "1", "--peer-samples", "200", "--quiet"]  # fmt: skip


def run_script(*args):
    done = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def table_rows(text, regime):
    return [line for line in text.splitlines() if line.startswith(regime)]


def test_command_line_prints_the_table():
    out = run_script(SCRIPT, *TINY, "--peers", "sklearn")
    assert out.startswith("fastnn bench: one epoch of bag-of-words, 500-256-4")
    per_sample, batch = table_rows(out, "per-sample"), table_rows(out, "batch 128")
    # fastnn numba on all rows and on the slice, fastnn numpy, scikit-learn
    assert len(per_sample) == 4 and len(batch) == 3
    assert all("scikit-learn" in rows[-1] for rows in (per_sample, batch))
    assert "failed" not in out and " !" not in out  # no peer dropped, no accuracy flagged


def test_memory_mode():
    out = run_script(SCRIPT, *TINY, "--memory")
    assert "| baseline |" in out
    assert "| per-sample epoch + predict |" in out
    assert "| batch epoch + predict |" in out
    assert "| batch epoch + predict, fit(rollback=False) |" in out
    assert "failed" not in out


def test_a_bad_option_gives_one_line():
    done = subprocess.run([sys.executable, str(SCRIPT), "--features", "3", "--classes", "4"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "sparse_peers.py: error: --features must be an integer >= 8; got 3\n"


def test_the_mnist_csr_script_prints_its_table():
    """benchmarks/mnist_csr.py at a tiny size: dense and CSR rows give the same accuracy."""
    out = run_script(BENCHMARKS / "mnist_csr.py", "--samples", 600, "--numpy-samples", 50,
                     "--repeat", 1, "--quiet")  # fmt: skip
    for regime in ("per-sample", "batch 128"):
        rows = {line.split("  ")[1].strip(): line for line in table_rows(out, regime)
                if " 600 " in line}  # fmt: skip
        dense, csr = rows["fastnn numba"], rows["fastnn numba, CSR rows"]
        assert dense.split()[-2] == csr.split()[-2]  # the test accuracy
