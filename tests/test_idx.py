"""The IDX reader: round trips, its checks, and files built to hurt it."""

import gzip
import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from idx_files import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    content_md5s,
    fake_idx_files,
    idx_bytes,
    idx_header,
    md5,
    recompressed,
    write,
    write_gzip_bomb,
)

from fastnn import datasets
from fastnn.datasets import idx
from fastnn.errors import FastnnError, InputError


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


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    data = idx_bytes(np.arange(6), LABELS_MAGIC)
    (tmp_path / "gzipped-without-suffix").write_bytes(gzip.compress(data))
    (tmp_path / "plain.gz").write_bytes(data)
    for name in ("gzipped-without-suffix", "plain.gz"):
        np.testing.assert_array_equal(datasets.read_idx(tmp_path / name, LABELS_MAGIC), range(6))


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
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz") as info:
        datasets.load_idx(tmp_path)
    assert isinstance(info.value, FastnnError)  # one line on the command line


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


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_rejects_data_beyond_the_declared_size(tmp_path, suffix):
    path = write(tmp_path / f"x{suffix}", idx_bytes(np.arange(4), LABELS_MAGIC) + b"\x00")
    with pytest.raises(InputError, match="corrupt"):
        datasets.read_idx(path, LABELS_MAGIC)


def test_images_and_labels_must_pair_up(tmp_path):
    images = write(tmp_path / "i", idx_bytes(np.zeros((2, 1, 1)), IMAGES_MAGIC))
    labels = write(tmp_path / "l", idx_bytes(np.zeros(3), LABELS_MAGIC))
    with pytest.raises(InputError, match="holds 2 images but .* holds 3 labels"):
        datasets.load_idx_dataset(images, labels)


@pytest.mark.parametrize("dims", [(0, 28, 28), (3, 0, 28)])
def test_no_images_is_an_empty_array_but_not_a_data_set(tmp_path, dims):
    images = write(tmp_path / "i.gz", idx_header(IMAGES_MAGIC, dims))
    labels = write(tmp_path / "l.gz", idx_bytes(np.zeros(dims[0]), LABELS_MAGIC))
    empty = datasets.read_idx(images, IMAGES_MAGIC)
    assert empty.shape == dims and empty.dtype == np.uint8
    with pytest.raises(InputError, match=rf"i.gz declares {dims[0]} images of .*at least one"):
        datasets.load_idx_dataset(images, labels)


# -- declared sizes are checked before anything is allocated -----------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_absurd_declared_sizes_are_refused(tmp_path, suffix):
    huge = (2**32 - 1,) * 3  # 8e28 bytes: more than any int64
    path = write(tmp_path / f"x{suffix}", idx_header(IMAGES_MAGIC, huge) + bytes(10))
    with pytest.raises(InputError, match=r"x(\.gz)?: .*more than the limit of 2147483648"):
        datasets.read_idx(path, IMAGES_MAGIC)


def test_the_limit_can_be_raised_or_lowered(tmp_path, monkeypatch):
    path = write(tmp_path / "x.gz", idx_bytes(np.zeros(100), LABELS_MAGIC))
    monkeypatch.setattr(idx, "MAX_IDX_BYTES", 99)
    with pytest.raises(InputError, match="100 bytes, more than the limit of 99"):
        datasets.read_idx(path, LABELS_MAGIC)
    monkeypatch.setattr(idx, "MAX_IDX_BYTES", 100)
    assert datasets.read_idx(path, LABELS_MAGIC).shape == (100,)


def test_a_size_the_file_cannot_hold_is_refused_before_reading(tmp_path):
    # 1 GB declared, in a plain file of 26 bytes and in a gzip file of a few dozen
    dims = (1000, 1000, 1000)
    plain = write(tmp_path / "x", idx_header(IMAGES_MAGIC, dims) + bytes(10))
    with pytest.raises(InputError, match=r"x: 26 bytes, but its header .* says 1000000016"):
        datasets.read_idx(plain, IMAGES_MAGIC)
    gzipped = write(tmp_path / "x.gz", idx_header(IMAGES_MAGIC, dims) + bytes(10))
    with pytest.raises(InputError, match=r"x.gz: .* more than a gzip file of \d+ bytes can hold"):
        datasets.read_idx(gzipped, IMAGES_MAGIC)


CHILD = """
import resource, sys
from fastnn.datasets import idx
from fastnn.errors import InputError

with open("/proc/self/status") as f:
    vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
cap = vm + {headroom}
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
try:
    idx.read_idx(sys.argv[1], 2051)
except InputError as exc:
    print("refused:", exc)
except MemoryError:
    print("MemoryError")
    sys.exit(3)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and RLIMIT_AS")
def test_gzip_bomb_is_read_only_up_to_its_declared_size(tmp_path):
    """A 47 MB declaration followed by 768 MiB of zeros, under a cap of 320 MiB.

    Reading the whole stream, as a reader that trusts gzip would, raises MemoryError here.
    """
    bomb = write_gzip_bomb(tmp_path / "bomb.gz", (60000, 28, 28), extra_mib=768)
    assert bomb.stat().st_size < 2**20
    script = textwrap.dedent(CHILD).format(headroom=320 * 2**20)
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "refused:" in done.stdout and "bomb.gz: more data follows" in done.stdout
    assert len(done.stdout.strip().splitlines()) == 1


# -- checksums of the content, whatever the compression ----------------------------------------


def test_checksum_is_of_the_content_whatever_the_compression(tmp_path):
    files, arrays = fake_idx_files()
    name = "train-labels-idx1-ubyte.gz"
    expected = content_md5s(files)[name[:-3]]
    forms = {
        "published.gz": files[name],
        "recompressed.gz": recompressed(files[name]),
        "plain": gzip.decompress(files[name]),
    }
    assert len({md5(data) for data in forms.values()}) == 3
    for form, data in forms.items():
        (tmp_path / form).write_bytes(data)
        labels = datasets.read_idx(tmp_path / form, LABELS_MAGIC, expected)
        np.testing.assert_array_equal(labels, arrays[name][0])
        sha256 = "sha256:" + hashlib.sha256(gzip.decompress(files[name])).hexdigest()
        np.testing.assert_array_equal(datasets.read_idx(tmp_path / form, 2049, sha256), labels)


def test_wrong_content_is_refused_and_never_called_deletable(tmp_path):
    path = write(tmp_path / "x.gz", idx_bytes(np.arange(5), LABELS_MAGIC))
    with pytest.raises(InputError) as info:
        datasets.read_idx(path, LABELS_MAGIC, md5(b"something else"))
    text = str(info.value)
    assert "x.gz: its content (decompressed) has md5" in text
    assert "did not download this file" in text and "delete" not in text
    with pytest.raises(InputError, match="sha256"):
        datasets.read_idx(path, LABELS_MAGIC, "sha256:" + md5(b"x"))
    with pytest.raises(InputError, match="hashlib does not know"):
        datasets.read_idx(path, LABELS_MAGIC, "nohash:00")
