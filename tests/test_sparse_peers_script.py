"""A smoke test of benchmarks/sparse_peers.py at a tiny size: every peer, started from fastnn's
weights and visiting the rows in fastnn's order, reaches fastnn's weights (float32 rounding) and
its test accuracy; the command line prints its tables."""

import subprocess
import sys

import numpy as np
import pytest

from conftest import BENCHMARKS, load_script

pytestmark = pytest.mark.slow

SCRIPT = BENCHMARKS / "sparse_peers.py"
TINY = ["--samples", "600", "--features", "500", "--classes", "4", "--words", "30",
        "--rounds", "1", "--slow-samples", "200", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def script():
    return load_script("sparse_peers")


def run_peer(script, peer):
    args = script.parser().parse_args([*TINY, "--peers", peer])
    data, jobs, notes, info = script.run(args, keep_weights=True, log=lambda message: None)
    return data, jobs


def assert_same_as_fastnn(script, jobs, peer_prefix):
    peers = [job for job in jobs if job.implementation.startswith(peer_prefix)]
    assert peers and all(job.regime in script.REGIMES for job in peers)
    for job in jobs:
        assert job.error is None, f"{job.implementation}, {job.regime}: {job.error}"
    for job in peers:
        ref = script.reference(jobs, job)
        assert ref is not None and ref.final_weights is not None
        assert abs(job.accuracies[0] - ref.accuracies[0]) <= 0.01, job.implementation
        for (W, b), (W_ref, b_ref) in zip(job.final_weights, ref.final_weights):
            np.testing.assert_allclose(W, W_ref, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(b, b_ref, rtol=1e-4, atol=1e-5)


def test_fastnn_trains_on_csr(script):
    takes_csr, why = script.fastnn_takes_csr()
    assert takes_csr, why


def test_padded_rows_hold_the_csr_rows(script):
    import scipy.sparse as sp

    X = sp.csr_matrix(np.array([[0, 2, 0, 3], [0, 0, 0, 0], [1, 0, 0, 0]], np.float32))
    values, columns = script.padded_rows(X)
    assert values.shape == columns.shape == (3, 2)
    dense = np.zeros((3, 4), np.float32)
    np.add.at(dense, (np.repeat(np.arange(3), 2), columns.ravel()), values.ravel())
    np.testing.assert_array_equal(dense, X.toarray())


def test_sklearn_matches_fastnn(script):
    _, jobs = run_peer(script, "sklearn")
    assert_same_as_fastnn(script, jobs, "scikit-learn")


def test_torch_matches_fastnn(script):
    pytest.importorskip("torch")
    _, jobs = run_peer(script, "torch")
    assert_same_as_fastnn(script, jobs, "PyTorch")


def test_jax_matches_fastnn(script):
    pytest.importorskip("jax")
    _, jobs = run_peer(script, "jax")
    assert_same_as_fastnn(script, jobs, "JAX")


def test_command_line_prints_the_table():
    done = subprocess.run([sys.executable, str(SCRIPT), *TINY, "--peers", "sklearn"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| regime | implementation |" in done.stdout
    assert "failed" not in done.stdout
    assert done.stdout.count("| per-sample |") == 3  # fastnn on all rows and on the slice
    assert done.stdout.count("| batch 128 |") == 2


def test_memory_mode():
    done = subprocess.run([sys.executable, str(SCRIPT), *TINY, "--memory"],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| baseline |" in done.stdout
    assert "| per-sample epoch + predict |" in done.stdout
    assert "| batch epoch + predict |" in done.stdout
    assert "failed" not in done.stdout


def test_the_mnist_csr_script_prints_its_table():
    """benchmarks/mnist_csr.py at a tiny size: dense and CSR rows give the same accuracy."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT.parent / "mnist_csr.py"), "--rows", "600", "--rounds", "1"],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("| per sample")]
    dense, csr = lines[0].split("|")[-2].split(",")
    assert dense.strip() == csr.strip()
