"""Model files as untrusted input: every size checked before anything is allocated, and one
InputError naming the file for anything malformed; the backend a loaded model runs on."""

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
import zlib

import numpy as np
import pytest

import fastnn as fn
from fastnn.errors import InputError
from fastnn.scaling import Scaling

from helpers import npy_bytes, rewrite

CLASSES = ["ant", "bee", "cat"]


def saved_model(folder, backend="numpy", name="m.npz"):
    """A small trained classifier with scaling and class names, saved with Sequential.save."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.integers(0, 3, 60)
    model = fn.Sequential([fn.Dense(4, 8, "relu"), fn.Dense(8, 3)], backend=backend, seed=1)
    model.scaling = Scaling(X.mean(axis=0), X.std(axis=0))
    model.metadata = {"classes": CLASSES}
    model.fit(X, y, verbose=0)
    return model, X, model.save(folder / name)


def refused(path, match, **kwargs):
    with pytest.raises(InputError, match=match) as info:
        fn.load(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


# -- the architecture record ---------------------------------------------------------------------


def _set(key, value):
    return lambda config: config.__setitem__(key, value)


def _drop(key):
    return lambda config: config.__delitem__(key)


def _layer(index, **fields):
    return lambda config: config["layers"][index].update(fields)


def _deep(config):
    config["metadata"] = "DEEP"
    return json.dumps(config).replace('"DEEP"', "[" * 100_000 + "]" * 100_000)


RECORD_EDITS = {
    "no loss": (_drop("loss"), "lacks 'loss'"),
    "no dtype": (_drop("dtype"), "lacks 'dtype'"),
    "no seed": (_drop("seed"), "lacks 'seed'"),
    "no backend": (_drop("backend"), "lacks 'backend'"),
    "no layers": (_drop("layers"), "lacks 'layers'"),
    "no version": (_drop("version"), "lacks 'version'"),
    "version 3": (_set("version", 3), "version 3; this fastnn reads versions 1 and 2"),
    "version '1'": (_set("version", "1"), "version '1'; this fastnn reads versions 1 and 2"),
    "version true": (_set("version", True), "version True"),
    "metadata list": (_set("metadata", [1, 2]), "metadata must be a JSON object"),
    "metadata string": (_set("metadata", "x"), "metadata must be a JSON object"),
    "metadata null": (_set("metadata", None), "metadata must be a JSON object"),
    "classes short": (_set("metadata", {"classes": ["a", "b"]}), "each of the model's 3 classes"),
    "classes string": (_set("metadata", {"classes": "abc"}), "each of the model's 3 classes"),
    "dtype int8": (_set("dtype", "int8"), "dtype must be 'float32' or 'float64'"),
    "backend cuda": (_set("backend", "cuda"), "backend must be one of"),
    "loss hinge": (_set("loss", "hinge"), "loss must be one of"),
    "seed negative": (_set("seed", -1), "seed must be an integer >= 0"),
    "layers empty": (_set("layers", []), "declares no layers"),
    "layers dict": (_set("layers", {"n_in": 4}), "declares no layers"),
    "layer a list": (_set("layers", [[4, 8]]), "layer 0 of the record is not a JSON object"),
    "layer unknown key": (_layer(0, units=3), "layer 0 of the record: .*units"),
    "layer n_in text": (_layer(0, n_in="4"), "n_in must be an integer"),
    "layer n_in float": (_layer(0, n_in=4.5), "n_in must be an integer"),
    "layer n_out zero": (_layer(0, n_out=0), "n_out must be an integer >= 1"),
    "layers do not chain": (_layer(0, n_in=20000, n_out=20000), "do not chain"),
    "activation": (_layer(0, activation="gelu"), "activation must be one of"),
    "deep nesting": (_deep, "nested too deeply"),
    "no format": (_drop("format"), "no fastnn architecture record"),
}


@pytest.mark.parametrize("edit, match", RECORD_EDITS.values(), ids=list(RECORD_EDITS))
def test_a_malformed_record_is_one_line_naming_the_file(tmp_path, edit, match):
    _, _, path = saved_model(tmp_path)
    refused(rewrite(path, tmp_path / "bad.npz", edit), match)


def test_a_record_that_is_not_json_or_not_a_string(tmp_path):
    _, _, path = saved_model(tmp_path)
    not_json = {"config": npy_bytes(np.array("{'format': 1"))}
    refused(rewrite(path, tmp_path / "a.npz", entries=not_json), "not valid JSON")
    a_list = {"config": npy_bytes(np.array(json.dumps(["fastnn.Sequential"])))}
    refused(rewrite(path, tmp_path / "b.npz", entries=a_list), "no fastnn architecture record")
    numbers = {"config": npy_bytes(np.zeros(3))}
    refused(rewrite(path, tmp_path / "c.npz", entries=numbers), "not a string")


def test_save_refuses_a_record_that_load_would_refuse(tmp_path):
    model, _, _ = saved_model(tmp_path)
    model.metadata = {"notes": "x" * 2**20}
    with pytest.raises(InputError, match="shorten model.metadata"):
        model.save(tmp_path / "big.npz")
    assert not (tmp_path / "big.npz").exists()
    model.metadata = {"array": np.zeros(2)}
    with pytest.raises(TypeError, match="JSON-ready"):
        model.save(tmp_path / "big.npz")


def test_an_oversized_record_is_refused_before_it_is_read(tmp_path):
    _, _, path = saved_model(tmp_path)
    huge = {"config": npy_bytes(np.array("x" * (2**20 + 1)))}
    refused(rewrite(path, tmp_path / "bad.npz", entries=huge), "more than the 1,048,576")


# -- the arrays ----------------------------------------------------------------------------------


def test_arrays_that_do_not_fit_the_architecture(tmp_path):
    _, _, path = saved_model(tmp_path)
    cases = {
        "wide": ({"W0": npy_bytes(np.zeros((4, 9)))}, (), r"W0 has shape \(4, 9\).*\(4, 8\)"),
        "missing": (None, ("b1",), "'b1' is missing"),
        "extra": ({"W2": npy_bytes(np.zeros((3, 3)))}, (), "unexpected array 'W2'"),
        "ints": ({"b0": npy_bytes(np.zeros(8, np.int64))}, (), "a model's arrays are floats"),
        "objects": (None, (), None),
        "half scaling": (None, ("feature_scale",), "feature_mean without its partner"),
        "scaling width": ({"feature_mean": npy_bytes(np.zeros(5))}, (), "feature_mean"),
        "nan": ({"b0": npy_bytes(np.full(8, np.nan))}, (), "b0 holds NaN or infinite values"),
    }
    # An object array is written with pickling on: load must refuse it without unpickling.
    pickled = io.BytesIO()
    np.lib.format.write_array(pickled, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    cases["objects"] = ({"b0": pickled.getvalue()}, (), "dtype object")
    for name, (entries, drop, match) in cases.items():
        refused(rewrite(path, tmp_path / f"{name}.npz", entries=entries, drop=drop), match)


def test_a_header_that_declares_more_than_its_entry_holds(tmp_path):
    _, _, path = saved_model(tmp_path)
    data = bytearray(npy_bytes(np.zeros(8, np.float32)))
    header = data[: data.index(b"\n") + 1].replace(b"(8,)", b"(9,)")
    lying = {"b0": bytes(header) + bytes(data[len(header) :])}
    refused(rewrite(path, tmp_path / "bad.npz", entries=lying), r"declares shape \(9,\).*holds")


def test_an_archive_entry_that_is_not_an_array(tmp_path):
    _, _, path = saved_model(tmp_path)
    bad = tmp_path / "bad.npz"
    rewrite(path, bad)
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr("notes.txt", "hello")
    refused(bad, "unexpected entry 'notes.txt'")


# -- files that are not model files --------------------------------------------------------------


def test_files_that_are_not_model_files(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    refused(empty, "not a zip file")
    text = tmp_path / "text.npz"
    text.write_text("hello")
    refused(text, "not a zip file")
    _, _, path = saved_model(tmp_path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(open(path, "rb").read()[:-100])
    refused(truncated, "not a readable fastnn model file")
    refused(tmp_path, "it is a folder")
    refused(os.devnull, "it is a device")
    with pytest.raises(FileNotFoundError):
        fn.load(tmp_path / "missing.npz")


@pytest.mark.slow
def test_a_fifo_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    code = "import sys, fastnn\ntry: fastnn.load(sys.argv[1])\nexcept ValueError as exc: print(exc)"
    out = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True,
                         text=True, timeout=60).stdout  # fmt: skip
    assert (
        out.strip()
        == f"{fifo} is not a readable fastnn model file: it is a FIFO, not a regular file"
    )


# -- memory: refused before allocating, under a cap that a regression would hit ------------------

CAPPED = textwrap.dedent(
    """
    import json, resource, sys
    import fastnn
    from fastnn.errors import InputError

    def vm_bytes():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))

    cap = vm_bytes() + 400 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    # count the bytes read out of archive entries (decompressed): a refusal reads headers only
    import zipfile
    counted = {"bytes": 0}
    def counting(method):
        def wrapper(self, *args):
            out = method(self, *args)
            counted["bytes"] += out if isinstance(out, int) else len(out)
            return out
        return wrapper
    for name in ("read", "read1", "readinto"):
        setattr(zipfile.ZipExtFile, name, counting(getattr(zipfile.ZipExtFile, name)))

    for path in sys.argv[1:]:
        counted["bytes"] = 0
        try:
            fastnn.load(path, backend="numpy")
            result = {"error": None}
        except InputError as exc:
            result = {"error": "InputError", "message": str(exc)}
        except MemoryError:
            result = {"error": "MemoryError"}
        result["bytes_read"] = counted["bytes"]
        print(json.dumps(result), flush=True)
    """
)


def load_capped(*paths):
    """Load each file in a process whose address space is capped a few hundred MB above what
    ``import fastnn`` needs; return one result record per file."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux's /proc to measure the process")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", CAPPED, *map(str, paths)], capture_output=True,
                         text=True, timeout=300, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def deflated_zeros_entry(zf, name, shape, dtype="<f4"):
    """Write an .npy entry of ``shape`` zeros into ``zf`` without holding it in memory: the
    deflate stream of a block of zeros repeats, so it is computed once."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    n_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    chunk = bytes(16_000_000)
    n_chunks, rest = divmod(n_bytes, len(chunk))
    assert rest == 0
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(header.getvalue()) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.flush()

    class Repeating:  # stands in for zipfile's compressor: one block per chunk written
        def __init__(self):
            self.parts = iter([head] + [block] * n_chunks)

        def compress(self, data):
            return next(self.parts)

        def flush(self):
            return tail

    info = zipfile.ZipInfo(f"{name}.npy")
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as f:
        f._compressor = Repeating()
        f.write(header.getvalue())
        for _ in range(n_chunks):
            f.write(chunk)


@pytest.mark.slow
def test_edited_widths_and_inflating_entries_are_refused_before_allocating(tmp_path):
    _, _, path = saved_model(tmp_path)

    def widths(n):
        def edit(config):
            config["layers"][0].update(n_in=n, n_out=n)
            config["layers"][1]["n_in"] = n

        return edit

    # The saved 7 KB file with its record edited: the arrays stay as they were.
    wide = rewrite(path, tmp_path / "wide.npz", widths(20000))
    wider = rewrite(path, tmp_path / "wider.npz", widths(100000))
    unchained = rewrite(path, tmp_path / "unchained.npz", _layer(0, n_in=20000, n_out=20000))
    # An entry that inflates to 4 GB (3.9 MB on disk) where the architecture wants 8 floats.
    bomb = rewrite(path, tmp_path / "bomb.npz", drop=("b0",))
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as zf:
        deflated_zeros_entry(zf, "b0", (10**9,))
    assert os.path.getsize(bomb) < 5 * 2**20
    # A file consistent throughout, only too large: W0 is 20000 x 20000 zeros (1.6 GB).
    consistent = rewrite(path, tmp_path / "consistent.npz", widths(20000),
                         drop=("feature_mean", "feature_scale", "W0"),
                         entries={"W1": npy_bytes(np.zeros((20000, 3), np.float32)),
                                  "b0": npy_bytes(np.zeros(20000, np.float32))})  # fmt: skip
    with zipfile.ZipFile(consistent, "a", zipfile.ZIP_DEFLATED) as zf:
        deflated_zeros_entry(zf, "W0", (20000, 20000))
    files = [wide, wider, unchained, bomb, consistent]
    expected = [
        r"W0 has shape \(4, 8\); the architecture needs \(20000, 20000\)",
        r"W0 has shape \(4, 8\); the architecture needs \(100000, 100000\)",
        "do not chain",
        r"b0 has shape \(1000000000,\); the architecture needs \(8,\)",
        r"its model would need \d+\.\d GiB, more than the",
    ]
    for file, result, match in zip(files, load_capped(*files), expected):
        assert result["error"] == "InputError", result
        assert result["message"].startswith(f"{file} is not a readable fastnn model file: ")
        assert re.search(match, result["message"]), result["message"]
        assert result["bytes_read"] < 2**20  # the headers, not the declared arrays


# -- loading what was saved ----------------------------------------------------------------------


def test_a_saved_model_loads_with_its_scaling_metadata_and_predictions(tmp_path):
    model, X, path = saved_model(tmp_path)
    loaded = fn.load(path)
    assert loaded.metadata == {"classes": CLASSES} and loaded.backend == "numpy"
    np.testing.assert_array_equal(loaded.scaling.feature_mean, model.scaling.feature_mean)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_the_backend_argument_then_the_environment_then_the_file_decide(tmp_path, monkeypatch):
    _, _, path = saved_model(tmp_path, backend="numba")
    assert fn.load(path).backend == "numba"
    monkeypatch.setenv("FASTNN_BACKEND", "numpy")
    assert fn.load(path).backend == "numpy"
    assert fn.load(path, backend="numba").backend == "numba"
    monkeypatch.setenv("FASTNN_BACKEND", "cuda")
    with pytest.raises(InputError, match=r"\$FASTNN_BACKEND must be one of"):
        fn.load(path)
    assert fn.load(path, backend="numpy").backend == "numpy"


# -- the training record and the optimizer's state -----------------------------------------------


def saved_adam(folder):
    """A small model trained with Adam (two state slots) and saved."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    model = fn.Sequential([fn.Dense(4, 8, "relu"), fn.Dense(8, 3)], backend="numpy", seed=1)
    model.fit(X, y, verbose=0, optimizer=fn.Adam())
    return model.save(folder / "adam.npz")


def _in(path, **fields):
    """An edit of the record at ``path`` (keys, outermost first) that sets ``fields``."""

    def edit(config):
        record = config
        for key in path:
            record = record[key]
        record.update(fields)

    return edit


def _without(path, key):
    def edit(config):
        record = config
        for step in path:
            record = record[step]
        del record[key]

    return edit


TRAINING = ("training",)
SHUFFLE = ("training", "shuffle")
OPTIMIZER = ("training", "optimizer")
TRAINING_EDITS = {
    "epochs negative": (_in(TRAINING, epochs=-1), r"training epochs must be an integer in \[0"),
    "epochs float": (_in(TRAINING, epochs=2.5), "training epochs must be an integer"),
    "epochs text": (_in(TRAINING, epochs="2"), "training epochs must be an integer"),
    "training unknown": (_in(TRAINING, extra=1), "training has the unknown field 'extra'"),
    "training lacks": (_without(TRAINING, "shuffle"), "training lacks 'shuffle'"),
    "training a list": (_set("training", [1]), "training must be a JSON object"),
    "shuffle mt19937": (_in(SHUFFLE, bit_generator="MT19937"), "must be a PCG64 state"),
    "shuffle huge": (_in(SHUFFLE + ("state",), state=2**129), "state must be an integer in"),
    "shuffle even": (_in(SHUFFLE + ("state",), inc=2), "inc must be odd"),
    "shuffle uinteger": (_in(SHUFFLE, uinteger=-1), "uinteger must be an integer"),
    "shuffle bool": (_in(SHUFFLE, has_uint32=True), "has_uint32 must be an integer"),
    "dropout seed": (_in(TRAINING, dropout_seed=2**64), "dropout_seed must be an integer in"),
    "optimizer name": (_in(OPTIMIZER + ("config",), name="RMSprop"), "name must be one of"),
    "optimizer lr": (_in(OPTIMIZER + ("config",), lr=-1), "lr must be a finite number > 0"),
    "optimizer beta": (_in(OPTIMIZER + ("config",), beta2=1.0), "beta2 must be a finite"),
    "optimizer argument": (_in(OPTIMIZER + ("config",), rho=0.9), "unexpected keyword.*'rho'"),
    "optimizer no config": (_in(TRAINING, optimizer={"iterations": 1}), "with a 'config'"),
    "optimizer unknown": (_in(OPTIMIZER, extra=1), "optimizer has the unknown field 'extra'"),
    "iterations float": (_in(OPTIMIZER, iterations=1.5), "iterations must be an integer"),
    "iterations huge": (_in(OPTIMIZER, iterations=2**63), "iterations must be an integer in"),
    "samples negative": (_in(OPTIMIZER, samples_seen=-5), "samples_seen must be an integer"),
    "rate negative": (_in(OPTIMIZER, current_lr=-1.0), "current_lr must be a finite number >= 0"),
    "rate text": (_in(OPTIMIZER, min_lr="small"), "min_lr must be a finite number >= 0"),
    "plateau best": (_in(OPTIMIZER + ("plateau",), best="low"), "best must be a number or null"),
    "plateau count": (_in(OPTIMIZER + ("plateau",), count=-1), "plateau count must be"),
    "state text": (_in(OPTIMIZER, state="yes"), "state must be true or false"),
    "dropout short": (_set("dropout", [0.1]), "dropout must be a list of 2 rates"),
    "dropout range": (_set("dropout", [1.5, 0.0]), r"dropout\[0\] must be a rate in \[0, 1\)"),
    "dropout last": (_set("dropout", [0.0, 0.5]), "drops units of the last layer"),
    "dropout text": (_set("dropout", ["0.1", 0.0]), r"dropout\[0\] must be a rate"),
}


@pytest.mark.parametrize("edit, match", TRAINING_EDITS.values(), ids=list(TRAINING_EDITS))
def test_a_malformed_training_record_is_one_line_naming_the_file(tmp_path, edit, match):
    path = saved_adam(tmp_path)
    refused(rewrite(path, tmp_path / "bad.npz", edit), match)


def test_hostile_optimizer_state_entries(tmp_path):
    path = saved_adam(tmp_path)
    no_state = _in(OPTIMIZER, state=False)
    cases = {
        "negative v": ({"state1_W0": npy_bytes(-np.ones((4, 8), np.float32))}, (), None,
                       "state1_W0 holds negative values: Adam's second moment"),
        "nan m": ({"state0_b1": npy_bytes(np.full(3, np.nan, np.float32))}, (), None,
                  "state0_b1 holds NaN or infinite values"),
        "shape": ({"state0_W1": npy_bytes(np.zeros((3, 8), np.float32))}, (), None,
                  r"state0_W1 has shape \(3, 8\); the architecture needs \(8, 3\)"),
        "ints": ({"state1_b0": npy_bytes(np.zeros(8, np.int32))}, (), None,
                 "a model's arrays are floats"),
        "missing": (None, ("state1_W1",), None, "'state1_W1' is missing"),
        "unannounced": (None, (), no_state, "unexpected array 'state0_W0'"),
        "third slot": ({"state2_W0": npy_bytes(np.zeros((4, 8), np.float32))}, (), None,
                       "unexpected array 'state2_W0'"),
    }  # fmt: skip
    pickled = io.BytesIO()
    np.lib.format.write_array(pickled, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    cases["objects"] = ({"state0_b0": pickled.getvalue()}, (), None, "dtype object")
    for name, (entries, drop, edit, match) in cases.items():
        refused(rewrite(path, tmp_path / f"{name}.npz", edit, entries=entries, drop=drop), match)


def test_a_state_beyond_float32_is_refused_when_cast(tmp_path):
    path = saved_adam(tmp_path)
    huge = {"state0_W0": npy_bytes(np.full((4, 8), 1e300))}
    refused(rewrite(path, tmp_path / "huge.npz", entries=huge), "does not fit the model's float32")


def test_the_optimizer_and_its_state_load_as_saved(tmp_path):
    path = saved_adam(tmp_path)
    loaded = fn.load(path)
    opt = loaded.optimizer
    assert isinstance(opt, fn.Adam) and opt.iterations == 30 and opt.samples_seen == 30
    assert opt.state.shape == (2, loaded._params.size) and opt.state.dtype == np.float32
    assert np.any(opt.state[0] != 0) and np.all(opt.state[1] >= 0)
