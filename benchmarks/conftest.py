import pytest

import fastnn as fn


@pytest.fixture(scope="session")
def mnist():
    return fn.datasets.load_mnist()


def mlp(backend, hidden=(128,), dtype="float32", seed=0):
    widths = [784, *hidden]
    layers = [fn.Dense(a, b, activation="relu") for a, b in zip(widths, widths[1:])]
    layers.append(fn.Dense(widths[-1], 10))
    return fn.Sequential(layers, backend=backend, dtype=dtype, seed=seed)


@pytest.fixture(scope="session", autouse=True)
def compiled(mnist):
    """Compile the numba kernels once, outside every timed region."""
    (X, y), _ = mnist
    for batch_size in (1, 128):
        mlp("numba").fit(X[:256], y[:256], batch_size=batch_size, verbose=0)
