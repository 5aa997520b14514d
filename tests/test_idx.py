"""The IDX reader: round trips, its checks, and files built to hurt it."""

import gzip

import numpy as np
import pytest
from idx_files import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    fake_idx_files,
    idx_bytes,
    idx_header,
    write,
)

from fastnn import datasets
from fastnn.errors import InputError


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trip(tmp_path, suffix):
    pixels = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    images = write(tmp_path / f"img{suffix}", idx_bytes(pixels, IMAGES_MAGIC))
    labels = write(tmp_path / f"lab{suffix}", idx_bytes(np.array([7, 1]), LABELS_MAGIC))
    np.testing.assert_array_equal(datasets.read_idx(images, IMAGES_MAGIC), pixels)
    X, y = datasets.load_idx_dataset(images, labels)
    assert X.shape == (2, 12) and X.dtype == np.float32
    np.testing.assert_allclose(X[0, :3], np.array([0, 1, 2]) / 255)
    np.testing.assert_array_equal(y, [7, 1])


def test_load_idx_reads_gzipped_and_plain_files(tmp_path):
    files, arrays = fake_idx_files()
    for i, (name, data) in enumerate(files.items()):
        if i % 2:  # half of them uncompressed
            (tmp_path / name[:-3]).write_bytes(gzip.decompress(data))
        else:
            (tmp_path / name).write_bytes(data)
    (X_train, y_train), (X_test, y_test) = datasets.load_idx(tmp_path)
    images = arrays["train-images-idx3-ubyte.gz"][0]
    np.testing.assert_allclose(X_train, images.reshape(12, -1) / 255, rtol=1e-6)
    assert X_train.dtype == np.float32 and X_train.shape == (12, 784)
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"][0])
    assert y_train.dtype == np.int64 and X_test.shape == (5, 784)


def test_load_mnist_takes_data_dir(tmp_path):
    files, _ = fake_idx_files(n_train=3, n_test=2)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (X_train, _), (X_test, _) = datasets.load_mnist(data_dir=tmp_path)
    assert X_train.shape == (3, 784) and X_test.shape == (2, 784)


def test_load_idx_names_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        datasets.load_idx(tmp_path)


# -- malformed files -------------------------------------------------------------------------


def test_read_idx_rejects_wrong_magic(tmp_path):
    path = write(tmp_path / "x", idx_bytes(np.arange(2), LABELS_MAGIC))
    with pytest.raises(InputError, match=r"magic number 2049 .*expected 2051"):
        datasets.read_idx(path, IMAGES_MAGIC)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_rejects_truncated_data(tmp_path, suffix):
    path = write(tmp_path / f"x{suffix}", idx_header(IMAGES_MAGIC, (2, 3, 4)) + bytes(20))
    with pytest.raises(InputError, match=r"x(\.gz)?: .*truncated or corrupt"):
        datasets.read_idx(path, IMAGES_MAGIC)
    short = write(tmp_path / f"short{suffix}", b"\x00\x00")
    with pytest.raises(InputError, match="too short for an IDX header"):
        datasets.read_idx(short, IMAGES_MAGIC)


def test_read_idx_rejects_a_cut_gzip_stream(tmp_path):
    whole = write(tmp_path / "x.gz", idx_bytes(np.zeros((2, 3, 4)), IMAGES_MAGIC))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole.read_bytes()[:-10])
    with pytest.raises(InputError, match="cut.gz is truncated or not a valid gzip file"):
        datasets.read_idx(cut, IMAGES_MAGIC)


def test_images_and_labels_must_pair_up(tmp_path):
    images = write(tmp_path / "i", idx_bytes(np.zeros((2, 1, 1)), IMAGES_MAGIC))
    labels = write(tmp_path / "l", idx_bytes(np.zeros(3), LABELS_MAGIC))
    with pytest.raises(InputError, match="holds 2 images but .* holds 3 labels"):
        datasets.load_idx_dataset(images, labels)
