"""Saving and loading models: the architecture as JSON and the weights as named arrays.

A model file is what :func:`numpy.savez` writes: a zip archive of ``.npy`` entries, here
``config`` (the architecture as a JSON string), ``W0``, ``b0``, ``W1``, ... and optionally the
:class:`~fastnn.scaling.Scaling` statistics.

Version 2 adds what training continues from, so that a loaded model trains on exactly as the
saved one would have: the dropout rates (``config["dropout"]``, one per dense layer) and
``config["training"]``, a record of the epochs trained, the shuffle generator's state (its
``bit_generator.state``, integers), the dropout seed and the optimizer (its ``get_config()``,
update count, samples seen, the schedule's rate, floor and plateau counter); the optimizer's
state arrays are entries ``state{slot}_W{i}`` and ``state{slot}_b{i}`` (SGD's velocity is slot
0, Adam's moments m and v slots 0 and 1), shaped as the weights. A file of version 1 has none of
these and loads as a model without an optimizer, at epoch 0.

:func:`load` treats every file as untrusted:

- no code runs (``allow_pickle=False``; only float arrays and one string are accepted);
- nothing is inflated or allocated before every size the file declares has been checked: the
  ``config`` entry against :data:`MAX_CONFIG_CHARS`, each array's ``.npy`` header (read alone)
  against the shape the architecture implies and against the size the zip directory gives for
  the entry, and the model's parameters against the memory this process may use;
- the metadata fields fastnn itself reads (:data:`METADATA_FIELDS`) are checked for type and
  range against the architecture; other keys are the user's and are kept as they are;
- the training record is checked field by field (types, ranges, the optimizer's arguments as
  its constructor checks them, the generator's state), and the optimizer's state arrays like
  the weights (shape, float dtype, finite values; Adam's second moment is never negative);
- anything malformed raises one :class:`~fastnn.errors.InputError` that names the file.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._codes import CLASSIFICATION_LOSSES
from ._files import ARCHIVE_ERRORS, NotRegularFileError, as_path, atomic_write, open_regular
from ._typing import PathLike
from ._validation import check_memory
from .backend import BACKENDS, resolve_backend
from .errors import FastnnError, InputError, InputTypeError
from .io import MAX_NPY_HEADER, read_npy_entry_header
from .layers import Dense, Dropout
from .lbfgs import LBFGS
from .model import Sequential
from .optimizers import Optimizer, optimizer_from_config
from .params import layer_views
from .scaling import Scaling

FILE_FORMAT = "fastnn.Sequential"
FILE_VERSION = 2
READ_VERSIONS = (1, 2)  # the versions load reads: version 1 has no training record
MAX_CONFIG_CHARS = 2**20  # the architecture record: a few hundred characters in practice
_REQUIRED = ("format", "version", "loss", "dtype", "backend", "seed", "layers")
_FEATURE_STATS = ("feature_mean", "feature_scale")
_TARGET_STATS = ("target_mean", "target_scale")

# The data sets ``fastnn train`` records in ``metadata["dataset"]``: a name, or KIND:PATH.
DATASET_NAMES = ("mnist", "fashion-mnist", "digits", "spiral")
DATASET_FILE_KINDS = ("csv", "svmlight")
# The losses that fit each task a table or an svmlight file is trained for.
TASK_LOSSES = {
    "classification": ("softmax_cross_entropy",),
    "binary": ("binary_cross_entropy", "softmax_cross_entropy"),
    "regression": ("mse", "poisson"),
}


def save(model: Sequential, path: PathLike) -> str:
    """Write ``model`` to ``path`` (a str, bytes or path-like; see
    :meth:`fastnn.Sequential.save`); return the path written, as a str.

    The metadata fields fastnn reads are checked first (:func:`check_metadata`), so that a
    file :func:`load` would refuse is never written.
    """
    path = as_path(path)
    model._build()
    if not path.endswith(".npz"):
        path += ".npz"
    try:
        check_metadata(model.metadata, model.layers, model.loss)
    except (InputError, InputTypeError) as exc:
        raise type(exc)(f"model.{exc}") from None
    state = _saved_state(model)
    config = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "loss": model.loss,
        "dtype": model.dtype,
        "backend": model.backend,
        "seed": model.seed,
        "layers": [layer.to_config() for layer in model.layers],
        "dropout": list(model._dropout),
        "training": _training_record(model, state is not None),
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
    for slot in range(0 if state is None else state.shape[0]):
        for index in range(len(model.layers)):
            W, b = layer_views(state[slot], model._layout, index)
            arrays[f"state{slot}_W{index}"] = W
            arrays[f"state{slot}_b{index}"] = b
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def _saved_state(model):
    """The optimizer's state buffer when it belongs to this model's parameters, else None."""
    opt = model.optimizer
    if not isinstance(opt, Optimizer) or opt.n_slots == 0 or opt.state is None:
        return None
    if opt.state.shape != (opt.n_slots, model._params.size) or opt.state.dtype != model.dtype:
        return None  # a state made for other parameters: a fit would start it afresh
    return opt.state


def _finite_or_none(value):
    return float(value) if math.isfinite(value) else None


def _training_record(model, has_state):
    """What training continues from, JSON-ready (see the module's docstring)."""
    record = {
        "epochs": model.epochs_trained,
        "shuffle": model._shuffle_rng.bit_generator.state,
        "dropout_seed": model._dropout_seed,
        "optimizer": None,
    }
    opt = model.optimizer
    if isinstance(opt, LBFGS):
        record["optimizer"] = {"config": opt.get_config()}
    elif isinstance(opt, Optimizer):
        record["optimizer"] = {
            "config": opt.get_config(),
            "iterations": opt.iterations,
            "samples_seen": opt.samples_seen,
            "current_lr": opt.current_lr,
            "min_lr": opt.min_lr,
            "plateau": {"best": _finite_or_none(opt.plateau.best), "count": opt.plateau.count},
            "state": has_state,
        }
    return record


def load(path: PathLike, backend: str | None = None) -> Sequential:
    """Load a model written by :meth:`Sequential.save`.

    The file is checked before anything is built: see the module's docstring for what an
    untrusted file can and cannot do.

    Parameters
    ----------
    path : str, bytes or path-like
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
    path = as_path(path)
    chosen = _backend(backend)
    try:
        with open_regular(path) as f, zipfile.ZipFile(f) as zf:
            config, layers, arrays, resume = _read_checked(zf, path)
    except FileNotFoundError:
        raise
    except NotRegularFileError as exc:
        raise InputError(
            f"{path} is not a readable fastnn model file: it is {exc.kind}, not a regular file"
        ) from None
    except FastnnError as exc:
        raise InputError(f"{path} is not a readable fastnn model file: {exc}") from None
    except ARCHIVE_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise InputError(f"{path} is not a readable fastnn model file: {reason}") from None
    try:
        stack = []
        for layer, rate in zip(layers, config["dropout"]):
            stack += [layer, Dropout(rate)] if rate > 0 else [layer]
        model = Sequential(
            stack,
            loss=config["loss"],
            backend=chosen or config["backend"],
            dtype=config["dtype"],
            seed=config["seed"],
        )
        model.set_weights([(arrays[f"W{i}"], arrays[f"b{i}"]) for i in range(len(layers))])
        model.scaling = Scaling.from_arrays(arrays)
        _resume(model, resume, arrays)
    except FastnnError as exc:
        raise InputError(f"{path} holds an unusable model: {exc}") from None
    model.metadata = config["metadata"]
    return model


def _resume(model, resume, arrays):
    """Give a loaded model what its training record holds: the epoch count, the shuffle
    generator's state, the dropout seed, and the optimizer with its state arrays."""
    model.epochs_trained = resume.epochs
    if resume.shuffle is not None:
        model._shuffle_rng.bit_generator.state = resume.shuffle
    if resume.dropout_seed is not None:
        model._dropout_seed = resume.dropout_seed
    opt = resume.optimizer
    if opt is None:
        return
    if resume.slots:
        state = opt.state_for(model._params)  # zeros, the padding between layers included
        with np.errstate(over="ignore"):  # a value beyond the dtype is refused below
            for slot in range(resume.slots):
                for index in range(len(model.layers)):
                    W, b = layer_views(state[slot], model._layout, index)
                    W[...] = arrays[f"state{slot}_W{index}"]
                    b[...] = arrays[f"state{slot}_b{index}"]
        if not np.all(np.isfinite(state)):
            raise InputError(f"the optimizer's state does not fit the model's {model.dtype}")
    model.optimizer = opt


def _backend(requested):
    """The backend asked for: the argument, else ``$FASTNN_BACKEND``; None leaves the saved one."""
    if requested is not None or os.environ.get("FASTNN_BACKEND"):
        return resolve_backend(requested)
    return None


# -- reading, every size checked first ----------------------------------------------------------


def _read_checked(zf, path):
    """The config, the layers and the arrays of an open model file, every size checked first."""
    entries = _entries(zf)
    config = _read_config(zf, entries)
    layers = _check_config(config)
    resume = _check_training(config.get("training"), config["version"])
    expected = _expected_shapes(layers, entries, resume.slots)
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
    # The parameter buffer and the optimizer's, a cast copy of each array, and the arrays as
    # stored.
    buffers = (2 + resume.slots) * n_params * dtype.itemsize
    check_memory(buffers + stored, "its model")
    arrays = {}
    for name, (shape, _) in headers.items():
        with zf.open(entries[name]) as fp:
            arrays[name] = np.lib.format.read_array(
                fp, allow_pickle=False, max_header_size=MAX_NPY_HEADER
            )
        if arrays[name].shape != shape:
            raise InputError(f"array {name} does not hold the data its header declares")
        if not np.all(np.isfinite(arrays[name])):
            raise InputError(f"array {name} holds NaN or infinite values")
        if resume.second_moment(name) and np.any(arrays[name] < 0):
            raise InputError(
                f"array {name} holds negative values: Adam's second moment is a mean of squares"
            )
    return config, layers, arrays, resume


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
    shape, dtype, _ = read_npy_entry_header(zf, info, f"array {name}")
    if dtype.fields is not None or dtype.subdtype is not None:
        raise InputError(f"array {name} has dtype {dtype}, which a model file never holds")
    if float_only and dtype.kind != "f":
        raise InputError(f"array {name} has dtype {dtype}; a model's arrays are floats")
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
    if type(version) is not int or version not in READ_VERSIONS:
        raise InputError(
            f"it is a model file of format version {version!r}; this fastnn reads versions "
            f"{' and '.join(map(str, READ_VERSIONS))}"
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
    check_metadata(metadata, layers, config["loss"])
    config["dropout"] = _check_dropout(config.get("dropout"), len(layers))
    return layers


def _check_dropout(rates, n_layers):
    """The record's dropout rates, one per dense layer (all 0 when the record has none)."""
    if rates is None:
        return [0.0] * n_layers
    if not isinstance(rates, list) or len(rates) != n_layers:
        raise InputError(
            f"the record's dropout must be a list of {n_layers} rates, one per layer; got "
            f"{rates!r:.60}"
        )
    for index, rate in enumerate(rates):
        if not _is_number(rate) or not 0 <= rate < 1:
            raise InputError(f"the record's dropout[{index}] must be a rate in [0, 1); got "
                             f"{rate!r:.40}")  # fmt: skip
    if rates[-1] != 0:
        raise InputError("the record's dropout drops units of the last layer, which feed the loss")
    return [float(rate) for rate in rates]


# -- the training record ------------------------------------------------------------------------

_MAX_COUNT = 2**63  # update and sample counts are int64


class _Resume:
    """A checked training record: what :func:`_resume` gives the loaded model."""

    def __init__(self, epochs=0, shuffle=None, dropout_seed=None, optimizer=None, slots=0):
        self.epochs, self.shuffle, self.dropout_seed = epochs, shuffle, dropout_seed
        self.optimizer, self.slots = optimizer, slots

    def second_moment(self, name):
        """Whether the array ``name`` is Adam's second moment (slot 1 of its state)."""
        return self.slots == 2 and name.startswith("state1_")


def _fields(record, what, required, optional=()):
    if not isinstance(record, dict):
        raise InputError(f"{what} must be a JSON object; got {record!r:.60}")
    missing = [key for key in required if key not in record]
    if missing:
        raise InputError(f"{what} lacks {missing[0]!r}")
    unknown = sorted(set(record) - set(required) - set(optional))
    if unknown:
        raise InputError(f"{what} has the unknown field {unknown[0]!r:.40}")


def _count(value, what, high=_MAX_COUNT):
    if not _is_int(value) or not 0 <= value < high:
        raise InputError(f"{what} must be an integer in [0, {high}); got {value!r:.40}")
    return int(value)


def _rate(value, what):
    if not _is_number(value) or value < 0:
        raise InputError(f"{what} must be a finite number >= 0; got {value!r:.40}")
    return float(value)


def _shuffle_state(state):
    """A PCG64 state as ``numpy.random.PCG64().state`` gives it, checked."""
    what = "the record's shuffle state"
    _fields(state, what, ("bit_generator", "state", "has_uint32", "uinteger"))
    if state["bit_generator"] != "PCG64":
        raise InputError(f"{what} must be a PCG64 state; got {state['bit_generator']!r:.40}")
    _fields(state["state"], f"{what}'s state", ("state", "inc"))
    _count(state["state"]["state"], f"{what}'s state", 2**128)
    if _count(state["state"]["inc"], f"{what}'s inc", 2**128) % 2 == 0:
        raise InputError(f"{what}'s inc must be odd, as every PCG64 increment is")
    _count(state["has_uint32"], f"{what}'s has_uint32", 2)
    _count(state["uinteger"], f"{what}'s uinteger", 2**32)
    return state


def _optimizer(record):
    """The optimizer of a training record, its state restored but its arrays; and its slots."""
    what = "the record's optimizer"
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise InputError(f"{what} must be a JSON object with a 'config'; got {record!r:.60}")
    try:
        opt = optimizer_from_config(record["config"])
    except FastnnError as exc:
        raise InputError(f"{what}: {exc}") from None
    if isinstance(opt, LBFGS):
        _fields(record, what, ("config",))
        return opt, 0
    fields = ("config", "iterations", "samples_seen", "current_lr", "min_lr", "plateau", "state")
    _fields(record, what, fields)
    opt.iterations = _count(record["iterations"], f"{what}'s iterations")
    opt.samples_seen = _count(record["samples_seen"], f"{what}'s samples_seen")
    opt.current_lr = _rate(record["current_lr"], f"{what}'s current_lr")
    opt.min_lr = _rate(record["min_lr"], f"{what}'s min_lr")
    plateau = record["plateau"]
    _fields(plateau, f"{what}'s plateau", ("best", "count"))
    best = plateau["best"]
    if best is not None and not _is_number(best):
        raise InputError(f"{what}'s plateau best must be a number or null; got {best!r:.40}")
    opt.plateau.best = np.inf if best is None else float(best)
    opt.plateau.count = _count(plateau["count"], f"{what}'s plateau count")
    if not isinstance(record["state"], bool):
        raise InputError(f"{what}'s state must be true or false; got {record['state']!r:.40}")
    return opt, opt.n_slots if record["state"] else 0


def _check_training(record, version):
    """The checked training record of a file (version 1 files have none)."""
    if record is None:
        return _Resume()
    what = "the record's training"
    _fields(record, what, ("epochs", "shuffle", "dropout_seed", "optimizer"))
    shuffle = record["shuffle"]
    seed = record["dropout_seed"]
    optimizer, slots = (None, 0) if record["optimizer"] is None else _optimizer(record["optimizer"])
    return _Resume(
        epochs=_count(record["epochs"], f"{what} epochs"),
        shuffle=None if shuffle is None else _shuffle_state(shuffle),
        dropout_seed=None if seed is None else _count(seed, "the record's dropout_seed", 2**64),
        optimizer=optimizer,
        slots=slots,
    )


# -- the metadata fastnn reads ------------------------------------------------------------------


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _names(value):
    """Whether ``value`` is a list (a tuple, before saving) of distinct non-empty strings."""
    return (
        isinstance(value, (list, tuple))
        and all(isinstance(name, str) and name for name in value)
        and len(set(value)) == len(value)
    )


def _n_classes(layers, loss):
    """The classes a classifier's probabilities have, or None for regression."""
    if loss not in CLASSIFICATION_LOSSES:
        return None
    n_out = layers[-1].n_out
    return 2 if loss == "binary_cross_entropy" and n_out == 1 else n_out


def _dataset(value, meta, layers, loss):
    kind, colon, path = value.partition(":") if isinstance(value, str) else ("", "", "")
    if value in DATASET_NAMES or (colon and kind in DATASET_FILE_KINDS and path):
        return None
    return f"one of {', '.join(DATASET_NAMES)}, csv:PATH or svmlight:PATH"


def _image_shape(value, meta, layers, loss):
    n_in = layers[0].n_in
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(_is_int(side) and side >= 1 for side in value)
        and value[0] * value[1] == n_in
    ):
        return None
    return f"[height, width], two integers >= 1 whose product is the model's {n_in} inputs"


def _pixel_max(value, meta, layers, loss):
    if _is_number(value) and value > 0:
        return None
    return "a finite number > 0, the grey level of white"


def _classes(value, meta, layers, loss):
    n_classes = _n_classes(layers, loss)
    if _names(value) and (n_classes is None or len(value) == n_classes):
        return None
    if n_classes is None:
        return "a list of distinct class names"
    return f"a list of distinct names, one for each of the model's {n_classes} classes"


def _features(value, meta, layers, loss):
    n_in = layers[0].n_in
    if _names(value) and len(value) == n_in:
        return None
    return f"a list of distinct column names, one for each of the model's {n_in} inputs"


def _target(value, meta, layers, loss):
    if not isinstance(value, str) or not value:
        return "a column name"
    if value in (meta.get("features") or ()):
        return "a column that is not among the features"
    return None


def _task(value, meta, layers, loss):
    if isinstance(value, str) and value in TASK_LOSSES and loss in TASK_LOSSES[value]:
        return None
    fitting = [task for task, losses in TASK_LOSSES.items() if loss in losses]
    return f"one of {', '.join(map(repr, fitting or TASK_LOSSES))} for a model with loss {loss!r}"


def _val_size(value, meta, layers, loss):
    if _is_number(value) and 0 <= value < 1:
        return None
    return "a fraction in [0, 1)"


def _n_features(value, meta, layers, loss):
    n_in = layers[0].n_in
    if _is_int(value) and value == n_in:
        return None
    return f"the model's {n_in} inputs"


def _zero_based(value, meta, layers, loss):
    return None if isinstance(value, bool) else "true or false"


# Every metadata field fastnn reads, with its check: a function of (value, metadata, layers,
# loss) that returns what the value must be, or None when it is fine. JSON null stands for a
# field not recorded. Other keys are the user's: kept, never read.
METADATA_FIELDS = {
    "dataset": _dataset,
    "image_shape": _image_shape,
    "pixel_max": _pixel_max,
    "classes": _classes,
    "features": _features,
    "target": _target,
    "task": _task,
    "val_size": _val_size,
    "n_features": _n_features,
    "zero_based": _zero_based,
}


def check_metadata(metadata: dict[str, Any], layers: Sequence[Dense], loss: str) -> None:
    """Check the fields of ``metadata`` that fastnn reads (:data:`METADATA_FIELDS`) against a
    model of ``layers`` and ``loss``; the first wrong one is an InputError naming it."""
    if not isinstance(metadata, dict):
        raise InputTypeError(f"metadata must be a dict; got {type(metadata).__name__}")
    for key, check in METADATA_FIELDS.items():
        value = metadata.get(key)
        if value is None:
            continue
        wanted = check(value, metadata, layers, loss)
        if wanted is not None:
            raise InputError(f"metadata[{key!r}] must be {wanted}; got {value!r:.80}")


def _expected_shapes(layers, entries, slots=0):
    """Array name -> the shapes it may have, for every array the file must hold (with the
    optimizer's ``slots`` state arrays of each layer)."""
    expected = {}
    for index, layer in enumerate(layers):
        expected[f"W{index}"] = [(layer.n_in, layer.n_out)]
        expected[f"b{index}"] = [(layer.n_out,)]
    for slot in range(slots):
        for index, layer in enumerate(layers):
            expected[f"state{slot}_W{index}"] = [(layer.n_in, layer.n_out)]
            expected[f"state{slot}_b{index}"] = [(layer.n_out,)]
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


__all__ = [
    "DATASET_FILE_KINDS",
    "DATASET_NAMES",
    "FILE_FORMAT",
    "FILE_VERSION",
    "READ_VERSIONS",
    "MAX_CONFIG_CHARS",
    "METADATA_FIELDS",
    "TASK_LOSSES",
    "check_metadata",
    "load",
    "save",
]
