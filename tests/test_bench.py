"""``fastnn bench``: the timing logic on tiny settings, through the API and the command line,
on MNIST's dense rows and on bag-of-words CSR rows.

PyTorch and JAX are optional: their tests are skipped when the package is missing.
"""

import json
import math
import shlex
import subprocess
import sys

import numpy as np
import pytest

import fastnn as fn
from fastnn import bench, cli
from fastnn.bench import jobs, peers, runner
from fastnn.bench.data import BagOfWords, Mnist, padded_rows

pytestmark = pytest.mark.slow

ROW_FIELDS = {
    "implementation", "network", "optimizer", "regime", "batch_size", "lr", "samples", "threads",
    "times_s", "warmup_s", "median_s", "min_s", "samples_per_s", "test_accuracy", "accuracies",
    "reference_samples_per_s", "speedup", "accuracy_flag",
}  # fmt: skip
TINY = dict(samples=300, numpy_samples=100, peer_samples=100, repeat=1)


@pytest.fixture(scope="module")
def mnist():
    (X, y), (X_test, y_test) = fn.datasets.load_mnist()
    return (X[:1000], y[:1000]), (X_test[:2000], y_test[:2000])


@pytest.fixture(autouse=True)
def no_settling(monkeypatch):
    """No pause between the runs of these small benchmarks (see the test of the pause)."""
    monkeypatch.setattr(runner, "SETTLE_SECONDS", 0.0)


def test_each_run_starts_after_a_pause_outside_its_timing(monkeypatch):
    """The timed region of a run starts after a pause of SETTLE_SECONDS, which it does not
    count, so that threads a previous run left spinning have gone to sleep."""
    monkeypatch.setattr(runner, "SETTLE_SECONDS", 0.05)
    calls = []
    real_sleep = runner.time.sleep
    monkeypatch.setattr(runner.time, "sleep", lambda s: calls.append(s) or real_sleep(s))
    job = bench.Job("fastnn numba", "batch", 128, 0.1, 1000, "1", lambda: None, lambda: None,
                    lambda: 1.0)  # fmt: skip
    runner.time_jobs([job], repeat=2)
    assert calls == [0.05] * 3  # the warm-up run too
    assert len(job.times) == 2 and max(job.times) < 0.05


def missing(*names):
    """A stand-in for peers.import_peer under which ``names`` are not installed."""
    real = peers.import_peer

    def fake(name):
        if name in names:
            raise ImportError(f"No module named {name!r}")
        return real(name)

    return fake


def rows_of(result, implementation):
    return [r for r in result["results"] if r["implementation"].startswith(implementation)]


def fastnn_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "fastnn.cli", "bench", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_initial_weights_are_he_then_glorot():
    (W1, b1), (W2, b2) = bench.initial_weights(0)
    assert W1.shape == (784, 128) and W2.shape == (128, 10) and W1.dtype == np.float32
    assert abs(W1.std() / math.sqrt(2 / 784) - 1) < 0.02
    assert np.abs(W2).max() <= math.sqrt(6 / 138) and not b1.any() and not b2.any()


def test_run_times_both_backends_in_both_regimes(mnist):
    result = bench.run(data=mnist, **TINY)
    rows = result["results"]
    assert set(result) == {"date", "command", "settings", "machine", "notes", "results"}
    assert all(set(row) == ROW_FIELDS for row in rows)
    seen = {(r["implementation"], r["regime"], r["samples"]) for r in rows}
    assert seen == {
        ("fastnn numba", "per-sample", 300),
        ("fastnn numba", "per-sample", 100),  # the reference for the numpy slice
        ("fastnn numpy", "per-sample", 100),
        ("fastnn numba", "batch", 300),
        ("fastnn numpy", "batch", 300),
    }
    for row in rows:
        assert len(row["times_s"]) == 1 and row["warmup_s"] > 0 and row["median_s"] > 0
        assert row["samples_per_s"] == pytest.approx(row["samples"] / row["median_s"])
        assert row["speedup"] == pytest.approx(
            row["reference_samples_per_s"] / row["samples_per_s"]
        )
        assert 0 <= row["test_accuracy"] <= 1
    # one job, two backends: the same weights and samples reach the same accuracy
    by_key = {(r["implementation"], r["regime"], r["samples"]): r for r in rows}
    for regime, n in (("per-sample", 100), ("batch", 300)):
        numba = by_key["fastnn numba", regime, n]["test_accuracy"]
        assert by_key["fastnn numpy", regime, n]["test_accuracy"] == pytest.approx(numba, abs=2e-3)
        assert by_key["fastnn numba", regime, n]["speedup"] == 1.0
    machine = result["machine"]
    assert machine["cores"] >= 1 and machine["versions"]["numpy"] == np.__version__
    assert result["settings"]["batch_sizes"] == {"per-sample": 1, "batch": 128}
    text = bench.format_report(result)
    assert "fastnn numpy" in text and "numba speed-up" in text and "slice" in text


def test_one_regime_and_options(mnist):
    result = bench.run(
        data=mnist, regime="batch", batch_size=64, lr_batch=0.05, samples=200, repeat=2
    )
    assert {r["regime"] for r in result["results"]} == {"batch"}
    assert all(r["batch_size"] == 64 and r["lr"] == 0.05 for r in result["results"])
    assert all(len(r["times_s"]) == 2 for r in result["results"])


def test_missing_peers_are_skipped_with_a_note(mnist, monkeypatch, capsys):
    monkeypatch.setattr(peers, "import_peer", missing("torch", "jax"))
    result = bench.run(data=mnist, peers=True, **TINY)
    notes = " ".join(result["notes"])
    assert "PyTorch is not installed" in notes and "JAX is not installed" in notes
    assert not rows_of(result, "PyTorch") and not rows_of(result, "JAX")
    sklearn = rows_of(result, "scikit-learn")  # a dependency of fastnn: always there
    assert [(r["regime"], r["samples"]) for r in sklearn] == [("per-sample", 100), ("batch", 300)]
    assert "note: PyTorch is not installed" in bench.format_report(result)


def test_a_peer_that_fails_is_dropped_with_a_note(mnist, monkeypatch):
    class Broken:
        class MLPClassifier:
            def __init__(self, **params):
                pass

            def partial_fit(self, X, y, classes):
                raise RuntimeError("no luck")

    monkeypatch.setattr(
        peers, "import_peer", lambda name: Broken if name == "sklearn" else missing(name)(name)
    )
    result = bench.run(data=mnist, peers=True, regime="batch", samples=200, repeat=1)
    assert not rows_of(result, "scikit-learn")
    assert any("failed and was dropped: RuntimeError: no luck" in n for n in result["notes"])


def test_much_worse_accuracy_is_flagged():
    def job(name, accuracy):
        j = bench.Job(name, "batch", 128, 0.1, 1000, "1", None, None, None)
        j.times, j.accuracies = [0.5], [accuracy]
        return j

    rows = runner.results([job("fastnn numba", 0.90), job("A", 0.89), job("B", 0.70)])
    assert [r["accuracy_flag"] is None for r in rows] == [True, True, False]
    result = {
        "settings": {"regimes": ["batch"], "batch_sizes": {"batch": 128}, "lrs": {"batch": 0.1},
                     "seed": 0, "repeat": 1, "samples": 1000, "test_samples": 10,
                     "torch_threads": [1], "network": "n", "optimizer": "sgd",
                     "optimizer_description": "o"},
        "machine": bench.machine_info(),
        "notes": [],
        "results": rows,
    }  # fmt: skip
    assert "! B, batch 128: test accuracy 0.7000 is more than" in bench.format_report(result)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"repeat": 0}, "repeat must be an integer >= 1; got 0"),
        ({"samples": 60001}, "samples must be at most 60000"),
        ({"regime": "fast"}, "regime must be one of"),
        ({"lr_batch": 0.0}, "lr_batch must be a finite number > 0"),
        ({"torch_threads": ()}, "torch_threads must name"),
        ({"torch_threads": (1, 5000)}, "torch_threads must be at most 1024"),
        ({"samples": 100, "batch_size": 101}, "batch_size must be at most samples"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bench.run(**kwargs)


def test_samples_beyond_the_data_given_are_refused(mnist):
    with pytest.raises(ValueError, match="samples must be at most 1000, the size of the"):
        bench.run(data=mnist, samples=1001)


def test_command_line_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    run = fastnn_cli("--samples", 500, "--numpy-samples", 200, "--repeat", 1, "--json", out)
    assert run.returncode == 0, run.stderr
    assert "warm-up round" in run.stderr and "Traceback" not in run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("fastnn bench: one epoch of MNIST, 784-128-10")
    assert any(line.startswith("per-sample  fastnn numpy") and " 200 " in line for line in lines)
    assert any(line.startswith("batch 128   fastnn numba") for line in lines)
    assert f"wrote {out}" in run.stdout
    saved = json.loads(out.read_text())
    assert saved["settings"]["samples"] == 500 and saved["settings"]["numpy_samples"] == 200
    assert len(saved["results"]) == 5 and all(set(r) == ROW_FIELDS for r in saved["results"])
    assert {"cpu", "cores", "versions", "env", "blas"} <= set(saved["machine"])
    assert saved["command"] == shlex.join(["fastnn", "bench", "--samples", "500",
                                           "--numpy-samples", "200", "--repeat", "1",
                                           "--json", str(out)])  # fmt: skip
    assert saved["date"].endswith("+00:00")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--repeat", "0"], "--repeat must be an integer >= 1; got 0"),
        (["--samples", "0"], "--samples must be an integer >= 1; got 0"),
        (["--samples", "70000"], "--samples must be at most 60000"),
        (["--numpy-samples", "0"], "--numpy-samples must be"),
        (["--peer-samples", "-5"], "--peer-samples must be"),
        (["--batch-size", "1"], "--batch-size must be an integer >= 2"),
        (["--lr-batch", "0"], "--lr-batch must be a finite number > 0"),
        (["--lr-per-sample", "inf"], "--lr-per-sample must be"),
        (["--torch-threads", "1,x"], "--torch-threads must be"),
        (["--json", "no/such/folder/out.json"], "--json no/such/folder/out.json"),
        (["--json", "."], "--json .: is a folder"),
        (["--samples", "100", "--batch-size", "101"], "--batch-size must be at most 100"),
        (["--torch-threads", "1,100000"], "--torch-threads must be at most 1024"),
        (["--seed", "-1"], "--seed must be an integer >= 0"),
    ],
)
def test_bad_options_give_one_line_and_status_2(args, message, capsys):
    assert cli.main(["bench", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn bench: error: ") and message in err
    assert err.count("\n") == 1


def test_write_json_leaves_nothing_behind_when_it_fails(tmp_path):
    path = tmp_path / "bench.json"
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        bench.write_json({"results": [object()]}, path)
    assert list(tmp_path.iterdir()) == []
    bench.write_json({"results": [np.float32(0.5)]}, path)
    assert json.loads(path.read_text()) == {"results": [0.5]}


def test_bad_option_in_a_subprocess():
    run = fastnn_cli("--repeat", "0")
    assert run.returncode == 2
    assert run.stderr == "fastnn bench: error: --repeat must be an integer >= 1; got 0\n"


def test_help_lists_the_options():
    run = subprocess.run(
        [sys.executable, "-m", "fastnn.cli", "bench", "--help"], capture_output=True, text=True
    )
    assert run.returncode == 0
    for option in ("--peers", "--regime", "--repeat", "--samples", "--numpy-samples",
                   "--peer-samples", "--torch-threads", "--json"):  # fmt: skip
        assert option in run.stdout


def _same_job_as_fastnn(result, peer):
    """The peer's rows reach fastnn numba's accuracy on the same samples: the same job."""
    rows = rows_of(result, peer)
    assert rows
    for row in rows:
        assert row["reference_samples_per_s"] is not None and row["speedup"] > 0
        reference = [
            r for r in rows_of(result, "fastnn numba")
            if (r["regime"], r["samples"]) == (row["regime"], row["samples"])
        ]  # fmt: skip
        assert row["test_accuracy"] == pytest.approx(reference[0]["test_accuracy"], abs=5e-3)
    return rows


def test_the_numba_rows_name_the_threads_that_train(mnist):
    """Per sample one thread; in batches the threads that share each batch (as many as the
    first layer's blocks and the CPUs allow)."""
    from fastnn.kernels.epoch import batch_threads

    result = bench.run(data=mnist, **TINY)
    rows = {r["regime"]: r for r in rows_of(result, "fastnn numba")}
    model = fn.Sequential(fn.dense_stack([784, 128, 10]))
    model._build()
    assert rows["per-sample"]["threads"] == "1"
    assert rows["batch"]["threads"] == str(batch_threads(model._layout, 128))


def test_pytorch_peer(mnist, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr(peers, "import_peer", missing("jax", "sklearn"))
    result = bench.run(data=mnist, peers=True, torch_threads=(1,), **TINY)
    rows = _same_job_as_fastnn(result, "PyTorch")
    assert [(r["regime"], r["samples"], r["threads"]) for r in rows] == [
        ("per-sample", 100, "1"),
        ("batch", 300, "1"),
    ]


def test_jax_peer(mnist, monkeypatch):
    pytest.importorskip("jax")
    monkeypatch.setattr(peers, "import_peer", missing("torch", "sklearn"))
    result = bench.run(data=mnist, peers=True, **TINY)
    rows = _same_job_as_fastnn(result, "JAX")
    assert [(r["regime"], r["samples"]) for r in rows] == [("per-sample", 300), ("batch", 300)]


# -- Adam and other networks -----------------------------------------------------------------


def job_settings(data, kind=None, **kwargs):
    """The checked settings of a run, with the initial weights, and the data as jobs take it."""
    kind = kind or Mnist()
    settings = runner.check_settings(kind, **kwargs)
    return settings, runner.load_data(kind, data, settings)


def trained(job):
    job.prepare()
    job.epoch()
    return job.weights()


def largest_difference(got, want):
    assert [W.shape for W, _ in got] == [W.shape for W, _ in want]
    return np.concatenate(
        [
            np.abs(a - b).ravel()
            for (W, b), (W2, b2) in zip(got, want)
            for a, b in ((W, W2), (b, b2))
        ]
    )


def test_adam_on_two_hidden_layers(mnist, tmp_path):
    result = bench.run(data=mnist, optimizer="adam", hidden=(32, 16), **TINY)
    rows = result["results"]
    assert len(rows) == 5 and all(set(row) == ROW_FIELDS for row in rows)
    assert {(r["network"], r["optimizer"]) for r in rows} == {("784-32-16-10", "adam")}
    assert {(r["regime"], r["lr"]) for r in rows} == {("per-sample", 0.0005), ("batch", 0.001)}
    by_key = {(r["implementation"], r["regime"], r["samples"]): r for r in rows}
    for regime, n in (("per-sample", 100), ("batch", 300)):
        numba = by_key["fastnn numba", regime, n]["test_accuracy"]
        assert by_key["fastnn numpy", regime, n]["test_accuracy"] == pytest.approx(numba, abs=2e-3)
        assert numba > 0.15  # it learned: the initial weights score 0.065
    settings = result["settings"]
    assert settings["hidden"] == [32, 16] and settings["optimizer"] == "adam"
    assert settings["adam"] == {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    assert settings["lrs"] == {"per-sample": 0.0005, "batch": 0.001}
    text = bench.format_report(result)
    assert (
        text.startswith("fastnn bench: one epoch of MNIST, 784-32-16-10, ReLU") and "Adam" in text
    )
    header, *table = text.split("\n\n")[1].splitlines()
    assert header.split()[:3] == ["regime", "implementation", "network"]
    assert len(table) == 5 and all(" 784-32-16-10 " in line for line in table)
    saved = json.loads(
        bench.write_json(result, tmp_path / "b.json") and (tmp_path / "b.json").read_text()
    )
    assert saved["settings"]["hidden"] == [32, 16] and saved["settings"]["optimizer"] == "adam"
    assert all(r["network"] == "784-32-16-10" for r in saved["results"])


def test_learning_rates_given_override_the_optimizers_defaults(mnist):
    result = bench.run(data=mnist, optimizer="adam", regime="batch", lr_batch=0.002, samples=200)
    assert {r["lr"] for r in result["results"]} == {0.002}
    result = bench.run(data=mnist, regime="per-sample", samples=50, numpy_samples=50, hidden=[])
    assert {(r["lr"], r["network"]) for r in result["results"]} == {(0.01, "784-10")}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
        ({"hidden": (16, 0)}, "hidden must be an integer >= 1; got 0"),
        ({"hidden": "128"}, "hidden must be an integer"),
        ({"optimizer": "adam", "lr_per_sample": -1.0}, "lr_per_sample must be a finite number > 0"),
    ],
)
def test_bad_optimizer_and_network_settings(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        bench.run(**kwargs)


def test_command_line_adam_and_hidden(tmp_path, capsys):
    out = tmp_path / "adam.json"
    args = ["--optimizer", "adam", "--hidden", "16,16", "--regime", "batch", "--samples", "256",
            "--repeat", "1", "--quiet", "--json", out]  # fmt: skip
    assert cli.main(["bench", *map(str, args)]) == 0
    printed = capsys.readouterr().out
    assert "784-16-16-10" in printed and "batch 128 lr 0.001" in printed
    saved = json.loads(out.read_text())
    assert saved["settings"]["optimizer"] == "adam" and saved["settings"]["hidden"] == [16, 16]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--hidden", "100000,100000"], "10,079,600,010 parameters (--hidden) would need"),
        (["--optimizer", "adam", "--lr-batch", "0"], "--lr-batch must be a finite number > 0"),
    ],
)
def test_bad_network_or_lr_gives_one_line(args, message, capsys):
    assert cli.main(["bench", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn bench: error: ") and message in err and err.count("\n") == 1


def test_help_mentions_the_optimizer_and_the_network():
    run = subprocess.run(
        [sys.executable, "-m", "fastnn.cli", "bench", "--help"], capture_output=True, text=True
    )
    text = " ".join(run.stdout.split())
    assert "--optimizer {sgd,adam}" in text and "--hidden" in text
    assert "0.01 with sgd, 0.0005 with adam" in text and "0.1 with sgd, 0.001 with adam" in text


def test_sklearn_starts_from_fastnns_weights_on_any_network(mnist):
    # three equal hidden layers: two layers of the same shape, each with its own weights
    settings, data = job_settings(mnist, samples=100, hidden=(16, 16, 16), optimizer="adam",
                                  lr_batch=1e-9, batch_size=50)  # fmt: skip
    module = peers.import_peer("sklearn")
    job = peers.sklearn_job(module, data, "batch", 100, settings, {})
    # two Adam steps of 1e-9 each: the weights are still the initial ones
    assert largest_difference(trained(job), settings["weights"]).max() < 1e-8
    assert job.network == "" and 0 <= job.accuracy() <= 1


@pytest.mark.parametrize("hidden", [(128,), (32, 16)])
@pytest.mark.parametrize("regime", ["per-sample", "batch"])
def test_jax_adam_epoch_gives_fastnns_weights(mnist, hidden, regime):
    """JAX's hand-written Adam, from the same weights in the same order, reaches fastnn numba's
    weights within float32 rounding. Adam divides by the root of the second moment, so where a
    gradient is tiny a rounding difference in it moves a weight by up to the step size: the
    largest differences are a few 1e-6 (the numpy backend's are smaller, as it shares the
    kernels' order of operations), and nearly all are below 5e-7."""
    jax = pytest.importorskip("jax")
    settings, data = job_settings(mnist, samples=256, batch_size=32, hidden=hidden,
                                  optimizer="adam")  # fmt: skip
    n = 200 if regime == "per-sample" else 256
    fastnn = trained(jobs.fastnn_job("numba", data, regime, n, settings))
    moved = largest_difference(fastnn, settings["weights"]).max()
    assert moved > 5 * settings["lrs"][regime]  # several Adam steps of about lr each
    numpy = largest_difference(trained(jobs.fastnn_job("numpy", data, regime, n, settings)), fastnn)
    jax_ = largest_difference(trained(peers.jax_job(jax, data, regime, n, settings, {})), fastnn)
    assert numpy.max() < 2e-6 and jax_.max() < 2e-5
    assert np.quantile(jax_, 0.999) < 5e-7


@pytest.mark.parametrize("peer", ["jax", "torch"])
def test_sgd_peers_give_fastnns_weights(mnist, peer):
    module = pytest.importorskip(peer)
    settings, data = job_settings(mnist, samples=256, batch_size=32, hidden=(32, 16),
                                  torch_threads=(1,))  # fmt: skip
    for regime, n in (("per-sample", 200), ("batch", 256)):
        fastnn = trained(jobs.fastnn_job("numba", data, regime, n, settings))
        if peer == "jax":
            job = peers.jax_job(module, data, regime, n, settings, {})
        else:
            job = peers.torch_job(module, data, regime, n, settings, 1)
        assert largest_difference(trained(job), fastnn).max() < 1e-6


def test_pytorch_adam_is_noted_and_reaches_the_same_accuracy(mnist, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr(peers, "import_peer", missing("jax", "sklearn"))
    result = bench.run(data=mnist, peers=True, torch_threads=(1,), optimizer="adam",
                       hidden=(64,), **TINY)  # fmt: skip
    rows = _same_job_as_fastnn(result, "PyTorch")
    assert {r["network"] for r in rows} == {"784-64-10"}
    assert any("torch.optim.Adam adds eps" in note for note in result["notes"])


def test_jax_adam_peer(mnist, monkeypatch):
    pytest.importorskip("jax")
    monkeypatch.setattr(peers, "import_peer", missing("torch", "sklearn"))
    result = bench.run(data=mnist, peers=True, optimizer="adam", hidden=(32, 16), **TINY)
    rows = _same_job_as_fastnn(result, "JAX")
    assert [(r["regime"], r["samples"]) for r in rows] == [("per-sample", 300), ("batch", 300)]
    assert not any("torch.optim.Adam" in note for note in result["notes"])


def test_sklearn_adam_peer(mnist, monkeypatch):
    monkeypatch.setattr(peers, "import_peer", missing("torch", "jax"))
    result = bench.run(data=mnist, peers=True, optimizer="adam", hidden=(32, 16), **TINY)
    rows = rows_of(result, "scikit-learn")
    assert [(r["regime"], r["samples"], r["lr"]) for r in rows] == [
        ("per-sample", 100, 0.0005),
        ("batch", 300, 0.001),
    ]
    assert all(r["network"] == "784-32-16-10" and 0 < r["test_accuracy"] <= 1 for r in rows)


# -- sparse rows: bag-of-words, and MNIST as CSR ---------------------------------------------

TINY_BAG = BagOfWords(documents=600, features=500, classes=4, words=30)


@pytest.fixture(scope="module")
def bag():
    """The tiny bag-of-words data, generated once: its training rows, as the kind returns
    them, in the form ``run`` and ``load_data`` take."""
    data = TINY_BAG.load(0)
    return (data["X"], data["y"]), (data["X_test"], data["y_test"])


def test_padded_rows_hold_the_csr_rows():
    import scipy.sparse as sp

    X = sp.csr_matrix(np.array([[0, 2, 0, 3], [0, 0, 0, 0], [1, 0, 0, 0]], np.float32))
    values, columns = padded_rows(X)
    assert values.shape == columns.shape == (3, 2)
    dense = np.zeros((3, 4), np.float32)
    np.add.at(dense, (np.repeat(np.arange(3), 2), columns.ravel()), values.ravel())
    np.testing.assert_array_equal(dense, X.toarray())


def test_bag_of_words_data():
    data = TINY_BAG.load(0)
    assert data["X"].shape == (480, 500) and data["X_test"].shape == (120, 500)
    assert data["X"].format == "csr" and data["X"].dtype == np.float32
    assert TINY_BAG.train_rows == 480 and data["y"].dtype == np.int64
    assert "480 training rows, 120 test rows" in data["description"]
    again = TINY_BAG.load(0)  # the same seed: the same rows in the same order
    assert (again["X"] != data["X"]).nnz == 0 and (again["y"] == data["y"]).all()


def installed_peers(*names):
    """The modules of those of ``names`` that are installed."""
    modules = {}
    for name in names:
        try:
            modules[name] = peers.import_peer(name)
        except ImportError:
            pass
    return modules


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_bag_of_words_peers_give_fastnns_weights(bag, optimizer):
    """From the same weights, in the same order, every peer on the CSR rows (PyTorch's
    EmbeddingBag, JAX's BCOO rows, both JAX styles, scikit-learn on the matrix) reaches fastnn
    numba's weights within float32 rounding. With Adam, lazy Adam: PyTorch's SparseAdam
    and JAX by hand (PyTorch's torch.optim.Adam on the other layers adds eps after the bias
    correction, hence its looser bound); scikit-learn, which has no lazy Adam, is left out."""
    settings, data = job_settings(bag, TINY_BAG, batch_size=32, optimizer=optimizer,
                                  torch_threads=(1,), hidden=(32, 16))  # fmt: skip
    assert settings["lazy"] == (optimizer == "adam") and not settings["shuffle"]
    modules = installed_peers("torch", "jax", *(["sklearn"] if optimizer == "sgd" else []))
    tolerance = {"torch": 1e-6 if optimizer == "sgd" else 2e-4, "jax": 2e-5, "sklearn": 1e-6}
    for regime, n in (("per-sample", 200), ("batch", 480)):
        fastnn = trained(jobs.fastnn_job("numba", data, regime, n, settings))
        assert largest_difference(fastnn, settings["weights"]).max() > 1e-3  # it trained
        numpy = trained(jobs.fastnn_job("numpy", data, regime, n, settings))
        assert largest_difference(numpy, fastnn).max() < 1e-5
        for name, module in modules.items():
            for job in peers.peer_jobs(name, module, data, regime, n, settings, {}, {}):
                difference = largest_difference(trained(job), fastnn).max()
                assert difference < tolerance[name], (job.implementation, regime, difference)


def test_bag_of_words_run(bag, monkeypatch):
    monkeypatch.setattr(peers, "import_peer", missing("torch", "jax"))
    result = bench.run(dataset=TINY_BAG, data=bag, peers=True, repeat=1, peer_samples=100)
    rows = result["results"]
    assert all(set(row) == ROW_FIELDS for row in rows)
    assert [(r["implementation"], r["regime"], r["samples"]) for r in rows] == [
        ("fastnn numba", "per-sample", 480),
        ("fastnn numba", "per-sample", 100),  # the reference of the slow slice
        ("fastnn numpy", "per-sample", 100),
        ("scikit-learn MLPClassifier", "per-sample", 100),
        ("fastnn numba", "batch", 480),
        ("fastnn numpy", "batch", 480),
        ("scikit-learn MLPClassifier", "batch", 480),
    ]
    assert {r["network"] for r in rows} == {"500-256-4"}
    by_key = {(r["implementation"], r["regime"], r["samples"]): r for r in rows}
    for regime, n in (("per-sample", 100), ("batch", 480)):
        numba = by_key["fastnn numba", regime, n]["test_accuracy"]
        for name in ("fastnn numpy", "scikit-learn MLPClassifier"):
            assert by_key[name, regime, n]["test_accuracy"] == pytest.approx(numba, abs=1e-9)
    assert all(r["accuracy_flag"] is None and r["warmup_s"] > 0 for r in rows)
    settings = result["settings"]
    assert settings["data"]["name"] == "bag-of-words" and settings["lrs"]["per-sample"] == 0.05
    assert settings["warmup_samples"] == 64 and settings["samples"] == 480
    text = bench.format_report(result)
    assert text.startswith("fastnn bench: one epoch of bag-of-words, 500-256-4, ReLU")
    assert "data: bag-of-words, fastnn.datasets.make_bag_of_words(documents=600" in text
    assert "warm-up on each job's first 64 rows" in text


def test_mnist_as_csr_rows(mnist):
    result = bench.run(data=mnist, csr=True, regime="batch", samples=300, repeat=1)
    rows = {r["implementation"]: r for r in result["results"]}
    csr, dense = rows["fastnn numba, CSR rows"], rows["fastnn numba"]
    assert csr["samples"] == dense["samples"] == 300
    assert csr["test_accuracy"] == dense["test_accuracy"]
    assert csr["speedup"] == pytest.approx(csr["median_s"] / dense["median_s"])
    with pytest.raises(ValueError, match="csr applies to dense data"):
        bench.run(dataset="bag-of-words", csr=True)


def test_command_line_bag_of_words(tmp_path, capsys):
    out = tmp_path / "bag.json"
    args = ["--data", "bag-of-words", "--documents", 300, "--features", 200, "--classes", 4,
            "--words", 20, "--regime", "batch", "--repeat", 1, "--peers", "sklearn", "--quiet",
            "--json", out]  # fmt: skip
    assert cli.main(["bench", *map(str, args)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("fastnn bench: one epoch of bag-of-words, 200-256-4")
    assert "scikit-learn MLPClassifier" in printed and "batch 128 lr 0.1" in printed
    saved = json.loads(out.read_text())
    assert saved["settings"]["data"]["features"] == 200 and saved["settings"]["peers"] == [
        "sklearn"
    ]
    assert {r["implementation"] for r in saved["results"]} == {
        "fastnn numba", "fastnn numpy", "scikit-learn MLPClassifier"
    }  # fmt: skip


@pytest.mark.parametrize(
    "args, message",
    [
        (["--features", "100"], "--features applies to --data bag-of-words only"),
        (["--data", "bag-of-words", "--csr"], "--csr applies to --data mnist"),
        (["--data", "bag-of-words", "--classes", "1"], "--classes must be an integer >= 2"),
        (["--data", "bag-of-words", "--features", "7", "--classes", "4"], "--features must be"),
        (["--data", "bag-of-words", "--words", "0"], "--words must be a finite number > 0"),
        (["--data", "bag-of-words", "--samples", "40001"], "--samples must be at most 40000"),
        (["--peers", "torch,keras"], "--peers must name peers among torch, jax, sklearn"),
    ],
)
def test_bad_bag_of_words_options_give_one_line(args, message, capsys):
    assert cli.main(["bench", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn bench: error: ") and message in err and err.count("\n") == 1
