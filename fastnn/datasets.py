"""Data sets. MNIST travels with the package, so the headline job needs no network.

- :func:`load_mnist` (bundled) and :func:`load_fashion_mnist` (downloaded once, then cached) read
  the IDX format through one loader, :func:`load_idx`, which takes any folder of the four
  canonical files.
- :func:`load_digits` (scikit-learn's bundled 8x8 digits) and :func:`make_spiral` (interleaved
  arms) are small and need no files.
- :func:`load_csv` reads a numeric table, splits it and standardises its features.

Credits: MNIST, Yann LeCun, Corinna Cortes and Christopher J.C. Burges, CC BY-SA 3.0.
Fashion-MNIST, Zalando Research, MIT licence. The 8x8 digits, the diabetes and the breast-cancer
tables ship with scikit-learn (BSD-3-Clause); their origins are given in its documentation.
"""

import csv
import gzip
import hashlib
import http.client
import math
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ._files import atomic_write
from ._validation import check_choice, check_int, check_number
from .errors import InputError, InputTypeError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
IDX_FILES = MNIST_FILES  # the canonical names, shared by MNIST and Fashion-MNIST

FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
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
TASKS = ("regression", "binary", "classification")
_CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror delivered a file whose checksum matches; the message says what was tried."""


# -- IDX -------------------------------------------------------------------------------------


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


def load_mnist(data_dir=None):
    """The MNIST handwritten digits, bundled with fastnn.

    The bundled files are gzipped; the first call also keeps their decompressed pixels as
    ``.npy`` files under :func:`data_home` ``/mnist-npy`` (when that folder is writable), so
    later processes skip the decompression. Those files are checked for shape and dtype on every
    load and rebuilt from the bundled copy when they do not fit.

    Parameters
    ----------
    data_dir : str or path-like, optional
        Read the four IDX files from this folder instead of the bundled copy.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        60,000 and 10,000 images as float32 rows of 784 pixels scaled to [0, 1], with int64
        labels 0-9.
    """
    if data_dir is not None:
        return load_idx(data_dir)
    cache = data_home() / "mnist-npy"
    try:
        raw = _read_mnist_cache(cache)
    except (OSError, ValueError):
        folder = resources.files("fastnn") / "data" / "mnist"
        with resources.as_file(folder) as root:
            raw = {key: read_idx(root / name, IMAGES_MAGIC if "images" in key else LABELS_MAGIC)
                   for key, name in MNIST_FILES.items()}  # fmt: skip
        _write_mnist_cache(cache, raw)
    return tuple(
        (_scale_pixels(raw[f"{part}_images"]), raw[f"{part}_labels"].astype(np.int64))
        for part in ("train", "test")
    )


_MNIST_SHAPES = {"train_images": (60000, 28, 28), "train_labels": (60000,),
                 "test_images": (10000, 28, 28), "test_labels": (10000,)}  # fmt: skip


def _read_mnist_cache(folder):
    raw = {}
    for key, shape in _MNIST_SHAPES.items():
        arr = np.load(Path(folder) / f"{key}.npy", allow_pickle=False)
        if arr.shape != shape or arr.dtype != np.uint8:
            raise InputError(f"cached {key} has shape {arr.shape} and dtype {arr.dtype}")
        raw[key] = arr
    return raw


def _write_mnist_cache(folder, raw):
    """Keep the decompressed arrays; a folder that cannot be written is simply not used."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for key, arr in raw.items():
            with atomic_write(folder / f"{key}.npy") as f:
                np.save(f, arr)
    except OSError:
        pass


def _scale_pixels(images):
    """uint8 images (n, rows, cols) as float32 rows (n, rows*cols) in [0, 1]."""
    return np.multiply(images.reshape(images.shape[0], -1), np.float32(1 / 255), dtype=np.float32)


# -- the download cache ----------------------------------------------------------------------


def data_home(data_dir=None):
    """The folder where downloaded data sets live.

    ``data_dir`` when given, else ``$FASTNN_DATA``, else ``~/.cache/fastnn``. Nothing is
    created here.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("FASTNN_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "fastnn"


def _checksum_of(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _split_checksum(checksum):
    """``"sha256:<hex>"`` or a bare 32-digit hex (MD5) into (algorithm, hex)."""
    algorithm, _, value = checksum.rpartition(":")
    return (algorithm or "md5").lower(), value.lower()


def _fetch_one(url, destination, algorithm, expected, timeout):
    """Download ``url`` to ``destination`` via a ``.part`` file; raise OSError on any failure."""
    part = destination.with_name(destination.name + ".part")
    digest = hashlib.new(algorithm)
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            length = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if length is not None and received != int(length):
            raise OSError(f"truncated transfer: got {received} of {int(length)} bytes")
        if digest.hexdigest() != expected:
            raise OSError(
                f"checksum mismatch: {algorithm} {digest.hexdigest()}, expected {expected}"
            )
        os.replace(part, destination)
    except BaseException:
        if part.exists():
            part.unlink()
        raise


def fetch(files, folder, mirrors, timeout=30.0):
    """Make sure every file is in ``folder`` with the right checksum, downloading what is missing.

    Each missing file is fetched from the mirrors in turn until one delivers it whole and with
    the expected checksum. It is written as ``<name>.part`` and renamed into place only then, so
    an interrupted download never leaves a file that looks complete.

    Parameters
    ----------
    files : dict of str to str
        File name to checksum: a bare hex string is an MD5, else ``"<algorithm>:<hex>"`` with
        any :mod:`hashlib` algorithm (``"sha256:..."``).
    folder : str or path-like
        Created when missing.
    mirrors : sequence of str
        Base URLs; a file's URL is the base URL joined with its name.
    timeout : float, default 30
        Seconds to wait on a silent connection.

    Returns
    -------
    dict of str to Path
        Where each file is.

    Raises
    ------
    DownloadError
        When no mirror delivers a file. The message names the mirrors tried with what went
        wrong at each, the folder, and how to place the files by hand.
    ValueError
        When a file already in ``folder`` has the wrong checksum.
    """
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    mirrors = list(mirrors)
    if not mirrors:
        raise InputError("mirrors must name at least one base URL; got none")
    folder = Path(folder)
    paths = {}
    for name, checksum in files.items():
        algorithm, expected = _split_checksum(checksum)
        destination = folder / name
        if destination.is_file():
            found = _checksum_of(destination, algorithm)
            if found != expected:
                raise InputError(
                    f"{destination} has {algorithm} {found}, expected {expected}: the file is "
                    "corrupt or not the right one; delete it to download it again"
                )
            paths[name] = destination
            continue
        folder.mkdir(parents=True, exist_ok=True)
        failures = []
        for mirror in mirrors:
            url = mirror if mirror.endswith("/") else mirror + "/"
            url += name
            try:
                _fetch_one(url, destination, algorithm, expected, timeout)
                break
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # URLError, HTTPError, timeouts, refused connections, bad or short data
                reason = getattr(exc, "reason", None) or exc
                failures.append(f"{url} ({reason})")
        else:
            raise DownloadError(
                f"could not download {name}; tried: {'; '.join(failures)}. Searched folder: "
                f"{folder}. Without network access, download the files "
                f"{', '.join(files)} elsewhere (from any of {', '.join(mirrors)}), then copy "
                f"them into {folder}, or into any folder given as data_dir= (or $FASTNN_DATA)"
            )
        paths[name] = destination
    return paths


def load_fashion_mnist(data_dir=None, download=True, mirrors=FASHION_MNIST_MIRRORS, timeout=30.0):
    """Zalando's Fashion-MNIST: 28x28 grey images of clothing in 10 classes.

    The four files are looked for in ``data_dir`` when given, else in ``$FASTNN_DATA/
    fashion-mnist``, else in ``~/.cache/fastnn/fashion-mnist``; the ones missing there are
    downloaded into that folder (MD5 checked) from the mirrors, tried in turn.
    :data:`FASHION_MNIST_CLASSES` names the labels.

    Parameters
    ----------
    data_dir : str or path-like, optional
        A folder holding (or to receive) the four ``*-ubyte.gz`` files.
    download : bool, default True
        ``False`` only reads what is on disk.
    mirrors : sequence of str
        Base URLs tried in turn, :data:`FASHION_MNIST_MIRRORS` by default.
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
    """
    folder = Path(data_dir) if data_dir is not None else data_home() / "fashion-mnist"
    on_disk = all(_find_idx(folder, name) is not None for name in FASHION_MNIST_MD5)
    if on_disk:
        gzipped = {n: c for n, c in FASHION_MNIST_MD5.items() if (folder / n).is_file()}
        fetch(gzipped, folder, mirrors=mirrors, timeout=timeout)  # checks their checksums
    elif download:
        missing = {
            name: checksum
            for name, checksum in FASHION_MNIST_MD5.items()
            if _find_idx(folder, name) is None
        }
        fetch(missing, folder, mirrors=mirrors, timeout=timeout)
    return load_idx(folder)


# -- small data sets -------------------------------------------------------------------------


def _split(X, y, test_size, seed, stratify):
    from sklearn.model_selection import train_test_split

    return train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y if stratify else None
    )


def load_digits(test_size=0.2, seed=0):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images), split for training.

    Parameters
    ----------
    test_size : float, default 0.2
        The fraction held out for testing, stratified by class.
    seed : int, default 0
        Seeds the split.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        Images as float32 rows of 64 pixels scaled from 0-16 to [0, 1]; int64 labels 0-9.
    """
    from sklearn import datasets as sk_datasets

    test_size = check_number(test_size, "test_size", low=0, high=1, low_open=True, high_open=True)
    seed = check_int(seed, "seed", low=0)
    digits = sk_datasets.load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = _split(X, y, test_size, seed, stratify=True)
    return (X_train, y_train), (X_test, y_test)


def make_spiral(n_samples=300, n_classes=3, noise=0.2, seed=0):
    """Points on interleaved spiral arms, one arm per class (the classic CS231n data set).

    Arm ``k`` has radius ``r`` from 0 to 1 and angle ``4 k + 4 r`` plus Gaussian noise of
    standard deviation ``noise`` (radians); a point is ``(r sin t, r cos t)``.

    Parameters
    ----------
    n_samples : int, default 300
        Points in all; the arms share them as evenly as possible.
    n_classes : int, default 3
    noise : float, default 0.2
    seed : int, default 0

    Returns
    -------
    X : ndarray of float32, shape (n_samples, 2)
    y : ndarray of int64, shape (n_samples,)
        Points are ordered by class; shuffle or split before use.
    """
    n_samples = check_int(n_samples, "n_samples", low=1)
    n_classes = check_int(n_classes, "n_classes", low=2)
    noise = check_number(noise, "noise", low=0)
    seed = check_int(seed, "seed", low=0)
    if n_samples < n_classes:
        raise InputError(
            f"n_samples must be at least n_classes ({n_classes}) so that every arm has a "
            f"point; got {n_samples}"
        )
    rng = np.random.default_rng(seed)
    X = np.empty((n_samples, 2), np.float64)
    y = np.empty(n_samples, np.int64)
    start = 0
    for k in range(n_classes):
        count = n_samples // n_classes + (k < n_samples % n_classes)
        r = np.linspace(0.0, 1.0, count)
        t = np.linspace(4.0 * k, 4.0 * (k + 1), count) + rng.normal(0.0, noise, count)
        X[start : start + count] = np.column_stack([r * np.sin(t), r * np.cos(t)])
        y[start : start + count] = k
        start += count
    return X.astype(np.float32), y


# -- tables ----------------------------------------------------------------------------------


@dataclass
class TabularData:
    """What :func:`load_csv` returns: the split, standardised table and how it was made.

    Attributes
    ----------
    X_train, X_val, X_test : ndarray of float32, shape (n, n_features)
        Standardised features: ``(raw - mean) / scale``. ``X_val`` has no rows when
        ``val_size=0``.
    y_train, y_val, y_test : ndarray
        float32 values (regression) or int64 labels ``0..K-1`` (binary, classification).
    features : list of str
        The feature columns, in order.
    target : str
    task : {"regression", "binary", "classification"}
    classes : list of str
        The target's values in label order (empty for regression): label ``i`` stands for
        ``classes[i]``.
    mean, scale : ndarray of float64, shape (n_features,)
        Computed from the training rows only. Constant columns get scale 1.
    target_mean, target_scale : float
        Regression only (else 0 and 1): the training targets' mean and standard deviation.
        The targets are returned unscaled; training on ``(y - target_mean) / target_scale``
        and mapping predictions back with ``pred * target_scale + target_mean`` keeps SGD's
        learning rate independent of the target's units.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    features: list
    target: str
    task: str
    classes: list = field(default_factory=list)
    mean: np.ndarray = None
    scale: np.ndarray = None
    target_mean: float = 0.0
    target_scale: float = 1.0

    @property
    def scaling(self):
        """``(mean, scale)``, ready for :attr:`fastnn.Sequential.feature_scaling`."""
        return self.mean, self.scale

    def transform(self, X):
        """Standardise raw feature rows with the training statistics."""
        return standardize(X, (self.mean, self.scale))


def standardize(X, scaling):
    """``(X - mean) / scale`` as float32, for raw rows and a ``(mean, scale)`` pair.

    ``scaling`` is what :attr:`TabularData.scaling` gives and
    :attr:`fastnn.Sequential.feature_scaling` keeps.
    """
    mean, scale = (np.asarray(part, np.float64) for part in scaling)
    X = np.asarray(X, np.float64)
    if X.ndim != 2 or X.shape[1] != mean.shape[0]:
        raise InputError(
            f"X must have shape (n_rows, {mean.shape[0]}) to match the scaling; got {X.shape}"
        )
    return ((X - mean) / scale).astype(np.float32)


_MISSING = {"", "na", "nan", "n/a", "null", "none", "?", "-"}


def _parse_table(path):
    """Header and rows of a CSV file (delimiter sniffed among , ; tab)."""
    path = os.fspath(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        sample = f.read(1 << 16)
        f.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(f, dialect)
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path} is empty; expected a header row of column names")
        header = [name.strip() for name in header]
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise InputError(f"{path} has a header but no data rows")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise InputError(
                f"{path}, row {number}: {len(row)} fields, but the header has {len(header)}"
            )
    return header, rows


def _column_index(header, name, path, what):
    if name not in header:
        raise InputError(f"{what} {name!r} is not a column of {path}; its columns are {header}")
    return header.index(name)


def _numeric_column(rows, index, name, path, missing):
    values = np.empty(len(rows), np.float64)
    for i, row in enumerate(rows):
        cell = row[index].strip()
        if cell.lower() in _MISSING:
            missing.setdefault(name, []).append(i + 2)
            values[i] = np.nan
            continue
        try:
            values[i] = float(cell)
        except ValueError:
            raise InputError(
                f"column {name!r} of {path} must be numeric, but row {i + 2} holds {cell!r}; "
                "leave it out with features=[...] or encode it as numbers"
            ) from None
        if not math.isfinite(values[i]):
            missing.setdefault(name, []).append(i + 2)
    return values


def _report_missing(missing, path):
    parts = []
    for name, rows in missing.items():
        shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        parts.append(f"{name!r} ({len(rows)} row(s): {shown})")
    raise InputError(
        f"{path} has missing or non-finite values in column(s) {'; '.join(parts)} "
        "(rows numbered as lines of the file); fill them in or drop those rows first"
    )


def _encode_target(cells, task, target, path):
    """Labels 0..K-1 and the class names, for a classification target given as text cells."""
    values = [cell.strip() for cell in cells]
    try:
        order = sorted(set(values), key=float)  # numeric labels in numeric order
    except ValueError:
        order = sorted(set(values))
    if task == "binary" and len(order) != 2:
        shown = order[:10]
        raise InputError(
            f"task 'binary' needs a target with exactly 2 distinct values, but {target!r} in "
            f"{path} has {len(order)}: {shown}; use task='classification' or 'regression'"
        )
    if len(order) < 2:
        raise InputError(
            f"target {target!r} in {path} has a single value {order}; nothing to learn"
        )
    code = {value: i for i, value in enumerate(order)}
    return np.array([code[v] for v in values], np.int64), order


def load_csv(
    path,
    target,
    task="regression",
    features=None,
    val_size=0.1,
    test_size=0.2,
    seed=0,
    scale=True,
):
    """Read a numeric table from a CSV file, split it, and standardise its features.

    The first row names the columns. Feature columns must be numeric; cells that are empty or
    read ``NA``, ``NaN``, ``null``, ``?`` and the like count as missing and are reported (column,
    count and line numbers) rather than guessed. A classification target may hold text (say,
    genre names); its values, sorted, become labels ``0..K-1``.

    Parameters
    ----------
    path : str or path-like
    target : str
        The column to predict.
    task : {"regression", "binary", "classification"}, default "regression"
    features : list of str, optional
        The feature columns, in order; by default every column but the target.
    val_size, test_size : float, default 0.1 and 0.2
        Fractions of all rows held out for validation and for testing (``val_size`` may be 0).
        Classification splits are stratified.
    seed : int, default 0
        Seeds the split.
    scale : bool, default True
        ``False`` returns the raw features (as float32) while still computing ``mean`` and
        ``scale`` from the training rows.

    Returns
    -------
    TabularData
        The splits, standardised with the training rows' mean and standard deviation, with the
        statistics themselves (``.scaling``) to keep with the model.
    """
    task = check_choice(task, "task", TASKS)
    val_size = check_number(val_size, "val_size", low=0, high=1, high_open=True)
    test_size = check_number(test_size, "test_size", low=0, high=1, low_open=True, high_open=True)
    if val_size + test_size >= 1:
        raise InputError(
            f"val_size + test_size must leave rows to train on; got {val_size} + {test_size}"
        )
    seed = check_int(seed, "seed", low=0)
    if not isinstance(target, str):
        raise InputTypeError(f"target must be a column name (str); got {target!r}")
    path = os.fspath(path)
    header, rows = _parse_table(path)
    t_index = _column_index(header, target, path, "target")
    if features is None:
        features = [name for name in header if name != target]
    else:
        if isinstance(features, str):
            raise InputTypeError(
                f"features must be a list of column names; got the string {features!r}"
            )
        features = list(features)
        if target in features:
            raise InputError(f"features must not include the target {target!r}")
    if not features:
        raise InputError(f"{path} has no feature columns besides the target {target!r}")
    missing = {}
    columns = [
        _numeric_column(rows, _column_index(header, name, path, "feature"), name, path, missing)
        for name in features
    ]
    target_cells = [row[t_index] for row in rows]
    for i, cell in enumerate(target_cells):
        if cell.strip().lower() in _MISSING:
            missing.setdefault(target, []).append(i + 2)
    if missing:
        _report_missing(missing, path)
    X = np.column_stack(columns)
    if task == "regression":
        y = _numeric_column(rows, t_index, target, path, missing).astype(np.float32)
        if missing:
            _report_missing(missing, path)
        classes = []
    else:
        y, classes = _encode_target(target_cells, task, target, path)
    stratify = task != "regression"
    n = len(rows)
    n_test = math.ceil(test_size * n)
    n_val = math.ceil(val_size * n) if val_size > 0 else 0
    if n - n_test - n_val < 1:
        raise InputError(f"{path} has {n} rows: too few to split for training and testing")
    try:
        X_rest, X_test, y_rest, y_test = _split(X, y, n_test, seed, stratify)
        if n_val:
            X_train, X_val, y_train, y_val = _split(X_rest, y_rest, n_val, seed, stratify)
        else:
            X_train, y_train = X_rest, y_rest
            X_val, y_val = X[:0], y[:0]
    except ValueError as exc:  # too few rows of a class to stratify
        raise InputError(f"cannot split {path} ({n} rows) for task {task!r}: {exc}") from exc
    mean = X_train.mean(axis=0)
    target_mean, target_scale = 0.0, 1.0
    if task == "regression":
        target_mean = float(np.mean(y_train, dtype=np.float64))
        target_scale = float(np.std(y_train, dtype=np.float64)) or 1.0
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    scaling = (mean, std) if scale else (np.zeros_like(mean), np.ones_like(std))
    return TabularData(
        X_train=standardize(X_train, scaling),
        y_train=y_train,
        X_val=standardize(X_val, scaling),
        y_val=y_val,
        X_test=standardize(X_test, scaling),
        y_test=y_test,
        features=features,
        target=target,
        task=task,
        classes=classes,
        mean=mean,
        scale=std,
        target_mean=target_mean,
        target_scale=target_scale,
    )


def write_sklearn_csv(name, path):
    """Write one of scikit-learn's bundled tables as a CSV file with a header row.

    Parameters
    ----------
    name : {"diabetes", "breast_cancer"}
        ``"diabetes"``: 442 patients, 10 raw features (age, sex, bmi, bp, s1-s6) and the
        target ``progression`` (disease progression after one year), for regression.
        ``"breast_cancer"``: 569 tumours, 30 features and the target ``diagnosis``
        (``malignant`` or ``benign``), for binary classification.
    path : str or path-like
        Written through a temporary file renamed into place.

    Returns
    -------
    str
        The path written.
    """
    from sklearn import datasets as sk_datasets

    name = check_choice(name, "name", ("diabetes", "breast_cancer"))
    if name == "diabetes":
        bunch = sk_datasets.load_diabetes(scaled=False)
        header = [*bunch.feature_names, "progression"]
        targets = [f"{value:g}" for value in bunch.target]
    else:
        bunch = sk_datasets.load_breast_cancer()
        header = [*bunch.feature_names, "diagnosis"]
        targets = [str(bunch.target_names[label]) for label in bunch.target]
    path = os.fspath(path)
    with atomic_write(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row, value in zip(bunch.data, targets):
            writer.writerow([str(float(x)) for x in row] + [value])
    return path


__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_MD5",
    "FASHION_MNIST_MIRRORS",
    "DownloadError",
    "TabularData",
    "data_home",
    "fetch",
    "load_csv",
    "load_digits",
    "load_fashion_mnist",
    "load_idx",
    "load_mnist",
    "make_spiral",
    "read_idx",
    "standardize",
    "write_sklearn_csv",
]
