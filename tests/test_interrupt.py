"""Ctrl-C during fit: training stops at the end of the compiled slice in progress, well within
an epoch, whatever ``verbose`` is, and leaves the model and the optimizer consistent.

The child process interrupts itself once training has made its first updates, so nothing here
depends on how fast the machine is: a busy core only makes the epochs longer."""

import subprocess
import sys

import pytest

from helpers import ctrl_c_as_typed

pytestmark = pytest.mark.slow

CHILD = r"""
import os, signal, sys, threading, time
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

def interrupt_once_training_has_started():
    while opt.iterations == 0:
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=interrupt_once_training_has_started, daemon=True).start()
try:
    m.fit(X, y, epochs=50, shuffle=False, optimizer=opt, verbose=0)
    print("finished")
except fn.TrainingInterrupted as exc:
    done = opt.iterations
    print(f"stopped after {done} updates, {len(exc.history.epoch)} epochs", flush=True)
    again, opt2 = model(), fn.SGD(lr=0.01, momentum=0.5)
    again.fit(X[:done], y[:done], epochs=1, shuffle=False, optimizer=opt2, verbose=0)
    same = all(np.array_equal(a, b) for pa, pb in zip(m.get_weights(), again.get_weights())
               for a, b in zip(pa, pb))
    print(f"same weights: {same}", flush=True)
"""


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ctrl_c_stops_fit_within_the_epoch_with_a_consistent_model(backend):
    with ctrl_c_as_typed():
        done = subprocess.run([sys.executable, "-c", CHILD, backend], capture_output=True,
                              text=True, timeout=600)  # fmt: skip
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("stopped after "), done.stdout + done.stderr
    updates = int(lines[0].split()[2])
    # stopped a slice or two after the first (each a fraction of a second), not at an epoch's
    # end (the epoch is 20000 updates)
    assert 0 < updates < 20000 and lines[0].endswith(", 0 epochs"), lines[0]
    assert lines[1] == "same weights: True"
