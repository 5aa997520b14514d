"""IDX files, the format of MNIST and Fashion-MNIST, gzipped or not."""

import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import InputError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
IDX_FILES = MNIST_FILES  # the canonical names, shared by MNIST and Fashion-MNIST


def _read_bytes(path):
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise InputError(f"{path} is truncated or not a valid gzip file: {exc}") from exc


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
        raise InputError(
            f"{path}: magic number {found} (0x{found:08x}), expected {magic} "
            f"(0x{magic:08x}); is it the right file?"
        )
    if len(data) < header:
        raise InputError(f"{path}: {len(data)} bytes is too short for an IDX header")
    dims = tuple(int.from_bytes(data[4 * (1 + i) : 4 * (2 + i)], "big") for i in range(n_dims))
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise InputError(
            f"{path}: {len(data)} bytes, but its header {dims} says {expected}; "
            "the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_dataset(images_path, labels_path):
    """Images as float32 rows in [0, 1] (n, rows*cols) and int64 labels, from two IDX files."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise InputError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels"
        )
    return _scale_pixels(images), labels.astype(np.int64)


def _idx_candidates(name):
    """The names a canonical ``*-ubyte.gz`` file may have on disk: gzipped or not, ``.idx``."""
    plain = name[: -len(".gz")]
    dotted = plain.replace("-idx", ".idx")
    return [name, plain, dotted + ".gz", dotted]


def _find_idx(folder, name):
    for candidate in _idx_candidates(name):
        path = Path(folder) / candidate
        if path.is_file():
            return path
    return None


def load_idx(data_dir):
    """Load a folder holding the four canonical IDX files of an MNIST-style data set.

    Parameters
    ----------
    data_dir : str or path-like
        A folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzipped (``.gz``) or
        not (``.idx3-ubyte`` spellings are accepted too).

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        Images as float32 rows with pixels scaled to [0, 1]; labels as int64.

    Raises
    ------
    FileNotFoundError
        When a file is missing; the message names the folder and the files expected.
    ValueError
        When a file is truncated or is not the IDX file it should be.
    """
    folder = Path(data_dir)
    paths = {}
    missing = []
    for key, name in IDX_FILES.items():
        paths[key] = _find_idx(folder, name)
        if paths[key] is None:
            missing.append(name)
    if missing:
        raise FileNotFoundError(
            f"data_dir {str(folder)!r} lacks {', '.join(missing)} (gzipped or not); "
            f"expected the four files {', '.join(IDX_FILES.values())}"
        )
    train = load_idx_dataset(paths["train_images"], paths["train_labels"])
    test = load_idx_dataset(paths["test_images"], paths["test_labels"])
    return train, test


def _scale_pixels(images):
    """uint8 images (n, rows, cols) as float32 rows (n, rows*cols) in [0, 1]."""
    return np.multiply(images.reshape(images.shape[0], -1), np.float32(1 / 255), dtype=np.float32)
