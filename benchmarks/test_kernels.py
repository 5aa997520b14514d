"""The kernels one by one, numba against numpy, on MNIST-sized operands (float32).

Run: pytest benchmarks/test_kernels.py --benchmark-group-by=group

Every numba kernel is called once before timing, so compilation is not timed; the results of
both backends are checked against each other first.
"""

import numpy as np
import pytest

import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend
from fastnn._codes import RELU

BACKENDS = {"numba": numba_backend, "numpy": numpy_backend}
rng = np.random.default_rng(0)
f32 = np.float32
x = (rng.random((128, 784)) * (rng.random((128, 784)) > 0.81)).astype(f32)  # MNIST-like batch
W = rng.normal(0, 0.05, (784, 128)).astype(f32)
b = np.zeros(128, f32)
delta = rng.normal(size=(128, 128)).astype(f32)
logits = rng.normal(size=(128, 10)).astype(f32)
labels = rng.integers(0, 10, 128)
flat = rng.normal(size=101770).astype(f32)

CASES = {
    "dense_forward 128x784 @ 784x128 + relu": lambda k: k.dense_forward(
        x, W, b, RELU, np.empty((128, 128), f32), np.empty((128, 128), f32)),
    "dense_backward 128x784, 128x128": lambda k: k.dense_backward(
        x, W, delta, np.empty_like(W), np.empty(128, f32), np.empty_like(x)),
    "softmax_cross_entropy 128x10": lambda k: k.softmax_cross_entropy(
        logits, labels, np.empty_like(logits)),
    "sgd_update 101,770 params, momentum": lambda k: k.sgd_update(
        flat.copy(), np.zeros_like(flat), flat, 0.01, 0.9, True, 0.0, 1e-4),
    "activation_derivative relu 128x128": lambda k: k.activation_derivative(
        delta, delta, RELU, np.empty_like(delta)),
}  # fmt: skip


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("case", list(CASES))
def test_kernel(benchmark, case, backend):
    CASES[case](numba_backend)  # compile, outside the timed region
    benchmark.group = case
    benchmark(CASES[case], BACKENDS[backend])
