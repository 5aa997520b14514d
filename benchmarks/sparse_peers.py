"""One epoch of a bag-of-words classifier on sparse (CSR) input: fastnn against its peers.

The job: a ``features-hidden-classes`` ReLU network (default 100000-256-20) with softmax
cross-entropy, float32, plain SGD (no momentum, decay or penalty), one epoch over the training
rows of ``fastnn.datasets.make_bag_of_words(samples, features, classes, words, seed)`` split
80/20 into train and test (``fastnn.datasets.split_indices``), in two regimes: per sample
(batch size 1, lr 0.05) and in batches of 128 (lr 0.1, the mean loss's gradient).

Every implementation starts from fastnn's initial weights for ``--seed`` (He normal for the ReLU
layer, Glorot uniform for the output layer, zero biases) and visits the training rows in the
same order: the rows are permuted once, up front (the split's shuffled order), and every
implementation then trains without shuffling. From the same start and order they reach the same
weights up to float32 rounding, so the test accuracies after the epoch agree.

- fastnn: ``Sequential(dense_stack([F, H, C], activation="relu"), loss="softmax_cross_entropy",
  backend="numba")`` with the shared weights set, then ``model.fit(X_csr, y, epochs=1,
  batch_size=..., optimizer=fastnn.SGD(lr=...), shuffle=False, verbose=0)`` on the CSR matrix:
  the call a user makes, input checks included. Should this fastnn not accept CSR input yet, it
  trains on a dense copy of the rows instead (small sizes only) and the report says so loudly.
- scikit-learn: ``MLPClassifier(solver="sgd", momentum=0, nesterovs_momentum=False, alpha=0,
  learning_rate="constant", batch_size=..., max_iter=1, shuffle=False)``, one
  ``partial_fit(X_csr, y, classes=range(C))`` (one pass over the rows, every class known),
  started from the shared weights by overriding its ``_init_coef`` (as ``fastnn.bench.peers``
  does for the dense benchmark).
- PyTorch, as bag-of-words models are written in it: ``nn.EmbeddingBag(F, H, mode="sum",
  sparse=True)`` fed the CSR row's indices, offsets and values (``per_sample_weights``), a
  separate bias parameter, ReLU, ``nn.Linear(H, C)``, ``nn.CrossEntropyLoss()`` (the mean over
  the batch) and ``torch.optim.SGD``; a Python loop over the rows or batches, ``--threads``
  threads. ``sparse=True`` (usual with large vocabularies) makes the embedding's gradient, and
  so the SGD step, touch only the rows' words; with a dense gradient every step would write
  all of the first layer's weights.
- JAX: ``jax.experimental.sparse.BCOO`` rows times the dense first-layer weights, the gradient
  from ``jax.grad`` of the mean cross-entropy, SGD on it; two ways: a jitted step (parameters
  donated) called from a Python loop, and the whole epoch jitted as ``lax.scan`` over the
  batches. jit needs fixed shapes, so every row is padded to the largest number of stored
  entries of any row (zero values at column 0, which change neither the output nor the
  gradient); the report says so. The gradient of ``BCOO @ W1`` with respect to ``W1`` is a
  dense array, so each step writes all of ``W1``.

How it measures: each implementation first runs untimed on a small slice (Numba and JAX
compile; the JAX epoch is compiled ahead of time for the real shapes); then each of
``--rounds`` rounds runs every implementation once, in turn (the order rotating from round to
round), from a fresh copy of the initial weights; the epoch alone is timed. The table gives
the median and the minimum seconds over the rounds, samples per second, the test accuracy after
the epoch and the row's time divided by fastnn's on the same regime and the same samples (above
1: fastnn is faster). Per sample, scikit-learn and JAX write every first-layer weight at every
step, so they train on the first ``--slow-samples`` rows only (default 1000), and fastnn is
also timed on that slice for their ratio.

``--memory`` instead measures fastnn's peak resident memory (``ru_maxrss``), each measurement in
a fresh Python process that loads the data from a temporary file: the baseline (imports, data,
model built, kernels loaded by a fit and a prediction on two rows), then one epoch in each
regime followed by predicting the training and the test rows. For the latter it also resets
the high-water mark before the epoch (``/proc/self/clear_refs`` on Linux), so that the epoch's
own peak shows even when building the model peaked higher. It prints them beside the CSR
data's size (data + indices + indptr), the size of the same rows stored dense, and the
model's parameters plus the optimizer's state.

Usage::

    python benchmarks/sparse_peers.py [--samples 50000] [--features 100000] [--hidden 256]
        [--classes 20] [--words 100] [--rounds 3] [--regimes per-sample,batch]
        [--peers sklearn,torch,jax] [--threads 2] [--slow-samples 1000] [--seed 0]
        [--json PATH] [--memory]

    python benchmarks/sparse_peers.py --samples 500 --features 2000 --rounds 1   # a quick check

Times depend on the machine and on what else runs on it: compare rows of one run.
"""

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

import fastnn
from fastnn.bench.machine import blas_threads, load_average, machine_info

REGIMES = ("per-sample", "batch")
PEERS = ("sklearn", "torch", "jax")
DEFAULTS = dict(
    samples=50000, features=100000, hidden=256, classes=20, words=100, rounds=3,
    threads=2, slow_samples=1000, seed=0, batch_size=128, lr_per_sample=0.05, lr_batch=0.1,
    test_size=0.2,
)  # fmt: skip
WARM_UP_ROWS = 64  # the untimed first call trains on this many rows
DENSE_FALLBACK_LIMIT = 1 << 30  # bytes: above this, no dense copy for a fastnn without CSR input


# -- data ------------------------------------------------------------------------------------


@dataclass
class Data:
    X: sp.csr_matrix  # training rows, in the order every implementation visits them
    y: np.ndarray
    X_test: sp.csr_matrix
    y_test: np.ndarray
    source: str


def make_data(samples, features, classes, words, seed, test_size=DEFAULTS["test_size"]):
    """The bag-of-words rows split into train and test; the training rows in the split's
    (shuffled) order, which is the order every implementation visits them in."""
    X, y = fastnn.datasets.make_bag_of_words(samples, features, classes, words, seed=seed)
    X = sp.csr_matrix(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    train, test = fastnn.datasets.split_indices(X.shape[0], test_size, seed)
    X_train, X_test = X[train], X[test]  # train: permuted once, here, up front
    for part in (X_train, X_test):
        part.sort_indices()
    source = "fastnn.datasets.make_bag_of_words (synthetic documents)"
    return Data(X_train, y[train], X_test, y[test], source)


def csr_bytes(X):
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def max_row_nnz(X):
    return int(np.diff(X.indptr).max(initial=0))


def padded_rows(X, width=None):
    """``(values, columns)`` of shape (n_rows, width): each CSR row's stored entries, padded
    with zero values at column 0 up to ``width`` (default: the largest row)."""
    width = max(1, max_row_nnz(X)) if width is None else width
    n, nnz = X.shape[0], np.diff(X.indptr)
    rows = np.repeat(np.arange(n), nnz)
    slots = np.arange(X.nnz) - np.repeat(X.indptr[:-1], nnz)
    values = np.zeros((n, width), np.float32)
    columns = np.zeros((n, width), np.int32)
    values[rows, slots] = X.data
    columns[rows, slots] = X.indices
    return values, columns


# -- fastnn ----------------------------------------------------------------------------------


def fastnn_model(settings):
    widths = [settings["features"], settings["hidden"], settings["classes"]]
    return fastnn.Sequential(
        fastnn.dense_stack(widths, activation="relu"),
        loss="softmax_cross_entropy",
        backend="numba",
        dtype="float32",
        seed=settings["seed"],
    )


def initial_weights(settings):
    """fastnn's initial ``[(W1, b1), (W2, b2)]`` for the seed: W of shape (n_in, n_out)."""
    return fastnn_model(settings).get_weights()


def fastnn_takes_csr():
    """``(True, "")`` when this fastnn trains and predicts on CSR input, else ``(False, why)``."""
    model = fastnn.Sequential(fastnn.dense_stack([3, 2, 2], activation="relu"), seed=0)
    X = sp.csr_matrix(np.array([[1, 0, 2], [0, 1, 0]], np.float32))
    try:
        model.fit(X, np.array([0, 1]), batch_size=1, optimizer=fastnn.SGD(lr=0.01),
                  shuffle=False, verbose=0)  # fmt: skip
        model.predict(X)
    except (TypeError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


@dataclass
class Job:
    """One implementation in one regime on a number of rows; only ``epoch`` is timed."""

    implementation: str
    regime: str
    samples: int
    batch_size: int
    lr: float
    threads: str
    warm_up: Callable[[], None]
    prepare: Callable[[], None]
    epoch: Callable[[], None]
    accuracy: Callable[[], float]
    weights: Callable[[], list]
    release: Callable[[], None]
    times: list = field(default_factory=list)
    accuracies: list = field(default_factory=list)
    final_weights: list | None = None
    error: str | None = None


def fastnn_job(data, regime, n, settings, inputs):
    """fastnn: the whole ``fit`` call is timed."""
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = inputs["X"][:n], data.y[:n]
    X_test, y_test = inputs["X_test"], data.y_test
    weights = settings["weights"]
    state = {}

    def fit(model, X, y):
        model.fit(X, y, epochs=1, batch_size=batch_size, optimizer=fastnn.SGD(lr=lr),
                  shuffle=False, verbose=0)  # fmt: skip

    def warm_up():
        model = fastnn_model(settings)
        fit(model, X[:WARM_UP_ROWS], y[:WARM_UP_ROWS])
        model.evaluate(X_test[:WARM_UP_ROWS], y_test[:WARM_UP_ROWS])

    def prepare():
        state["model"] = model = fastnn_model(settings)
        model.set_weights(weights)

    return Job(
        "fastnn numba" + ("" if inputs["csr"] else " (DENSE copy)"),
        regime, n, batch_size, lr, "1", warm_up, prepare,
        epoch=lambda: fit(state["model"], X, y),
        accuracy=lambda: state["model"].evaluate(X_test, y_test)["accuracy"],
        weights=lambda: state["model"].get_weights(),
        release=state.clear,
    )  # fmt: skip


# -- scikit-learn ----------------------------------------------------------------------------


def sklearn_job(data, regime, n, settings, notes):
    """scikit-learn's MLPClassifier: one ``partial_fit`` (one pass over the rows) is timed."""
    import sklearn.neural_network

    from fastnn.bench.peers import _sklearn_classifier

    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y, weights = data.X[:n], data.y[:n], settings["weights"]
    classes = np.arange(settings["classes"])
    found = {}  # the note, when this scikit-learn cannot start from fastnn's weights
    SameStart = _sklearn_classifier(sklearn.neural_network, weights, found)
    notes.extend(note for note in found.values() if note not in notes)

    state = {}

    def new_model():
        return SameStart(
            hidden_layer_sizes=(settings["hidden"],), activation="relu", solver="sgd",
            momentum=0.0, nesterovs_momentum=False, alpha=0.0, learning_rate="constant",
            learning_rate_init=lr, batch_size=batch_size, max_iter=1, shuffle=False,
            random_state=settings["seed"],
        )  # fmt: skip

    def warm_up():
        rows = max(WARM_UP_ROWS, batch_size)  # fewer rows than a batch: scikit-learn warns
        new_model().partial_fit(X[:rows], y[:rows], classes=classes)

    def prepare():
        state["model"] = new_model()

    def epoch():
        state["model"].partial_fit(X, y, classes=classes)

    def trained():
        model = state["model"]
        return [(W.copy(), b.copy()) for W, b in zip(model.coefs_, model.intercepts_)]

    return Job(
        "scikit-learn MLPClassifier", regime, n, batch_size, lr, blas_threads(), warm_up,
        prepare, epoch,
        accuracy=lambda: float(state["model"].score(data.X_test, data.y_test)),
        weights=trained, release=state.clear,
    )  # fmt: skip


# -- PyTorch ---------------------------------------------------------------------------------


def torch_job(data, regime, n, settings):
    """PyTorch: EmbeddingBag (sum, per-sample weights, sparse gradient); the loop is timed."""
    import torch
    from torch import nn

    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    threads = settings["threads"]
    (W1, b1), (W2, b2) = settings["weights"]

    def tensors(X):
        return (torch.from_numpy(X.indices.astype(np.int64)), torch.from_numpy(X.data),
                torch.from_numpy(X.indptr.astype(np.int64)))  # fmt: skip

    X = data.X[:n]
    columns, values, indptr = tensors(X)
    starts = X.indptr.tolist()
    y = torch.from_numpy(data.y[:n])
    test = tensors(data.X_test)
    y_test = torch.from_numpy(data.y_test)

    class BagOfWords(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.EmbeddingBag(W1.shape[0], W1.shape[1], mode="sum", sparse=True)
            self.bias = nn.Parameter(torch.zeros(W1.shape[1]))
            self.out = nn.Linear(W2.shape[0], W2.shape[1])

        def forward(self, columns, offsets, values):
            hidden = self.embed(columns, offsets, per_sample_weights=values) + self.bias
            return self.out(torch.relu(hidden))

    state = {}

    def new_model():
        torch.set_num_threads(threads)
        model = BagOfWords()
        with torch.no_grad():
            model.embed.weight.copy_(torch.from_numpy(W1))  # (n_features, hidden), as fastnn
            model.bias.copy_(torch.from_numpy(b1))
            model.out.weight.copy_(torch.from_numpy(W2.T))  # nn.Linear keeps (out, in)
            model.out.bias.copy_(torch.from_numpy(b2))
        return model, torch.optim.SGD(model.parameters(), lr=lr), nn.CrossEntropyLoss()

    def train(model, optimizer, loss_fn, n_rows):
        if batch_size == 1:
            offsets = torch.zeros(1, dtype=torch.int64)
            for i in range(n_rows):
                a, b = starts[i], starts[i + 1]
                optimizer.zero_grad()
                loss_fn(model(columns[a:b], offsets, values[a:b]), y[i : i + 1]).backward()
                optimizer.step()
        else:
            for first in range(0, n_rows, batch_size):
                last = min(first + batch_size, n_rows)
                a, b = starts[first], starts[last]
                offsets = indptr[first:last] - a
                optimizer.zero_grad()
                loss_fn(model(columns[a:b], offsets, values[a:b]), y[first:last]).backward()
                optimizer.step()

    def warm_up():
        train(*new_model(), min(n, WARM_UP_ROWS))

    def prepare():
        state["model"], state["optimizer"], state["loss"] = new_model()

    def accuracy():
        with torch.no_grad():
            logits = state["model"](test[0], test[2][:-1], test[1])
        return float((logits.argmax(dim=1) == y_test).float().mean())

    def trained():
        m = state["model"]
        first = (m.embed.weight.detach().numpy().copy(), m.bias.detach().numpy().copy())
        return [first, (m.out.weight.detach().numpy().T.copy(), m.out.bias.detach().numpy().copy())]

    return Job(
        "PyTorch EmbeddingBag", regime, n, batch_size, lr, str(threads), warm_up, prepare,
        epoch=lambda: train(state["model"], state["optimizer"], state["loss"], n),
        accuracy=accuracy, weights=trained, release=state.clear,
    )  # fmt: skip


# -- JAX -------------------------------------------------------------------------------------


def jax_functions(n_features, lr):
    """``(loss, step)``: the mean cross-entropy of padded BCOO rows, and one SGD step."""
    import jax
    import jax.numpy as jnp
    from jax.experimental import sparse

    def loss(params, values, columns, labels):
        (W1, b1), (W2, b2) = params
        rows = sparse.BCOO((values, columns[..., None]), shape=(values.shape[0], n_features))
        hidden = jax.nn.relu(rows @ W1 + b1)
        log_p = jax.nn.log_softmax(hidden @ W2 + b2)
        return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))

    grad = jax.grad(loss)

    def step(params, values, columns, labels):
        grads = grad(params, values, columns, labels)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

    return loss, step


def jax_jobs(data, regime, n, settings, cache):
    """JAX: a jitted step in a Python loop, and the epoch jitted as ``lax.scan``; the call
    until its result is ready is timed."""
    import jax
    from jax.experimental import sparse

    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    cpu = jax.devices("cpu")[0]
    if "train" not in cache:  # the padded rows, moved to the device once
        values, columns = padded_rows(data.X)
        cache["train"] = tuple(jax.device_put(a, cpu) for a in
                               (values, columns, data.y.astype(np.int32)))  # fmt: skip
        cache["test"] = sparse.BCOO.from_scipy_sparse(data.X_test)
    vals, cols, labels = (a[:n] for a in cache["train"])
    _, step = jax_functions(data.X.shape[1], lr)
    n_full, tail = divmod(n, batch_size)
    weights = settings["weights"]

    def fresh_params():  # new buffers every time: the steps donate theirs
        return tuple((jax.device_put(W, cpu), jax.device_put(b, cpu)) for W, b in weights)

    def batch_step(size):
        def run(params, vals, cols, labels, first):
            def rows(a):
                return jax.lax.dynamic_slice_in_dim(a, first, size)

            return step(params, rows(vals), rows(cols), rows(labels))

        return jax.jit(run, donate_argnums=0)

    full_step, tail_step = batch_step(batch_size), batch_step(tail) if tail else None

    def loop_epoch(params, n_rows):
        for first in range(0, n_rows - n_rows % batch_size, batch_size):
            params = full_step(params, vals, cols, labels, first)
        if n_rows % batch_size:
            params = tail_step(params, vals, cols, labels, n_rows - n_rows % batch_size)
        return jax.block_until_ready(params)

    def scan_epoch(params, vals, cols, labels):
        if n_full:
            batches = [a[: n_full * batch_size].reshape(n_full, batch_size, *a.shape[1:])
                       for a in (vals, cols, labels)]  # fmt: skip
            params, _ = jax.lax.scan(lambda p, b: (step(p, *b), None), params, batches)
        if tail:
            params = step(params, vals[n_full * batch_size :], cols[n_full * batch_size :],
                          labels[n_full * batch_size :])  # fmt: skip
        return params

    state = {}

    def accuracy():
        (W1, b1), (W2, b2) = state["params"]
        logits = jax.nn.relu(cache["test"] @ W1 + b1) @ W2 + b2
        return float(np.mean(np.asarray(logits).argmax(axis=1) == data.y_test))

    def trained():
        return [(np.asarray(W).copy(), np.asarray(b).copy()) for W, b in state["params"]]

    def prepare():
        state["params"] = jax.block_until_ready(fresh_params())

    def loop_warm_up():  # compiles both step shapes
        loop_epoch(fresh_params(), min(n, batch_size + tail))

    def run_loop():
        state["params"] = loop_epoch(state["params"], n)

    def scan_warm_up():  # compiled ahead of time for the real shapes: no call is timed twice
        state["scan"] = jax.jit(scan_epoch, donate_argnums=0).lower(
            fresh_params(), vals, cols, labels
        )
        state["scan"] = state["scan"].compile()

    def run_scan():
        state["params"] = jax.block_until_ready(state["scan"](state["params"], vals, cols, labels))

    def release():
        state.pop("params", None)

    return [
        Job("JAX BCOO (jit step, Python loop)", regime, n, batch_size, lr, "XLA", loop_warm_up,
            prepare, run_loop, accuracy, trained, release),
        Job("JAX BCOO (jit epoch, lax.scan)", regime, n, batch_size, lr, "XLA", scan_warm_up,
            prepare, run_scan, accuracy, trained, release),
    ]  # fmt: skip


# -- the run ---------------------------------------------------------------------------------


def settings_from(args):
    return {
        "features": args.features, "hidden": args.hidden, "classes": args.classes,
        "seed": args.seed, "threads": args.threads,
        "batch_sizes": {"per-sample": 1, "batch": args.batch_size},
        "lrs": {"per-sample": args.lr_per_sample, "batch": args.lr_batch},
    }  # fmt: skip


def build_jobs(data, settings, regimes, peers, slow_samples, notes):
    """Every job of the run; fastnn's inputs are the CSR matrices, or dense copies of them
    (and a note) when this fastnn does not take CSR input yet."""
    takes_csr, why = fastnn_takes_csr()
    inputs = {"X": data.X, "X_test": data.X_test, "csr": takes_csr}
    if not takes_csr:
        dense = (data.X.shape[0] + data.X_test.shape[0]) * data.X.shape[1] * 4
        notes.append(f"fastnn does NOT accept CSR input yet ({why}): it trains on a DENSE copy")
        if dense > DENSE_FALLBACK_LIMIT:
            raise SystemExit(f"fastnn needs CSR input here: a dense copy would take {dense:,} "
                             "bytes; run at a smaller size")  # fmt: skip
        inputs["X"], inputs["X_test"] = data.X.toarray(), data.X_test.toarray()
    n, jobs, jax_cache = data.X.shape[0], [], {}
    for regime in regimes:
        slow = min(n, slow_samples) if regime == "per-sample" else n
        sizes = sorted({n, slow}, reverse=True) if {"sklearn", "jax"} & set(peers) else [n]
        jobs += [fastnn_job(data, regime, size, settings, inputs) for size in sizes]
        if "torch" in peers:
            jobs.append(torch_job(data, regime, n, settings))
        if "jax" in peers:
            jobs += jax_jobs(data, regime, slow, settings, jax_cache)
        if "sklearn" in peers:
            jobs.append(sklearn_job(data, regime, slow, settings, notes))
    return jobs


def run_jobs(jobs, rounds, keep_weights=False, log=print):
    """An untimed warm-up of every job, then ``rounds`` interleaved timed rounds."""
    for job in jobs:
        log(f"warm-up: {job.implementation}, {job.regime}, {job.samples} rows")
        try:
            job.warm_up()
        except Exception as exc:  # a failing implementation is reported, not fatal
            job.error = f"{type(exc).__name__}: {exc}"
    for r in range(rounds):
        shift = r % len(jobs)
        for job in jobs[shift:] + jobs[:shift]:
            if job.error:
                continue
            log(f"round {r + 1}/{rounds}: {job.implementation}, {job.regime}, {job.samples} rows")
            try:
                job.prepare()
                gc.collect()
                start = time.perf_counter()
                job.epoch()
                job.times.append(time.perf_counter() - start)
                job.accuracies.append(job.accuracy())
                if keep_weights and r == rounds - 1:
                    job.final_weights = job.weights()
            except Exception as exc:
                job.error = f"{type(exc).__name__}: {exc}"
            finally:
                job.release()
                gc.collect()
    return jobs


def run(args, keep_weights=False, log=print):
    """Generate the data, run every job; returns ``(data, jobs, notes, info)``."""
    regimes = parse_list(args.regimes, REGIMES, "--regimes")
    peers = parse_list(args.peers, PEERS, "--peers")
    settings = settings_from(args)
    machine = machine_info()
    info = {
        "cpu": machine["cpu"],
        "cores": machine["cores"],
        "versions": machine["versions"],
        "load_average_before": load_average(),
    }
    data = make_data(args.samples, args.features, args.classes, args.words, args.seed)
    settings["weights"] = initial_weights(settings)
    notes = []
    if "jax" in peers:
        notes.append(f"JAX: every row padded to {max_row_nnz(data.X)} stored entries (the most "
                     "of any training row) with zero values, for jit's fixed shapes")  # fmt: skip
    jobs = build_jobs(data, settings, regimes, peers, args.slow_samples, notes)
    run_jobs(jobs, args.rounds, keep_weights, log)
    info["load_average_after"] = load_average()
    return data, jobs, notes, info


def parse_list(text, allowed, option):
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise SystemExit(
            f"{option}: unknown {', '.join(unknown)}; choose from {', '.join(allowed)}"
        )
    return items


def reference(jobs, job):
    """fastnn's job on the same regime and rows as ``job``, or None."""
    for other in jobs:
        if other.implementation.startswith("fastnn") and (other.regime, other.samples) == (
            job.regime,
            job.samples,
        ):
            return other
    return None


def _median(values):
    return statistics.median(values) if values else None


def report(data, jobs, notes, info, args):
    """The run as markdown: a header, the table and the notes."""
    X = data.X
    lines = [
        f"# Sparse bag-of-words epoch: {args.features}-{args.hidden}-{args.classes} ReLU, "
        "softmax cross-entropy, float32, plain SGD",
        "",
        f"- data: {data.source}, with samples={args.samples}, features={args.features}, "
        f"classes={args.classes}, words={args.words}, seed={args.seed}; {X.shape[0]:,} "
        f"training rows, {data.X_test.shape[0]:,} test rows; "
        f"{X.nnz / max(1, X.shape[0]):.1f} stored entries per training row (at most "
        f"{max_row_nnz(X)}); training CSR {csr_bytes(X) / 2**20:.1f} MiB",
        f"- learning rates: {args.lr_per_sample} per sample, {args.lr_batch} in batches of "
        f"{args.batch_size} (the mean loss's gradient); same initial weights and row order "
        "for every implementation",
        f"- machine: {info['cpu']}, {info['cores']} cores, load average "
        f"{info['load_average_before']} before, {info['load_average_after']} after; "
        f"{args.rounds} timed rounds after a warm-up",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v),
        "",
        "| regime | implementation | threads | rows | median s | min s | rows/s | test acc "
        "| time / fastnn's |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for job in jobs:
        regime = "per-sample" if job.batch_size == 1 else f"batch {job.batch_size}"
        if job.error:
            lines.append(f"| {regime} | {job.implementation} | {job.threads} | {job.samples:,} "
                         f"| failed: {job.error} | | | | |")  # fmt: skip
            continue
        median, best = _median(job.times), min(job.times) if job.times else None
        ref = reference(jobs, job)
        ratio = "" if ref is None or not ref.times else f"{median / _median(ref.times):.2f}x"
        lines.append(
            f"| {regime} | {job.implementation} | {job.threads} | {job.samples:,} "
            f"| {median:.3f} | {best:.3f} | {job.samples / median:,.0f} "
            f"| {_median(job.accuracies):.4f} | {ratio} |"
        )
    lines.append("")
    lines.append("time / fastnn's: the row's median over fastnn numba's median on the same "
                 "regime and rows (above 1: fastnn is faster).")  # fmt: skip
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


def results_json(data, jobs, notes, info, args):
    return {
        "settings": vars(args),
        "data_source": data.source,
        "info": info,
        "notes": notes,
        "rows": [
            {
                "implementation": j.implementation, "regime": j.regime, "rows": j.samples,
                "batch_size": j.batch_size, "lr": j.lr, "threads": j.threads,
                "times": j.times, "accuracies": j.accuracies, "error": j.error,
            }
            for j in jobs
        ],
    }  # fmt: skip


# -- memory ----------------------------------------------------------------------------------

MEMORY_PHASES = ("baseline", "per-sample", "batch", "per-sample:no-rollback",
                 "batch:no-rollback")  # fmt: skip


def _peak_rss():
    """The process's peak resident set in bytes (``ru_maxrss``: KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _rss_now():
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss():
    """Reset the peak (Linux: write 5 to /proc/self/clear_refs); False where that fails."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


def memory_child(args):
    """In a fresh process: load the data, build fastnn's model and load its kernels (a fit and
    a prediction on two rows), then, unless the phase is the baseline, one epoch and a
    prediction of the training and test rows; print a JSON line with the peak RSS of the whole
    process, the peak of the epoch and prediction alone (after a reset of the high-water mark,
    where Linux allows it) and the sizes involved."""
    folder = args.memory_child_data
    X, X_test = (sp.load_npz(os.path.join(folder, f"{name}.npz")) for name in ("X", "X_test"))
    y = np.load(os.path.join(folder, "y.npy"))
    takes_csr, _ = fastnn_takes_csr()
    if not takes_csr:
        X, X_test = X.toarray(), X_test.toarray()
    settings = settings_from(args)
    phase = args.memory_child
    model = fastnn_model(settings)
    for batch_size in (1, 2):  # loads the per-sample and the mini-batch kernels
        model.fit(X[:2], y[:2], batch_size=batch_size, optimizer=fastnn.SGD(lr=0.01),
                  shuffle=False, verbose=0)  # fmt: skip
    model.predict(X_test[:2])
    gc.collect()
    setup_peak, before = _peak_rss(), _rss_now()
    reset = phase != "baseline" and _reset_peak_rss()
    if phase != "baseline":
        regime, _, option = phase.partition(":")
        optimizer = fastnn.SGD(lr=settings["lrs"][regime])
        model.fit(X, y, batch_size=settings["batch_sizes"][regime], optimizer=optimizer,
                  shuffle=False, verbose=0, rollback=option != "no-rollback")  # fmt: skip
        model.predict(X)
        model.predict(X_test)
    peak = _peak_rss()
    params = sum(layer.W.nbytes + layer.b.nbytes for layer in model.layers)
    state = getattr(model.optimizer, "state", None)
    print(json.dumps({
        "phase": phase,
        "maxrss_bytes": max(setup_peak, peak),
        "rss_before_bytes": before,
        "phase_peak_bytes": peak if reset else None,
        "params_bytes": int(params),
        "optimizer_bytes": 0 if state is None else int(state.nbytes),
        "csr": takes_csr,
    }))  # fmt: skip


def memory_mode(args, log=print):
    """Peak RSS of fastnn, each measurement in a fresh subprocess; returns the report's text."""
    data = make_data(args.samples, args.features, args.classes, args.words, args.seed)
    regimes = parse_list(args.regimes, REGIMES, "--regimes")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        sp.save_npz(os.path.join(folder, "X.npz"), data.X, compressed=False)
        sp.save_npz(os.path.join(folder, "X_test.npz"), data.X_test, compressed=False)
        np.save(os.path.join(folder, "y.npy"), data.y)
        for phase in ("baseline", *regimes, *(f"{r}:no-rollback" for r in regimes)):
            log(f"memory: {phase}")
            command = [sys.executable, os.path.abspath(__file__), "--memory-child", phase,
                       "--memory-child-data", folder, "--features", str(args.features),
                       "--hidden", str(args.hidden), "--classes", str(args.classes),
                       "--seed", str(args.seed), "--batch-size", str(args.batch_size),
                       "--lr-per-sample", str(args.lr_per_sample),
                       "--lr-batch", str(args.lr_batch)]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
                results.append({"phase": phase, "error": why})
                continue
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    mib = 2.0**20
    dense = data.X.shape[0] * data.X.shape[1] * 4
    data_mib = (csr_bytes(data.X) + csr_bytes(data.X_test)) / mib
    lines = [
        f"# fastnn peak memory: {args.features}-{args.hidden}-{args.classes}, "
        f"{data.X.shape[0]:,} training rows, {data.X_test.shape[0]:,} test rows",
        "",
        f"- data: {data.source}; training CSR {csr_bytes(data.X) / mib:.1f} MiB (data "
        f"{data.X.data.nbytes / mib:.1f} + indices {data.X.indices.nbytes / mib:.1f} + indptr "
        f"{data.X.indptr.nbytes / mib:.1f}), test CSR {csr_bytes(data.X_test) / mib:.1f} MiB; "
        f"the training rows stored dense would take {dense / mib:,.1f} MiB",
        "- each row a fresh process. baseline: imports, data loaded, model built (its initial "
        "weights drawn), kernels loaded by a fit and a prediction on two rows. The others: the "
        "baseline, then one epoch and a prediction of the training and the test rows",
        "- peak RSS: ru_maxrss of the whole process; RSS before: resident memory before the "
        "epoch; epoch peak: ru_maxrss after resetting the high-water mark before the epoch "
        "(/proc/self/clear_refs), so the epoch's and prediction's own peak",
        "",
        "| measurement | peak RSS MiB | RSS before MiB | epoch peak MiB | epoch peak - RSS before "
        "| CSR data MiB (train + test) | parameters MiB | optimizer state MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['phase']} | failed: {r['error']} | | | | | | |")
            continue
        regime, _, option = r["phase"].partition(":")
        name = regime if regime == "baseline" else f"{regime} epoch + predict"
        name += ", fit(rollback=False)" if option else ""
        name += "" if r["csr"] else " (DENSE copy: no CSR input yet)"
        peak = r["phase_peak_bytes"]
        phase_peak = "" if peak is None else f"{peak / mib:.1f}"
        growth = "" if peak is None else f"{(peak - r['rss_before_bytes']) / mib:.1f}"
        lines.append(
            f"| {name} | {r['maxrss_bytes'] / mib:.1f} | {r['rss_before_bytes'] / mib:.1f} "
            f"| {phase_peak} | {growth} | {data_mib:.1f} | {r['params_bytes'] / mib:.1f} "
            f"| {r['optimizer_bytes'] / mib:.1f} |"
        )
    return "\n".join(lines)


# -- command line ----------------------------------------------------------------------------


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = DEFAULTS
    p.add_argument("--samples", type=int, default=d["samples"], help="rows generated (train+test)")
    p.add_argument("--features", type=int, default=d["features"], help="vocabulary size")
    p.add_argument("--hidden", type=int, default=d["hidden"], help="hidden ReLU units")
    p.add_argument("--classes", type=int, default=d["classes"])
    p.add_argument("--words", type=int, default=d["words"], help="mean words per document")
    p.add_argument("--rounds", type=int, default=d["rounds"], help="timed rounds")
    p.add_argument("--regimes", default="per-sample,batch", help="per-sample, batch or both")
    p.add_argument("--peers", default=",".join(PEERS), help="subset of sklearn,torch,jax ('' none)")
    p.add_argument("--threads", type=int, default=d["threads"], help="torch.set_num_threads")
    p.add_argument(
        "--slow-samples",
        type=int,
        default=d["slow_samples"],
        help="per-sample rows for scikit-learn and JAX (fastnn timed on them too)",
    )
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--lr-per-sample", type=float, default=d["lr_per_sample"])
    p.add_argument("--lr-batch", type=float, default=d["lr_batch"])
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--json", help="also write every time and accuracy to this file")
    p.add_argument("--memory", action="store_true", help="measure fastnn's peak RSS instead")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--memory-child", choices=MEMORY_PHASES, help=argparse.SUPPRESS)
    p.add_argument("--memory-child-data", help=argparse.SUPPRESS)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.memory_child:
        return memory_child(args)

    def log(message):
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    if args.memory:
        print(memory_mode(args, log))
        return None
    with warnings.catch_warnings():  # where XLA cannot reuse a donated buffer, it copies
        warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
        data, jobs, notes, info = run(args, log=log)
    print(report(data, jobs, notes, info, args))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results_json(data, jobs, notes, info, args), f, indent=1)
    return None


if __name__ == "__main__":
    main()
