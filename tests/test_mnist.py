"""The bundled MNIST, the IDX reader's checks, and the headline job end to end."""

import gzip
import struct

import numpy as np
import pytest

import fastnn as fn
from fastnn.datasets import IMAGES_MAGIC, LABELS_MAGIC, load_idx_dataset, read_idx


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


def _idx_bytes(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def _write(path, data):
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trip(tmp_path, suffix):
    pixels = np.arange(2 * 3 * 4, dtype=np.uint8)
    images = _write(
        tmp_path / f"img{suffix}", _idx_bytes(IMAGES_MAGIC, (2, 3, 4), pixels.tobytes())
    )
    labels = _write(tmp_path / f"lab{suffix}", _idx_bytes(LABELS_MAGIC, (2,), bytes([7, 1])))
    np.testing.assert_array_equal(read_idx(images, IMAGES_MAGIC), pixels.reshape(2, 3, 4))
    X, y = load_idx_dataset(images, labels)
    assert X.shape == (2, 12) and X.dtype == np.float32
    np.testing.assert_allclose(X[0, :3], np.array([0, 1, 2]) / 255)
    np.testing.assert_array_equal(y, [7, 1])


def test_read_idx_rejects_wrong_magic(tmp_path):
    path = _write(tmp_path / "x", _idx_bytes(LABELS_MAGIC, (2,), b"\x00\x01"))
    with pytest.raises(ValueError, match=r"magic number 2049 .*expected 2051"):
        read_idx(path, IMAGES_MAGIC)


def test_read_idx_rejects_truncated_data(tmp_path):
    path = _write(tmp_path / "x.gz", _idx_bytes(IMAGES_MAGIC, (2, 3, 4), bytes(20)))
    with pytest.raises(ValueError, match=r"truncated or corrupt"):
        read_idx(path, IMAGES_MAGIC)
    short = _write(tmp_path / "short", b"\x00\x00")
    with pytest.raises(ValueError, match="too short for an IDX header"):
        read_idx(short, IMAGES_MAGIC)


def test_read_idx_rejects_a_cut_gzip_stream(tmp_path):
    whole = _write(tmp_path / "x.gz", _idx_bytes(IMAGES_MAGIC, (2, 3, 4), bytes(24)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated or not a valid gzip file"):
        read_idx(cut, IMAGES_MAGIC)


def test_images_and_labels_must_pair_up(tmp_path):
    images = _write(tmp_path / "i", _idx_bytes(IMAGES_MAGIC, (2, 1, 1), bytes(2)))
    labels = _write(tmp_path / "l", _idx_bytes(LABELS_MAGIC, (3,), bytes(3)))
    with pytest.raises(ValueError, match="holds 2 images but .* holds 3 labels"):
        load_idx_dataset(images, labels)


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
