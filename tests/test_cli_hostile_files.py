"""Hostile files and arguments, each class refused in one line or read as it should be: PNG
transparency, model metadata of the wrong type or range, data files that are not regular files,
new svmlight files read with the model's width and base, destinations that are inputs, comma
lists with holes, and paths given as bytes or path-like objects."""

import contextlib
import json
import os
import signal
import stat

import numpy as np
import pytest

import fastnn as fn
from fastnn import datasets
from fastnn._files import Lines, NotRegularFileError, as_path, open_regular
from fastnn.errors import InputError, InputTypeError

from helpers import main, refused, rewrite

FAST = ["--backend", "numpy", "--quiet"]
DIGITS_META = {"dataset": "digits", "image_shape": [8, 8], "pixel_max": 16,
               "classes": [str(i) for i in range(10)]}  # fmt: skip


@contextlib.contextmanager
def deadline(seconds=20):
    """Fail instead of hanging when a FIFO or a device is read after all."""

    def expired(signum, frame):
        raise AssertionError(f"still reading after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    model = fn.Sequential(fn.dense_stack([64, 8, 10]), backend="numpy", seed=0)
    model.metadata = dict(DIGITS_META)
    model.save(path)
    return path


def probabilities(capsys, model, path, *options):
    assert main("predict", model, path, "--proba", "--backend", "numpy", *options) == 0
    lines = capsys.readouterr().out.splitlines()
    return np.array([[float(p) for p in line.split(",")[1:]] for line in lines[1:]])


# -- PNG transparency --------------------------------------------------------------------------

PIL = pytest.importorskip("PIL.Image")


def _ink(seed=0):
    """8x8 stroke strengths 0..255, about 40% of the pixels drawn."""
    rng = np.random.default_rng(seed)
    return ((rng.random((8, 8)) > 0.6) * rng.integers(96, 256, (8, 8))).astype(np.uint8)


def _expected(tmp_path, capsys, model, ink):
    """The probabilities for the white-on-black digit the ink stands for."""
    np.save(tmp_path / "expected.npy", (ink / 255.0)[None])
    return probabilities(capsys, model, tmp_path / "expected.npy")


def _saved(image, path, **options):
    image.save(path, **options)
    return path


@pytest.mark.parametrize("ink_level", [0, 255], ids=["black ink", "white ink"])
def test_a_canvas_drawing_held_in_alpha_reads_as_the_digit(tmp_path, capsys, digits_model,
                                                          ink_level):  # fmt: skip
    ink = _ink()
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = ink_level  # one colour everywhere; the strokes are in alpha alone
    rgba[..., 3] = ink
    canvas = _saved(PIL.fromarray(rgba), tmp_path / "canvas.png")
    expected = _expected(tmp_path, capsys, digits_model, ink)
    np.testing.assert_allclose(probabilities(capsys, digits_model, canvas), expected, atol=2e-6)
    # dropping alpha would have read an all-black (or all-white) image: a different answer
    blank = _saved(PIL.fromarray(np.zeros((8, 8), np.uint8)), tmp_path / "blank.png")
    assert not np.allclose(probabilities(capsys, digits_model, blank), expected, atol=1e-3)


def test_grey_with_alpha_and_palette_transparency_are_flattened(tmp_path, capsys, digits_model):
    ink = _ink(1)
    expected = _expected(tmp_path, capsys, digits_model, ink)
    grey_alpha = PIL.merge("LA", [PIL.fromarray(np.zeros((8, 8), np.uint8)), PIL.fromarray(ink)])
    la = _saved(grey_alpha, tmp_path / "la.png")
    np.testing.assert_allclose(probabilities(capsys, digits_model, la), expected, atol=2e-6)
    # a palette of two colours, white strokes on a background marked transparent
    strokes = (ink > 0).astype(np.uint8)
    palette = PIL.fromarray(strokes, "P")
    palette.putpalette([0, 0, 0, 255, 255, 255])
    png = _saved(palette, tmp_path / "p.png", transparency=0)
    assert PIL.open(png).mode == "P" and "transparency" in PIL.open(png).info
    np.testing.assert_allclose(
        probabilities(capsys, digits_model, png),
        _expected(tmp_path, capsys, digits_model, strokes * 255),
        atol=2e-6,
    )


def test_an_opaque_rgba_image_is_read_as_before(tmp_path, capsys, digits_model):
    ink = _ink(2)
    rgba = np.empty((8, 8, 4), np.uint8)
    rgba[..., :3] = ink[..., None]  # light strokes on black, fully opaque
    rgba[..., 3] = 255
    png = _saved(PIL.fromarray(rgba), tmp_path / "opaque.png")
    expected = _expected(tmp_path, capsys, digits_model, ink)
    np.testing.assert_allclose(probabilities(capsys, digits_model, png), expected, atol=2e-6)


def test_a_fully_transparent_image_is_refused(tmp_path, capsys, digits_model):
    png = _saved(PIL.fromarray(np.zeros((8, 8, 4), np.uint8)), tmp_path / "empty.png")
    refused(capsys, "predict", digits_model, png, *FAST[:2],
            message="empty.png is fully transparent: it shows nothing to predict")  # fmt: skip


def test_a_sixteen_bit_grey_png_keeps_its_levels(tmp_path, capsys, digits_model):
    ink = _ink(3)
    png = _saved(PIL.fromarray(ink.astype(np.uint16) * 257), tmp_path / "i16.png")
    expected = _expected(tmp_path, capsys, digits_model, ink)
    np.testing.assert_allclose(probabilities(capsys, digits_model, png), expected, atol=2e-6)


# -- model metadata, checked at load -----------------------------------------------------------

BAD_METADATA = {
    "image_shape int": ({"image_shape": 8}, "image_shape"),
    "image_shape short": ({"image_shape": [8]}, "image_shape"),
    "image_shape text": ({"image_shape": ["8", "8"]}, "image_shape"),
    "image_shape wrong size": ({"image_shape": [4, 4]}, "product is the model's 64 inputs"),
    "image_shape zero": ({"image_shape": [0, 64]}, "image_shape"),
    "image_shape bool": ({"image_shape": [True, 64]}, "image_shape"),
    "pixel_max text": ({"pixel_max": "x"}, "pixel_max"),
    "pixel_max zero": ({"pixel_max": 0}, "pixel_max"),
    "pixel_max negative": ({"pixel_max": -255}, "pixel_max"),
    "pixel_max nan": ({"pixel_max": float("nan")}, "pixel_max"),
    "pixel_max inf": ({"pixel_max": float("inf")}, "pixel_max"),
    "pixel_max list": ({"pixel_max": [255]}, "pixel_max"),
    "dataset int": ({"dataset": 5}, "metadata['dataset'] must be one of mnist"),
    "dataset unknown": ({"dataset": "imagenet"}, "dataset"),
    "dataset empty path": ({"dataset": "csv:"}, "dataset"),
    "dataset list": ({"dataset": ["mnist"]}, "dataset"),
    "classes ints": ({"classes": list(range(10))}, "classes"),
    "classes long": ({"classes": [str(i) for i in range(11)]}, "each of the model's 10 classes"),
    "classes twice": ({"classes": ["a"] * 10}, "distinct"),
    "classes dict": ({"classes": {"a": 1}}, "classes"),
    "features int": ({"features": 3}, "features"),
    "features short": ({"features": ["a", "b"]}, "one for each of the model's 64 inputs"),
    "features empty name": ({"features": [""] + [f"f{i}" for i in range(63)]}, "features"),
    "target int": ({"target": 1}, "target"),
    "target a feature": ({"features": [f"f{i}" for i in range(64)], "target": "f3"}, "target"),
    "task unknown": ({"task": "ranking"}, "task"),
    "task for another loss": ({"task": "regression"}, "task"),
    "task list": ({"task": ["classification"]}, "task"),
    "val_size text": ({"val_size": "0.1"}, "val_size"),
    "val_size one": ({"val_size": 1.0}, "val_size"),
    "val_size negative": ({"val_size": -0.1}, "val_size"),
    "n_features wrong": ({"n_features": 63}, "n_features"),
    "n_features text": ({"n_features": "64"}, "n_features"),
    "zero_based int": ({"zero_based": 1}, "zero_based"),
}


def _with_metadata(folder, changes):
    source = folder / "source.npz"
    if not source.exists():
        model = fn.Sequential(fn.dense_stack([64, 8, 10]), backend="numpy", seed=0)
        model.save(source)
    edit = lambda config: config["metadata"].update({**DIGITS_META, **changes})  # noqa: E731
    return rewrite(source, folder / "bad.npz", edit)


@pytest.mark.parametrize("changes, match", BAD_METADATA.values(), ids=list(BAD_METADATA))
def test_wrong_metadata_is_one_error_naming_the_file_and_field(tmp_path, capsys, changes, match):
    path = _with_metadata(tmp_path, changes)
    with pytest.raises(InputError) as info:
        fn.load(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message and match in message, message
    field = next(iter(changes)) if len(changes) == 1 else "target"
    assert f"metadata[{field!r}]" in message
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((2, 64)))
    refused(capsys, "predict", path, rows, *FAST[:2], message=f"metadata[{field!r}]")
    refused(capsys, "evaluate", path, *FAST[:2], message=f"metadata[{field!r}]")
    # save refuses what load would refuse
    model = fn.Sequential(fn.dense_stack([64, 8, 10]), backend="numpy", seed=0)
    model.metadata = {**DIGITS_META, **changes}
    with pytest.raises(InputError, match=r"model\.metadata\["):
        model.save(tmp_path / "again.npz")
    assert not (tmp_path / "again.npz").exists()


def test_user_keys_and_nulls_in_the_metadata_are_kept(tmp_path, capsys):
    model = fn.Sequential(fn.dense_stack([64, 8, 10]), backend="numpy", seed=0)
    model.metadata = {**DIGITS_META, "notes": {"by": "me", "n": [1, 2]}, "task": None,
                      "image_shape": None, "pixel_max": None}  # fmt: skip
    loaded = fn.load(model.save(tmp_path / "m.npz"))
    assert loaded.metadata == model.metadata
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((3, 64)))
    assert main("predict", tmp_path / "m.npz", rows, *FAST[:2]) == 0
    assert capsys.readouterr().out.count("\n") == 4


def test_metadata_that_is_not_a_dict_is_refused_at_save(tmp_path):
    model = fn.Sequential(fn.dense_stack([4, 3]), backend="numpy")
    model.metadata = ["a"]
    with pytest.raises(InputTypeError, match="model.metadata must be a dict"):
        model.save(tmp_path / "m.npz")


# -- data files must be regular files ----------------------------------------------------------


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "data.fifo"
    os.mkfifo(path)
    return path


def _specials(tmp_path, fifo):
    link = tmp_path / "zero-link"
    link.symlink_to("/dev/zero")
    cases = [(fifo, "is a FIFO, not a regular file"), (link, "is a device, not a regular file")]
    if os.path.exists("/dev/zero"):
        cases.append(("/dev/zero", "is a device, not a regular file"))
    return cases


@pytest.mark.parametrize("kind", ["svmlight", "csv"])
def test_train_refuses_fifos_and_devices_unread(tmp_path, capsys, fifo, kind):
    target = ["--target", "y"] if kind == "csv" else []
    for path, message in _specials(tmp_path, fifo):
        with deadline():
            refused(capsys, "train", "--dataset", f"{kind}:{path}", *target, *FAST,
                    message=f"{path} {message}")  # fmt: skip
    refused(capsys, "train", "--dataset", f"{kind}:{tmp_path}", *target, *FAST,
            message=f"{tmp_path} is a folder, not a")  # fmt: skip


def test_the_loaders_refuse_fifos_and_devices_from_python(tmp_path, fifo):
    for path, message in _specials(tmp_path, fifo):
        with deadline():
            with pytest.raises(NotRegularFileError, match=message):
                datasets.load_csv(path, target="y")
            with pytest.raises(NotRegularFileError, match=message):
                datasets.load_svmlight(path)
            with pytest.raises(NotRegularFileError, match=message):
                datasets.read_svmlight(path)
            with pytest.raises(NotRegularFileError, match=message):
                datasets.read_idx(path, datasets.IMAGES_MAGIC)


def test_a_data_dir_holding_a_fifo_or_a_device_is_refused(tmp_path, capsys, fifo):
    from idx_files import fake_idx_files

    (tmp_path / "idx").mkdir()
    for name, data in fake_idx_files()[0].items():
        (tmp_path / "idx" / name).write_bytes(data)
    os.replace(fifo, tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz")
    with deadline():
        refused(capsys, "train", "--data-dir", tmp_path / "idx", "--hidden", "2", *FAST,
                message="t10k-labels-idx1-ubyte.gz is a FIFO, not a regular file")  # fmt: skip
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").symlink_to("/dev/zero")
    with deadline():
        refused(capsys, "train", "--data-dir", tmp_path / "idx", "--hidden", "2", *FAST,
                message="is a device, not a regular file")  # fmt: skip
    refused(capsys, "train", "--data-dir", tmp_path / "idx" / "train-images-idx3-ubyte.gz",
            *FAST, message="is a file, not a folder")  # fmt: skip


def test_predict_inputs_that_are_fifos_are_refused(tmp_path, capsys, fifo, digits_model):
    for name in ("rows.csv", "rows.npy", "d.png", "rows.npz", "rows.svm"):
        os.replace(fifo, tmp_path / name)
        with deadline():
            refused(capsys, "predict", digits_model, tmp_path / name, *FAST[:2],
                    message="is a FIFO, not a regular file")  # fmt: skip
        fifo = tmp_path / name


@pytest.mark.parametrize("kind", ["svmlight", "csv"])
def test_a_huge_line_of_zeros_is_refused_after_its_limit(tmp_path, capsys, monkeypatch, kind):
    import fastnn._files
    import fastnn._validation

    monkeypatch.setattr(fastnn._files, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(fastnn._validation, "memory_limit", lambda: 2**30)
    target = ["--target", "y"] if kind == "csv" else []
    holes = tmp_path / "holes.txt"
    line = 3 if kind == "csv" else 2
    for size, message in ((2**24, f"line {line}: longer than 4,096 characters; is it a text"),
                          (2**36, "would need 64.0 GiB")):  # fmt: skip
        with open(holes, "wb") as f:  # zeros that take no disk: a sparse file
            f.write(b"y,x\n1,2\n" if kind == "csv" else b"1 1:1\n")
            f.truncate(size)
        with deadline():
            refused(capsys, "train", "--dataset", f"{kind}:{holes}", *target, *FAST,
                    message=message)  # fmt: skip


def test_a_file_larger_than_memory_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    import fastnn._validation

    monkeypatch.setattr(fastnn._validation, "memory_limit", lambda: 2**20)
    big = tmp_path / "big.svm"
    big.write_bytes(b"1 1:1\n0 2:1\n" * 200_000)
    refused(capsys, "train", "--dataset", f"svmlight:{big}", *FAST,
            message=f"reading {big} would need")  # fmt: skip


def test_open_regular_checks_again_once_open(tmp_path, monkeypatch):
    """A file swapped for a FIFO between the check and the open is refused, unblocked."""
    fifo = tmp_path / "swapped"
    os.mkfifo(fifo)
    real_stat = os.stat

    def regular_once(path, *args, **kwargs):  # the first look sees a regular file
        info = real_stat(path, *args, **kwargs)
        if os.fspath(path) == str(fifo):
            fields = list(info)
            fields[0] = stat.S_IFREG | 0o644
            return os.stat_result(fields)
        return info

    monkeypatch.setattr(os, "stat", regular_once)
    with deadline():
        with pytest.raises(NotRegularFileError, match="is a FIFO, not a regular file"):
            open_regular(fifo)


def test_lines_caps_every_line(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"ab\n" + b"x" * 20 + b"\ncd\n")
    with open(path, "rb") as f:
        lines = Lines(f, path, limit=10)
        with pytest.raises(InputError, match=r"t.txt, line 2: longer than 10 characters"):
            list(lines)


# -- svmlight files read with the model's width and base ---------------------------------------


def _svmlight(path, rows, labels):
    """``rows``: a list of {index: value}, written with indices as given."""
    lines = [" ".join([str(label)] + [f"{i}:{v}" for i, v in sorted(row.items())])
             for row, label in zip(rows, labels)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def svm_model(tmp_path_factory):
    """A model trained on a one-based file of 12 features (indices 1..12) and labels -1, 1, 3."""
    folder = tmp_path_factory.mktemp("svm")
    rng = np.random.default_rng(0)
    rows = [
        {
            int(j): round(float(rng.uniform(0.5, 2)), 3)
            for j in rng.choice(np.arange(1, 13), 4, replace=False)
        }
        for _ in range(90)
    ]
    rows[0][12] = 1.0  # the widest index occurs
    path = _svmlight(folder / "train.svm", rows, [(-1, 1, 3)[i % 3] for i in range(90)])
    model = folder / "m.npz"
    assert main("train", "--dataset", f"svmlight:{path}", "--hidden", "4", "--epochs", "2",
                "--save", model, *FAST) == 0  # fmt: skip
    return model, folder


def test_the_model_records_the_width_and_base_of_its_svmlight_file(svm_model):
    model, _ = svm_model
    meta = fn.load(model).metadata
    assert meta["n_features"] == 12 and meta["zero_based"] is False
    assert meta["classes"] == ["-1", "1", "3"]


def test_evaluate_a_narrow_file_of_one_class_and_few_rows(svm_model, capsys):
    model, folder = svm_model
    capsys.readouterr()
    # indices up to 3 only: read one-based into the model's 12 columns; one class, two rows
    new = _svmlight(folder / "new.svm", [{1: 1.0, 3: 2.0}, {2: 0.5}], [3, 3])
    assert main("evaluate", model, "--dataset", f"svmlight:{new}", "--split", "all",
                *FAST[:2]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "12 features" in out and "2 test rows" in out and "accuracy" in out
    # a file that holds index 0 would be zero-based by itself: the model's base decides
    zero = _svmlight(folder / "zero.svm", [{0: 1.0}], [1])
    refused(capsys, "evaluate", model, "--dataset", f"svmlight:{zero}", "--split", "all",
            *FAST[:2], message=f"{zero}, line 1: the feature index 0 is out of range")  # fmt: skip


def test_an_index_beyond_the_model_is_one_line_naming_the_line(svm_model, capsys):
    model, folder = svm_model
    wide = _svmlight(folder / "wide.svm", [{1: 1.0}, {2: 1.0}, {13: 1.0}], [1, -1, 3])
    refused(capsys, "evaluate", model, "--dataset", f"svmlight:{wide}", "--split", "all",
            *FAST[:2],
            message=f"{wide}, line 3: the feature index 13 is beyond the 12 features expected "
            "(indices 1 to 12)")  # fmt: skip
    refused(capsys, "predict", model, f"svmlight:{wide}", *FAST[:2],
            message=f"{wide}, line 3: the feature index 13 is beyond the 12 features")  # fmt: skip


def test_a_label_the_model_does_not_know_is_one_line(svm_model, capsys):
    model, folder = svm_model
    other = _svmlight(folder / "other.svm", [{1: 1.0}, {2: 1.0}], [1, 7])
    message = f"{other}, line 2: the label 7 is not one of the classes"
    refused(capsys, "evaluate", model, "--dataset", f"svmlight:{other}", "--split", "all",
            *FAST[:2], message=message)  # fmt: skip


def test_predict_reads_svmlight_rows_with_the_model_s_width(svm_model, capsys):
    model, folder = svm_model
    rows = _svmlight(folder / "rows.svmlight", [{1: 1.0}, {5: 2.0, 12: 1.0}, {}], [0, 0, 0])
    assert main("predict", model, rows, *FAST[:2]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction" and len(lines) == 4
    assert set(lines[1:]) <= {"-1", "1", "3"}
    assert main("predict", model, f"svmlight:{rows}", *FAST[:2]) == 0
    assert capsys.readouterr().out.splitlines() == lines


def test_load_svmlight_takes_a_width_a_base_and_classes(tmp_path):
    path = _svmlight(tmp_path / "a.svm", [{1: 1.0}, {2: 2.0}, {1: 3.0}, {3: 1.0}], [2, 2, 2, 2])
    data = datasets.load_svmlight(path, val_size=0, test_size=0.25, n_features=10,
                                  classes=["1", "2"])  # fmt: skip
    assert data.n_features == 10 and data.zero_based is False and data.classes == ["1", "2"]
    assert set(data.y_train.tolist()) == {1}
    zero = datasets.load_svmlight(path, val_size=0, test_size=0.25, zero_based=True,
                                  classes=["1", "2"])  # fmt: skip
    assert zero.n_features == 4 and zero.zero_based is True
    with pytest.raises(InputError, match="has a single label 2; nothing to learn"):
        datasets.load_svmlight(path)


def test_evaluate_a_csv_file_of_one_class_and_two_rows(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    table = tmp_path / "t.csv"
    table.write_text("a,b,kind\n" + "".join(f"{a},{b},{'cat' if a > 0 else 'dog'}\n"
                                             for a, b in X))  # fmt: skip
    model = tmp_path / "m.npz"
    assert main("train", "--dataset", f"csv:{table}", "--target", "kind", "--task",
                "classification", "--hidden", "4", "--save", model, *FAST) == 0  # fmt: skip
    new = tmp_path / "new.csv"
    new.write_text("b,kind,a\n1.0,dog,-2\n0.5,dog,-1\n")
    capsys.readouterr()
    assert main("evaluate", model, "--dataset", f"csv:{new}", "--split", "all", *FAST[:2]) == 0
    assert "2 test rows" in capsys.readouterr().out
    new.write_text("a,b,kind\n1,1,cat\n2,2,bird\n")
    message = "row 3: the target 'kind' holds 'bird', which is not one of the classes"
    refused(capsys, "evaluate", model, "--dataset", f"csv:{new}", "--split", "all", *FAST[:2],
            message=message)  # fmt: skip


# -- a destination that is an input ------------------------------------------------------------


def test_predict_output_that_is_the_model_or_the_input_is_refused_first(tmp_path, capsys,
                                                                       digits_model):  # fmt: skip
    model = tmp_path / "m.npz"
    model.write_bytes(digits_model.read_bytes())
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((2, 64)))
    (tmp_path / "link.npz").symlink_to(model)
    os.link(rows, tmp_path / "hard.npy")
    cases = [(model, "is the model file"), (tmp_path / "link.npz", "is the model file"),
             (rows, "is the input file"), (tmp_path / "hard.npy", "is the input file"),
             (tmp_path / "." / "m.npz", "is the model file")]  # fmt: skip
    before = model.read_bytes(), rows.read_bytes()
    for output, message in cases:
        refused(capsys, "predict", model, rows, "--output", output, *FAST[:2],
                message=f"--output {output} {message}")  # fmt: skip
    assert (model.read_bytes(), rows.read_bytes()) == before
    assert main("predict", model, rows, "--output", tmp_path / "out.csv", *FAST[:2]) == 0


def test_train_save_onto_its_data_file_is_refused(tmp_path, capsys):
    data = tmp_path / "rows.npz"
    data.write_text("y,x\n" + "".join(f"{i},{i % 7}\n" for i in range(40)))
    refused(capsys, "train", "--dataset", f"csv:{data}", "--target", "y", "--save", data, *FAST,
            message="is the data file")  # fmt: skip


# -- comma-separated lists ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, problem",
    [
        ("10,,5", "item 2 is empty"),
        ("10,", "item 2 is empty"),
        (",10", "item 1 is empty"),
        ("0", "'0' is not >= 1"),
        ("10,0", "'0' is not >= 1"),
        ("-5", "'-5' is not a whole number"),
        ("1.5", "'1.5' is not a whole number"),
        ("1e3", "'1e3' is not a whole number"),
        ("1_000", "'1_000' is not a whole number"),
        ("٣", "is not a whole number"),
        ("abc", "'abc' is not a whole number"),
        ("+5", "'+5' is not a whole number"),
    ],
)
def test_hidden_widths_with_holes_are_refused_in_one_line(capsys, value, problem):
    err = refused(capsys, "train", "--dataset", "digits", "--hidden", value, *FAST,
                  message="--hidden must be comma-separated layer widths >= 1")  # fmt: skip
    assert problem in err
    refused(capsys, "bench", "--hidden", value, message="--hidden must be")


def test_hidden_widths_that_are_fine(capsys):
    for value, shown in (("", "64 -> 10"), ("4", "64 -> 4 relu -> 10"),
                         (" 4 , 3 ", "64 -> 4 relu -> 3 relu -> 10")):  # fmt: skip
        assert main("train", "--dataset", "digits", "--hidden", value, *FAST) == 0
        assert f"model: {shown} |" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["1,,2", "0", "-1", "1.5", "2,"])
def test_torch_threads_with_holes_are_refused(capsys, value):
    refused(capsys, "bench", "--torch-threads", value,
            message="--torch-threads must be comma-separated thread counts >= 1")  # fmt: skip


@pytest.mark.parametrize(
    "value, problem",
    [
        ("a,,b", "item 2 is empty"),
        ("a,b,a", "'a' is named twice"),
        ("", "no names"),
        (" , ", "item 1 is empty"),
    ],  # fmt: skip
)
def test_features_with_holes_or_repeats_are_refused(tmp_path, capsys, value, problem):
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 5}\n" for i in range(30)))
    message = "--features must be comma-separated column names"
    err = refused(capsys, "train", "--dataset", f"csv:{table}", "--target", "y", "--features",
                  value, *FAST, message=message)  # fmt: skip
    assert problem in err


# -- paths as bytes and path-like objects ------------------------------------------------------


def test_save_load_and_the_loaders_take_bytes_and_path_like(tmp_path):
    model = fn.Sequential(fn.dense_stack([2, 3]), backend="numpy", seed=0)
    written = model.save(os.fsencode(tmp_path / "b"))
    assert written == str(tmp_path / "b.npz") and (tmp_path / "b.npz").exists()
    assert fn.load(os.fsencode(tmp_path / "b.npz")).layers[0].n_in == 2
    model.save(tmp_path / "p.npz")
    assert fn.load(tmp_path / "p.npz").layers[0].n_in == 2
    table = tmp_path / "t.csv"
    table.write_text("a,y\n" + "".join(f"{i},{i * 2}\n" for i in range(20)))
    assert datasets.load_csv(os.fsencode(table), target="y").X_train.shape[1] == 1
    svm = _svmlight(tmp_path / "s.svm", [{1: 1.0}, {2: 1.0}] * 10, [0, 1] * 10)
    assert datasets.load_svmlight(os.fsencode(svm)).n_features == 2
    assert datasets.read_svmlight(os.fsencode(svm))[0].shape == (20, 2)


@pytest.mark.parametrize("bad", [5, 1.5, None, ["m.npz"], object()], ids=repr)
def test_other_path_types_are_refused_in_one_line(tmp_path, bad):
    model = fn.Sequential(fn.dense_stack([2, 3]), backend="numpy", seed=0)
    calls = [model.save, fn.load, lambda p: datasets.load_csv(p, target="y"),
             datasets.load_svmlight, lambda p: datasets.read_idx(p, datasets.IMAGES_MAGIC),
             datasets.load_idx]  # fmt: skip
    for call in calls:
        with pytest.raises(
            InputTypeError, match="must be a str, bytes or os.PathLike path"
        ) as info:
            call(bad)
        assert "\n" not in str(info.value)


def test_empty_and_nul_paths_are_refused(tmp_path):
    for bad, match in (("", "empty path"), ("a\0b", "NUL character"), (b"", "empty path")):
        with pytest.raises(InputError, match=match):
            as_path(bad)
        with pytest.raises(InputError, match=match):
            fn.load(bad)


def test_plots_take_bytes(tmp_path):
    pytest.importorskip("matplotlib")
    from fastnn import plots

    plots.plot_roc_curve([0, 0.5, 1], [0, 0.8, 1], os.fsencode(tmp_path / "roc.png"))
    assert (tmp_path / "roc.png").stat().st_size > 0
    with pytest.raises(InputTypeError, match="must be a str, bytes or os.PathLike path"):
        plots.plot_roc_curve([0, 1], [0, 1], 5)


def test_json_metadata_round_trip_is_unchanged(tmp_path):
    """What train records passes the checks it is read with."""
    model = tmp_path / "m.npz"
    assert main("train", "--dataset", "digits", "--hidden", "4", "--save", model, *FAST) == 0
    meta = fn.load(model).metadata
    assert json.loads(json.dumps(meta)) == meta and meta["dataset"] == "digits"


def test_evaluate_reads_a_file_for_the_task_the_loss_implies(tmp_path, capsys):
    svm = _svmlight(tmp_path / "s.svm", [{1: 1.0}, {2: 2.0}] * 10, [1.5, 2.5] * 10)
    model = fn.Sequential(fn.dense_stack([2, 1]), loss="mse", backend="numpy")
    model.metadata = {"dataset": f"svmlight:{svm}"}  # no task: svmlight alone would say classes
    model.save(tmp_path / "m.npz")
    assert main("evaluate", tmp_path / "m.npz", "--split", "all", *FAST[:2]) == 0
    assert "regression), 20 test rows" in capsys.readouterr().out
    refused(capsys, "evaluate", tmp_path / "m.npz", "--task", "binary", *FAST[:2],
            message="has loss mse, which does not fit a binary task; evaluate it with --task "
            "regression")  # fmt: skip


def test_the_other_writers_take_bytes_and_refuse_other_types(tmp_path):
    from fastnn import bench

    written = datasets.write_sklearn_csv("diabetes", os.fsencode(tmp_path / "d.csv"))
    assert written == str(tmp_path / "d.csv") and (tmp_path / "d.csv").stat().st_size > 0
    assert bench.write_json({"a": 1}, os.fsencode(tmp_path / "r.json")) == str(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
    for call in (lambda p: datasets.write_sklearn_csv("diabetes", p),
                 lambda p: bench.write_json({}, p)):  # fmt: skip
        with pytest.raises(InputTypeError, match="must be a str, bytes or os.PathLike path"):
            call(3.5)


def test_a_poisson_model_is_evaluated_and_predicted_as_regression(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = rng.poisson(np.exp(0.3 * X[:, 0]) + 1)
    table = tmp_path / "counts.csv"
    table.write_text("a,b,c,y\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(X, y)))
    model = fn.Sequential(fn.dense_stack([3, 8, 1]), loss="poisson", backend="numpy")
    model.fit(X, y, epochs=2, verbose=0)
    model.metadata = {"dataset": f"csv:{table}", "target": "y", "features": ["a", "b", "c"]}
    path = model.save(tmp_path / "counts.npz")
    assert main("evaluate", path, "--split", "all", *FAST[:2]) == 0
    assert "R^2" in capsys.readouterr().out
    assert main("predict", path, table, *FAST[:2]) == 0
    values = [float(v) for v in capsys.readouterr().out.split()[1:]]
    np.testing.assert_allclose(values, model.predict(X), rtol=1e-5)  # the predicted means
