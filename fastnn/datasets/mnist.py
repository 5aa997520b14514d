"""MNIST (bundled, with a decompressed ``.npy`` cache) and Fashion-MNIST (downloaded once).

Both are checked by the checksums of their decompressed content, so a copy compressed another
way (say, Debian's ``dataset-fashion-mnist`` package, which re-gzips the files) or not compressed
at all is accepted when its content is right. Downloads are also checked against the published
checksums of the ``.gz`` files as they arrive.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import numpy as np

from .._files import as_path, atomic_write, open_regular
from .._typing import PathLike, TrainTest
from ..errors import InputError
from ..io import read_npy_header
from .download import data_home, fetch
from .idx import IDX_FILES, MNIST_FILES, _magic_for, content_name, find_idx, load_idx, read_idx
from .idx import scale_pixels as _scale_pixels

# MD5 of the decompressed files (the same as the published originals, whatever the compression)
MNIST_CONTENT_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
# MD5 of the .gz files as Zalando publishes them: what a download must match
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# MD5 of their decompressed content: what any copy on disk must match
FASHION_MNIST_CONTENT_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_MNIST_SHAPES = {"train_images": (60000, 28, 28), "train_labels": (60000,),
                 "test_images": (10000, 28, 28), "test_labels": (10000,)}  # fmt: skip


def load_mnist(data_dir: PathLike | None = None) -> TrainTest:
    """The MNIST handwritten digits, bundled with fastnn.

    The bundled files are gzipped and checked against the MD5 of their decompressed content;
    the first call also keeps their decompressed pixels as ``.npy`` files under
    :func:`data_home` ``/mnist-npy`` (when that folder is writable), so later processes skip
    the decompression. Those files are checked for shape and dtype on every load, before they
    are read, and rebuilt from the bundled copy when they do not fit.

    Parameters
    ----------
    data_dir : str, bytes or path-like, optional
        Read the four IDX files from this folder instead of the bundled copy. They may hold
        any MNIST-style data set, so no checksum is imposed on them.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        60,000 and 10,000 images as float32 rows of 784 pixels scaled to [0, 1], with int64
        labels 0-9.
    """
    if data_dir is not None:
        return load_idx(as_path(data_dir, "data_dir"))
    cache = data_home() / "mnist-npy"
    try:
        raw = _read_mnist_cache(cache)
    except (OSError, ValueError, EOFError):
        raw = _read_bundled_mnist()
        _write_mnist_cache(cache, raw)
    return tuple(
        (_scale_pixels(raw[f"{part}_images"]), raw[f"{part}_labels"].astype(np.int64))
        for part in ("train", "test")
    )


def _read_bundled_mnist():
    folder = resources.files("fastnn") / "data" / "mnist"
    with resources.as_file(folder) as root:
        return {
            key: read_idx(root / name, _magic_for(key), MNIST_CONTENT_MD5[content_name(name)])
            for key, name in MNIST_FILES.items()
        }


def _read_mnist_cache(folder):
    """The cached arrays; their headers are checked before their data is read, and anything
    but a regular file is refused unread."""
    raw = {}
    for key, shape in _MNIST_SHAPES.items():
        with open_regular(Path(folder) / f"{key}.npy") as f:
            found, dtype, fortran = read_npy_header(
                f, os.fstat(f.fileno()).st_size, f"cached {key}"
            )
            if found != shape or dtype != np.uint8 or fortran:
                raise InputError(f"cached {key} has shape {found} and dtype {dtype}")
            f.seek(0)
            raw[key] = np.lib.format.read_array(f, allow_pickle=False)
    return raw


def _write_mnist_cache(folder, raw):
    """Keep the decompressed arrays; a folder that cannot be written is simply not used."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for key, arr in raw.items():
            target = folder / f"{key}.npy"
            if target.exists() and not target.is_file():
                return  # a FIFO or a device would be written in place, or block
            with atomic_write(target) as f:
                np.save(f, arr)
    except OSError:
        pass


def load_fashion_mnist(
    data_dir: PathLike | None = None,
    download: bool = True,
    mirrors: str | Iterable[str] = FASHION_MNIST_MIRRORS,
    timeout: float = 30.0,
) -> TrainTest:
    """Zalando's Fashion-MNIST: 28x28 grey images of clothing in 10 classes.

    The four files are looked for in ``data_dir`` when given, else in ``$FASTNN_DATA/
    fashion-mnist``, else in ``~/.cache/fastnn/fashion-mnist``; the ones missing there are
    downloaded into that folder from the mirrors, tried in turn, and checked against the
    published MD5 of the ``.gz`` files. Every file is then checked against the MD5 of its
    decompressed content (:data:`FASHION_MNIST_CONTENT_MD5`), so a copy placed by hand may be
    gzipped any way, or not at all. :data:`FASHION_MNIST_CLASSES` names the labels.

    Parameters
    ----------
    data_dir : str, bytes or path-like, optional
        A folder holding (or to receive) the four files.
    download : bool, default True
        ``False`` only reads what is on disk.
    mirrors : str or sequence of str
        Base URLs tried in turn (or one), :data:`FASHION_MNIST_MIRRORS` by default.
    timeout : float, default 30
        Seconds to wait on a silent connection.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        60,000 and 10,000 images as float32 rows of 784 pixels in [0, 1], int64 labels 0-9.

    Raises
    ------
    DownloadError
        Offline, or when no mirror delivers a good file; the message says what to do.
    ValueError
        When a file on disk is not the right one. Only a file fastnn downloaded itself is
        called safe to delete.
    """
    if data_dir is not None:
        folder = Path(as_path(data_dir, "data_dir"))
    else:
        folder = data_home() / "fashion-mnist"
    missing = {
        name: FASHION_MNIST_MD5[name]
        for name in IDX_FILES.values()
        if find_idx(folder, name) is None
    }
    if missing and download:
        fetch(missing, folder, mirrors=mirrors, timeout=timeout)
    return load_idx(folder, checksums=FASHION_MNIST_CONTENT_MD5)
