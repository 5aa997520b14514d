"""How the cost of an epoch grows with the hidden width (64 to 1024, one hidden layer) and the
depth (1 to 4 hidden layers of 256), for both backends and both regimes.

Run: pytest benchmarks/test_scaling.py --benchmark-group-by=group

Each round trains a fresh model on a slice of MNIST (sizes in ``extra_info["samples"]``; the
numpy backend's per-sample regime gets a smaller slice), so compare throughputs:
``extra_info["samples_per_second"]`` is computed from the median time.
"""

import pytest

import fastnn as fn

from conftest import mlp

SHAPES = {f"width-{w}": (w,) for w in (64, 128, 256, 512, 1024)}
SHAPES.update({f"depth-{d}": (256,) * d for d in (2, 3, 4)})
SAMPLES = {("numba", 1): 10000, ("numpy", 1): 1000, ("numba", 128): 10000, ("numpy", 128): 10000}


@pytest.mark.parametrize("batch_size", [1, 128], ids=["per-sample", "batch-128"])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_scaling(benchmark, mnist, shape, backend, batch_size):
    (X, y), _ = mnist
    n = SAMPLES[backend, batch_size]
    X, y = X[:n], y[:n]
    hidden = SHAPES[shape]
    mlp(backend, hidden).fit(X[:256], y[:256], batch_size=batch_size, verbose=0)  # compile

    def setup():
        return (mlp(backend, hidden),), {}

    def epoch(model):
        model.fit(X, y, batch_size=batch_size, optimizer=fn.SGD(lr=0.01), verbose=0)

    benchmark.group = f"scaling, {'per-sample' if batch_size == 1 else 'batch-128'}"
    benchmark.pedantic(epoch, setup=setup, rounds=3, warmup_rounds=0)
    benchmark.extra_info.update(
        shape=shape, backend=backend, samples=n, samples_per_second=n / benchmark.stats.stats.median
    )
