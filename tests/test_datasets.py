"""Data loaders: the downloader (on a loopback HTTP server), Fashion-MNIST's checks, digits,
spirals and the shared train/test split. IDX files: test_idx.py; CSV tables: test_csv.py."""

import gzip
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from idx_files import content_md5s, fake_idx_files, md5, recompressed

from fastnn import datasets
from fastnn.datasets import download, mnist
from fastnn.errors import FastnnError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


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
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
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
    assert all(download.downloaded_by_fastnn(path) for path in paths.values())
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
    assert isinstance(info.value, FastnnError) and isinstance(info.value, OSError)
    assert list(tmp_path.iterdir()) == []  # no .part and no file left behind


def test_fetch_rejects_truncated_transfer(server, tmp_path):
    body = bytes(range(256)) * 40
    server.routes["/short/a.gz"] = (200, body[:1000], len(body))  # closes early
    with pytest.raises(datasets.DownloadError, match="truncated|IncompleteRead|1000"):
        datasets.fetch({"a.gz": md5(body)}, tmp_path, [server.url + "/short/"], 5)
    assert list(tmp_path.iterdir()) == []


def test_fetch_stops_at_the_size_limit(server, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_DOWNLOAD_BYTES", 5000)
    body = bytes(10_000)
    server.routes["/big/a.gz"] = (200, body, None)  # declares its 10000 bytes
    server.routes["/quiet/a.gz"] = (200, body, -1)  # declares nothing
    with pytest.raises(datasets.DownloadError, match="declares 10000 bytes, more than 5000"):
        datasets.fetch({"a.gz": md5(body)}, tmp_path, [server.url + "/big/"], 5)
    with pytest.raises(datasets.DownloadError, match="more than 5000 bytes; stopped"):
        datasets.fetch({"a.gz": md5(body)}, tmp_path, [server.url + "/quiet/"], 5)
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


def test_a_placed_file_with_wrong_checksum_is_never_called_deletable(tmp_path):
    (tmp_path / "a.gz").write_bytes(b"corrupt")
    with pytest.raises(ValueError, match="did not download this file") as info:
        datasets.fetch({"a.gz": md5(b"good")}, tmp_path, ["http://127.0.0.1:9/"], 1)
    assert "delete" not in str(info.value)
    assert (tmp_path / "a.gz").read_bytes() == b"corrupt"


def test_a_downloaded_file_gone_bad_may_be_deleted(server, tmp_path):
    server.routes["/m/a.gz"] = (200, b"good bytes", None)
    (path,) = datasets.fetch({"a.gz": md5(b"good bytes")}, tmp_path, [server.url + "/m/"]).values()
    stat = path.stat()
    path.write_bytes(b"bad! bytes")  # the disk flips bits: same size, same time
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(ValueError, match="fastnn downloaded it, so delete it"):
        datasets.fetch({"a.gz": md5(b"good bytes")}, tmp_path, [server.url + "/m/"])
    path.write_bytes(b"the user's")  # rewritten since: no longer fastnn's own
    with pytest.raises(ValueError, match="did not download this file"):
        datasets.fetch({"a.gz": md5(b"good bytes")}, tmp_path, [server.url + "/m/"])


# -- Fashion-MNIST: the content is checked, not the compression ----------------------------------


@pytest.fixture
def fake_fashion(monkeypatch):
    """Tiny files standing in for Fashion-MNIST, with their checksums in place of the real ones."""
    files, arrays = fake_idx_files()
    monkeypatch.setattr(mnist, "FASHION_MNIST_MD5", {n: md5(d) for n, d in files.items()})
    monkeypatch.setattr(mnist, "FASHION_MNIST_CONTENT_MD5", content_md5s(files))
    return files, arrays


OFFLINE = ["http://127.0.0.1:9/"]


@pytest.mark.parametrize("form", ["published", "recompressed", "plain", "dotted"])
def test_fashion_mnist_accepts_any_compression_of_the_right_content(tmp_path, fake_fashion, form):
    files, arrays = fake_fashion
    for name, data in files.items():
        if form == "recompressed":  # as Debian's dataset-fashion-mnist ships them
            (tmp_path / name).write_bytes(recompressed(data))
        elif form == "plain":
            (tmp_path / name[:-3]).write_bytes(gzip.decompress(data))
        elif form == "dotted":
            (tmp_path / name.replace("-idx", ".idx")).write_bytes(data)
        else:
            (tmp_path / name).write_bytes(data)
    loaded = datasets.load_fashion_mnist(data_dir=tmp_path, mirrors=OFFLINE, timeout=1)
    (X_train, _), (_, y_test) = loaded
    assert X_train.shape == (12, 784)
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"][0])


def test_fashion_mnist_refuses_wrong_content_and_keeps_the_file(tmp_path, fake_fashion):
    files, _ = fake_fashion
    other, _ = fake_idx_files(seed=1)
    for name, data in files.items():
        (tmp_path / name).write_bytes(other[name] if "t10k-images" in name else data)
    with pytest.raises(ValueError) as info:
        datasets.load_fashion_mnist(data_dir=tmp_path, mirrors=OFFLINE, timeout=1)
    text = str(info.value)
    assert "t10k-images-idx3-ubyte.gz: its content (decompressed) has md5" in text
    assert "delete" not in text and len(text.splitlines()) == 1
    assert (tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes() == other[
        "t10k-images-idx3-ubyte.gz"
    ]


def test_fashion_mnist_downloads_only_what_is_missing(server, tmp_path, fake_fashion):
    files, _ = fake_fashion
    for name, data in files.items():
        server.routes[f"/fm/{name}"] = (200, data, None)
    placed = "train-images-idx3-ubyte.gz"
    (tmp_path / placed[:-3]).write_bytes(gzip.decompress(files[placed]))
    datasets.load_fashion_mnist(data_dir=tmp_path, mirrors=[server.url + "/fm/"], timeout=5)
    assert sorted(server.requests) == sorted(f"/fm/{n}" for n in files if n != placed)


def test_fashion_mnist_without_download_names_what_is_missing(tmp_path, fake_fashion):
    with pytest.raises(FileNotFoundError, match="lacks train-images-idx3-ubyte.gz"):
        datasets.load_fashion_mnist(data_dir=tmp_path, download=False)


def test_fashion_mnist_downloads_into_fastnn_data(server, tmp_path, monkeypatch, fake_fashion):
    files, _ = fake_fashion
    for name, data in files.items():
        server.routes[f"/fm/{name}"] = (200, data, None)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path))
    (X_train, _), _ = datasets.load_fashion_mnist(mirrors=[server.url + "/fm/"], timeout=5)
    assert X_train.shape == (12, 784)
    folder = tmp_path / "fashion-mnist"
    assert sorted(p.name for p in folder.iterdir() if p.name[0] != ".") == sorted(files)


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_debian_fashion_mnist_package_is_accepted():
    """Debian re-gzips the files: their .gz checksums differ, their content does not."""
    gz = {name: download._checksum_of(DEBIAN_FASHION_MNIST / name, "md5") for name in
          datasets.FASHION_MNIST_MD5}  # fmt: skip
    assert gz != datasets.FASHION_MNIST_MD5
    (X_train, y_train), (X_test, y_test) = datasets.load_fashion_mnist(
        data_dir=DEBIAN_FASHION_MNIST, download=False
    )
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_data_home_order(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "env"))
    assert datasets.data_home(tmp_path / "given") == tmp_path / "given"
    assert datasets.data_home() == tmp_path / "env"
    monkeypatch.delenv("FASTNN_DATA")
    assert datasets.data_home().name == "fastnn"


def test_published_fashion_mnist_checksums():
    assert set(datasets.FASHION_MNIST_MD5) == set(datasets.IDX_FILES.values())
    assert set(datasets.FASHION_MNIST_CONTENT_MD5) == {n[:-3] for n in datasets.IDX_FILES.values()}
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


# -- the one train/test split --------------------------------------------------------------------


@pytest.mark.parametrize("test_size", [0.2, 0.25, 7, 4])
@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("stratify", [False, True])
def test_split_gives_scikit_learns_rows(test_size, seed, stratify):
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    y = np.repeat([0, 1, 2, 3], 10)
    expected = train_test_split(X, y, test_size=test_size, random_state=seed,
                                stratify=y if stratify else None)  # fmt: skip
    got = datasets.split(X, y, test_size, seed=seed, stratify=stratify)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    train, test = datasets.split_indices(40, test_size, seed, y if stratify else None)
    np.testing.assert_array_equal(X[train], expected[0])
    np.testing.assert_array_equal(X[test], expected[1])


def test_split_errors_are_one_line():
    with pytest.raises(ValueError, match="cannot split 3 rows with test_size=5"):
        datasets.split_indices(3, 5)
    with pytest.raises(ValueError, match="cannot split 4 rows"):
        datasets.split(np.zeros((4, 1)), [0, 0, 0, 1], 0.5, stratify=True)
