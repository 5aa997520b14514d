"""Data loaders: IDX files, the downloader (on a loopback HTTP server), digits, spirals, CSV."""

import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest

from fastnn import datasets

# -- fake IDX files --------------------------------------------------------------------------


def idx_bytes(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def fake_idx_files(n_train=12, n_test=5, seed=0):
    """The four canonical files (gzipped bytes) of a tiny MNIST-shaped data set."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": (rng.integers(0, 256, (n_train, 28, 28)), 2051),
        "train-labels-idx1-ubyte.gz": (rng.integers(0, 10, n_train), 2049),
        "t10k-images-idx3-ubyte.gz": (rng.integers(0, 256, (n_test, 28, 28)), 2051),
        "t10k-labels-idx1-ubyte.gz": (rng.integers(0, 10, n_test), 2049),
    }
    files = {
        name: gzip.compress(idx_bytes(a, magic), mtime=0) for name, (a, magic) in arrays.items()
    }
    return files, arrays


def md5(data):
    return hashlib.md5(data).hexdigest()


def test_load_idx_reads_gzipped_and_plain_files(tmp_path):
    files, arrays = fake_idx_files()
    for i, (name, data) in enumerate(files.items()):
        if i % 2:  # half of them uncompressed
            (tmp_path / name[:-3]).write_bytes(gzip.decompress(data))
        else:
            (tmp_path / name).write_bytes(data)
    (X_train, y_train), (X_test, y_test) = datasets.load_idx(tmp_path)
    images = arrays["train-images-idx3-ubyte.gz"][0]
    np.testing.assert_allclose(X_train, images.reshape(12, -1) / 255, rtol=1e-6)
    assert X_train.dtype == np.float32 and X_train.shape == (12, 784)
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"][0])
    assert y_train.dtype == np.int64 and X_test.shape == (5, 784)


def test_load_mnist_takes_data_dir(tmp_path):
    files, _ = fake_idx_files(n_train=3, n_test=2)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (X_train, _), (X_test, _) = datasets.load_mnist(data_dir=tmp_path)
    assert X_train.shape == (3, 784) and X_test.shape == (2, 784)


def test_load_idx_names_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        datasets.load_idx(tmp_path)


def test_read_idx_rejects_wrong_magic_and_truncation(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(idx_bytes(np.arange(20), 2049))
    with pytest.raises(ValueError, match="magic number"):
        datasets.read_idx(path, 2051)
    path.write_bytes(idx_bytes(np.arange(20), 2049)[:-1])
    with pytest.raises(ValueError, match="truncated"):
        datasets.read_idx(path, 2049)


def test_bundled_mnist():
    (X_train, y_train), (X_test, y_test) = datasets.load_mnist()
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert X_train.dtype == np.float32 and 0 <= X_train.min() and X_train.max() <= 1
    assert set(np.unique(y_test)) == set(range(10))


# -- the downloader, against a server on loopback ----------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.routes``: path -> (status, body, declared length or None)."""

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        self.server.requests.append(self.path)
        status, body, length = self.server.routes.get(self.path, (404, b"not found", None))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.routes, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_fetch_downloads_good_files_and_loads_them(server, tmp_path):
    files, arrays = fake_idx_files()
    for name, data in files.items():
        server.routes[f"/good/{name}"] = (200, data, None)
    checksums = {name: md5(data) for name, data in files.items()}
    paths = datasets.fetch(checksums, tmp_path / "cache", [server.url + "/good/"], timeout=5)
    assert sorted(p.name for p in paths.values()) == sorted(files)
    assert not list((tmp_path / "cache").glob("*.part"))
    (X_train, y_train), _ = datasets.load_idx(tmp_path / "cache")
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte.gz"][0])
    # a second call finds the files and downloads nothing
    server.requests.clear()
    datasets.fetch(checksums, tmp_path / "cache", [server.url + "/good/"], timeout=5)
    assert server.requests == []


def test_fetch_rejects_checksum_mismatch(server, tmp_path):
    server.routes["/bad/a.gz"] = (200, b"not what was published", None)
    with pytest.raises(datasets.DownloadError, match="checksum mismatch") as info:
        datasets.fetch({"a.gz": md5(b"the real bytes")}, tmp_path, [server.url + "/bad"], 5)
    assert "/bad/a.gz" in str(info.value) and str(tmp_path) in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no .part and no file left behind


def test_fetch_rejects_truncated_transfer(server, tmp_path):
    body = bytes(range(256)) * 40
    server.routes["/short/a.gz"] = (200, body[:1000], len(body))  # closes early
    with pytest.raises(datasets.DownloadError, match="truncated|IncompleteRead|1000"):
        datasets.fetch({"a.gz": md5(body)}, tmp_path, [server.url + "/short/"], 5)
    assert list(tmp_path.iterdir()) == []


def test_fetch_falls_back_from_dead_mirror_to_good_one(server, tmp_path):
    files, _ = fake_idx_files()
    for name, data in files.items():
        server.routes[f"/good/{name}"] = (200, data, None)
        server.routes[f"/broken/{name}"] = (500, b"oops", None)
    dead = "http://127.0.0.1:9/"  # discard port: nothing listens, the connection is refused
    checksums = {name: md5(data) for name, data in files.items()}
    mirrors = [dead, server.url + "/broken/", server.url + "/good/"]
    datasets.fetch(checksums, tmp_path, mirrors, timeout=5)
    for name, data in files.items():
        assert (tmp_path / name).read_bytes() == data


def test_offline_error_names_mirrors_folder_and_manual_steps(tmp_path):
    dead = ["http://127.0.0.1:9/a/", "http://127.0.0.1:9/b/"]
    with pytest.raises(datasets.DownloadError) as info:
        datasets.load_fashion_mnist(data_dir=tmp_path, mirrors=dead, timeout=2)
    text = str(info.value)
    assert dead[0] in text and dead[1] in text and str(tmp_path) in text
    assert "copy" in text and "train-images-idx3-ubyte.gz" in text


def test_existing_file_with_wrong_checksum_is_reported(tmp_path):
    (tmp_path / "a.gz").write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="delete it"):
        datasets.fetch({"a.gz": md5(b"good")}, tmp_path, ["http://127.0.0.1:9/"], 1)


def test_fashion_mnist_reads_placed_files_without_network(tmp_path, monkeypatch):
    files, arrays = fake_idx_files()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.setattr(datasets, "FASHION_MNIST_MD5", {n: md5(d) for n, d in files.items()})
    (X_train, _), (_, y_test) = datasets.load_fashion_mnist(data_dir=tmp_path, mirrors=["x"])
    assert X_train.shape == (12, 784)
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"][0])


def test_fashion_mnist_downloads_into_fastnn_data(server, tmp_path, monkeypatch):
    files, _ = fake_idx_files()
    for name, data in files.items():
        server.routes[f"/fm/{name}"] = (200, data, None)
    monkeypatch.setattr(datasets, "FASHION_MNIST_MD5", {n: md5(d) for n, d in files.items()})
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    (X_train, _), _ = datasets.load_fashion_mnist(mirrors=[server.url + "/fm/"], timeout=5)
    assert X_train.shape == (12, 784)
    assert sorted(p.name for p in (tmp_path / "fashion-mnist").iterdir()) == sorted(files)


def test_data_home_order(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "env"))
    assert datasets.data_home(tmp_path / "given") == tmp_path / "given"
    assert datasets.data_home() == tmp_path / "env"
    monkeypatch.delenv("FASTNN_DATA")
    assert datasets.data_home().name == "fastnn"


def test_published_fashion_mnist_checksums():
    assert set(datasets.FASHION_MNIST_MD5) == set(datasets.IDX_FILES.values())
    assert datasets.FASHION_MNIST_MD5["train-images-idx3-ubyte.gz"] == (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    )
    assert len(datasets.FASHION_MNIST_MIRRORS) >= 2


# -- small data sets ---------------------------------------------------------------------------


def test_load_digits():
    (X_train, y_train), (X_test, y_test) = datasets.load_digits()
    assert X_train.shape == (1437, 64) and X_test.shape == (360, 64)
    assert X_train.dtype == np.float32 and X_train.min() == 0 and X_train.max() == 1
    assert np.bincount(y_test).min() >= 35  # stratified


def test_make_spiral():
    X, y = datasets.make_spiral(300, 3, noise=0.0, seed=1)
    assert X.shape == (300, 2) and X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(y), [100, 100, 100])
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[:100], np.linspace(0, 1, 100), atol=1e-6)
    X2, y2 = datasets.make_spiral(300, 3, noise=0.2, seed=1)
    X3, _ = datasets.make_spiral(300, 3, noise=0.2, seed=1)
    np.testing.assert_array_equal(X2, X3)
    assert not np.allclose(X, X2)
    assert np.bincount(datasets.make_spiral(10, 3)[1]).tolist() == [4, 3, 3]
    with pytest.raises(ValueError, match="n_classes"):
        datasets.make_spiral(2, 3)


# -- CSV ---------------------------------------------------------------------------------------


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
