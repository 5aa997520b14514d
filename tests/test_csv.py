"""load_csv: reading, splitting and standardising a table, and tables built to break it."""

import numpy as np
import pytest

from fastnn import datasets
from fastnn.datasets import csvfile
from fastnn.errors import FastnnError, InputError


def write(path, text):
    path.write_text(text)
    return path


def test_load_csv_regression_standardises_with_training_rows(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(5, 3, (100, 2))
    y = X @ [1.0, -2.0]
    lines = ["a,b,y"] + [f"{a},{b},{t}" for (a, b), t in zip(X, y)]
    data = datasets.load_csv(write(tmp_path / "t.csv", "\n".join(lines)), target="y")
    assert data.features == ["a", "b"] and data.task == "regression"
    assert (len(data.X_train), len(data.X_val), len(data.X_test)) == (70, 10, 20)
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1, atol=1e-5)
    raw = np.array([[5.0, 5.0]])
    np.testing.assert_allclose(data.transform(raw), (raw - data.mean) / data.scale, rtol=1e-6)
    assert data.y_train.dtype == np.float32


def test_load_csv_classes_from_text_and_features(tmp_path):
    text = "name,x,genre,z\n" + "\n".join(
        f"s{i},{i},{'rock' if i % 3 else 'jazz'},{i * i}" for i in range(30)
    )
    data = datasets.load_csv(
        write(tmp_path / "songs.csv", text), target="genre", task="binary", features=["z", "x"]
    )
    assert data.classes == ["jazz", "rock"] and data.features == ["z", "x"]
    assert set(np.unique(data.y_train)) == {0, 1} and data.y_train.dtype == np.int64


def test_load_csv_reports_missing_values(tmp_path):
    path = write(tmp_path / "m.csv", "a,b,y\n1,2,3\n4,,6\n7,NA,9\n1,2,\n")
    with pytest.raises(ValueError, match=r"'b' \(2 row\(s\): 3, 4\).*'y' \(1 row\(s\): 5\)"):
        datasets.load_csv(path, target="y")


@pytest.mark.parametrize(
    "text, kwargs, match",
    [
        ("a,y\nx,1\n", {"target": "y"}, "column 'a' .* must be numeric, but row 2 holds 'x'"),
        ("a,y\n1,1\n", {"target": "q"}, "target 'q' is not a column"),
        ("a,y\n1,1\n", {"target": "y", "task": "multi"}, "task must be one of"),
        ("a,y\n1,0\n2,1\n3,2\n", {"target": "y", "task": "binary"}, "exactly 2 distinct"),
        ("a,y\n1,2,3\n", {"target": "y"}, "row 2: 3 fields"),
        ("", {"target": "y"}, "empty"),
    ],
)
def test_load_csv_bad_input(tmp_path, text, kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.load_csv(write(tmp_path / "bad.csv", text), **kwargs)


def test_sklearn_tables_as_csv(tmp_path):
    diabetes = datasets.load_csv(
        datasets.write_sklearn_csv("diabetes", tmp_path / "d.csv"), target="progression"
    )
    assert len(diabetes.features) == 10
    assert len(diabetes.X_train) + len(diabetes.X_val) + len(diabetes.X_test) == 442
    cancer = datasets.load_csv(
        datasets.write_sklearn_csv("breast_cancer", tmp_path / "b.csv"),
        target="diagnosis",
        task="binary",
        val_size=0,
    )
    assert cancer.classes == ["benign", "malignant"] and len(cancer.features) == 30
    assert len(cancer.X_val) == 0 and len(cancer.X_train) + len(cancer.X_test) == 569


# -- hostile and unusual tables ------------------------------------------------------------------


def table(n_rows=30, seed=0):
    """Rows of ``a,b,y`` with a regression target, as text lines without the header."""
    rng = np.random.default_rng(seed)
    return [f"{a},{b},{a - b}" for a, b in rng.normal(size=(n_rows, 2))]


def test_duplicate_column_names_are_refused_with_their_positions(tmp_path):
    path = write(tmp_path / "d.csv", "\n".join(["a,b,a,y", *(f"{r},9" for r in table())]))
    with pytest.raises(InputError, match=r"d.csv names more than one column .*'a' at columns 1, 3"):
        datasets.load_csv(path, target="y")
    data = datasets.load_csv(path, target="y", features=["b"])  # the duplicates left out
    assert data.features == ["b"]
    with pytest.raises(InputError, match="'y' at columns 3, 4"):
        datasets.load_csv(write(tmp_path / "t.csv", "a,b,y,y\n" + "1,2,3,4\n" * 9), target="y")
    with pytest.raises(InputError, match=r"each column once; got \['b'\]"):
        datasets.load_csv(path, target="y", features=["b", "b"])


def test_an_unnamed_column_is_refused(tmp_path):
    lines = [",a,b,y"] + [f"{i},{r}" for i, r in enumerate(table())]  # pandas' index column
    path = write(tmp_path / "p.csv", "\n".join(lines))
    with pytest.raises(InputError, match="p.csv: column 1 has no name"):
        datasets.load_csv(path, target="y")
    assert datasets.load_csv(path, target="y", features=["a", "b"]).features == ["a", "b"]


def test_a_table_of_100000_columns_loads(tmp_path):
    n_columns = 100_000
    names = [f"c{j}" for j in range(n_columns)]
    rng = np.random.default_rng(0)
    rows = [
        ",".join(f"{v:.3f}" for v in rng.normal(size=n_columns)) + f",{i % 2}" for i in range(10)
    ]
    path = write(tmp_path / "wide.csv", "\n".join([",".join([*names, "y"]), *rows]))
    data = datasets.load_csv(path, target="y", task="binary", val_size=0, test_size=0.2)
    assert data.X_train.shape == (8, n_columns)
    with pytest.raises(InputError, match=r"'zz' is not a column .* and 99981 more$"):
        datasets.load_csv(path, target="zz")


class _NoSearch(list):
    """A header that refuses linear searches: one per column would make loading a wide table
    quadratic in its width."""

    def index(self, *args):
        raise AssertionError("a linear search of the header per column")

    count = __contains__ = index


def test_columns_are_found_without_searching_the_header_per_name():
    header = _NoSearch([f"c{j}" for j in range(1000)] + ["y"])
    features, target, indices = csvfile.select_columns(header, "y", None, "wide.csv")
    assert target == 1000 and indices == list(range(1000)) and features == header[:1000]
    chosen = [f"c{j}" for j in range(999, -1, -2)]
    assert csvfile.select_columns(header, "y", chosen, "wide.csv")[2] == list(range(999, -1, -2))


def test_a_huge_field_is_one_line_naming_the_file(tmp_path):
    path = write(tmp_path / "h.csv", "a,y\n1,2\n" + "9" * 200_000 + ",3\n")
    with pytest.raises(InputError, match=r"h.csv, line 3: field larger than field limit"):
        datasets.load_csv(path, target="y")


def test_a_nul_byte_is_one_line_naming_the_file(tmp_path):
    path = write(tmp_path / "n.csv", "a,y\n1,2\n3\x00,4\n")
    with pytest.raises(InputError, match=r"n.csv") as info:
        datasets.load_csv(path, target="y")
    assert len(str(info.value).splitlines()) == 1


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("caf\u00e9,y\n1,2\n".encode("latin-1"))
    with pytest.raises(
        InputError, match=r"latin1.csv is not UTF-8 text \(line 1 holds the byte 0xe9\)"
    ):
        datasets.load_csv(path, target="y")
    far = tmp_path / "far.csv"  # the bad byte well past the first block the codec reads
    far.write_bytes(("a,y\n" + "1,2\n" * 50_000 + "3,\xff\n").encode("latin-1"))
    with pytest.raises(
        InputError, match=r"far.csv is not UTF-8 text \(line 50002 holds the byte 0xff\)"
    ):
        datasets.load_csv(far, target="y")


def test_missing_file_or_a_folder_is_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv") as info:
        datasets.load_csv(tmp_path / "nope.csv", target="y")
    assert isinstance(info.value, FastnnError)
    with pytest.raises(InputError, match="is a folder, not a CSV file"):
        datasets.load_csv(tmp_path, target="y")


@pytest.mark.parametrize("cell", ["1_000", "\u0661\u0662", "\uff11", "0x10", "1,5"])
def test_only_plain_ascii_numbers_are_numbers(tmp_path, cell):
    path = write(tmp_path / "u.csv", f'a,y\n"{cell}",1\n' + "2,3\n" * 9)
    with pytest.raises(InputError, match="column 'a' of .*u.csv must be numeric, but row 2 holds"):
        datasets.load_csv(path, target="y")


@pytest.mark.parametrize("magnitude", [1e200, 1e-200, 1e300])
def test_columns_of_extreme_magnitude_are_standardised(tmp_path, magnitude):
    rng = np.random.default_rng(0)
    x = rng.normal(3, 1, 100) * magnitude
    lines = ["big,small,y"] + [f"{float(v)!r},{i % 7},{i % 3}" for i, v in enumerate(x)]
    data = datasets.load_csv(write(tmp_path / "e.csv", "\n".join(lines)), target="y")
    assert np.all(np.isfinite(data.scale)) and data.scale[0] > 0
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1, rtol=1e-4)
    assert np.isfinite(data.X_test).all() and np.ptp(data.X_test[:, 0]) > 0


def test_raw_features_beyond_float32_are_refused(tmp_path):
    lines = ["a,y"] + [f"{(i + 1) * 1e200},{i}" for i in range(20)]
    path = write(tmp_path / "r.csv", "\n".join(lines))
    with pytest.raises(InputError, match=r"r.csv: X\[\d+, 0\] = .*e\+2\d\d.* keep scale=True"):
        datasets.load_csv(path, target="y", scale=False)
    with pytest.raises(InputError, match=r"r.csv, target 'a': y\[\d+, 0\] = .*e\+2\d\d"):
        datasets.load_csv(path, target="a")


def test_standardize_refuses_values_that_overflow_float32():
    scaling = (np.zeros(2), np.array([1.0, 1e-300]))
    np.testing.assert_allclose(datasets.standardize([[1.0, 0.0]], scaling), [[1.0, 0.0]])
    with pytest.raises(InputError, match=r"X\[0, 1\] = 1, standardised .* is inf"):
        datasets.standardize([[1.0, 1.0]], scaling)
    nan = datasets.standardize([[np.nan, 0.0]], scaling)  # missing values pass through
    assert np.isnan(nan[0, 0])
