"""Parallel training and processes: after ``fit(..., workers=2)`` the process may fork (the
default start method of multiprocessing on Linux, which joblib, Dask and ``multiprocessing.Pool``
use) and the children train, with one worker or several; threads may train at once."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastnn as fn

# Trains with two workers, forks a pool whose children train (with 1 and 2 workers), then
# trains again; prints the children's update counts. A child killed by its threading runtime
# leaves the pool waiting forever: the timeout turns that into an error.
PROBE = """
import multiprocessing
import numpy as np
import fastnn as fn

def train(seed, workers):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    model = fn.Sequential(fn.dense_stack([4, 8, 2]), backend="numba", seed=seed)
    model.fit(X, y, epochs=2, optimizer=fn.SGD(lr=0.05), workers=workers, verbose=0)
    return model.optimizer.iterations

if __name__ == "__main__":
    train(0, 2)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        counts = pool.starmap_async(train, [(1, 1), (2, 2), (3, 2)]).get(timeout=300)
    print(counts, train(4, 2))
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("layer", [None, "omp", "workqueue"])
def test_a_fork_after_training_with_workers_trains_in_the_children(layer):
    env = dict(os.environ)
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer is not None:  # the user's choice of Numba's threading layer changes nothing
        env["NUMBA_THREADING_LAYER"] = layer
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "[400, 400, 400] 400"


def test_threads_may_train_with_workers_at_once():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    models = [fn.Sequential(fn.dense_stack([5, 8, 2]), backend="numba", seed=s) for s in range(3)]
    failures = []

    def train(model):
        try:
            model.fit(X, y, epochs=3, optimizer=fn.SGD(lr=0.05), workers=2, verbose=0)
        except Exception as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=train, args=(model,)) for model in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    for model in models:
        assert model.optimizer.iterations == 3 * len(X)
        assert model.evaluate(X, y)["accuracy"] > 0.9
