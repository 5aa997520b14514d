"""load_csv: reading, splitting and standardising a table, and tables built to break it."""

import numpy as np
import pytest

from fastnn import datasets


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
