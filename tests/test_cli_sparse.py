"""Sparse data at the command line: ``fastnn train --dataset svmlight:PATH`` and ``fastnn predict
MODEL ROWS.npz`` (scipy.sparse.save_npz), the loader behind the first, and the hostile files both
must refuse in one line."""

import gzip
import io
import re
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file

import fastnn as fn
from fastnn import datasets
from fastnn.errors import InputError

from helpers import main, refused

FAST = ["--backend", "numpy", "--quiet"]
LABELS = np.array([-1, 1, 3])  # the file's labels for classes 0, 1, 2


def write_svmlight(path, X, y):
    dump_svmlight_file(X, y, str(path), zero_based=False)
    return path


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """A small bag of words as an svmlight file with labels -1, 1 and 3, and its rows."""
    X, y = datasets.make_bag_of_words(400, 120, 3, 25, seed=0)
    path = tmp_path_factory.mktemp("svmlight") / "words.svm"
    return write_svmlight(path, X, LABELS[y]), X, y


@pytest.fixture(scope="module")
def trained(words, tmp_path_factory):
    """``fastnn train --dataset svmlight:PATH --save MODEL``, run once: its model and output."""
    path, _, _ = words
    model = tmp_path_factory.mktemp("model") / "words.npz"
    with pytest.MonkeyPatch.context() as patch:
        out = io.StringIO()
        patch.setattr("sys.stdout", out)
        status = main(
            "train", "--dataset", f"svmlight:{path}", "--hidden", "16", "--epochs", "8",
            "--batch-size", "16", "--optimizer", "adam", "--lr", "0.01", "--val-split", "0.1",
            "--save", model, *FAST,
        )  # fmt: skip
    return model, status, out.getvalue()


# -- fastnn train --dataset svmlight:PATH ------------------------------------------------------


def test_train_on_an_svmlight_file_end_to_end(trained, words):
    model, status, out = trained
    assert status == 0, out
    _, X, _ = words
    assert f"model: {X.shape[1]} -> 16 relu -> 3 |" in out
    assert "(svmlight, 120 features, sparse, classification)" in out
    assert "280 training, 40 validation and 80 test rows" in out
    assert "epoch 8/8" in out and "val_accuracy" in out
    assert float(out.split("test accuracy: ")[1].split()[0]) > 0.55  # chance: 1/3
    saved = fn.load(model)
    assert saved.metadata["dataset"].startswith("svmlight:")
    assert saved.metadata["classes"] == ["-1", "1", "3"]  # the file's labels
    assert saved.scaling is None  # sparse rows are never standardised


def test_evaluate_a_model_trained_on_an_svmlight_file(trained, capsys):
    model, status, out = trained
    assert status == 0, out
    accuracy = out.split("test accuracy: ")[1].split()[0]
    assert main("evaluate", str(model)) == 0  # the data set, task and split as recorded
    report = capsys.readouterr().out
    assert "80 test rows" in report
    assert re.search(rf"^accuracy\s+{accuracy}$", report, re.M)  # the training run's figure
    assert main("evaluate", str(model), "--split", "all") == 0
    assert "400 test rows" in capsys.readouterr().out


def test_svmlight_regression_and_binary(tmp_path, capsys):
    X, y = datasets.make_bag_of_words(200, 60, 2, 15, seed=1)
    targets = write_svmlight(tmp_path / "r.svm", X, 10.0 * y + np.arange(200) % 3)
    args = ["--hidden", "8", "--epochs", "3", "--batch-size", "16", *FAST]
    assert main("train", "--dataset", f"svmlight:{targets}", "--task", "regression", *args) == 0
    assert "R^2" in capsys.readouterr().out
    binary = write_svmlight(tmp_path / "b.svm", X, 2 * y - 1)
    assert main("train", "--dataset", f"svmlight:{binary}", "--task", "binary", *args) == 0
    assert "model: 60 -> 8 relu -> 1 | loss binary_cross_entropy" in capsys.readouterr().out


def test_options_that_do_not_apply_to_svmlight(words, capsys):
    path, _, _ = words
    name = f"svmlight:{path}"
    refused(capsys, "train", "--dataset", name, "--target", "y", *FAST,
            message="--target applies to csv:PATH")  # fmt: skip
    refused(capsys, "train", "--dataset", name, "--features", "a,b", *FAST,
            message="--features applies to csv:PATH")  # fmt: skip


def test_an_empty_svmlight_path_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main("train", "--dataset", "svmlight:")
    assert info.value.code == 2
    assert "csv:PATH or svmlight:PATH" in capsys.readouterr().err


HOSTILE_SVMLIGHT = [
    (b"1 1:0.5 3:abc\n", "line 1: the value 'abc' of feature 3 is not a number"),
    (b"1 1:1\n2 2:1 3\n", "line 2: '3' is not INDEX:VALUE"),
    (b"1 1:1\n# note\nx 2:1\n", "line 3: the label 'x' is not a number"),
    (b"1 3:1 2:1\n", "line 1: the feature index 2 follows 3: indices must increase"),
    (b"1 -3:1\n", "the feature index -3 is out of range"),
    (b"1 1:1\n0 99999999999:1\n", "line 2: the feature index 99999999999 is too large"),
    (b"1 1:1\n0 2:nan\n", "line 2: a feature value is nan"),
    (b"1 1:inf\n0 2:1\n", "line 1: a feature value is inf"),
    (b"1 1:1\nnan 2:1\n", "line 2: a label is nan"),
    (b"1 1:1e300\n0 2:1\n", "line 1: the value 1e+300 becomes inf in float32"),
    (b"1.5 1:1\n0 2:1\n", "line 1: the label 1.5 is not a whole number"),
    (b"1 1:1\n1 2:1\n", "has a single label 1; nothing to learn"),
    (b"", "holds no rows"),
    (b"1\n0\n", "holds no non-zero feature values"),
    (gzip.compress(b"1 1:1\n0 2:1\n"), "is gzip-compressed; decompress it first"),
    (bytes(range(256)), "line 1: the label"),
]


@pytest.mark.parametrize(
    "content, message", HOSTILE_SVMLIGHT, ids=[message for _, message in HOSTILE_SVMLIGHT]
)
def test_hostile_svmlight_files_are_one_line_errors(tmp_path, capsys, content, message):
    path = tmp_path / "bad.svm"
    path.write_bytes(content)
    err = refused(capsys, "train", "--dataset", f"svmlight:{path}", *FAST, message=message)
    assert str(path) in err


def test_missing_svmlight_files_and_folders(tmp_path, capsys):
    refused(capsys, "train", "--dataset", f"svmlight:{tmp_path / 'nope.svm'}", *FAST,
            message="does not exist")  # fmt: skip
    refused(capsys, "train", "--dataset", f"svmlight:{tmp_path}", *FAST,
            message="is a folder, not an svmlight file")  # fmt: skip


def test_a_huge_feature_index_is_refused_before_a_model_is_built(tmp_path, capsys):
    lines = [f"{i % 2} {i + 1}:1" for i in range(20)] + ["1 2000000000:1"]
    path = tmp_path / "wide.svm"
    path.write_text("\n".join(lines) + "\n")
    refused(capsys, "train", "--dataset", f"svmlight:{path}", "--hidden", "64", *FAST,
            message="a network of 2,000,000,000 inputs and")  # fmt: skip


# -- the loader -------------------------------------------------------------------------------


def test_load_svmlight_splits_like_load_csv_and_keeps_rows_sparse(words):
    path, X, y = words
    data = datasets.load_svmlight(path, val_size=0.1, test_size=0.2, seed=0)
    assert data.classes == ["-1", "1", "3"] and data.task == "classification"
    parts = (data.X_train, data.X_val, data.X_test)
    assert [part.shape[0] for part in parts] == [280, 40, 80]
    for part in parts:
        assert isinstance(part, sp.csr_matrix) and part.dtype == np.float32
        assert part.shape[1] == X.shape[1] and part.has_canonical_format
    # every row is one of the generated rows, with its label
    rows = {X[i].toarray().tobytes(): y[i] for i in range(X.shape[0])}
    for part, labels in zip(parts, (data.y_train, data.y_val, data.y_test)):
        for i in range(part.shape[0]):
            assert rows[part[i].toarray().tobytes()] == labels[i]
    # the test rows do not depend on the validation split
    no_val = datasets.load_svmlight(path, val_size=0.0, test_size=0.2, seed=0)
    assert (no_val.X_test != data.X_test).nnz == 0 and no_val.X_val.shape[0] == 0


def test_load_svmlight_argument_errors(words):
    path, _, _ = words
    with pytest.raises(InputError, match="task must be one of"):
        datasets.load_svmlight(path, task="ranking")
    with pytest.raises(InputError, match="val_size \\+ test_size must leave rows"):
        datasets.load_svmlight(path, val_size=0.5, test_size=0.5)
    with pytest.raises(TypeError, match="zero_based must be True, False or 'auto'"):
        datasets.load_svmlight(path, zero_based="maybe")
    wide = datasets.load_svmlight(path, n_features=500)
    assert wide.n_features == 500


# -- fastnn predict MODEL ROWS.npz --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csr", "csc", "coo_array", "bsr"])
def test_predict_takes_rows_saved_by_save_npz(trained, words, tmp_path, capsys, kind):
    model, status, _ = trained
    assert status == 0
    _, X, _ = words
    rows = X[:7]
    matrix = {"csr": rows, "csc": rows.tocsc(), "coo_array": sp.coo_array(rows),
              "bsr": rows.tobsr()}[kind]  # fmt: skip
    path = tmp_path / "rows.npz"
    sp.save_npz(path, matrix)
    assert main("predict", model, path, "--proba", "--backend", "numpy") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction,p_-1,p_1,p_3" and len(lines) == 8
    dense = fn.load(model, backend="numpy").predict_proba(rows.toarray())
    expected = LABELS[dense.argmax(axis=1)].astype(str)
    assert [line.split(",")[0] for line in lines[1:]] == list(expected)
    got = np.array([[float(p) for p in line.split(",")[1:]] for line in lines[1:]])
    np.testing.assert_allclose(got, dense, atol=2e-6)


def test_predict_writes_sparse_predictions_to_output(trained, words, tmp_path, capsys):
    model, _, _ = trained
    _, X, _ = words
    sp.save_npz(tmp_path / "rows.npz", X[:3], compressed=False)
    out = tmp_path / "out.csv"
    assert main("predict", model, tmp_path / "rows.npz", "--output", out, *FAST[:2]) == 0
    assert out.read_text().count("\n") == 4
    assert "wrote 3 prediction(s)" in capsys.readouterr().err


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """An untrained 10-input model: predict needs no training to check its input."""
    path = tmp_path_factory.mktemp("small") / "small.npz"
    model = fn.Sequential(fn.dense_stack([10, 4, 3]), backend="numpy", seed=0)
    model.metadata = {"classes": ["a", "b", "c"]}
    model.save(path)
    return path


def write_npz(path, compress=True, **arrays):
    """An .npz archive of ``arrays``, as numpy.savez (or savez_compressed) writes it."""
    (np.savez_compressed if compress else np.savez)(path, **arrays)
    return path


def csr_arrays(shape=(2, 10), **changes):
    rows = sp.csr_matrix(np.arange(20, dtype=np.float64).reshape(2, 10) % 3)
    arrays = dict(format=np.array("csr"), shape=np.array(shape), data=rows.data,
                  indices=rows.indices, indptr=rows.indptr)  # fmt: skip
    return {**arrays, **changes}


def test_sparse_npz_files_from_elsewhere_are_checked_first(small_model, tmp_path, capsys):
    def refuse(path, message):
        refused(capsys, "predict", small_model, path, *FAST[:2], message=message)

    ok = write_npz(tmp_path / "ok.npz", **csr_arrays())
    assert main("predict", small_model, ok, *FAST[:2]) == 0
    assert capsys.readouterr().out.count("\n") == 3
    refuse(write_npz(tmp_path / "arrays.npz", x=np.zeros((2, 10)), y=np.zeros(2)),
           "is a NumPy .npz archive of arrays (x, y), not a sparse matrix")  # fmt: skip
    refuse(small_model, "is a fastnn model file, not rows to predict")
    refuse(
        write_npz(tmp_path / "wide.npz", **csr_arrays(shape=(2, 11))),
        "holds a sparse matrix of shape (2, 11); the model takes rows of 10 features",
    )
    # a small file that declares 10^12 rows: refused by the declared sizes, nothing allocated
    refuse(
        write_npz(tmp_path / "rows.npz", **csr_arrays(shape=(10**12, 10))),
        "array indptr has shape (3,); a csr matrix of shape (1000000000000, 10)",
    )
    coo = dict(format=np.array("coo"), shape=np.array([10**12, 10]), data=np.ones(2),
               row=np.array([0, 5]), col=np.array([1, 2]))  # fmt: skip
    refuse(write_npz(tmp_path / "coo.npz", **coo), "a sparse matrix of shape (1000000000000, 10)")
    refuse(write_npz(tmp_path / "index.npz", **csr_arrays(indices=np.array([0, 1, 2, 3, 4, 5, 6,
           7, 8, 9, 10, 11, 99]))), "has a column index 10 at row 1, outside 0..9")  # fmt: skip
    refuse(write_npz(tmp_path / "nan.npz", **csr_arrays(data=np.full(13, np.nan))),
           "holds 13 NaN or infinite value(s)")  # fmt: skip
    refuse(write_npz(tmp_path / "text.npz", **csr_arrays(data=np.array(["a"] * 13))),
           "array data holds <U1 values; expected numbers")  # fmt: skip
    refuse(write_npz(tmp_path / "neg.npz", **csr_arrays(shape=(-2, 10))), "is negative")
    sp.save_npz(tmp_path / "dia.npz", sp.dia_matrix(np.eye(2, 10)))
    refuse(tmp_path / "dia.npz", "in the 'dia' format; save it as CSR")
    (tmp_path / "text.npz").write_text("not a zip")
    refuse(tmp_path / "text.npz", "is not a readable sparse matrix (scipy.sparse.save_npz)")


def test_a_sparse_npz_whose_header_lies_about_its_size(small_model, tmp_path, capsys):
    path = write_npz(tmp_path / "lying.npz", compress=False, **csr_arrays())
    lying = tmp_path / "lying2.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(lying, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "data.npy":  # declares 10^9 values, holds 13
                out = io.BytesIO()
                header = {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
                np.lib.format.write_array_header_1_0(out, header)
                body = out.getvalue() + body[-13 * 8 :]
            dst.writestr(info.filename, body)
    refused(capsys, "predict", small_model, lying, *FAST[:2],
            message="array data declares shape (1000000000,)")  # fmt: skip


def test_many_declared_rows_are_bounded_by_memory_before_reading(
    small_model, tmp_path, capsys, monkeypatch
):
    import fastnn._validation

    rows = 10**6  # the index pointers deflate 8 MB of zeros to a few KB
    empty = dict(data=np.zeros(0), indices=np.zeros(0, np.int32))
    arrays = csr_arrays(shape=(rows, 10), indptr=np.zeros(rows + 1, np.int32), **empty)
    path = write_npz(tmp_path / "many.npz", **arrays)
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(fastnn._validation, "memory_limit", lambda: 4 * 2**20)
    refused(
        capsys,
        "predict",
        small_model,
        path,
        *FAST[:2],
        message="a sparse matrix of shape (1000000, 10) holding 0 values, would need",
    )
