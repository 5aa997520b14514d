"""fastnn.io from Python: each reader on good files and on the hostile ones the command line must
refuse (sizes that lie, wrong dtypes, pickles, transparent images, FIFOs and devices), and
read_rows shaping a file for a model."""

import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file

import fastnn as fn
from fastnn import io as fio
from fastnn._files import NotRegularFileError
from fastnn.errors import InputError

DIGITS_META = {"dataset": "digits", "image_shape": [8, 8], "pixel_max": 16,
               "classes": [str(i) for i in range(10)]}  # fmt: skip


@pytest.fixture
def digits_model():
    model = fn.Sequential(fn.dense_stack([64, 8, 10]), backend="numpy", seed=0)
    model.metadata = dict(DIGITS_META)
    return model


@pytest.fixture
def table_model():
    model = fn.Sequential(fn.dense_stack([3, 4, 2]), backend="numpy", seed=0)
    model.metadata = {"features": ["a", "b", "c"]}
    return model


@pytest.fixture
def small_memory(monkeypatch):
    import fastnn._validation

    monkeypatch.setattr(fastnn._validation, "memory_limit", lambda: 2**20)


def npy_header_bytes(shape, descr="<f8"):
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return out.getvalue()


def special_files(tmp_path):
    """A FIFO and a device under names the readers know, where the system has them."""
    paths = []
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        paths.append((tmp_path / "fifo", "a FIFO"))
    if os.path.exists("/dev/zero"):
        paths.append((tmp_path / "zero", "a device"))
        (tmp_path / "zero").symlink_to("/dev/zero")
    return paths


# -- .npy headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_read_npy_header_declares_shape_dtype_and_order(version):
    out = io.BytesIO()
    np.lib.format.write_array(out, np.asfortranarray(np.ones((3, 4), np.float32)), version)
    size = out.tell()
    out.seek(0)
    header = fio.read_npy_header(out, size)
    assert header == ((3, 4), np.dtype(np.float32), True)
    assert out.read() == np.ones((3, 4), np.float32).tobytes()  # left after the header


def test_read_npy_header_refuses_sizes_that_lie_and_pickles():
    lying = npy_header_bytes((10**9, 64)) + bytes(16)
    with pytest.raises(InputError, match=r"array x declares shape \(1000000000, 64\) of float64 "
                       r"\(512,000,000,000 bytes\) but the file holds 16 bytes"):  # fmt: skip
        fio.read_npy_header(io.BytesIO(lying), len(lying), "array x")
    pickled = io.BytesIO()
    np.lib.format.write_array(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    size = pickled.tell()
    pickled.seek(0)
    with pytest.raises(InputError, match="dtype object: Python objects are never unpickled"):
        fio.read_npy_header(pickled, size)
    with pytest.raises(ValueError):
        fio.read_npy_header(io.BytesIO(b"not an array"), 12)


def test_read_npy_entry_header_checks_the_zip_directory(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, x=np.zeros(5))
    with zipfile.ZipFile(path) as zf:
        (info,) = zf.infolist()
        assert fio.read_npy_entry_header(zf, info, "array x").shape == (5,)
    with zipfile.ZipFile(tmp_path / "lying.npz", "w") as zf:
        zf.writestr("x.npy", npy_header_bytes((10**9,)) + bytes(40))
    with zipfile.ZipFile(tmp_path / "lying.npz") as zf:
        with pytest.raises(InputError, match="array x declares shape .* but its entry holds 40"):
            fio.read_npy_entry_header(zf, zf.infolist()[0], "array x")


# -- read_npy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16, np.uint8, np.bool_])
def test_read_npy_reads_numbers_as_float64(tmp_path, dtype):
    values = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    np.save(tmp_path / "x.npy", values)
    X = fio.read_npy(tmp_path / "x.npy")
    assert X.dtype == np.float64 and X.flags.writeable
    np.testing.assert_array_equal(X, values.astype(np.float64))
    np.save(tmp_path / "f.npy", np.asfortranarray(values))
    np.testing.assert_array_equal(fio.read_npy(str(tmp_path / "f.npy")), values)


def test_read_npy_refuses_hostile_files(tmp_path):
    lying = tmp_path / "lying.npy"  # declares 10^9 rows of 64 floats, holds none
    lying.write_bytes(npy_header_bytes((10**9, 64)))
    with pytest.raises(InputError, match="lying.npy is not a readable .npy array: the array "
                       "declares shape"):  # fmt: skip
        fio.read_npy(lying)
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    with pytest.raises(InputError, match="text.npy holds <U1 values; expected numbers"):
        fio.read_npy(tmp_path / "text.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="never unpickled"):
        fio.read_npy(tmp_path / "objects.npy")
    np.savez(tmp_path / "archive.npy", x=np.zeros(3))
    with pytest.raises(InputError, match=r"is not a .npy array \(an .npz archive\?\)"):
        fio.read_npy(tmp_path / "archive.npy.npz")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(InputError, match="empty.npy is not a readable .npy array"):
        fio.read_npy(tmp_path / "empty.npy")
    with pytest.raises(FileNotFoundError):
        fio.read_npy(tmp_path / "missing.npy")
    with pytest.raises(NotRegularFileError, match="is a folder, not an .npy file"):
        fio.read_npy(tmp_path)


def test_read_npy_is_bounded_by_memory_before_reading(tmp_path, small_memory):
    np.save(tmp_path / "big.npy", np.zeros((1000, 200), np.float32))
    with pytest.raises(InputError, match="big.npy as float64 would need"):
        fio.read_npy(tmp_path / "big.npy")


def test_readers_refuse_fifos_and_devices_unread(tmp_path):
    readers = [fio.read_npy, fio.read_sparse_npz, fio.read_csv_rows, fio.read_svmlight_rows,
               fio.read_png, fio.read_rows]  # fmt: skip
    cases = special_files(tmp_path)
    if not cases:
        pytest.skip("no FIFOs or devices here")
    for path, kind in cases:
        for read in readers:
            kwargs = {"format": "csv"} if read is fio.read_rows else {}
            with pytest.raises(InputError, match=f"is {kind}, not a regular file"):
                read(path, **kwargs)


# -- read_sparse_npz ---------------------------------------------------------------------------


def rows():
    return sp.csr_matrix(np.arange(20, dtype=np.float64).reshape(2, 10) % 3)


def write_npz(path, compress=True, **arrays):
    (np.savez_compressed if compress else np.savez)(path, **arrays)
    return path


def csr_arrays(shape=(2, 10), **changes):
    X = rows()
    arrays = dict(format=np.array("csr"), shape=np.array(shape), data=X.data,
                  indices=X.indices, indptr=X.indptr)  # fmt: skip
    return {**arrays, **changes}


@pytest.mark.parametrize("kind", ["csr", "csc", "coo", "bsr"])
def test_read_sparse_npz_reads_every_format_as_csr(tmp_path, kind):
    X = rows()
    sp.save_npz(tmp_path / "x.npz", getattr(X, f"to{kind}")())
    got = fio.read_sparse_npz(tmp_path / "x.npz", n_features=10, n_outputs=3)
    assert isinstance(got, sp.csr_matrix) and got.has_canonical_format
    np.testing.assert_array_equal(got.toarray(), X.toarray())


def test_read_sparse_npz_refuses_hostile_files(tmp_path):
    def refused(path, message, **kwargs):
        with pytest.raises(InputError, match=message):
            fio.read_sparse_npz(path, **kwargs)

    model = tmp_path / "model.npz"
    fn.Sequential(fn.dense_stack([10, 3]), backend="numpy").save(model)
    refused(model, "model.npz is a fastnn model file, not rows to predict")
    refused(write_npz(tmp_path / "arrays.npz", x=np.zeros((2, 10))),
            r"is a NumPy .npz archive of arrays \(x\), not a sparse matrix")  # fmt: skip
    refused(write_npz(tmp_path / "wide.npz", **csr_arrays(shape=(2, 11))),
            r"shape \(2, 11\); the model takes rows of 10 features", n_features=10)  # fmt: skip
    refused(
        write_npz(tmp_path / "rows.npz", **csr_arrays(shape=(10**12, 10))),
        r"array indptr has shape \(3,\); a csr matrix of shape \(1000000000000, 10\)",
    )
    refused(write_npz(tmp_path / "none.npz", **csr_arrays(shape=(0, 10), indptr=np.zeros(1, int))),
            "none.npz holds no rows")  # fmt: skip
    refused(write_npz(tmp_path / "index.npz", **csr_arrays(indices=np.r_[0:12, 99])),
            "has a column index 10 at row 1, outside 0..9")  # fmt: skip
    refused(write_npz(tmp_path / "nan.npz", **csr_arrays(data=np.full(13, np.nan))),
            r"nan.npz holds 13 NaN or infinite value\(s\)")  # fmt: skip
    refused(write_npz(tmp_path / "text.npz", **csr_arrays(data=np.array(["a"] * 13))),
            "array data holds <U1 values; expected numbers")  # fmt: skip
    refused(write_npz(tmp_path / "neg.npz", **csr_arrays(shape=(-2, 10))), "is negative")
    sp.save_npz(tmp_path / "dia.npz", sp.dia_matrix(np.eye(2, 10)))
    refused(tmp_path / "dia.npz", "in the 'dia' format; save it as CSR")
    (tmp_path / "not.npz").write_text("not a zip")
    refused(tmp_path / "not.npz", r"not.npz is not a readable sparse matrix \(scipy.sparse")


def test_a_sparse_npz_header_that_lies_about_its_size(tmp_path):
    source = write_npz(tmp_path / "ok.npz", compress=False, **csr_arrays())
    lying = tmp_path / "lying.npz"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(lying, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "data.npy":  # declares 10^9 values, holds 13
                body = npy_header_bytes((10**9,)) + body[-13 * 8 :]
            dst.writestr(info.filename, body)
    with pytest.raises(InputError, match=r"array data declares shape \(1000000000,\)"):
        fio.read_sparse_npz(lying)


def test_declared_rows_and_outputs_are_bounded_by_memory(tmp_path, monkeypatch):
    import fastnn._validation

    monkeypatch.setattr(fastnn._validation, "memory_limit", lambda: 16 * 2**20)
    n = 10**5  # the index pointers deflate to a few hundred bytes
    empty = dict(data=np.zeros(0), indices=np.zeros(0, np.int32))
    arrays = csr_arrays(shape=(n, 10), indptr=np.zeros(n + 1, np.int32), **empty)
    path = write_npz(tmp_path / "many.npz", **arrays)
    assert fio.read_sparse_npz(path).shape == (n, 10)  # about 7 MB: fits
    with pytest.raises(InputError, match=r"shape \(100000, 10\) holding 0 values, would need"):
        fio.read_sparse_npz(path, n_outputs=10)  # the predictions would not


# -- CSV and svmlight --------------------------------------------------------------------------


def test_read_csv_rows_with_and_without_a_header(tmp_path):
    (tmp_path / "bare.csv").write_text("1,2,3\n\n4,5,6\n")
    np.testing.assert_array_equal(fio.read_csv_rows(tmp_path / "bare.csv"), [[1, 2, 3], [4, 5, 6]])
    (tmp_path / "named.csv").write_text("\ufeffc, a ,b,other\n3,1,2,9\n6,4,5,9\n")
    got = fio.read_csv_rows(tmp_path / "named.csv", features=["a", "b", "c"])
    np.testing.assert_array_equal(got, [[1, 2, 3], [4, 5, 6]])
    assert fio.read_csv_rows(tmp_path / "named.csv").shape == (2, 4)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"1,2\n1,2,3\n", "line 2: 3 fields, expected 2"),
        (b"a,b\n1,x\n", r"line 2: expected numbers, got \['1', 'x'\]"),
        ("caf\xe9,1\n1,2\n".encode("latin-1"), "is not a readable CSV file"),
        (b"a,b\n", "holds no rows"),
    ],
)
def test_read_csv_rows_refuses_malformed_files(tmp_path, content, message):
    (tmp_path / "bad.csv").write_bytes(content)
    with pytest.raises(InputError, match=message):
        fio.read_csv_rows(tmp_path / "bad.csv")


def test_read_csv_rows_needs_the_model_s_columns(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"lacks the model's feature column\(s\) \['c'\]"):
        fio.read_csv_rows(tmp_path / "t.csv", features=["a", "c"])


def test_read_svmlight_rows_takes_a_width_and_a_base(tmp_path):
    path = tmp_path / "rows.svm"
    dump_svmlight_file(sp.csr_matrix([[1.0, 0, 2.0], [0, 3.0, 0]]), [0, 1], str(path),
                       zero_based=False)  # fmt: skip
    X = fio.read_svmlight_rows(path, n_features=5, zero_based=False)
    assert isinstance(X, sp.csr_matrix) and X.dtype == np.float32 and X.shape == (2, 5)
    np.testing.assert_array_equal(X.toarray()[:, :3], [[1, 0, 2], [0, 3, 0]])
    with pytest.raises(InputError, match="line 1: the feature index 3 is beyond the 2 features"):
        fio.read_svmlight_rows(path, n_features=2, zero_based=False)


# -- PNG ---------------------------------------------------------------------------------------


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def declared_png(path, height, width):
    """The header of a grey PNG of any size, without its pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(fio.PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IEND", b""))
    return path


def test_a_png_is_refused_by_its_header_before_decoding(tmp_path, small_memory):
    huge = declared_png(tmp_path / "huge.png", 100_000, 100_000)
    with pytest.raises(InputError, match="is 100000x100000 pixels; the model takes 8x8 images"):
        fio.read_png(huge, shape=(8, 8))
    with pytest.raises(InputError, match="an image of 100000x100000 pixels, would need"):
        fio.read_png(huge)
    (tmp_path / "fake.png").write_text("hello")
    with pytest.raises(InputError, match="is not a PNG image"):
        fio.read_png(tmp_path / "fake.png")


def test_png_transparency_is_flattened_onto_the_background(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    ink = np.zeros((8, 8), np.uint8)
    ink[2:6, 3:5] = 200
    grey = np.asarray(ink, np.float64) / 255
    Image.fromarray(ink).save(tmp_path / "grey.png")
    np.testing.assert_allclose(fio.read_png(tmp_path / "grey.png", shape=(8, 8)), grey)
    canvas = np.zeros((8, 8, 4), np.uint8)  # black everywhere; the strokes are in alpha alone
    canvas[..., 3] = ink
    Image.fromarray(canvas).save(tmp_path / "canvas.png")
    flat = fio.read_png(tmp_path / "canvas.png")
    np.testing.assert_allclose(flat, 1 - grey, atol=1e-12)  # black strokes on white
    Image.fromarray(ink.astype(np.uint16) * 257).save(tmp_path / "i16.png")
    np.testing.assert_allclose(fio.read_png(tmp_path / "i16.png"), grey)
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(tmp_path / "empty.png")
    with pytest.raises(InputError, match="empty.png is fully transparent"):
        fio.read_png(tmp_path / "empty.png")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes((tmp_path / "grey.png").read_bytes()[:40])
    with pytest.raises(InputError, match="truncated.png is not a readable PNG image"):
        fio.read_png(truncated)


# -- read_rows ---------------------------------------------------------------------------------


def test_read_rows_shapes_images_for_a_model(tmp_path, digits_model):
    digits = np.random.default_rng(0).integers(0, 17, (5, 8, 8)).astype(np.float64)
    digits[digits < 12] = 0  # light strokes on a dark ground
    np.save(tmp_path / "stack.npy", digits)
    X = fio.read_rows(tmp_path / "stack.npy", digits_model)
    np.testing.assert_allclose(X, digits.reshape(5, 64) / 16)  # pixel_max from the model
    inverted = fio.read_rows(tmp_path / "stack.npy", digits_model, invert="yes")
    np.testing.assert_allclose(inverted, 1 - X)
    np.save(tmp_path / "one.npy", digits[0])
    assert fio.read_rows(tmp_path / "one.npy", digits_model).shape == (1, 64)
    np.save(tmp_path / "row.npy", digits[0].ravel())  # one row of 64 features, as it is
    np.testing.assert_array_equal(fio.read_rows(tmp_path / "row.npy", digits_model), [X[0] * 16])
    np.save(tmp_path / "wide.npy", np.zeros((2, 65)))
    with pytest.raises(InputError, match=r"shape \(2, 65\); the model takes rows of 64 features "
                       "or 8x8 images"):  # fmt: skip
        fio.read_rows(tmp_path / "wide.npy", digits_model)


def test_read_rows_reads_a_png_for_a_digit_model(tmp_path, digits_model):
    Image = pytest.importorskip("PIL.Image")
    ink = np.zeros((8, 8), np.uint8)
    ink[1:7, 4] = 255
    Image.fromarray(255 - ink).save(tmp_path / "dark_on_light.png")
    X = fio.read_rows(tmp_path / "dark_on_light.png", digits_model)  # inverted: auto
    np.testing.assert_allclose(X, ink.reshape(1, 64) / 255)
    assert fio.read_rows(tmp_path / "dark_on_light.png").shape == (1, 64)  # no model: as it is
    table = fn.Sequential(fn.dense_stack([64, 2]), backend="numpy")
    with pytest.raises(InputError, match="is an image, but this model was not trained on images"):
        fio.read_rows(tmp_path / "dark_on_light.png", table)


def test_read_rows_reads_tables_and_sparse_rows_for_a_model(tmp_path, table_model):
    (tmp_path / "t.csv").write_text("c,b,a\n3,2,1\n")
    np.testing.assert_array_equal(fio.read_rows(tmp_path / "t.csv", table_model), [[1, 2, 3]])
    assert table_model.predict(fio.read_rows(tmp_path / "t.csv", table_model)).shape == (1,)
    svm = tmp_path / "rows.txt"
    svm.write_text("0 1:1.5\n1 3:2\n")
    table_model.metadata = {"zero_based": False}
    X = fio.read_rows(svm, table_model, format="svmlight")
    np.testing.assert_array_equal(X.toarray(), [[1.5, 0, 0], [0, 0, 2]])
    sp.save_npz(tmp_path / "rows.npz", sp.csr_matrix(np.eye(2, 3)))
    assert fio.read_rows(tmp_path / "rows.npz", table_model).shape == (2, 3)
    sp.save_npz(tmp_path / "wide.npz", sp.csr_matrix(np.eye(2, 4)))
    with pytest.raises(InputError, match="the model takes rows of 3 features"):
        fio.read_rows(tmp_path / "wide.npz", table_model)


def test_read_rows_argument_errors(tmp_path):
    (tmp_path / "rows.txt").write_text("1,2\n")
    with pytest.raises(InputError, match="rows.txt has none of the suffixes .npy, .npz"):
        fio.read_rows(tmp_path / "rows.txt")
    np.testing.assert_array_equal(fio.read_rows(tmp_path / "rows.txt", format="csv"), [[1, 2]])
    with pytest.raises(InputError, match="format must be one of 'npy', "):
        fio.read_rows(tmp_path / "rows.txt", format="xls")
    with pytest.raises(InputError, match="invert must be one of 'auto', 'yes', 'no'; got True"):
        fio.read_rows(tmp_path / "rows.txt", invert=True, format="csv")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    with pytest.raises(InputError, match=r"cube.npy holds an array of shape \(2, 3, 4\); expected"):
        fio.read_rows(tmp_path / "cube.npy")
    assert fio.format_of("a/B.SVMLIGHT") == "svmlight" and fio.format_of("x.txt") is None


@pytest.mark.slow
def test_importing_fastnn_imports_neither_pillow_nor_scipy():
    code = "import sys, fastnn; print(sorted({m.split('.')[0] for m in sys.modules}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "fastnn" in result.stdout
    for heavy in ("PIL", "scipy", "sklearn", "matplotlib"):
        assert f"'{heavy}'" not in result.stdout
