"""Input checks shared by the public API.

Every check raises a ``TypeError`` or ``ValueError`` that names the argument, says what it got
and what was expected. Nothing reaches a kernel unchecked.
"""

import math
import numbers
import os

import numpy as np

from .errors import InputError, InputTypeError


def check_number(value, name, *, low=None, high=None, low_open=False, high_open=False):
    """Return ``value`` as a finite float within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not math.isfinite(value) or not lo_ok or not hi_ok:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
        wanted = " and ".join(part for part in (lo, hi) if part) or "finite"
        raise InputError(f"{name} must be a finite number {wanted}; got {value!r}")
    return value


def check_int(value, name, *, low=None):
    """Return ``value`` as an int, at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer; got {value!r}")
    if low is not None and value < low:
        raise InputError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices`` (a mapping or a sequence)."""
    try:
        if value in choices:
            return value
    except TypeError:  # unhashable
        pass
    known = ", ".join(repr(c) for c in choices)
    raise InputError(f"{name} must be one of {known}; got {value!r}")


def is_sparse(X):
    """Whether ``X`` is a SciPy sparse matrix or array (without importing SciPy).

    Looked up on the class: ``nnz`` is a property that fails on inconsistent index arrays,
    which :func:`check_sparse_structure` is there to report.
    """
    cls = type(X)
    return hasattr(cls, "tocsr") and hasattr(cls, "nnz") and hasattr(cls, "format")


def as_array(X, name):
    if is_sparse(X):
        raise InputTypeError(f"{name} must be a dense array; got a sparse {X.format} matrix")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise InputTypeError(f"{name} must be an array of numbers; got {type(X).__name__}") from exc
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InputTypeError(
                f"{name} must hold numbers only; got objects of dtype object"
            ) from exc
    if arr.dtype.kind not in "biuf":
        raise InputTypeError(f"{name} must hold numbers; got an array of dtype {arr.dtype}")
    return arr


def all_finite(arr):
    """Whether every value of the numeric array ``arr`` is finite, reading it once and
    allocating nothing the size of it: a NaN or infinity makes the sum NaN or infinite, so a
    finite sum settles it; an infinite one (finite values can overflow it) is settled value by
    value."""
    arr = np.asarray(arr)
    if arr.dtype.kind in "biu":
        return True
    if arr.dtype.kind in "fc":
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(arr.sum()):
                return True
    return bool(np.isfinite(arr).all())


def check_finite(arr, name, where=None):
    """Refuse ``arr`` unless every value is finite; ``where(i)`` names the place of the ``i``-th
    value (flat, C order) in the message, by default its index."""
    if all_finite(arr):
        return
    finite = np.isfinite(arr)
    first = int(np.argmax(~finite))
    bad = int(finite.size - np.count_nonzero(finite))
    raise InputError(
        f"{name} contains NaN or infinity ({bad} value(s) in {arr.dtype}, first at "
        f"{_place(arr, first, where)}); remove or impute them first"
    )


def check_cast(source, dtype, name, where=None, copy=False, finite=True):
    """Return ``source`` as a C-contiguous array of ``dtype`` (a copy with ``copy``) whose values
    are all finite.

    A NaN or infinity in ``source`` itself is refused as such; a finite value that ``dtype``
    cannot hold (1e300 in float32 becomes infinity) is refused as out of range, with the
    largest value ``dtype`` holds: the cure differs (impute, or a wider dtype or rescaling).
    With ``finite=False`` the values are left unchecked, for a caller that checks the cast
    array as it reads it (and calls this again, checking, to name the value it found).
    """
    with np.errstate(over="ignore"):  # an overflow to inf is reported just below
        if copy:
            arr = np.array(source, dtype=dtype, order="C")
        else:
            arr = np.ascontiguousarray(source, dtype=dtype)
    if not finite or all_finite(arr):
        return arr
    check_finite(source, name, where)  # a NaN or infinity given is the first cause to name
    finite = np.isfinite(arr)
    first = int(np.argmax(~finite))
    bad = int(finite.size - np.count_nonzero(finite))
    value = np.asarray(source)[np.unravel_index(first, arr.shape)].item()
    shown = f"{value:.6g}" if isinstance(value, float) else str(value)  # long double: str
    largest = np.finfo(arr.dtype).max
    wider = 'use dtype="float64" or ' if arr.dtype != np.float64 else ""
    raise InputError(
        f"{name} holds {bad} value(s) beyond the range of {arr.dtype} (largest finite "
        f"{largest:.4g}), first {shown} at {_place(arr, first, where)}; {wider}rescale "
        "them"
    )


def _place(arr, flat, where):
    if where is not None:
        return where(flat)
    return f"index {tuple(int(i) for i in np.unravel_index(flat, arr.shape))}"


SPARSE_FORMATS = ("csr", "csc", "coo")
# what each compressed format's index pointer runs over, and what its indices name
_COMPRESSED = {"csr": ("row", "column"), "csc": ("column", "row"),
               "bsr": ("block row", "block column")}  # fmt: skip


def check_sparse_structure(X, name):
    """Refuse a SciPy sparse ``X`` (CSR, CSC, COO or BSR, matrix or array) whose index arrays,
    as stored, do not describe a matrix of its shape.

    SciPy checks little when a matrix is built from arrays and nothing when its arrays are
    changed in place, and its compiled routines (``tocsr()``, ``sum_duplicates()``, row
    slicing) trust them as the kernels do: an index out of range reads or writes out of
    bounds. So the arrays of the format given are checked here, before anything reads them:
    integer index arrays, an index pointer of one entry per row (per column for CSC) plus one
    that starts at 0, never falls and ends at the number of stored values, and every index
    within the shape. O(nnz) and vectorised; the input is not modified. Dense input and the
    other sparse formats (whose conversions index nothing by the stored values) pass.
    """
    if not is_sparse(X) or len(X.shape) != 2:
        return
    if X.format == "coo":
        _check_coo(X, name)
    elif X.format in _COMPRESSED:
        _check_compressed(X, name)


def _part(name, attr):
    """How a message names the array ``attr`` of the matrix ``name``: ``X.indptr``, or
    ``indptr of the matrix`` where the matrix has no variable's name."""
    return f"{attr} of {name}" if " " in name else f"{name}.{attr}"


def _index_array(X, attr, name):
    arr = getattr(X, attr)
    if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.dtype.kind not in "iu":
        got = (f"a {arr.ndim}-D array of {arr.dtype}" if isinstance(arr, np.ndarray)
               else type(arr).__name__)  # fmt: skip
        raise InputTypeError(f"{_part(name, attr)} must be a 1-D array of integers; got {got}")
    return arr


def _stored_values(X, name, n_stored, block=()):
    data = X.data
    if not isinstance(data, np.ndarray) or data.shape[1:] != block or len(data) != n_stored:
        got = data.shape if isinstance(data, np.ndarray) else type(data).__name__
        raise InputError(
            f"{_part(name, 'data')} must have shape {(n_stored, *block)}, one entry per stored "
            f"index; got {got}"
        )


def _outside(axis, n):
    return f"outside 0..{n - 1} (the matrix has {n} {axis}s)" if n else f"but it has no {axis}s"


def _check_compressed(X, name):
    fmt = X.format
    major_axis, minor_axis = _COMPRESSED[fmt]
    indptr = _index_array(X, "indptr", name)
    indices = _index_array(X, "indices", name)
    n_rows, n_cols = X.shape
    block = ()
    if fmt == "bsr":
        block = X.data.shape[1:] if isinstance(X.data, np.ndarray) else ()
        if len(block) != 2 or 0 in block or n_rows % block[0] or n_cols % block[1]:
            raise InputError(
                f"{_part(name, 'data')} must hold blocks that tile the shape {X.shape}; got "
                f"data of shape {getattr(X.data, 'shape', None)}"
            )
        n_rows, n_cols = n_rows // block[0], n_cols // block[1]
    n_major, n_minor = (n_cols, n_rows) if fmt == "csc" else (n_rows, n_cols)
    if len(indptr) != n_major + 1:
        raise InputError(
            f"{_part(name, 'indptr')} has {len(indptr)} entries; a {fmt.upper()} matrix of "
            f"{n_major} {major_axis}s needs {n_major + 1}"
        )
    nnz = len(indices)
    _stored_values(X, name, nnz, block)
    # the index pointer: 0, never falling, nnz; each step is a row's (column's) stored values
    falls = indptr[1:] < indptr[:-1]
    if indptr[0] != 0 or indptr[-1] != nnz or falls.any():
        wanted = f"{_part(name, 'indptr')} must start at 0, rise monotonically and end at nnz={nnz}"
        if indptr[0] != 0:
            raise InputError(f"{wanted}; it starts at {indptr[0]}")
        if falls.any():
            k = int(np.argmax(falls))
            raise InputError(
                f"{wanted}; it falls from {indptr[k]} to {indptr[k + 1]} at {major_axis} {k}"
            )
        raise InputError(f"{wanted}; it ends at {indptr[-1]}")
    if nnz and (indices.min() < 0 or indices.max() >= n_minor):
        i = int(np.argmax((indices < 0) | (indices >= n_minor)))
        major = int(np.searchsorted(indptr, i, side="right")) - 1
        raise InputError(
            f"{name} has a {minor_axis} index {indices[i]} at {major_axis} {major}, "
            f"{_outside(minor_axis, n_minor)}"
        )


def _check_coo(X, name):
    row = _index_array(X, "row", name)
    col = _index_array(X, "col", name)
    if len(row) != len(col):
        raise InputError(
            f"{_part(name, 'row')} has {len(row)} entries and {_part(name, 'col')} {len(col)}; "
            "a COO matrix holds one of each per stored value"
        )
    _stored_values(X, name, len(row))
    n_rows, n_cols = X.shape
    if len(row) and (row.min() < 0 or row.max() >= n_rows):
        i = int(np.argmax((row < 0) | (row >= n_rows)))
        raise InputError(
            f"{name} has a row index {row[i]} at stored value {i} (column {col[i]}), "
            f"{_outside('row', n_rows)}"
        )
    if len(col) and (col.min() < 0 or col.max() >= n_cols):
        i = int(np.argmax((col < 0) | (col >= n_cols)))
        raise InputError(
            f"{name} has a column index {col[i]} at row {row[i]}, {_outside('column', n_cols)}"
        )


def _sorted_and_distinct(csr):
    """Whether every row's column indices strictly increase (sorted, no duplicates), computed
    from the arrays: SciPy caches that answer on the object, where a change to its arrays
    leaves it stale, and a duplicate would make a row longer than the kernels' row buffers."""
    indices, starts = csr.indices, csr.indptr[1:-1]
    if len(indices) < 2:
        return True
    rises = indices[1:] > indices[:-1]
    rises[starts[(starts > 0) & (starts < len(indices))] - 1] = True  # a new row may start low
    return bool(rises.all())


def _canonical_copy(csr):
    """A copy of the CSR ``csr`` with sorted indices, duplicates summed and zeros dropped."""
    import scipy.sparse

    copy = scipy.sparse.csr_matrix((csr.data, csr.indices, csr.indptr), shape=csr.shape,
                                   copy=True)  # fmt: skip
    copy.has_sorted_indices = False  # make SciPy sort and sum rather than trust a cached flag
    copy.has_canonical_format = False
    copy.sum_duplicates()
    copy.eliminate_zeros()
    return copy


def check_sparse_features(X, name, dtype, n_features=None):
    """Return the SciPy sparse ``X`` (CSR, CSC or COO, matrix or array) as a canonical
    ``csr_matrix`` of ``dtype``: sorted indices, no duplicates, no stored zeros, finite values.

    The index arrays are checked (:func:`check_sparse_structure`) before anything reads them. A
    CSR input already in that form is not copied, and the input is never modified; nothing
    dense of the input's shape is allocated.
    """
    import scipy.sparse

    if X.format not in SPARSE_FORMATS:
        raise InputTypeError(
            f"{name} is a sparse {X.format} matrix; fastnn takes CSR, CSC or COO: pass "
            f"{name}.tocsr()"
        )
    if len(X.shape) != 2:
        raise InputError(f"{name} must be 2-D, shape (n_samples, n_features); got {X.shape}")
    _check_shape(X.shape, name, n_features)
    if X.shape[1] > np.iinfo(np.int32).max:  # the kernels index features with int32
        raise InputError(f"{name} has {X.shape[1]} features; fastnn takes at most 2**31 - 1")
    check_sparse_structure(X, name)
    if X.dtype.kind not in "biuf":
        raise InputTypeError(f"{name} must hold numbers; got a sparse matrix of {X.dtype}")
    csr = X.tocsr()
    if not _sorted_and_distinct(csr) or not csr.data.all():  # fix a copy, never the caller's
        csr = _canonical_copy(csr)
    indptr, indices = csr.indptr, csr.indices

    def where(i):
        return f"row {int(np.searchsorted(indptr, i, side='right')) - 1}, column {indices[i]}"

    values = check_cast(csr.data, dtype, f"{name}.data", where)
    return scipy.sparse.csr_matrix((values, indices, indptr), shape=csr.shape, copy=False)


def _check_shape(shape, name, n_features):
    if shape[0] == 0 or shape[1] == 0:
        raise InputError(f"{name} must have at least one sample and one feature; got shape {shape}")
    if n_features is not None and shape[1] != n_features:
        raise InputError(
            f"{name} has {shape[1]} features per sample, but the model's first layer "
            f"expects {n_features}"
        )


def check_features(X, name, dtype, n_features=None, sparse=False, finite=True):
    """Return ``X`` as a C-contiguous finite 2-D array of ``dtype`` with ``n_features`` columns;
    with ``sparse``, a SciPy sparse ``X`` as :func:`check_sparse_features` returns it. A dense
    ``X``'s values are left unchecked with ``finite=False`` (see :func:`check_cast`)."""
    if sparse and is_sparse(X):
        return check_sparse_features(X, name, dtype, n_features)
    arr = as_array(X, name)
    if arr.ndim != 2:
        hint = ""
        if arr.ndim == 1:
            hint = (
                f"; use {name}.reshape(-1, 1) for one feature or {name}.reshape(1, -1) "
                "for one sample"
            )
        raise InputError(
            f"{name} must be 2-D, shape (n_samples, n_features); got {arr.ndim}-D array of "
            f"shape {arr.shape}{hint}"
        )
    _check_shape(arr.shape, name, n_features)
    return check_cast(arr, dtype, name, finite=finite)


def _as_column(y, name, n_samples):
    arr = as_array(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, shape ({n_samples},); got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise InputError(f"{name} has {arr.shape[0]} entries but X has {n_samples} samples")
    return arr


def check_labels(y, name, n_samples, n_classes, why=""):
    """Return integer class labels in ``0..n_classes-1`` as int64, one per sample.

    ``why`` is appended to the out-of-range message (say, what fixes the number of classes); a
    callable gets the labels and returns that text, or an (in Python, on the command line) pair.
    """
    arr = _as_column(y, name, n_samples)
    if arr.dtype.kind == "f":
        check_finite(arr, name)
        fractional = arr != np.round(arr)
        if fractional.any():
            value = arr[np.argmax(fractional)].item()
            raise InputError(
                f"{name} must hold integer class labels 0..{n_classes - 1}; got the fractional "
                f"value {value!r}"
            )
    bad = (arr < 0) | (arr >= n_classes)
    if bad.any():
        message = (
            f"{name} must hold class labels 0..{n_classes - 1}; got {arr[bad][0].item()!r} "
            f"(min {arr.min().item()!r}, max {arr.max().item()!r})"
        )
        why = why(arr) if callable(why) else why
        python, cli = why if isinstance(why, tuple) else (why, None)
        error = InputError(message + python)
        raise error.for_cli(message + cli) if cli else error
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_targets(y, name, n_samples, n_outputs, dtype):
    """Return regression targets as a finite (n_samples, n_outputs) array of ``dtype``."""
    arr = as_array(y, name)
    if arr.ndim == 1 and n_outputs == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != n_outputs:
        raise InputError(
            f"{name} must have shape ({n_samples}, {n_outputs})"
            + (f" or ({n_samples},)" if n_outputs == 1 else "")
            + f" to match the output layer; got shape {arr.shape}"
        )
    if arr.shape[0] != n_samples:
        raise InputError(f"{name} has {arr.shape[0]} rows but X has {n_samples} samples")
    return check_cast(arr, dtype, name)


def memory_limit():
    """The bytes one allocation may take: the machine's physical memory, or less under a
    ``ulimit -v`` (RLIMIT_AS) cap."""
    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX
        limit = 2**63 - 1
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            limit = min(limit, soft)
    except (ImportError, OSError, ValueError):
        pass
    return limit


def check_memory(n_bytes, what):
    """Refuse, before allocating, ``n_bytes`` for ``what`` when they exceed :func:`memory_limit`."""
    limit = memory_limit()
    if n_bytes > limit:
        raise InputError(
            f"{what} would need {n_bytes / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB "
            "of memory this process may use"
        )


def check_sample_weight(sample_weight, name, n_samples, dtype):
    """Return sample weights as a finite, non-negative 1-D array of ``dtype`` that is not all
    zero; an empty array for ``None`` (every sample weighs 1)."""
    if sample_weight is None:
        return np.empty(0, dtype)
    arr = as_array(sample_weight, name)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise InputError(f"{name} must have shape ({n_samples},), one weight per sample; got "
                         f"shape {arr.shape}")  # fmt: skip
    arr = check_cast(arr, dtype, name)
    if (arr < 0).any():
        raise InputError(f"{name} must not be negative; got {arr[arr < 0][0].item()!r}")
    if not (arr > 0).any():
        raise InputError(f"{name} must not be all zero: no sample would count")
    return arr


def _class_count_hint(n_outputs):
    """What fixes labels outside ``0..n_outputs-1``, in Python and on the command line."""

    def hint(labels):
        lo, hi = labels.min().item(), labels.max().item()
        k = len(np.unique(labels))
        cli = (f"; the model has {n_outputs} outputs, one per class: evaluate it on the data "
               "it was trained on, or train one on this data")  # fmt: skip
        if lo == 1 and hi == n_outputs:
            return "; they look numbered from 1: pass y - 1", cli
        if k <= n_outputs:
            return (f"; number the {k} classes 0..{k - 1}, as np.unique(y, return_inverse=True)"
                    "[1] does", cli)  # fmt: skip
        return (f"; the output layer has {n_outputs} units, one per class, but y holds {k} "
                f"classes: give the last Dense {k} units", cli)  # fmt: skip

    return hint


def check_loss_targets(y, name, n_samples, loss, n_outputs, dtype):
    """Return ``(labels, targets)`` for ``loss``: int64 labels for the classification losses
    (and, for one binary output, the same as a float column), float targets for the others;
    the one a loss does not use is empty."""
    no_labels = np.empty(0, np.int64)
    if loss == "softmax_cross_entropy":
        labels = check_labels(y, name, n_samples, n_outputs, _class_count_hint(n_outputs))
        return labels, np.empty((0, n_outputs), dtype)
    if loss == "binary_cross_entropy" and n_outputs == 1:
        labels = check_labels(y, name, n_samples, 2, " (binary_cross_entropy takes labels 0/1)")
        return labels, labels.astype(dtype)[:, None]
    targets = check_targets(y, name, n_samples, n_outputs, dtype)
    if loss == "binary_cross_entropy" and not np.isin(targets, (0, 1)).all():
        raise InputError(f"{name} must be a 0/1 indicator matrix, one column per label "
                         "(binary_cross_entropy with several outputs)")  # fmt: skip
    if loss == "poisson" and (targets < 0).any():
        raise InputError(f"{name} must not be negative for the poisson loss (counts or rates)")
    return no_labels, targets


def check_weight_pairs(weights, shapes, dtype):
    """Return ``[(W, b), ...]`` checked against ``shapes`` [(W shape, b shape), ...], finite and
    cast to ``dtype``: everything is checked before the caller changes anything."""
    try:
        weights = list(weights)
    except TypeError:
        raise InputTypeError(
            f"weights must be a list of (W, b) pairs; got {type(weights).__name__}"
        ) from None
    if len(weights) != len(shapes):
        raise InputError(f"weights must hold one (W, b) pair per layer: expected {len(shapes)}, "
                         f"got {len(weights)}")  # fmt: skip
    checked = []
    for index, (pair, pair_shapes) in enumerate(zip(weights, shapes)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InputError(f"weights[{index}] must be a (W, b) pair")
        arrays = []
        for part, value, shape in zip("Wb", pair, pair_shapes):
            name = f"weights[{index}] ({part})"
            arr = as_array(value, name)
            if arr.shape != shape:
                raise InputError(f"{name} must have shape {shape}; got {arr.shape}")
            arr = check_cast(arr, dtype, name, copy=True)  # a copy: W may view parameters set first
            arrays.append(arr)
        checked.append(tuple(arrays))
    return checked
