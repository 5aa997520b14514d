"""Ctrl-C during fit: training stops between compiled slices, within a fraction of a second,
whatever ``verbose`` is, and leaves the model and the optimizer consistent."""

import os
import signal
import subprocess
import sys
import time

import pytest

CHILD = r"""
import sys
import numpy as np
import fastnn as fn

backend = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.normal(size=(20000, 256)).astype(np.float32)
y = rng.integers(0, 10, 20000)
def model():
    return fn.Sequential(fn.dense_stack([256, 1024, 1024, 10]), backend=backend, seed=0)
m, opt = model(), fn.SGD(lr=0.01, momentum=0.5)
model().fit(X[:2], y[:2], verbose=0, optimizer=fn.SGD(momentum=0.5))  # compile first
print("training", flush=True)
try:
    m.fit(X, y, epochs=50, shuffle=False, optimizer=opt, verbose=0)
    print("finished")
except fn.TrainingInterrupted as exc:
    print("stopped", flush=True)
    done = opt.iterations
    again, opt2 = model(), fn.SGD(lr=0.01, momentum=0.5)
    epochs = len(exc.history.epoch)
    if epochs:
        again.fit(X, y, epochs=epochs, shuffle=False, optimizer=opt2, verbose=0)
    again.fit(X[: done - epochs * len(X)], y[: done - epochs * len(X)], epochs=1,
              shuffle=False, optimizer=opt2, verbose=0)
    same = all(np.array_equal(a, b) for pa, pb in zip(m.get_weights(), again.get_weights())
               for a, b in zip(pa, pb))
    print(f"interrupted after {done} updates, same weights: {same}", flush=True)
"""


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ctrl_c_stops_fit_promptly_with_a_consistent_model(backend):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, backend], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "training"
        time.sleep(1.5)
        sent = time.perf_counter()
        os.kill(proc.pid, signal.SIGINT)
        stopped = proc.stdout.readline()
        reaction = time.perf_counter() - sent
        line = proc.stdout.readline()
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert stopped.strip() == "stopped" and "interrupted after" in line, stopped + line + err
    assert "same weights: True" in line
    # a slice lasts about 0.1 s; leave room for a loaded machine, but not an epoch (seconds)
    assert reaction < 2.0
