"""Building IDX files for the tests: tiny MNIST-shaped data sets, odd compressions, gzip bombs."""

import gzip
import hashlib
import zlib

import numpy as np

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def idx_header(magic, dims):
    return magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in dims)


def idx_bytes(array, magic):
    """The uncompressed IDX content of a uint8 array."""
    array = np.ascontiguousarray(array, np.uint8)
    return idx_header(magic, array.shape) + array.tobytes()


def write(path, data):
    """``data`` to ``path``, gzipped when the name ends in ``.gz``."""
    path.write_bytes(gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)
    return path


def fake_idx_files(n_train=12, n_test=5, seed=0):
    """The four canonical files (gzipped bytes) of a tiny MNIST-shaped data set, and the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": (rng.integers(0, 256, (n_train, 28, 28)), IMAGES_MAGIC),
        "train-labels-idx1-ubyte.gz": (rng.integers(0, 10, n_train), LABELS_MAGIC),
        "t10k-images-idx3-ubyte.gz": (rng.integers(0, 256, (n_test, 28, 28)), IMAGES_MAGIC),
        "t10k-labels-idx1-ubyte.gz": (rng.integers(0, 10, n_test), LABELS_MAGIC),
    }
    files = {
        name: gzip.compress(idx_bytes(a, magic), mtime=0) for name, (a, magic) in arrays.items()
    }
    return files, arrays


def content_md5s(files):
    """MD5 of each file's decompressed content, keyed by its name without ``.gz``."""
    return {name[:-3]: md5(gzip.decompress(data)) for name, data in files.items()}


def md5(data):
    return hashlib.md5(data).hexdigest()


def write_gzip_bomb(path, dims, extra_mib, magic=IMAGES_MAGIC):
    """A valid IDX header and its declared zeros, then ``extra_mib`` MiB more zeros, gzipped.

    Written as gzip members (one compressed 16 MiB block repeated), so building a bomb of
    gigabytes takes neither the time nor the memory of compressing them.
    """
    declared = int(np.prod(dims))
    block = gzip.compress(bytes(1 << 24), compresslevel=9, mtime=0)
    with open(path, "wb") as f:
        f.write(gzip.compress(idx_header(magic, dims) + bytes(declared), mtime=0))
        for _ in range(extra_mib // 16):
            f.write(block)
        f.write(gzip.compress(bytes((extra_mib % 16) << 20), mtime=0))
    return path


def recompressed(data, level=1):
    """The same content as the gzip bytes ``data``, gzipped another way (as Debian's package)."""
    content = gzip.decompress(data)
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    return compressor.compress(content) + compressor.flush()
