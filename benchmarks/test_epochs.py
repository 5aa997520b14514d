"""One MNIST epoch (784-128-10, ReLU, softmax cross-entropy, float32) per backend, with plain SGD
and with Adam, per sample and in batches of 128.

Run: pytest benchmarks/ --benchmark-group-by=group

Each round trains a freshly initialised model (same seed) with a fresh optimizer, so every round
times the same job; the kernels are compiled (or loaded) before timing. The test accuracy
reached is checked and stored in ``extra_info``: a faster epoch that learns less is a bug, not a
speed-up. The numpy backend's per-sample epoch is timed on the first 6,000 samples (a tenth of
an epoch); the numba backend is timed on the same slice too, for a ratio measured in one run,
and on the full epoch.

Adam (beta1 0.9, beta2 0.999, eps 1e-8) runs at lr 0.0005 per sample and 0.001 in batches, the
rates of ``fastnn bench --optimizer adam``. Per sample it updates every parameter at every
step (its moments move even where the gradient is zero), so its epoch costs far more than plain
SGD's, which skips the zero inputs; its full epoch is timed in fewer rounds.
"""

import pytest

import fastnn as fn

from conftest import mlp

REGIMES = {
    # name: (batch_size, lr, minimum test accuracy after one epoch)
    "per-sample": (1, 0.01, 0.95),
    "batch-128": (128, 0.1, 0.90),
}
ADAM_REGIMES = {
    "per-sample": (1, 0.0005, 0.95),
    "batch-128": (128, 0.001, 0.93),
}
OPTIMIZERS = {"sgd": (fn.SGD, REGIMES), "adam": (fn.Adam, ADAM_REGIMES)}
SLICE = 6000


def _time_epoch(benchmark, mnist, backend, regime, n_samples, rounds, optimizer="sgd"):
    (X, y), (X_test, y_test) = mnist
    X, y = X[:n_samples], y[:n_samples]
    make_optimizer, regimes = OPTIMIZERS[optimizer]
    batch_size, lr, _ = regimes[regime]

    trained = []

    def setup():
        trained.append(mlp(backend))
        return (trained[-1], make_optimizer(lr=lr)), {}

    def epoch(model, opt):
        model.fit(X, y, epochs=1, batch_size=batch_size, optimizer=opt, verbose=0)

    benchmark.pedantic(epoch, setup=setup, rounds=rounds, warmup_rounds=1)
    accuracy = trained[-1].evaluate(X_test, y_test)["accuracy"]  # outside the timed region
    benchmark.extra_info.update(
        backend=backend,
        optimizer=optimizer,
        lr=lr,
        regime=regime,
        samples=n_samples,
        test_accuracy=accuracy,
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


@pytest.mark.parametrize("regime", list(ADAM_REGIMES))
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_adam_full_epoch(benchmark, mnist, backend, regime):
    if backend == "numpy" and regime == "per-sample":
        pytest.skip("numpy per-sample Adam: timed on a slice in test_adam_per_sample_slice")
    benchmark.group = f"MNIST epoch, Adam, {regime}"
    rounds = 3 if regime == "per-sample" else 5
    accuracy = _time_epoch(benchmark, mnist, backend, regime, 60000, rounds, optimizer="adam")
    assert accuracy >= ADAM_REGIMES[regime][2]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_adam_per_sample_slice(benchmark, mnist, backend):
    benchmark.group = f"MNIST per-sample Adam, first {SLICE} samples"
    accuracy = _time_epoch(benchmark, mnist, backend, "per-sample", SLICE, 3, optimizer="adam")
    assert accuracy >= 0.85
