"""One epoch of a bag-of-words classifier on sparse (CSR) input: fastnn against its peers, and
fastnn's peak memory.

Timing is ``fastnn bench --data bag-of-words --peers`` (see :mod:`fastnn.bench`): a
``features-hidden-classes`` ReLU network (default 100000-256-20), softmax cross-entropy,
float32, on ``fastnn.datasets.make_bag_of_words(documents, features, classes, words, seed)``
split 80/20, every implementation from fastnn's initial weights and visiting the training rows
in the split's order: fastnn's ``fit`` on the CSR matrix, scikit-learn's ``MLPClassifier`` on
the same matrix, PyTorch's ``nn.EmbeddingBag(mode="sum", sparse=True)``, JAX's BCOO rows (a
jitted epoch and a jitted step in a Python loop). This script takes the same options, with
``--data bag-of-words --peers`` already given.

``--memory`` instead measures fastnn's peak resident memory (``ru_maxrss``), each measurement in
a fresh Python process that loads the data from a temporary file: the baseline (imports, data,
model built, kernels loaded by a fit and a prediction on two rows), then one epoch in each
regime followed by predicting the training and the test rows, with ``fit(rollback=True)`` (the
default) and ``rollback=False``. For those it also resets the high-water mark before the epoch
(``/proc/self/clear_refs`` on Linux), so that the epoch's own peak shows even when building the
model peaked higher. It prints them beside the CSR data's size (data + indices + indptr) and the
model's parameters plus the optimizer's state.

Usage::

    python benchmarks/sparse_peers.py [fastnn bench options] [--memory]
    python benchmarks/sparse_peers.py --documents 500 --features 2000 --repeat 1   # quick check

Times depend on the machine and on what else runs on it: compare rows of one run.
"""

import argparse
import gc
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile

import numpy as np
import scipy.sparse as sp

from fastnn.bench import jobs, runner
from fastnn.bench.data import csr_bytes
from fastnn.cli import bench as bench_command
from fastnn.errors import FastnnError

MIB = 2.0**20


def _settings(args):
    """The run's checked settings (data kind, network, learning rates) from the options."""
    kind, _, _ = bench_command.check(args)
    settings = runner.check_settings(kind, args.regime, batch_size=args.batch_size,
                                     seed=args.seed, optimizer=args.optimizer, hidden=args.hidden,
                                     lr_per_sample=args.lr_per_sample,
                                     lr_batch=args.lr_batch)  # fmt: skip
    return kind, settings


# -- memory ----------------------------------------------------------------------------------


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
    _, settings = _settings(args)
    model = jobs.fastnn_model("numba", settings["seed"], settings["widths"])
    for batch_size in (1, 2):  # loads the per-sample and the mini-batch kernels
        model.fit(X[:2], y[:2], batch_size=batch_size, shuffle=False, verbose=0,
                  optimizer=jobs.make_optimizer(settings, 1e-9))  # fmt: skip
    model.predict(X_test[:2])
    gc.collect()
    phase = args.memory_child
    setup_peak, before = _peak_rss(), _rss_now()
    reset = phase != "baseline" and _reset_peak_rss()
    if phase != "baseline":
        regime, _, option = phase.partition(":")
        optimizer = jobs.make_optimizer(settings, settings["lrs"][regime])
        model.fit(X, y, batch_size=settings["batch_sizes"][regime], optimizer=optimizer,
                  shuffle=False, verbose=0, rollback=option != "no-rollback")  # fmt: skip
        model.predict(X)
        model.predict(X_test)
    peak = _peak_rss()
    state = getattr(model.optimizer, "state", None)
    print(json.dumps({
        "phase": phase,
        "maxrss_bytes": max(setup_peak, peak),
        "rss_before_bytes": before,
        "phase_peak_bytes": peak if reset else None,
        "params_bytes": int(sum(layer.W.nbytes + layer.b.nbytes for layer in model.layers)),
        "optimizer_bytes": 0 if state is None else int(state.nbytes),
    }))  # fmt: skip


def memory_mode(args, argv):
    """Peak RSS of fastnn, each measurement in a fresh subprocess; returns the report's text."""
    kind, settings = _settings(args)
    data = kind.load(settings["seed"])
    X, X_test = data["X"], data["X_test"]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        sp.save_npz(os.path.join(folder, "X.npz"), X, compressed=False)
        sp.save_npz(os.path.join(folder, "X_test.npz"), X_test, compressed=False)
        np.save(os.path.join(folder, "y.npy"), data["y"])
        regimes = settings["regimes"]
        for phase in ("baseline", *regimes, *(f"{r}:no-rollback" for r in regimes)):
            if not args.quiet:
                print(f"memory: {phase}", file=sys.stderr, flush=True)
            command = [sys.executable, os.path.abspath(__file__), *argv, "--memory-child", phase,
                       "--memory-child-data", folder]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
                results.append({"phase": phase, "error": why})
                continue
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    data_mib = (csr_bytes(X) + csr_bytes(X_test)) / MIB
    lines = [
        f"# fastnn peak memory: {settings['layers']}, {settings['optimizer_description']}",
        "",
        f"- data: {data['description']}; test CSR {csr_bytes(X_test) / MIB:.1f} MiB; the "
        f"training rows stored dense would take {X.shape[0] * X.shape[1] * 4 / MIB:,.1f} MiB",
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
        peak = r["phase_peak_bytes"]
        phase_peak = "" if peak is None else f"{peak / MIB:.1f}"
        growth = "" if peak is None else f"{(peak - r['rss_before_bytes']) / MIB:.1f}"
        lines.append(
            f"| {name} | {r['maxrss_bytes'] / MIB:.1f} | {r['rss_before_bytes'] / MIB:.1f} "
            f"| {phase_peak} | {growth} | {data_mib:.1f} | {r['params_bytes'] / MIB:.1f} "
            f"| {r['optimizer_bytes'] / MIB:.1f} |"
        )
    return "\n".join(lines)


# -- command line ----------------------------------------------------------------------------


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench_command.add_options(p)
    p.set_defaults(data="bag-of-words", peers=",".join(bench_command.PEERS))
    p.add_argument("--memory", action="store_true", help="measure fastnn's peak RSS instead")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    p.add_argument("--memory-child-data", help=argparse.SUPPRESS)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    try:
        if args.memory_child:
            memory_child(args)
        elif args.memory:
            print(memory_mode(args, [arg for arg in argv if arg != "--memory"]))
        else:
            command = shlex.join(["python", "benchmarks/sparse_peers.py", *argv])
            return bench_command.run(args, command)
    except FastnnError as exc:
        print(f"sparse_peers.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
