"""``fastnn predict``: one prediction per input row (or image), as CSV.

Inputs are read with their declared sizes checked before anything is allocated: a PNG's width and
height come from its header, an ``.npy`` file is mapped, not read, until its shape and dtype are
known to fit, and the arrays of a sparse ``.npz`` file (``scipy.sparse.save_npz``) are checked by
their ``.npy`` headers against its declared shape and the zip directory before they are read.
An svmlight file is read with the width and the index base the model was trained with.
Rows stay raw: a model with a scaling standardises them itself, and a regression model answers
in its target's units. Sparse rows stay sparse all the way to the model.

A PNG with transparency (RGBA, grey with alpha, a palette or a colour marked transparent) is
flattened onto an opaque background first, as Pillow's ``alpha_composite`` does: ``ink * alpha
+ background * (1 - alpha)`` per pixel, then turned grey (ITU-R 601 luma, as Pillow's "L"
mode). The opaque pixels are the drawing, so the background is the one they stand out on:
white under dark ink, black under light ink. A digit drawn on an HTML canvas, whose pixels are
all black and whose strokes live in alpha alone, so becomes black strokes on white, which
``--invert auto`` turns into the white-on-black digits of MNIST and of scikit-learn's digits;
light strokes on a transparent canvas become white on black at once. Dropping the alpha
channel instead would leave such a canvas all black.
"""

import csv
import io
import math
import os
import struct
import sys
import zipfile
import zlib

import numpy as np

from .._files import ARCHIVE_ERRORS, Lines, atomic_write, check_size, open_regular
from .._validation import check_memory, check_sparse_structure
from ..errors import FastnnError, InputError
from .evaluate import load_model
from .options import BACKEND, MODEL, UsageError, input_file, not_an_input, output_file

DESCRIPTION = (
    "Load a model saved by `fastnn train --save` and print one prediction per input row (a "
    "header line first). INPUT is a .npy array (one row per sample, or images shaped like the "
    "model's: 28x28 or 8x8, alone or stacked), a .npz sparse matrix written by "
    "scipy.sparse.save_npz (CSR, CSC, COO or BSR; one row per sample, passed to the model "
    "without making it dense), a .csv file (with a header naming the model's feature columns, "
    "or bare numeric rows), an svmlight/libsvm file (.svm, .svmlight, .libsvm or "
    "svmlight:PATH; read with the model's width and index base, labels ignored), or a .png "
    "image for the digit models (the model's size; transparency is flattened onto the "
    "background the drawing stands out on; needs Pillow, which matplotlib brings). Raw rows "
    "are standardised by the model with the statistics it keeps, and regression models "
    "answer in the target's units. --output may not name the model or the input file."
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVMLIGHT_SUFFIXES = (".svm", ".svmlight", ".libsvm")
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, as Pillow's convert("L")


def add_options(parser):
    MODEL.add(parser)
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="a .npy, .npz (scipy.sparse.save_npz), .csv, svmlight (.svm, .svmlight, .libsvm or "
        "svmlight:PATH) or .png file",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        default=None,
        help="write the predictions as CSV to PATH (not the model or the input file)",
    )
    parser.add_argument(
        "--proba",
        action="store_true",
        help="also write each class's probability (classification models)",
    )
    parser.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="images only: invert grey levels; the models expect light digits on a dark "
        "background, and auto inverts images whose mean is above 0.5, after a PNG's "
        "transparency is flattened (default: auto)",
    )
    BACKEND.add(parser)


# -- images ----------------------------------------------------------------------------------


def png_size(path):
    """``(height, width)`` from a PNG file's header (its IHDR chunk), without decoding it."""
    with open_regular(path) as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise UsageError(f"{path} is not a PNG image: it lacks the PNG signature and header")
    width, height = struct.unpack(">II", head[16:24])
    return height, width


def _read_png(path, shape):
    """A grey image in [0, 1], refused by its header's size unless it is ``shape``."""
    height, width = png_size(path)
    if (height, width) != shape:
        raise UsageError(
            f"{path} is {height}x{width} pixels; the model takes {shape[0]}x{shape[1]} images: "
            "resize it first"
        )
    try:
        from PIL import Image
    except ImportError:
        raise UsageError(
            'reading PNG images needs Pillow: pip install "fastnn[plot]" (or pillow)'
        ) from None
    try:
        with open_regular(path) as f, Image.open(f, formats=["PNG"]) as im:
            im.load()
            grey, alpha = _grey_and_alpha(im)
    except (OSError, ValueError, SyntaxError, EOFError, zlib.error) as exc:
        raise UsageError(f"{path} is not a readable PNG image: {exc}") from None
    if grey.shape != shape:
        raise UsageError(f"{path} decodes to {grey.shape}, not the {shape} its header declares")
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
    """``grey`` composited over the background its drawing stands out on (see the module's
    docstring): white under dark ink, black under light ink."""
    if alpha is None or alpha.min() >= 1:
        return grey
    weight = alpha.sum()
    if weight == 0:
        raise UsageError(f"{path} is fully transparent: it shows nothing to predict")
    ink = float((alpha * grey).sum() / weight)  # the drawing's mean grey level
    background = 1.0 if ink < 0.5 else 0.0
    return grey * alpha + background * (1.0 - alpha)


def _image_rows(images, pixel_max, invert):
    """Images (n, h, w) in the model's size as rows in [0, 1], light digits on dark; grey
    levels above 1 are taken to run up to ``pixel_max``."""
    images = np.asarray(images, np.float64)
    if images.size and images.max() > 1:
        images = images / pixel_max
    if invert == "yes" or (invert == "auto" and images.mean() > 0.5):
        images = 1.0 - images
    return np.clip(images, 0, 1).reshape(images.shape[0], -1)


# -- arrays and tables -----------------------------------------------------------------------


def _read_npy(path):
    """The array in a .npy file, mapped first so that its declared size is checked against the
    file before anything is read, then as float64 if memory allows."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(f"{path} is not a readable .npy array: {exc}") from None
    if not isinstance(arr, np.ndarray):
        raise UsageError(f"{path} is not a .npy array (an .npz archive?)")
    if arr.dtype.kind not in "biuf":
        raise UsageError(f"{path} holds {arr.dtype} values; expected numbers")
    check_memory(arr.size * 8, f"{path} as float64")
    return np.array(arr, np.float64)


# -- sparse matrices (scipy.sparse.save_npz) ---------------------------------------------------

SPARSE_ARRAYS = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"),
                 "bsr": ("data", "indices", "indptr"), "coo": ("data", "row", "col")}  # fmt: skip
_BYTES_PER_OUTPUT = 3 * 8  # per row and output: the outputs, the probabilities, their text
_BYTES_PER_ROW = 64  # per row: its index pointer and the rest of its line of text


def _read_sparse_npz(path, model):
    """The rows in a file written by ``scipy.sparse.save_npz``, as a CSR matrix, with every
    size the file declares checked before an array is read."""
    try:
        with open_regular(path) as f:
            with zipfile.ZipFile(f) as zf:
                declared = _sparse_headers(zf, path, model)
            f.seek(0)
            X = _load_sparse(f, declared)
    except UsageError:
        raise
    except (FastnnError, *ARCHIVE_ERRORS) as exc:
        reason = str(exc) or type(exc).__name__
        raise UsageError(
            f"{path} is not a readable sparse matrix (scipy.sparse.save_npz): {reason}"
        ) from None
    if not np.isfinite(X.data).all():
        bad = int((~np.isfinite(X.data)).sum())
        raise UsageError(f"{path} holds {bad} NaN or infinite value(s); remove or impute them")
    return X


def _sparse_headers(zf, path, model):
    """``(format, shape, {name: (shape, dtype)})`` from the headers of the arrays, checked
    against each other, the model and the memory."""
    from ..serialization import _header

    entries = {}
    for info in zf.infolist():
        name = info.filename[: -len(".npy")]
        if not info.filename.endswith(".npy") or info.is_dir():
            raise InputError(f"unexpected entry {info.filename!r} in the archive")
        if name in entries:
            raise InputError(f"the archive holds {info.filename!r} twice")
        entries[name] = info
    if "format" not in entries or "shape" not in entries:
        if "config" in entries:
            raise UsageError(f"{path} is a fastnn model file, not rows to predict")
        names = ", ".join(sorted(entries)[:10]) or "none"
        raise UsageError(
            f"{path} is a NumPy .npz archive of arrays ({names}), not a sparse matrix written by "
            "scipy.sparse.save_npz; save an array of rows with numpy.save as .npy"
        )
    headers = {name: _header(zf, info, name, float_only=False) for name, info in entries.items()}
    kind = _small_value(zf, entries["format"], headers["format"], "format", "US")
    kind = kind.decode("ascii", "replace") if isinstance(kind, bytes) else str(kind)
    if kind not in SPARSE_ARRAYS:
        raise UsageError(
            f"{path} holds a sparse matrix in the {kind[:20]!r} format; save it as CSR "
            "(scipy.sparse.save_npz(path, matrix.tocsr()))"
        )
    shape = _declared_shape(zf, entries["shape"], headers["shape"])
    missing = [name for name in SPARSE_ARRAYS[kind] if name not in headers]
    if missing:
        raise InputError(f"format {kind} needs the arrays {missing}, which the archive lacks")
    _check_sparse_arrays(kind, shape, headers)
    n_in, n_out = model.layers[0].n_in, model.layers[-1].n_out
    if shape[1] != n_in:
        raise UsageError(
            f"{path} holds a sparse matrix of shape {shape}; the model takes rows of {n_in} "
            "features"
        )
    if shape[0] == 0:
        raise UsageError(f"{path} holds no rows")
    stored = sum(math.prod(s) * dt.itemsize for s, dt in headers.values())
    nnz = math.prod(headers["data"][0])
    # the arrays as read, a CSR copy of them (values in float64, int64 indices), and per row
    # the predictions and their text
    try:
        check_memory(
            2 * stored + 16 * nnz + shape[0] * (_BYTES_PER_ROW + _BYTES_PER_OUTPUT * n_out),
            f"{path}, a sparse matrix of shape {shape} holding {nnz:,} values,",
        )
    except InputError as exc:
        raise UsageError(str(exc)) from None
    return kind, shape, headers


def _small_value(zf, info, header, name, kinds):
    """The one value of a 0-d array of a kind among ``kinds``, read once its header is checked."""
    shape, dtype = header
    if shape != () or dtype.kind not in kinds or dtype.itemsize > 64:
        raise InputError(f"array {name} has shape {shape} and dtype {dtype}; expected one value")
    with zf.open(info) as fp:
        return np.lib.format.read_array(fp, allow_pickle=False).item()


def _declared_shape(zf, info, header):
    shape, dtype = header
    if shape != (2,) or dtype.kind not in "iu":
        raise InputError(f"array shape has shape {shape} and dtype {dtype}; expected 2 integers")
    with zf.open(info) as fp:
        values = np.lib.format.read_array(fp, allow_pickle=False)
    if (values < 0).any():
        raise InputError(f"the declared shape {tuple(values.tolist())} is negative")
    return tuple(int(v) for v in values)


def _check_sparse_arrays(kind, shape, headers):
    """The arrays' declared shapes and dtypes agree with each other and with ``shape``."""
    (data_shape, data_dtype), rows = headers["data"], shape[0]
    if data_dtype.kind not in "biuf":
        raise InputError(f"array data holds {data_dtype} values; expected numbers")
    index_names = SPARSE_ARRAYS[kind][1:]
    for name in index_names:
        if headers[name][1].kind not in "iu":
            raise InputError(f"array {name} holds {headers[name][1]}; expected integers")
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
        if headers[name][0] != expected[name]:
            raise InputError(
                f"array {name} has shape {headers[name][0]}; a {kind} matrix of shape {shape} "
                f"holding {n_stored:,} values needs {expected[name]}"
            )


def _load_sparse(f, declared):
    """The checked file's matrix, as canonical CSR with its indices checked."""
    import scipy.sparse as sp

    _, shape, _ = declared
    X = sp.load_npz(f)
    if X.shape != shape:
        raise InputError(f"the matrix has shape {X.shape}, not the {shape} its file declares")
    check_sparse_structure(X, "the matrix")  # before tocsr(), whose kernels trust the indices
    return X.tocsr()


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
        raise UsageError(f"{path} lacks the model's feature column(s) {missing}")
    return [position[name] for name in features]


def _read_csv(path, features):
    """Numeric rows of a CSV file; a header row, when there is one, selects ``features``."""
    try:
        with open_regular(path, "r", newline="", encoding="utf-8-sig") as f:
            check_size(f, 1, f"reading {path}")  # its rows hold at least as many bytes
            return _csv_rows(csv.reader(Lines(f, path)), path, features)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not a readable CSV file: {exc}") from None


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
            raise UsageError(f"{path}, line {line}: {len(row)} fields, expected {width}")
        cells = [row[c] for c in columns] if columns else row
        try:
            rows.append(np.array([float(cell) for cell in cells]))
        except ValueError:
            raise UsageError(f"{path}, line {line}: expected numbers, got {cells}") from None
    if not rows:
        raise UsageError(f"{path} holds no rows")
    return np.vstack(rows)


def _read_svmlight(path, model):
    """The rows of an svmlight file as CSR, read with the model's width and index base."""
    from ..datasets.svmlight import read_svmlight

    zero_based = model.metadata.get("zero_based")
    X, _ = read_svmlight(
        path,
        n_features=model.layers[0].n_in,
        zero_based="auto" if zero_based is None else zero_based,
    )
    return X


def input_path(text):
    """The file INPUT names, and whether it is an svmlight file."""
    kind, colon, rest = text.partition(":")
    if colon and kind == "svmlight" and rest:
        return rest, True
    return text, os.path.splitext(text)[1].lower() in SVMLIGHT_SUFFIXES


def read_input(path, model, invert):
    """The raw rows (or image rows) in ``path`` for ``model``: an array, or a CSR matrix for a
    sparse ``.npz`` or an svmlight file."""
    meta = model.metadata
    shape = tuple(meta.get("image_shape") or ())
    n_in = model.layers[0].n_in
    path, svmlight = input_path(path)
    input_file(path, "input file")
    suffix = os.path.splitext(path)[1].lower()
    if svmlight:
        return _read_svmlight(path, model)
    if suffix == ".png":
        if not shape:
            raise UsageError(f"{path} is an image, but this model was not trained on images")
        return _image_rows(_read_png(path, shape)[None], 1, invert)
    if suffix == ".npz":
        return _read_sparse_npz(path, model)
    if suffix == ".npy":
        X = _read_npy(path)
        if shape and X.shape[-2:] == shape and X.ndim in (2, 3):
            return _image_rows(X.reshape(-1, *shape), meta.get("pixel_max") or 255, invert)
        if X.ndim == 1 and X.shape[0] == n_in:
            X = X[None]
    elif suffix == ".csv":
        X = _read_csv(path, meta.get("features"))
    else:
        raise UsageError(
            "INPUT must be a .npy, .npz, .csv, .png or svmlight (.svm, .svmlight, .libsvm, "
            f"svmlight:PATH) file; got {path!r}"
        )
    if X.ndim != 2 or X.shape[1] != n_in:
        raise UsageError(
            f"{path} holds an array of shape {X.shape}; the model takes rows of {n_in} "
            "features" + (f" or {shape[0]}x{shape[1]} images" if shape else "")
        )
    return X


# -- the command -----------------------------------------------------------------------------


def _predictions(model, X, proba):
    """The CSV text: a header, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if model.loss == "mse":
        values = model.predict(X).reshape(X.shape[0], -1).astype(np.float64)
        n_out = values.shape[1]
        writer.writerow(["prediction"] if n_out == 1 else [f"prediction_{j}" for j in range(n_out)])
        writer.writerows([[f"{v:.6g}" for v in row] for row in values])
        return buffer.getvalue()
    probabilities = model.predict_proba(X)
    names = model.metadata.get("classes") or [str(j) for j in range(probabilities.shape[1])]
    writer.writerow(["prediction"] + ([f"p_{name}" for name in names] if proba else []))
    for label, row in zip(probabilities.argmax(axis=1), probabilities):
        writer.writerow([names[label], *([f"{p:.6f}" for p in row] if proba else [])])
    return buffer.getvalue()


def run(args):
    if args.output is not None:
        output_file(args.output, "--output")
        inputs = {"the model file": args.model, "the input file": input_path(args.input)[0]}
        not_an_input(args.output, "--output", inputs)
    model = load_model(args.model, args.backend)
    if args.proba and model.loss == "mse":
        raise UsageError("--proba needs a classification model; this one does regression")
    X = read_input(args.input, model, args.invert)
    text = _predictions(model, X, args.proba)
    if args.output:
        with atomic_write(args.output, "w") as f:
            f.write(text)
        print(f"wrote {X.shape[0]} prediction(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
