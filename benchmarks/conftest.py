import pytest

import fastnn as fn


@pytest.fixture(scope="session")
def mnist():
    return fn.datasets.load_mnist()


def mlp(backend, hidden=(128,), dtype="float32", seed=0):
    layers = fn.dense_stack([784, *hidden, 10], activation="relu")
    return fn.Sequential(layers, backend=backend, dtype=dtype, seed=seed)


@pytest.fixture(scope="session", autouse=True)
def compiled(mnist):
    """Compile the numba kernels once, outside every timed region."""
    (X, y), _ = mnist
    for batch_size in (1, 128):
        for optimizer in (fn.SGD(), fn.Adam()):
            mlp("numba").fit(X[:256], y[:256], batch_size=batch_size, optimizer=optimizer,
                             verbose=0)  # fmt: skip
