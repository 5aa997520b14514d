"""Data sets. MNIST travels with the package, so the headline job needs no network.

MNIST: Yann LeCun, Corinna Cortes and Christopher J.C. Burges, licensed CC BY-SA 3.0.
"""

import gzip
import os
from importlib import resources

import numpy as np

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def _read_bytes(path):
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path} is truncated or not a valid gzip file: {exc}") from exc


def read_idx(path, magic):
    """Read an IDX file (optionally gzipped) of unsigned bytes, checking its header and size.

    Parameters
    ----------
    path : str or path-like
    magic : int
        2051 for images (n, rows, cols), 2049 for labels (n,).

    Returns
    -------
    ndarray of uint8
        Shape (n, rows, cols) for images, (n,) for labels.

    Raises
    ------
    ValueError
        When the magic number, the header or the size of the data is wrong.
    """
    data = _read_bytes(path)
    n_dims = magic & 0xFF
    header = 4 * (1 + n_dims)
    found = int.from_bytes(data[:4], "big")
    if len(data) >= 4 and found != magic:
        raise ValueError(
            f"{path}: magic number {found} (0x{found:08x}), expected {magic} "
            f"(0x{magic:08x}); is it the right file?"
        )
    if len(data) < header:
        raise ValueError(f"{path}: {len(data)} bytes is too short for an IDX header")
    dims = tuple(int.from_bytes(data[4 * (1 + i) : 4 * (2 + i)], "big") for i in range(n_dims))
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise ValueError(
            f"{path}: {len(data)} bytes, but its header {dims} says {expected}; "
            "the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_dataset(images_path, labels_path):
    """Images as float32 rows in [0, 1] (n, rows*cols) and int64 labels, from two IDX files."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels"
        )
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    X *= np.float32(1 / 255)
    return X, labels.astype(np.int64)


def load_mnist():
    """The MNIST handwritten digits, bundled with fastnn.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        60,000 and 10,000 images as float32 rows of 784 pixels scaled to [0, 1], with int64
        labels 0-9.
    """
    folder = resources.files("fastnn") / "data" / "mnist"
    with resources.as_file(folder) as root:
        train = load_idx_dataset(
            root / MNIST_FILES["train_images"], root / MNIST_FILES["train_labels"]
        )
        test = load_idx_dataset(
            root / MNIST_FILES["test_images"], root / MNIST_FILES["test_labels"]
        )
    return train, test
