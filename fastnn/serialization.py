"""Saving and loading models: the architecture as JSON and the weights as named arrays.

A model file is what :func:`numpy.savez` writes: a zip archive of ``.npy`` entries, here
``config`` (the architecture as a JSON string), ``W0``, ``b0``, ``W1``, ... and optionally the
:class:`~fastnn.scaling.Scaling` statistics. :func:`load` treats every file as untrusted:

- no code runs (``allow_pickle=False``; only float arrays and one string are accepted);
- nothing is inflated or allocated before every size the file declares has been checked: the
  ``config`` entry against :data:`MAX_CONFIG_CHARS`, each array's ``.npy`` header (read alone)
  against the shape the architecture implies and against the size the zip directory gives for
  the entry, and the model's parameters against the memory this process may use;
- anything malformed raises one :class:`~fastnn.errors.InputError` that names the file.
"""

import json
import math
import os
import stat
import zipfile

import numpy as np

from ._codes import CLASSIFICATION_LOSSES
from ._files import ARCHIVE_ERRORS, atomic_write
from ._validation import check_memory
from .backend import BACKENDS, resolve_backend
from .errors import FastnnError, InputError, InputTypeError
from .layers import Dense
from .model import Sequential
from .scaling import Scaling

FILE_FORMAT = "fastnn.Sequential"
FILE_VERSION = 1
MAX_CONFIG_CHARS = 2**20  # the architecture record: a few hundred characters in practice
_MAX_NPY_HEADER = 10_000  # NumPy's own limit for an .npy header
_REQUIRED = ("format", "version", "loss", "dtype", "backend", "seed", "layers")
_FEATURE_STATS = ("feature_mean", "feature_scale")
_TARGET_STATS = ("target_mean", "target_scale")


def save(model, path):
    """Write ``model`` to ``path`` (see :meth:`fastnn.Sequential.save`); return the path."""
    model._build()
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    config = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "loss": model.loss,
        "dtype": model.dtype,
        "backend": model.backend,
        "seed": model.seed,
        "layers": [layer.to_config() for layer in model.layers],
        "metadata": model.metadata,
    }
    try:
        record = json.dumps(config)
    except (TypeError, ValueError) as exc:
        raise InputTypeError(f"model.metadata must hold JSON-ready values only: {exc}") from None
    if len(record) > MAX_CONFIG_CHARS:  # load would refuse it
        raise InputError(
            f"the model's architecture record has {len(record):,} characters with its metadata, "
            f"more than the {MAX_CONFIG_CHARS:,} a model file may hold: shorten model.metadata"
        )
    arrays = {"config": np.array(record)}
    for index, layer in enumerate(model.layers):
        arrays[f"W{index}"] = layer.W
        arrays[f"b{index}"] = layer.b
    if model.scaling is not None:
        arrays.update(model.scaling.to_arrays())
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def load(path, backend=None):
    """Load a model written by :meth:`Sequential.save`.

    The file is checked before anything is built: see the module's docstring for what an
    untrusted file can and cannot do.

    Parameters
    ----------
    path : str or path-like
        A regular file (a folder, a FIFO or a device is refused without being read).
    backend : {"numba", "numpy"}, optional
        The backend of the loaded model. When not given, ``$FASTNN_BACKEND`` is used if set,
        else the backend the model was saved with.

    Returns
    -------
    Sequential

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    fastnn.errors.InputError
        When the file is not a fastnn model file, is malformed, or declares a model larger than
        the memory this process may use. The message names the file.
    """
    path = os.fspath(path)
    chosen = _backend(backend)
    try:
        with _open_regular(path) as f, zipfile.ZipFile(f) as zf:
            config, layers, arrays = _read_checked(zf, path)
    except FileNotFoundError:
        raise
    except FastnnError as exc:
        raise InputError(f"{path} is not a readable fastnn model file: {exc}") from None
    except ARCHIVE_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise InputError(f"{path} is not a readable fastnn model file: {reason}") from None
    try:
        model = Sequential(
            layers,
            loss=config["loss"],
            backend=chosen or config["backend"],
            dtype=config["dtype"],
            seed=config["seed"],
        )
        model.set_weights([(arrays[f"W{i}"], arrays[f"b{i}"]) for i in range(len(layers))])
        model.scaling = _with_legacy_target_scaling(Scaling.from_arrays(arrays), config)
    except FastnnError as exc:
        raise InputError(f"{path} holds an unusable model: {exc}") from None
    model.metadata = config["metadata"]
    return model


def _with_legacy_target_scaling(scaling, config):
    """Files from fastnn 0.1's command line kept a regression target's statistics as
    ``metadata["target_scaling"] = [mean, scale]``: fold them into the :class:`Scaling`."""
    legacy = config["metadata"].pop("target_scaling", None)
    if legacy is None or scaling is None or scaling.target_mean is not None:
        return scaling
    if not (
        isinstance(legacy, list)
        and len(legacy) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in legacy)
    ):
        raise InputError(f"metadata.target_scaling must be [mean, scale]; got {legacy!r:.60}")
    return Scaling(scaling.feature_mean, scaling.feature_scale, legacy[0], legacy[1])


def _backend(requested):
    """The backend asked for: the argument, else ``$FASTNN_BACKEND``; None leaves the saved one."""
    if requested is not None or os.environ.get("FASTNN_BACKEND"):
        return resolve_backend(requested)
    return None


# -- reading, every size checked first ----------------------------------------------------------


def _open_regular(path):
    """Open ``path`` for reading if it is a regular file; a FIFO or a device is never opened."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"it is {_kind(info.st_mode)}, not a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the check above
            raise InputError("it is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode):
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _read_checked(zf, path):
    """The config, the layers and the arrays of an open model file, every size checked first."""
    entries = _entries(zf)
    config = _read_config(zf, entries)
    layers = _check_config(config)
    expected = _expected_shapes(layers, entries)
    headers = {}
    for name, shape in expected.items():
        headers[name] = _header(zf, entries[name], name, float_only=True)
        declared = headers[name][0]
        if declared not in shape:
            want = " or ".join(str(s) for s in shape)
            raise InputError(f"array {name} has shape {declared}; the architecture needs {want}")
    dtype = np.dtype(config["dtype"])
    n_params = sum(layer.n_in * layer.n_out + layer.n_out for layer in layers)
    stored = sum(math.prod(shape) * dt.itemsize for shape, dt in headers.values())
    # The parameter buffer, a cast copy of each array, and the arrays as stored.
    check_memory(2 * n_params * dtype.itemsize + stored, "its model")
    arrays = {}
    for name, (shape, _) in headers.items():
        with zf.open(entries[name]) as fp:
            arrays[name] = np.lib.format.read_array(
                fp, allow_pickle=False, max_header_size=_MAX_NPY_HEADER
            )
        if arrays[name].shape != shape:
            raise InputError(f"array {name} does not hold the data its header declares")
        if not np.all(np.isfinite(arrays[name])):
            raise InputError(f"array {name} holds NaN or infinite values")
    return config, layers, arrays


def _entries(zf):
    """The archive's entries by array name ("W0" for "W0.npy"); their data is not read."""
    entries = {}
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy") or info.is_dir():
            raise InputError(f"unexpected entry {name!r} in the archive")
        key = name[: -len(".npy")]
        if key in entries:
            raise InputError(f"the archive holds {name!r} twice")
        entries[key] = info
    if "config" not in entries:
        raise InputError("no fastnn architecture record (no 'config' entry)")
    return entries


def _header(zf, info, name, float_only):
    """(shape, dtype) of one ``.npy`` entry, from its header alone, checked against the size the
    zip directory declares for the entry."""
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp, _MAX_NPY_HEADER)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp, _MAX_NPY_HEADER)
        else:
            raise InputError(f"array {name} has .npy format version {version}, not 1.0 or 2.0")
        header_bytes = fp.tell()
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise InputError(f"array {name} has dtype {dtype}, which a model file never holds")
    if float_only and dtype.kind != "f":
        raise InputError(f"array {name} has dtype {dtype}; a model's arrays are floats")
    data_bytes = math.prod(shape) * dtype.itemsize
    if header_bytes + data_bytes != info.file_size:
        raise InputError(
            f"array {name} declares shape {shape} of {dtype} ({data_bytes:,} bytes) but its "
            f"entry holds {info.file_size - header_bytes:,} bytes"
        )
    return shape, dtype


def _read_config(zf, entries):
    """The architecture record, its size checked before it is read and decoded."""
    shape, dtype = _header(zf, entries["config"], "config", float_only=False)
    if shape != () or dtype.kind != "U":
        raise InputError(f"the 'config' entry is a {dtype} array of shape {shape}, not a string")
    if dtype.itemsize > 4 * MAX_CONFIG_CHARS:
        raise InputError(
            f"the 'config' entry declares {dtype.itemsize // 4:,} characters, more than the "
            f"{MAX_CONFIG_CHARS:,} an architecture record may have"
        )
    with zf.open(entries["config"]) as fp:
        text = str(np.lib.format.read_array(fp, allow_pickle=False))
    try:
        config = json.loads(text)
    except RecursionError:
        raise InputError("the 'config' record is nested too deeply") from None
    except ValueError as exc:
        raise InputError(f"the 'config' record is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != FILE_FORMAT:
        raise InputError("no fastnn architecture record")
    return config


def _check_config(config):
    """The layers the record declares, after checking the record's fields; nothing allocated."""
    missing = [key for key in _REQUIRED if key not in config]
    if missing:
        raise InputError(f"the architecture record lacks {', '.join(map(repr, missing))}")
    version = config["version"]
    if type(version) is not int or version != FILE_VERSION:
        raise InputError(
            f"it is a model file of format version {version!r}; this fastnn reads version "
            f"{FILE_VERSION}"
        )
    for key in ("loss", "dtype", "backend"):
        if not isinstance(config[key], str):
            raise InputError(f"the record's {key!r} must be a string; got {config[key]!r}")
    if config["dtype"] not in ("float32", "float64"):
        raise InputError(
            f"the record's dtype must be 'float32' or 'float64'; got {config['dtype']!r}"
        )
    if config["backend"] not in BACKENDS:
        raise InputError(
            f"the record's backend must be one of {sorted(BACKENDS)}; got {config['backend']!r}"
        )
    metadata = config.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise InputError(f"the record's metadata must be a JSON object; got {metadata!r:.60}")
    specs = config["layers"]
    if not isinstance(specs, list) or not specs:
        raise InputError("the record declares no layers")
    layers = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise InputError(f"layer {index} of the record is not a JSON object")
        try:
            layer = Dense(**spec)
        except TypeError as exc:
            raise InputError(f"layer {index} of the record: {exc}") from None
        if layers and layers[-1].n_out != layer.n_in:
            raise InputError(
                f"the record's layers do not chain: layer {index - 1} has n_out="
                f"{layers[-1].n_out} but layer {index} has n_in={layer.n_in}"
            )
        layers.append(layer)
    classes = metadata.get("classes")
    if classes is not None and config["loss"] in CLASSIFICATION_LOSSES:
        n_classes = layers[-1].n_out if config["loss"] == "softmax_cross_entropy" else 2
        if not isinstance(classes, list) or len(classes) < n_classes:
            raise InputError(
                f"the metadata's classes must list a name for each of the model's {n_classes} "
                f"classes; got {classes!r:.80}"
            )
    return layers


def _expected_shapes(layers, entries):
    """Array name -> the shapes it may have, for every array the file must hold."""
    expected = {}
    for index, layer in enumerate(layers):
        expected[f"W{index}"] = [(layer.n_in, layer.n_out)]
        expected[f"b{index}"] = [(layer.n_out,)]
    n_in, n_out = layers[0].n_in, layers[-1].n_out
    for group, shapes in ((_FEATURE_STATS, [(n_in,)]), (_TARGET_STATS, [(n_out,), (1,)])):
        present = [name for name in group if name in entries]
        if present and len(present) != len(group):
            raise InputError(f"the file holds {present[0]} without its partner")
        expected.update({name: shapes for name in present})
    if any(name in entries for name in _TARGET_STATS) and "feature_mean" not in entries:
        raise InputError("the file holds target statistics without feature statistics")
    unexpected = sorted(set(entries) - set(expected) - {"config"})
    if unexpected:
        raise InputError(f"unexpected array {unexpected[0]!r} (a model with {len(layers)} layers)")
    missing = [name for name in expected if name not in entries]
    if missing:
        raise InputError(f"array {missing[0]!r} is missing")
    return expected


__all__ = ["FILE_FORMAT", "FILE_VERSION", "MAX_CONFIG_CHARS", "load", "save"]
