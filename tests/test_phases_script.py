"""benchmarks/phases.py times the epoch's own work: its drivers (per sample and in batches), run
through every phase, train to the weights of the backend's ``train`` (the same kernels in
the same order), and the command line prints its tables."""

import numpy as np
import pytest

import fastnn as fn

from conftest import load_script

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def script():
    return load_script("phases")


def test_every_phase_is_the_epochs_work(script):
    (X, y), _ = fn.datasets.load_mnist()
    X, y = X[:300], y[:300].astype(np.int64)
    _, driven = script.time_phase(X, y, 32, 0.05, len(script.PHASES))
    _, epoch = script.time_epoch(X, y, 32, 0.05)
    assert not np.allclose(epoch._params, script._model(32)._params)  # the epoch moved them
    np.testing.assert_allclose(driven._params, epoch._params, rtol=1e-5, atol=1e-6)
    _, scanned = script.time_phase(X, y, 32, 0.05, 4)  # up to the loss: nothing moves
    np.testing.assert_array_equal(scanned._params, script._model(32)._params)


def test_the_batch_phases_are_the_epoch_stopped_after_each(script):
    (X, y), _ = fn.datasets.load_mnist()
    X, y = X[:300], y[:300].astype(np.int64)
    last = len(script.BATCH_PHASES)
    _, driven = script.time_phase(X, y, 32, 0.1, last, batch_size=128)
    model = fn.Sequential(fn.dense_stack([784, 32, 10]), dtype="float32", seed=0)
    model.fit(X, y, batch_size=128, optimizer=fn.SGD(lr=0.1), shuffle=False, verbose=0)
    assert not np.allclose(model._params, script._model(32)._params)  # the epoch moved them
    np.testing.assert_array_equal(driven._params, model._params)
    _, unmoved = script.time_phase(X, y, 32, 0.1, last - 2, batch_size=128)  # up to the loss
    np.testing.assert_array_equal(unmoved._params, script._model(32)._params)
    products = script.batch_products(X, 32, 128)
    assert products[4] == 2 * products[3] > 0
    used = sum(len(b) * np.count_nonzero(b.any(axis=0)) for b in (X[:128], X[128:256], X[256:]))
    if script.TILES:  # the tiles leave out the steps their rows or inputs leave zero
        assert 0 < products[5] < products[2] < 32 * used
    else:
        assert products[2] == products[5] == 32 * used
    dense = script.batch_products(X + 1, 32, 128)  # no zeros: the tiles go over every row
    assert dense[2] == dense[5] == 32 * 784 * len(X)


def test_the_command_line_prints_its_table(script, capsys):
    script.main(["--rows", "200", "--rounds", "1", "--hidden", "16"])
    out = capsys.readouterr().out
    script.main(["--rows", "300", "--rounds", "1", "--hidden", "16", "--batch-size", "128"])
    out += capsys.readouterr().out
    for name in (*script.PHASES, *script.BATCH_PHASES):
        assert f". {name} |" in out
    assert out.count("| whole epoch, `train` |") == 2
    assert "beyond the products at the GEMM rate" in out and "GFLOP/s" in out


def test_adam_batches_and_the_results_file(script, capsys, tmp_path):
    """``--optimizer adam`` times Adam's epoch; ``--json`` writes the table with the machine
    and the command that made it."""
    import json

    path = tmp_path / "phases.json"
    script.main(["--rows", "300", "--rounds", "1", "--hidden", "16", "--batch-size", "128",
                 "--optimizer", "adam", "--json", str(path)])  # fmt: skip
    assert "Adam in batches of 128" in capsys.readouterr().out
    result = json.loads(path.read_text())
    assert [row["phase"] for row in result["phases"]] == list(script.BATCH_PHASES)
    assert result["optimizer"] == "Adam" and result["batch_size"] == 128
    assert result["epoch_s"] > 0 and result["floor_s"] > 0
    assert "blas" in result["machine"] and "phases.py" in result["command"]
