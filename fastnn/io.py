"""Reading the rows a model is to predict on, from the files users have.

:func:`read_rows` picks a reader by the file's suffix and shapes what it reads for a model; each
format also has its own reader: :func:`read_npy`, :func:`read_sparse_npz` (what
``scipy.sparse.save_npz`` writes), :func:`read_csv_rows`, :func:`read_svmlight_rows` and
:func:`read_png`. Rows stay raw: a model with a :class:`~fastnn.scaling.Scaling` standardises
them itself. Sparse rows stay sparse (CSR) all the way to the model.

Every file is treated as untrusted. A folder, a FIFO or a device is refused unread. Every size a
file declares is checked before anything is allocated: a PNG's width and height come from its
header, and the shape and dtype of an ``.npy`` array, alone or inside a zip archive, from its
header (:func:`read_npy_header`, which :func:`fastnn.load` uses too), checked against the bytes
the file or entry holds and against the memory this process may use. No pickled object is ever
read. Every problem with a file's content is one :class:`~fastnn.errors.InputError` (a
``ValueError``) whose message names the file; a missing file is a :class:`FileNotFoundError`.

A PNG with transparency (RGBA, grey with alpha, a palette or a colour marked transparent) is
flattened onto an opaque background first, as Pillow's ``alpha_composite`` does: ``ink * alpha
+ background * (1 - alpha)`` per pixel, then turned grey (ITU-R 601 luma, as Pillow's "L"
mode). The opaque pixels are the drawing, so the background is the one they stand out on:
white under dark ink, black under light ink. A digit drawn on an HTML canvas, whose pixels are
all black and whose strokes live in alpha alone, so becomes black strokes on white, which
``invert="auto"`` turns into the white-on-black digits of MNIST and of scikit-learn's digits;
light strokes on a transparent canvas become white on black at once. Dropping the alpha
channel instead would leave such a canvas all black.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from ._distribution import pip_install
from ._files import ARCHIVE_ERRORS, Lines, as_path, check_size, open_regular
from ._validation import check_memory, check_sparse_structure
from .errors import FastnnError, InputError

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from ._typing import CSRMatrix, PathLike
    from .model import Sequential

FORMATS = ("npy", "npz", "csv", "svmlight", "png")
SUFFIXES = {
    ".npy": "npy",
    ".npz": "npz",
    ".csv": "csv",
    ".png": "png",
    ".svm": "svmlight",
    ".svmlight": "svmlight",
    ".libsvm": "svmlight",
}
MAX_NPY_HEADER = 10_000  # NumPy's own limit for an .npy header
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, as Pillow's convert("L")
_INVERT = ("auto", "yes", "no")


# -- .npy headers ------------------------------------------------------------------------------


class NpyHeader(NamedTuple):
    """What an ``.npy`` header declares (see :func:`read_npy_header`)."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool


def read_npy_header(
    fp: IO[bytes], size: int, name: str = "the array", where: str = "the file"
) -> NpyHeader:
    """The shape, dtype and order an ``.npy`` stream declares, from its header alone, checked
    against the bytes the stream holds before any of its data is read.

    Parameters
    ----------
    fp : binary file object
        At the start of the ``.npy`` stream: an open file, or an entry opened from a zip
        archive. It is left just after the header.
    size : int
        The bytes of the whole stream: the file's size, or the size the zip directory declares
        for the entry.
    name : str, default "the array"
        What the messages call the array ("array W0").
    where : str, default "the file"
        What the messages call the bytes that hold it ("its entry").

    Returns
    -------
    NpyHeader
        ``(shape, dtype, fortran_order)``.

    Raises
    ------
    fastnn.errors.InputError
        For a format version other than 1.0 or 2.0, an array of Python objects (never
        unpickled), or a declared size that is not what the stream holds.
    ValueError
        NumPy's own, for a stream that is not an ``.npy`` array at all.
    """
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp, MAX_NPY_HEADER)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp, MAX_NPY_HEADER)
    else:
        raise InputError(f"{name} has .npy format version {version}, not 1.0 or 2.0")
    header_bytes = fp.tell()
    if dtype.hasobject:
        raise InputError(f"{name} has dtype {dtype}: Python objects are never unpickled")
    data_bytes = math.prod(shape) * dtype.itemsize
    if header_bytes + data_bytes != size:
        raise InputError(
            f"{name} declares shape {shape} of {dtype} ({data_bytes:,} bytes) but {where} holds "
            f"{size - header_bytes:,} bytes"
        )
    return NpyHeader(shape, dtype, fortran)


def read_npy_entry_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> NpyHeader:
    """:func:`read_npy_header` of the entry ``info`` (a :class:`zipfile.ZipInfo`) of the open
    archive ``zf``, checked against the size the zip directory declares for it."""
    with zf.open(info) as fp:
        return read_npy_header(fp, info.file_size, name, "its entry")


def _read_array(fp):
    return np.lib.format.read_array(fp, allow_pickle=False, max_header_size=MAX_NPY_HEADER)


# -- dense arrays ------------------------------------------------------------------------------


def read_npy(path: PathLike) -> np.ndarray:
    """The numbers in an ``.npy`` file, as float64.

    Parameters
    ----------
    path : str, bytes or path-like

    Returns
    -------
    ndarray of float64
        The array as the file shapes it.

    Raises
    ------
    fastnn.errors.InputError
        When the file is not an ``.npy`` array, declares more data than it holds, holds
        anything but numbers (booleans, integers, floats), or would not fit in memory.
    """
    path = as_path(path)
    with open_regular(path, what="an .npy file") as f:
        if f.read(len(_ZIP_SIGNATURE)) == _ZIP_SIGNATURE:
            raise InputError(f"{path} is not a .npy array (an .npz archive?)")
        f.seek(0)
        try:
            shape, dtype, _ = read_npy_header(f, os.fstat(f.fileno()).st_size)
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"{path} is not a readable .npy array: {exc}") from None
        if dtype.kind not in "biuf":
            raise InputError(f"{path} holds {dtype} values; expected numbers")
        n_values = math.prod(shape)
        copy = 0 if dtype == np.float64 else n_values * dtype.itemsize  # as read, then cast
        check_memory(n_values * 8 + copy, f"{path} as float64")
        f.seek(0)
        try:
            arr = _read_array(f)
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"{path} is not a readable .npy array: {exc}") from None
    return np.asarray(arr, np.float64)


# -- sparse matrices (scipy.sparse.save_npz) ---------------------------------------------------

SPARSE_ARRAYS = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"),
                 "bsr": ("data", "indices", "indptr"), "coo": ("data", "row", "col")}  # fmt: skip
_BYTES_PER_OUTPUT = 3 * 8  # per row and output: the outputs, the probabilities, their text
_BYTES_PER_ROW = 64  # per row: its index pointer and the rest of its line of text


@contextlib.contextmanager
def _unreadable(path):
    """A block whose errors mean that ``path`` is not a readable sparse matrix: each becomes one
    line naming the file. The checks outside such blocks word their own messages."""
    try:
        yield
    except (FastnnError, *ARCHIVE_ERRORS) as exc:
        reason = str(exc) or type(exc).__name__
        raise InputError(
            f"{path} is not a readable sparse matrix (scipy.sparse.save_npz): {reason}"
        ) from None


def read_sparse_npz(path: PathLike, n_features: int | None = None, n_outputs: int = 0) -> CSRMatrix:
    """The rows of a file written by ``scipy.sparse.save_npz``, as a CSR matrix.

    Every size the file declares (its shape, and each array's ``.npy`` header against the zip
    directory and against the others) is checked before an array is read; the indices are
    checked before the matrix is converted. CSR, CSC, COO and BSR files are read.

    Parameters
    ----------
    path : str, bytes or path-like
    n_features : int, optional
        The width the rows must have: the model's inputs.
    n_outputs : int, default 0
        The width of the predictions to be made from the rows. The memory check made before
        anything is read counts them (values, probabilities and their text) with the matrix.

    Returns
    -------
    scipy.sparse.csr_matrix or scipy.sparse.csr_array
        Canonical CSR (a matrix or an array, as the file was saved), its values as stored
        (finite numbers).

    Raises
    ------
    fastnn.errors.InputError
        When the file is not such a matrix (a NumPy ``.npz`` of arrays, a fastnn model file, a
        format other than CSR, CSC, COO or BSR), is malformed, has no rows or another width,
        holds NaN or infinite values, or would not fit in memory.
    """
    path = as_path(path)
    with open_regular(path, what="an .npz file") as f:
        with _unreadable(path):
            zf = zipfile.ZipFile(f)
        with zf:
            shape, headers = _sparse_layout(zf, path)
        _check_sparse_size(path, shape, headers, n_features, n_outputs)
        with _unreadable(path):
            f.seek(0)
            X = _load_sparse(f, shape)
    if not np.isfinite(X.data).all():
        bad = int((~np.isfinite(X.data)).sum())
        raise InputError(f"{path} holds {bad} NaN or infinite value(s); remove or impute them")
    return X


def _sparse_layout(zf, path):
    """``(shape, {name: NpyHeader})`` of the matrix in an open archive, from the headers of its
    arrays, checked against each other; only the small format and shape arrays are read."""
    with _unreadable(path):
        entries = _npy_entries(zf)
    _check_sparse_entries(entries, path)
    with _unreadable(path):
        headers = {name: read_npy_entry_header(zf, info, f"array {name}")
                   for name, info in entries.items()}  # fmt: skip
        kind = _small_value(zf, entries["format"], headers["format"], "format", "US")
    kind = kind.decode("ascii", "replace") if isinstance(kind, bytes) else str(kind)
    if kind not in SPARSE_ARRAYS:
        raise InputError(
            f"{path} holds a sparse matrix in the {kind[:20]!r} format; save it as CSR "
            "(scipy.sparse.save_npz(path, matrix.tocsr()))"
        )
    with _unreadable(path):
        shape = _declared_shape(zf, entries["shape"], headers["shape"])
        missing = [name for name in SPARSE_ARRAYS[kind] if name not in headers]
        if missing:
            raise InputError(f"format {kind} needs the arrays {missing}, which the archive lacks")
        _check_sparse_arrays(kind, shape, headers)
    return shape, headers


def _npy_entries(zf):
    """The archive's entries by array name ("data" for "data.npy"); their data is not read."""
    entries = {}
    for info in zf.infolist():
        name = info.filename[: -len(".npy")]
        if not info.filename.endswith(".npy") or info.is_dir():
            raise InputError(f"unexpected entry {info.filename!r} in the archive")
        if name in entries:
            raise InputError(f"the archive holds {info.filename!r} twice")
        entries[name] = info
    return entries


def _check_sparse_entries(entries, path):
    """Refuse an archive of other arrays: a fastnn model file, or what ``numpy.savez`` wrote."""
    if "format" in entries and "shape" in entries:
        return
    if "config" in entries:
        raise InputError(f"{path} is a fastnn model file, not rows to predict")
    names = ", ".join(sorted(entries)[:10]) or "none"
    raise InputError(
        f"{path} is a NumPy .npz archive of arrays ({names}), not a sparse matrix written by "
        "scipy.sparse.save_npz; save an array of rows with numpy.save as .npy"
    )


def _check_sparse_size(path, shape, headers, n_features, n_outputs):
    """The declared shape against the model, and everything reading it takes against the
    memory this process may use."""
    if n_features is not None and shape[1] != n_features:
        raise InputError(
            f"{path} holds a sparse matrix of shape {shape}; the model takes rows of {n_features} "
            "features"
        )
    if shape[0] == 0:
        raise InputError(f"{path} holds no rows")
    stored = sum(math.prod(s) * dt.itemsize for s, dt, _ in headers.values())
    nnz = math.prod(headers["data"].shape)
    # the arrays as read, a CSR copy of them (values in float64, int64 indices), and per row
    # the predictions and their text
    check_memory(
        2 * stored + 16 * nnz + shape[0] * (_BYTES_PER_ROW + _BYTES_PER_OUTPUT * n_outputs),
        f"{path}, a sparse matrix of shape {shape} holding {nnz:,} values,",
    )


def _small_value(zf, info, header, name, kinds):
    """The one value of a 0-d array of a kind among ``kinds``, read once its header is checked."""
    shape, dtype, _ = header
    if shape != () or dtype.kind not in kinds or dtype.itemsize > 64:
        raise InputError(f"array {name} has shape {shape} and dtype {dtype}; expected one value")
    with zf.open(info) as fp:
        return _read_array(fp).item()


def _declared_shape(zf, info, header):
    shape, dtype, _ = header
    if shape != (2,) or dtype.kind not in "iu":
        raise InputError(f"array shape has shape {shape} and dtype {dtype}; expected 2 integers")
    with zf.open(info) as fp:
        values = _read_array(fp)
    if (values < 0).any():
        raise InputError(f"the declared shape {tuple(values.tolist())} is negative")
    return tuple(int(v) for v in values)


def _check_sparse_arrays(kind, shape, headers):
    """The arrays' declared shapes and dtypes agree with each other and with ``shape``."""
    (data_shape, data_dtype, _), rows = headers["data"], shape[0]
    if data_dtype.kind not in "biuf":
        raise InputError(f"array data holds {data_dtype} values; expected numbers")
    index_names = SPARSE_ARRAYS[kind][1:]
    for name in index_names:
        if headers[name].dtype.kind not in "iu":
            raise InputError(f"array {name} holds {headers[name].dtype}; expected integers")
    if kind == "bsr":
        if len(data_shape) != 3 or 0 in data_shape[1:]:
            raise InputError(f"array data has shape {data_shape}; BSR blocks are 3-D")
        block_rows, block_columns = data_shape[1:]
        if shape[0] % block_rows or shape[1] % block_columns:
            raise InputError(f"blocks of {data_shape[1:]} do not tile the shape {shape}")
        rows, n_stored = shape[0] // block_rows, data_shape[0]
    elif len(data_shape) != 1:
        raise InputError(f"array data has shape {data_shape}; expected 1-D")
    else:
        n_stored = data_shape[0]
    if kind == "csc":
        rows = shape[1]
    expected = {"indices": (n_stored,), "indptr": (rows + 1,), "row": (n_stored,),
                "col": (n_stored,)}  # fmt: skip
    for name in index_names:
        if headers[name].shape != expected[name]:
            raise InputError(
                f"array {name} has shape {headers[name].shape}; a {kind} matrix of shape {shape} "
                f"holding {n_stored:,} values needs {expected[name]}"
            )


def _load_sparse(f, shape):
    """The checked file's matrix, as canonical CSR with its indices checked."""
    import scipy.sparse as sp

    X = sp.load_npz(f)
    if X.shape != shape:
        raise InputError(f"the matrix has shape {X.shape}, not the {shape} its file declares")
    check_sparse_structure(X, "the matrix")  # before tocsr(), whose kernels trust the indices
    return X.tocsr()


# -- text: CSV and svmlight --------------------------------------------------------------------


def read_csv_rows(path: PathLike, features: Sequence[str] | None = None) -> np.ndarray:
    """The numeric rows of a CSV file, as float64.

    A first row that is not all numbers is a header. With ``features`` (say, a trained model's
    ``metadata["features"]``) the header selects those columns, in that order; otherwise every
    column is read. Blank lines are skipped.

    Parameters
    ----------
    path : str, bytes or path-like
        UTF-8 text (a byte-order mark is allowed), comma-separated.
    features : list of str, optional
        The columns to read, by name; they need a header row.

    Returns
    -------
    ndarray of float64, shape (n_rows, n_columns)

    Raises
    ------
    fastnn.errors.InputError
        When the file is not UTF-8 CSV text, lacks one of ``features``, has a row of another
        width or a cell that is not a number, or holds no rows.
    """
    path = as_path(path)
    try:
        with open_regular(path, "r", "a CSV file", newline="", encoding="utf-8-sig") as f:
            check_size(f, 1, f"reading {path}")  # its rows hold at least as many bytes
            return _csv_rows(csv.reader(Lines(f, path)), path, features)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a readable CSV file: {exc}") from None


def _is_numeric(row):
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _feature_columns(header, features, path):
    """The positions of the model's features in ``header``; None to take every column."""
    if not features:
        return None
    position = {name: i for i, name in enumerate(header)}
    missing = [name for name in features if name not in position]
    if missing:
        raise InputError(f"{path} lacks the model's feature column(s) {missing}")
    return [position[name] for name in features]


def _csv_rows(reader, path, features):
    rows, header, columns = [], None, None
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if header is None and not rows and not _is_numeric(row):
            header = [cell.strip() for cell in row]
            columns = _feature_columns(header, features, path)
            continue
        line = reader.line_num
        width = len(header) if header is not None else len(rows[0]) if rows else len(row)
        if len(row) != width:
            raise InputError(f"{path}, line {line}: {len(row)} fields, expected {width}")
        cells = [row[c] for c in columns] if columns else row
        try:
            rows.append(np.array([float(cell) for cell in cells]))
        except ValueError:
            raise InputError(f"{path}, line {line}: expected numbers, got {cells}") from None
    if not rows:
        raise InputError(f"{path} holds no rows")
    return np.vstack(rows)


def read_svmlight_rows(
    path: PathLike, n_features: int | None = None, zero_based: bool | Literal["auto"] = "auto"
) -> csr_matrix:
    """The rows of an svmlight / libsvm file as a CSR float32 matrix; the labels are ignored.

    The file is read as :func:`fastnn.datasets.read_svmlight` reads it, which also returns the
    labels; see :func:`fastnn.datasets.load_svmlight` for the format and the parameters.

    Parameters
    ----------
    path : str, bytes or path-like
    n_features : int, optional
        The number of columns (a trained model's inputs; ``metadata["n_features"]``).
    zero_based : bool or "auto", default "auto"
        Whether the file's indices start at 0 (a trained model's ``metadata["zero_based"]``).

    Returns
    -------
    scipy.sparse.csr_matrix of float32
    """
    from .datasets.svmlight import read_svmlight  # the datasets import this module

    X, _ = read_svmlight(path, n_features=n_features, zero_based=zero_based)
    return X


# -- images ------------------------------------------------------------------------------------


def _png_size(path):
    """``(height, width)`` from a PNG file's header (its IHDR chunk), without decoding it."""
    with open_regular(path, what="a PNG image") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise InputError(f"{path} is not a PNG image: it lacks the PNG signature and header")
    width, height = struct.unpack(">II", head[16:24])
    return height, width


def read_png(path: PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A PNG image as grey levels in [0, 1], its transparency flattened onto the background its
    drawing stands out on (see the module's docstring).

    Parameters
    ----------
    path : str, bytes or path-like
    shape : (int, int), optional
        The ``(height, width)`` the image must have: a PNG of another size is refused by its
        header, before it is decoded. Without it, the decoded image must fit in memory.

    Returns
    -------
    ndarray of float64, shape (height, width)
        Light where the image is light; not inverted.

    Raises
    ------
    fastnn.errors.InputError
        When the file is not a readable PNG image, has another size than ``shape``, or is
        fully transparent; also when Pillow is not installed.
    """
    path = as_path(path)
    height, width = _png_size(path)
    if shape is not None and (height, width) != tuple(shape):
        raise InputError(
            f"{path} is {height}x{width} pixels; the model takes {shape[0]}x{shape[1]} images: "
            "resize it first"
        )
    # decoded as RGBA bytes, then RGBA, grey and alpha in float64
    check_memory(height * width * (4 + 6 * 8), f"{path}, an image of {height}x{width} pixels,")
    try:
        from PIL import Image
    except ImportError:
        raise InputError(
            f"reading PNG images needs Pillow: {pip_install('plot')} (or pillow)"
        ) from None
    try:
        with open_regular(path, what="a PNG image") as f, Image.open(f, formats=["PNG"]) as im:
            im.load()
            grey, alpha = _grey_and_alpha(im)
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        zlib.error,
        Image.DecompressionBombError,
    ) as exc:
        raise InputError(f"{path} is not a readable PNG image: {exc}") from None
    if grey.shape != (height, width):
        raise InputError(
            f"{path} decodes to {grey.shape}, not the {(height, width)} its header declares"
        )
    return _flatten(grey, alpha, path)


def _grey_and_alpha(image):
    """A decoded PNG's grey levels in [0, 1], and its opacity in [0, 1] (None when it has no
    transparency)."""
    transparency = image.info.get("transparency")
    if image.mode.startswith("I"):  # 16-bit grey; a transparent grey level is a number
        raw = np.asarray(image)
        alpha = None if not isinstance(transparency, int) else (raw != transparency) * 1.0
        return raw / 65535.0, alpha
    if image.mode in ("RGBA", "LA", "PA") or transparency is not None:
        rgba = np.asarray(image.convert("RGBA"), np.float64) / 255
        return rgba[..., :3] @ _LUMA, rgba[..., 3]
    if image.mode == "L":
        return np.asarray(image, np.float64) / 255, None
    return np.asarray(image.convert("RGB"), np.float64) / 255 @ _LUMA, None


def _flatten(grey, alpha, path):
    """``grey`` composited over the background its drawing stands out on: white under dark
    ink, black under light ink."""
    if alpha is None or alpha.min() >= 1:
        return grey
    weight = alpha.sum()
    if weight == 0:
        raise InputError(f"{path} is fully transparent: it shows nothing to predict")
    ink = float((alpha * grey).sum() / weight)  # the drawing's mean grey level
    background = 1.0 if ink < 0.5 else 0.0
    return grey * alpha + background * (1.0 - alpha)


def _image_rows(images, pixel_max, invert):
    """Images (n, h, w) as rows in [0, 1], light digits on dark; grey levels above 1 are taken
    to run up to ``pixel_max``."""
    images = np.asarray(images, np.float64)
    if images.size and images.max() > 1:
        images = images / pixel_max
    if invert == "yes" or (invert == "auto" and images.mean() > 0.5):
        images = 1.0 - images
    return np.clip(images, 0, 1).reshape(images.shape[0], -1)


# -- any of them, for a model ------------------------------------------------------------------


def format_of(path: PathLike) -> str | None:
    """The format :func:`read_rows` reads ``path`` as, by its suffix: one of :data:`FORMATS`,
    or None for a suffix it does not know."""
    return SUFFIXES.get(os.path.splitext(as_path(path))[1].lower())


def read_rows(
    path: PathLike,
    model: Sequential | None = None,
    invert: str = "auto",
    format: str | None = None,
) -> np.ndarray | CSRMatrix:
    """The rows in a file, raw, ready for ``model.predict``.

    The format comes from the suffix (:func:`format_of`): ``.npy`` (:func:`read_npy`),
    ``.npz`` (:func:`read_sparse_npz`), ``.csv`` (:func:`read_csv_rows`), ``.svm``,
    ``.svmlight`` or ``.libsvm`` (:func:`read_svmlight_rows`) and ``.png``
    (:func:`read_png`), unless ``format`` names it.

    With ``model``, the file is read the way the model's training data was, from what it
    records: a CSV header selects its feature columns; an svmlight file is read with its width
    and index base; and for a model trained on images (``metadata["image_shape"]``), a PNG or
    an ``.npy`` array of images of that size (alone or stacked) becomes rows in [0, 1] of
    light digits on a dark background. The rows must have the model's width.

    Parameters
    ----------
    path : str, bytes or path-like
    model : fastnn.Sequential, optional
        The model the rows are for. Without it, a file is read as it is (a PNG as one row).
    invert : {"auto", "yes", "no"}, default "auto"
        Images only: invert the grey levels; ``"auto"`` inverts images whose mean is above
        0.5 (after a PNG's transparency is flattened).
    format : {"npy", "npz", "csv", "svmlight", "png"}, optional
        The file's format, whatever its suffix.

    Returns
    -------
    ndarray of float64, shape (n_rows, n_features), or scipy.sparse.csr_matrix or csr_array
        A CSR matrix for a sparse ``.npz`` (an array where the file holds one) or an svmlight
        file.

    Raises
    ------
    fastnn.errors.InputError
        When the format is unknown, the file is malformed or too large, or its rows do not
        fit the model; the message names the file.
    """
    path = as_path(path)
    kind = format_of(path) if format is None else format
    if format is not None and format not in FORMATS:
        raise InputError(f"format must be one of {', '.join(map(repr, FORMATS))}; got {format!r}")
    if kind is None:
        raise InputError(
            f"{path} has none of the suffixes {', '.join(SUFFIXES)}; name its format with format="
        )
    if invert not in _INVERT:
        raise InputError(f"invert must be one of {', '.join(map(repr, _INVERT))}; got {invert!r}")
    meta = {} if model is None else model.metadata
    n_in = None if model is None else model.layers[0].n_in
    shape = tuple(meta.get("image_shape") or ())
    if kind == "svmlight":
        zero_based = meta.get("zero_based")
        return read_svmlight_rows(path, n_in, "auto" if zero_based is None else zero_based)
    if kind == "png":
        if model is not None and not shape:
            raise InputError(f"{path} is an image, but this model was not trained on images")
        return _image_rows(read_png(path, shape or None)[None], 1, invert)
    if kind == "npz":
        return read_sparse_npz(path, n_in, 0 if model is None else model.layers[-1].n_out)
    if kind == "npy":
        X = read_npy(path)
        if shape and X.shape[-2:] == shape and X.ndim in (2, 3):
            return _image_rows(X.reshape(-1, *shape), meta.get("pixel_max") or 255, invert)
        if X.ndim == 1 and (n_in is None or X.shape[0] == n_in):
            X = X[None]
    else:
        X = read_csv_rows(path, meta.get("features"))
    if X.ndim != 2 or (n_in is not None and X.shape[1] != n_in):
        if n_in is None:
            raise InputError(f"{path} holds an array of shape {X.shape}; expected rows (2-D)")
        raise InputError(
            f"{path} holds an array of shape {X.shape}; the model takes rows of {n_in} "
            "features" + (f" or {shape[0]}x{shape[1]} images" if shape else "")
        )
    return X


__all__ = [
    "FORMATS",
    "MAX_NPY_HEADER",
    "NpyHeader",
    "SUFFIXES",
    "format_of",
    "read_csv_rows",
    "read_npy",
    "read_npy_entry_header",
    "read_npy_header",
    "read_png",
    "read_rows",
    "read_sparse_npz",
    "read_svmlight_rows",
]
