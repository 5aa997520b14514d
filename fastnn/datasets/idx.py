"""IDX files, the format of MNIST and Fashion-MNIST, gzipped or not.

A file's header declares the shape of its data. That declaration is checked before anything is
allocated: against :data:`MAX_IDX_BYTES`, against the size of an uncompressed file, and against
the most a gzip file of its size can expand to. A gzip stream is then read only up to the
declared size, and a file with more data after it is refused, so a small gzip file that expands
to gigabytes costs no more memory than its header declares.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._files import as_path, open_regular
from .._typing import PathLike, StrPath, TrainTest
from ..errors import InputError
from .download import DataFileNotFoundError, bad_file_advice, split_checksum

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
IDX_FILES = MNIST_FILES  # the canonical names, shared by MNIST and Fashion-MNIST

MAX_IDX_BYTES = 2**31  # the most data one IDX file may declare; raise it to read larger files
_GZIP_MAX_RATIO = 1032  # deflate expands one compressed byte into at most ~1032
_CHUNK = 1 << 20


def _magic_for(key):
    return IMAGES_MAGIC if "images" in key else LABELS_MAGIC


def content_name(name: str) -> str:
    """The canonical name of a file's decompressed content: ``...-ubyte.gz`` -> ``...-ubyte``."""
    return name[: -len(".gz")] if name.endswith(".gz") else name


def _read_upto(stream, n):
    """Up to ``n`` bytes; fewer only at the end of the stream."""
    parts, got = [], 0
    while got < n:
        part = stream.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _read_into(stream, out):
    """Fill the uint8 array ``out`` from ``stream``; return how many bytes there were."""
    view = memoryview(out)
    got = 0
    while got < len(out):
        part = stream.read(min(_CHUNK, len(out) - got))
        if not part:
            break
        view[got : got + len(part)] = part
        got += len(part)
    return got


def _read_header(stream, path, magic):
    """The declared shape, and the header's bytes."""
    n_dims = magic & 0xFF
    size = 4 * (1 + n_dims)
    head = _read_upto(stream, 4)
    found = int.from_bytes(head, "big")
    if len(head) == 4 and found != magic:
        raise InputError(
            f"{path}: magic number {found} (0x{found:08x}), expected {magic} "
            f"(0x{magic:08x}); is it the right file?"
        )
    head += _read_upto(stream, size - 4)
    if len(head) < size:
        raise InputError(f"{path}: {len(head)} bytes is too short for an IDX header")
    dims = tuple(int.from_bytes(head[4 * (1 + i) : 4 * (2 + i)], "big") for i in range(n_dims))
    return dims, head


def _check_declared_size(path, dims, header_size, file_size, gzipped):
    """Refuse, before allocating, a declared size that is too large or that the file cannot hold."""
    n_bytes = math.prod(dims)
    if n_bytes > MAX_IDX_BYTES:
        raise InputError(
            f"{path}: its header declares the shape {dims}, {n_bytes} bytes, more than the "
            f"limit of {MAX_IDX_BYTES} (fastnn.datasets.idx.MAX_IDX_BYTES)"
        )
    expected = header_size + n_bytes
    if not gzipped and file_size != expected:
        raise InputError(
            f"{path}: {file_size} bytes, but its header {dims} says {expected}; "
            "the file is truncated or corrupt"
        )
    if gzipped and expected > _GZIP_MAX_RATIO * file_size + 1024:
        raise InputError(
            f"{path}: its header {dims} says {expected} bytes, more than a gzip file of "
            f"{file_size} bytes can hold; the file is truncated or corrupt"
        )
    return n_bytes


def _read_data(stream, path, magic, file_size, gzipped, digest):
    dims, head = _read_header(stream, path, magic)
    n_bytes = _check_declared_size(path, dims, len(head), file_size, gzipped)
    data = np.empty(n_bytes, np.uint8)
    got = _read_into(stream, data)
    if got < n_bytes:
        raise InputError(
            f"{path}: {len(head) + got} bytes of content, but its header {dims} says "
            f"{len(head) + n_bytes}; the file is truncated or corrupt"
        )
    if stream.read(1):
        raise InputError(
            f"{path}: more data follows the {len(head) + n_bytes} bytes its header {dims} "
            "declares; the file is corrupt or not an IDX file"
        )
    if digest is not None:
        digest.update(head)
        digest.update(data)
    return data.reshape(dims)


def read_idx(path: PathLike, magic: int, checksum: str | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not) of unsigned bytes, checking its header and size.

    The declared size is checked before anything is allocated: it must not exceed
    :data:`MAX_IDX_BYTES`, and must fit the file. A gzip stream is read only up to that size.
    A file declaring zero items gives an empty array.

    Parameters
    ----------
    path : str, bytes or path-like
        Gzipped or not, whatever its name says: a gzip file is recognised by its first bytes.
        A regular file: a FIFO, a device or a folder is refused unread.
    magic : int
        2051 for images (n, rows, cols), 2049 for labels (n,).
    checksum : str, optional
        The checksum of the file's decompressed content: a bare hex MD5, or
        ``"<algorithm>:<hex>"``. How the file is compressed does not matter.

    Returns
    -------
    ndarray of uint8
        Shape (n, rows, cols) for images, (n,) for labels.

    Raises
    ------
    ValueError
        When the magic number, the header, the size of the data or the checksum is wrong, or
        when the file is not valid gzip; the message names the file.
    """
    path = as_path(path)
    digest = None
    if checksum is not None:
        algorithm, expected = split_checksum(checksum, f"the checksum of {path}")
        digest = hashlib.new(algorithm)
    with open_regular(path, what="an IDX file") as raw:
        file_size = os.fstat(raw.fileno()).st_size
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        try:
            array = _read_data(stream, path, magic, file_size, gzipped, digest)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputError(
                f"{path} is truncated or not a valid gzip file ({exc}); {bad_file_advice(path)}"
            ) from exc
    if digest is not None and digest.hexdigest() != expected:
        raise InputError(
            f"{path}: its content (decompressed) has {algorithm} {digest.hexdigest()}, expected "
            f"{expected}; it is corrupt or not the right file; {bad_file_advice(path)}"
        )
    return array


def load_idx_dataset(
    images_path: PathLike,
    labels_path: PathLike,
    images_checksum: str | None = None,
    labels_checksum: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Images as float32 rows in [0, 1] (n, rows*cols) and int64 labels, from two IDX files.

    The checksums, when given, are those of the files' decompressed content (see
    :func:`read_idx`). Files that hold no images, or images of no pixels, are refused.
    """
    images = read_idx(images_path, IMAGES_MAGIC, images_checksum)
    labels = read_idx(labels_path, LABELS_MAGIC, labels_checksum)
    if images.shape[0] == 0 or images.shape[1] * images.shape[2] == 0:
        raise InputError(
            f"{images_path} declares {images.shape[0]} images of {images.shape[1]}x"
            f"{images.shape[2]} pixels; a data set needs at least one image of one pixel"
        )
    if images.shape[0] != labels.shape[0]:
        raise InputError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels"
        )
    return scale_pixels(images), labels.astype(np.int64)


def scale_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 images (n, rows, cols) as float32 rows (n, rows*cols) in [0, 1]."""
    return np.multiply(images.reshape(images.shape[0], -1), np.float32(1 / 255), dtype=np.float32)


def _idx_candidates(name):
    """The names a canonical ``*-ubyte.gz`` file may have on disk: gzipped or not, ``.idx``."""
    plain = content_name(name)
    dotted = plain.replace("-idx", ".idx")
    return [name, plain, dotted + ".gz", dotted]


def find_idx(folder: StrPath, name: str) -> Path | None:
    """The file standing for the canonical ``name`` in ``folder``, or None.

    Whatever stands there is taken, a folder or a FIFO too, so that reading it refuses it by
    name rather than calling it missing.
    """
    for candidate in _idx_candidates(name):
        path = Path(folder) / candidate
        if path.exists():
            return path
    return None


def load_idx(data_dir: PathLike, checksums: Mapping[str, str] | None = None) -> TrainTest:
    """Load a folder holding the four canonical IDX files of an MNIST-style data set.

    Parameters
    ----------
    data_dir : str, bytes or path-like
        A folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzipped (``.gz``) or
        not (``.idx3-ubyte`` spellings are accepted too).
    checksums : dict of str to str, optional
        The checksums of the files' decompressed content, by name without ``.gz``
        (``"train-images-idx3-ubyte": "<md5>"``); files not named are not checked.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        Images as float32 rows with pixels scaled to [0, 1]; labels as int64.

    Raises
    ------
    FileNotFoundError
        When a file is missing; the message names the folder and the files expected.
    ValueError
        When a file is truncated, too large, or is not the IDX file it should be.
    """
    folder = Path(as_path(data_dir, "data_dir"))
    if folder.exists() and not folder.is_dir():
        raise InputError(f"data_dir {str(folder)!r} is a file, not a folder of IDX files")
    checksums = checksums or {}
    paths = {key: find_idx(folder, name) for key, name in IDX_FILES.items()}
    missing = [IDX_FILES[key] for key, path in paths.items() if path is None]
    if missing:
        raise DataFileNotFoundError(
            f"data_dir {str(folder)!r} lacks {', '.join(missing)} (gzipped or not); "
            f"expected the four files {', '.join(IDX_FILES.values())}"
        )
    sums = {key: checksums.get(content_name(name)) for key, name in IDX_FILES.items()}
    return tuple(
        load_idx_dataset(
            paths[f"{part}_images"],
            paths[f"{part}_labels"],
            sums[f"{part}_images"],
            sums[f"{part}_labels"],
        )
        for part in ("train", "test")
    )
