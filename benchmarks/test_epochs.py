"""One MNIST epoch (784-128-10, ReLU, softmax cross-entropy, float32, plain SGD) per backend.

Run: pytest benchmarks/ --benchmark-group-by=group

Each round trains a freshly initialised model (same seed), so every round times the same job.
The test accuracy reached is checked and stored in ``extra_info``: a faster epoch that learns
less is a bug, not a speed-up. The numpy backend's per-sample epoch is timed on the first 6,000
samples (a tenth of an epoch); the numba backend is timed on the same slice too, for a ratio
measured in one run, and on the full epoch.
"""

import pytest

import fastnn as fn

from conftest import mlp

REGIMES = {
    # name: (batch_size, lr, minimum test accuracy after one epoch)
    "per-sample": (1, 0.01, 0.95),
    "batch-128": (128, 0.1, 0.90),
}
SLICE = 6000


def _time_epoch(benchmark, mnist, backend, regime, n_samples, rounds):
    (X, y), (X_test, y_test) = mnist
    X, y = X[:n_samples], y[:n_samples]
    batch_size, lr, _ = REGIMES[regime]

    trained = []

    def setup():
        trained.append(mlp(backend))
        return (trained[-1],), {}

    def epoch(model):
        model.fit(X, y, epochs=1, batch_size=batch_size, optimizer=fn.SGD(lr=lr), verbose=0)

    benchmark.pedantic(epoch, setup=setup, rounds=rounds, warmup_rounds=1)
    accuracy = trained[-1].evaluate(X_test, y_test)["accuracy"]  # outside the timed region
    benchmark.extra_info.update(
        backend=backend, regime=regime, samples=n_samples, test_accuracy=accuracy
    )
    return accuracy


@pytest.mark.parametrize("regime", list(REGIMES))
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_full_epoch(benchmark, mnist, backend, regime):
    if backend == "numpy" and regime == "per-sample":
        pytest.skip("numpy per-sample: timed on a slice in test_per_sample_slice")
    benchmark.group = f"MNIST epoch, {regime}"
    accuracy = _time_epoch(benchmark, mnist, backend, regime, 60000, rounds=5)
    assert accuracy >= REGIMES[regime][2]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_per_sample_slice(benchmark, mnist, backend):
    benchmark.group = f"MNIST per-sample SGD, first {SLICE} samples"
    accuracy = _time_epoch(benchmark, mnist, backend, "per-sample", SLICE, rounds=3)
    assert accuracy >= 0.85
