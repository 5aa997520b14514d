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


def test_the_batch_driver_is_the_batch_epochs_work(script):
    (X, y), _ = fn.datasets.load_mnist()
    X, y = X[:300], y[:300].astype(np.int64)
    last = len(script.BATCH_PHASES)
    _, driven = script.time_phase(X, y, 32, 0.1, last, batch_size=128)
    _, epoch = script.time_epoch(X, y, 32, 0.1, batch_size=128)
    assert not np.allclose(epoch._params, script._model(32)._params)
    np.testing.assert_allclose(driven._params, epoch._params, rtol=1e-5, atol=1e-6)
    _, unmoved = script.time_phase(X, y, 32, 0.1, last - 1, batch_size=128)
    np.testing.assert_array_equal(unmoved._params, script._model(32)._params)


def test_the_command_line_prints_its_table(script, capsys):
    script.main(["--rows", "200", "--rounds", "1", "--hidden", "16"])
    out = capsys.readouterr().out
    script.main(["--rows", "300", "--rounds", "1", "--hidden", "16", "--batch-size", "128"])
    out += capsys.readouterr().out
    for name in (*script.PHASES, *script.BATCH_PHASES):
        assert f". {name} |" in out
    assert out.count("| whole epoch, `train` |") == 2
