"""The kernels run as plain Python (NUMBA_DISABLE_JIT=1): the same numbers as the numpy backend.

This lets a coverage tool see inside the kernels' bodies, and checks that they mean the same
thing as Python code as they do compiled.
"""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

SCRIPT = """
import numpy as np
import fastnn as fn
rng = np.random.default_rng(0)
X = rng.normal(size=(24, 6))
X[rng.random(X.shape) < 0.95] = 0
y = rng.integers(0, 3, 24)
for batch_size in (1, 5):
    for opt in (lambda: fn.SGD(lr=0.1), lambda: fn.Adam(lr=0.02, l2=1e-2),
                lambda: fn.SGD(lr=0.1, momentum=0.9, nesterov=True, l1=1e-3, l2=1e-2, decay=0.01)):
        weights = []
        for backend in ("numba", "numpy"):
            layers = [fn.Dense(6, 5, activation="relu"), fn.Dense(5, 4, activation="tanh"),
                      fn.Dense(4, 3)]
            model = fn.Sequential(layers, backend=backend, dtype="float64")
            model.fit(X, y, epochs=2, batch_size=batch_size, optimizer=opt(),
                      verbose=0)
            weights.append(model.get_weights())
        for (Wa, ba), (Wb, bb) in zip(*weights):
            np.testing.assert_allclose(Wa, Wb, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(ba, bb, rtol=1e-9, atol=1e-12)
weights = []
for backend in ("numba", "numpy"):  # dropout, per sample: its uint64 hash as Python code
    layers = [fn.Dense(6, 5, activation="relu"), fn.Dropout(0.4), fn.Dense(5, 3)]
    model = fn.Sequential(layers, backend=backend, dtype="float64")
    model.fit(X, y, epochs=2, optimizer=fn.SGD(lr=0.1, momentum=0.5), verbose=0)
    weights.append(model.get_weights())
for (Wa, ba), (Wb, bb) in zip(*weights):
    np.testing.assert_allclose(Wa, Wb, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ba, bb, rtol=1e-9, atol=1e-12)
print("interpreted kernels agree")
"""


def test_kernels_as_plain_python_agree_with_numpy():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "interpreted kernels agree" in result.stdout
