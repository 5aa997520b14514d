"""The bundled MNIST, its decompressed cache, and the headline job end to end."""

import gzip
import hashlib
from importlib import resources

import numpy as np
import pytest

import fastnn as fn


@pytest.fixture(scope="module")
def mnist():
    return fn.datasets.load_mnist()


def test_bundled_mnist_shapes_and_scaling(mnist):
    (X_train, y_train), (X_test, y_test) = mnist
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    np.testing.assert_array_equal(y_train[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    assert sorted(np.unique(y_test)) == list(range(10))
    assert 0.75 < np.mean(X_train == 0) < 0.85  # most pixels are zero


def test_one_per_sample_epoch_on_mnist_reaches_95_percent(mnist):
    """The headline job, with the default settings of ``fastnn train``."""
    (X_train, y_train), (X_test, y_test) = mnist
    model = fn.Sequential(
        [fn.Dense(784, 128, activation="relu"), fn.Dense(128, 10)],
        backend="numba",
        dtype="float32",
        seed=0,
    )
    history = model.fit(
        X_train, y_train, epochs=1, batch_size=1, optimizer=fn.SGD(lr=0.01), verbose=0
    )
    assert model.evaluate(X_test, y_test)["accuracy"] >= 0.95
    assert history.history["accuracy"][0] > 0.9


def test_decompressed_cache_is_written_checked_and_rebuilt(tmp_path, monkeypatch, mnist):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    (X, y), _ = fn.datasets.load_mnist()
    cache = tmp_path / "mnist-npy"
    assert sorted(p.name for p in cache.iterdir()) == [
        "test_images.npy",
        "test_labels.npy",
        "train_images.npy",
        "train_labels.npy",
    ]
    np.save(cache / "train_labels.npy", np.zeros(5, np.uint8))  # a damaged cache
    (X2, y2), _ = fn.datasets.load_mnist()
    np.testing.assert_array_equal(y2, mnist[0][1])
    np.testing.assert_array_equal(X2, mnist[0][0])
    assert np.load(cache / "train_labels.npy").shape == (60000,)


def test_bundled_files_match_the_published_content_checksums():
    folder = resources.files("fastnn") / "data" / "mnist"
    for name, expected in fn.datasets.MNIST_CONTENT_MD5.items():
        content = gzip.decompress((folder / f"{name}.gz").read_bytes())
        assert hashlib.md5(content).hexdigest() == expected


def test_a_cache_file_declaring_a_huge_array_is_rebuilt_without_reading_it(
    tmp_path, monkeypatch, mnist
):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    cache = tmp_path / "mnist-npy"
    fn.datasets.load_mnist()
    with open(cache / "train_images.npy", "wb") as f:  # 1 TB declared, 10 bytes there
        header = {"descr": "|u1", "fortran_order": False, "shape": (10**12,)}
        np.lib.format.write_array_header_1_0(f, header)
        f.write(bytes(10))
    (X, _), _ = fn.datasets.load_mnist()
    np.testing.assert_array_equal(X, mnist[0][0])
    assert np.load(cache / "train_images.npy", mmap_mode="r").shape == (60000, 28, 28)
