"""benchmarks/hand_kernel.py compares like with like: the hand-written kernel, fastnn's
``train`` and ``fit`` train the same network from the same weights to the same weights
(float32 rounding), and the command line prints its table."""

import numpy as np
import pytest

import fastnn as fn

from conftest import load_script

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def script():
    return load_script("hand_kernel")


def test_the_three_jobs_reach_the_same_weights(script):
    (X, y), _ = fn.datasets.load_mnist()
    X, y = X[:300], y[:300]
    order = np.arange(len(X))
    jobs = {"hand": script.run_hand, "kernel": script.run_kernel, "fit": script.run_fit}
    models = {name: job(X, y, order, 32, 0.05)[1] for name, job in jobs.items()}
    start = script._model(32)._params
    assert not np.allclose(models["hand"]._params, start)  # the epoch moved the weights
    for name in ("kernel", "fit"):
        np.testing.assert_allclose(models[name]._params, models["hand"]._params, rtol=1e-4,
                                   atol=1e-5, err_msg=name)  # fmt: skip


def test_the_command_line_prints_its_table(script, capsys):
    script.main(["--rows", "200", "--rounds", "1", "--hidden", "16"])
    out = capsys.readouterr().out
    for name in ("hand kernel", "fastnn train", "fastnn fit"):
        assert f"| {name} |" in out
