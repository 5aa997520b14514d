"""The runner: checks the settings, builds every job, times them in interleaved rounds and turns
the times into rows (see :mod:`fastnn.bench` for what is timed and how).

A row of :func:`run`'s ``results`` holds ``implementation``, ``network`` (such as
``784-128-10``), ``optimizer`` (``sgd`` or ``adam``), ``regime``, ``batch_size``, ``lr``,
``samples``, ``threads``, ``times_s`` (every timed round), ``warmup_s``, ``median_s``,
``min_s``, ``samples_per_s`` (from the median), ``test_accuracy`` (after the last round),
``accuracies``, ``reference_samples_per_s`` and ``speedup`` (samples per second of fastnn numba
on the same regime and samples, and that divided by the row's) and ``accuracy_flag`` (``None``,
or why the accuracy is suspect).
"""

import gc
import statistics
import time

from .._validation import check_choice, check_int, check_memory, check_number
from ..errors import InputError
from . import peers as _peers
from .jobs import (
    ADAM,
    DEFAULT_HIDDEN,
    DEFAULT_LRS,
    NUMBA,
    OPTIMIZERS,
    fastnn_job,
    initial_weights,
    layer_widths,
    network_name,
)
from .machine import load_average, machine_info

REGIMES = ("per-sample", "batch")
MNIST_TRAIN = 60000
MAX_THREADS = 1024  # more threads than a machine has cores only oversubscribes it
ACCURACY_MARGIN = 0.02  # a row this much below fastnn numba's accuracy on its samples is flagged
# the float32 copies of the network that may be held at once: each job's model (fastnn's two
# backends on every slice, PyTorch, JAX, scikit-learn) with its gradient and optimizer state
NETWORK_COPIES = 40
TEST_ROWS = 10000  # the MNIST test set, evaluated at once


def run(
    regime="both",
    repeat=3,
    samples=MNIST_TRAIN,
    numpy_samples=None,
    peers=False,
    peer_samples=6000,
    batch_size=128,
    lr_per_sample=None,
    lr_batch=None,
    torch_threads=(1, 2),
    seed=0,
    data=None,
    progress=None,
    optimizer="sgd",
    hidden=DEFAULT_HIDDEN,
):
    """Time one MNIST epoch per implementation and regime.

    Parameters
    ----------
    regime : {"per-sample", "batch", "both"}, default "both"
        Per-sample SGD (batch size 1), mini-batch SGD (``batch_size``), or both.
    repeat : int, default 3
        Timed rounds, after one warm-up round that is not timed.
    samples : int, default 60000
        Train on the first ``samples`` images of the training set.
    numpy_samples : int, optional
        Samples for fastnn's ``numpy`` backend in the per-sample regime (default:
        ``peer_samples``); capped at ``samples``.
    peers : bool, default False
        Also time PyTorch, JAX and scikit-learn, each when it is installed; a missing one is
        skipped with a note.
    peer_samples : int, default 6000
        Samples for the slow per-sample peers (scikit-learn and PyTorch per sample); capped at
        ``samples``.
    batch_size : int, default 128
        The mini-batch regime's batch size, at most ``samples``.
    lr_per_sample, lr_batch : float, optional
        Learning rates of the two regimes (default: 0.01 and 0.1 with SGD, 0.0005 and 0.001
        with Adam).
    torch_threads : sequence of int, default (1, 2)
        ``torch.set_num_threads`` values, at most :data:`MAX_THREADS`; each is a row.
    seed : int, default 0
        Initial weights and shuffles.
    data : tuple, optional
        ``((X_train, y_train), (X_test, y_test))`` as :func:`fastnn.datasets.load_mnist`
        returns it; loaded when not given.
    progress : callable, optional
        Called with a line of text as the rounds go by.
    optimizer : {"sgd", "adam"}, default "sgd"
        Plain SGD (no momentum, decay or penalty), or Adam (beta1 0.9, beta2 0.999, eps 1e-8,
        in scikit-learn's and Keras's form; PyTorch uses its own ``torch.optim.Adam``, and a
        note says how it differs).
    hidden : int or sequence of int, default (128,)
        Widths of the hidden ReLU layers, for every implementation: ``(1024,)`` or
        ``(256, 256, 256)``; empty for none.

    Returns
    -------
    dict
        JSON-ready: ``settings``, ``machine`` (see :func:`~fastnn.bench.machine_info`),
        ``notes`` (skipped peers and other remarks) and ``results``, one dict per row (its
        fields are listed in :mod:`fastnn.bench.runner`). A peer that fails is dropped from
        the results, with a note.

    Raises
    ------
    ValueError, TypeError
        On a bad setting, naming it.
    """
    settings = _settings(regime, repeat, samples, numpy_samples, peers, peer_samples, batch_size,
                         lr_per_sample, lr_batch, torch_threads, seed, optimizer,
                         hidden)  # fmt: skip
    data = _training_data(data, samples)
    settings["test_samples"] = int(len(data["y_test"]))
    notes = {}
    modules = _import_peers(notes) if peers else {}
    machine = machine_info()
    settings["weights"] = initial_weights(settings["seed"], settings["hidden"])
    jobs = _jobs(data, settings, modules, notes)
    _rounds(jobs, repeat, modules.get("torch"), progress or (lambda line: None))
    for job in jobs:
        if job.error is not None:
            notes[f"{job.implementation}-{job.regime}-{job.samples}"] = (
                f"{job.implementation}, {job.regime}: failed and was dropped: {job.error}"
            )
    del settings["weights"]
    machine["load_average_after"] = load_average()
    return {
        "settings": settings,
        "machine": machine,
        "notes": list(notes.values()),
        "results": _results(jobs),
    }


def _training_data(data, samples):
    """The data as a dict of the four arrays, loading MNIST when none is given."""
    if data is None:
        from ..datasets import load_mnist

        data = load_mnist()
    (X, y), (X_test, y_test) = data
    if samples > len(X):
        raise InputError(
            f"samples must be at most {len(X)}, the size of the training set; got {samples}"
        )
    return {"X": X, "y": y, "X_test": X_test, "y_test": y_test}


def _settings(regime="both", repeat=3, samples=MNIST_TRAIN, numpy_samples=None,
              use_peers=False, peer_samples=6000, batch_size=128, lr_per_sample=None,
              lr_batch=None, torch_threads=(1, 2), seed=0, optimizer="sgd",
              hidden=DEFAULT_HIDDEN):  # fmt: skip
    """The checked settings: the record the jobs read and the result reports."""
    check_choice(regime, "regime", (*REGIMES, "both"))
    check_int(repeat, "repeat", low=1)
    check_int(samples, "samples", low=1)
    if samples > MNIST_TRAIN:
        raise InputError(
            f"samples must be at most {MNIST_TRAIN} (the MNIST training set); got {samples}"
        )
    if numpy_samples is not None:
        check_int(numpy_samples, "numpy_samples", low=1)
    check_int(peer_samples, "peer_samples", low=1)
    check_int(batch_size, "batch_size", low=2)
    if regime != "per-sample" and batch_size > samples:
        raise InputError(f"batch_size must be at most samples ({samples}); got {batch_size}")
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    lrs = dict(DEFAULT_LRS[optimizer])
    for name, regime_name, lr in (("lr_per_sample", "per-sample", lr_per_sample),
                                  ("lr_batch", "batch", lr_batch)):  # fmt: skip
        if lr is not None:
            lrs[regime_name] = check_number(lr, name, low=0, low_open=True)
    hidden = _hidden(hidden)
    _check_network(hidden, batch_size)
    threads = list(torch_threads)
    if not threads:
        raise InputError("torch_threads must name at least one thread count; got none")
    for count in threads:
        if check_int(count, "torch_threads", low=1) > MAX_THREADS:
            raise InputError(f"torch_threads must be at most {MAX_THREADS}; got {count}")
    return {
        "regimes": list(REGIMES if regime == "both" else (regime,)),
        "repeat": repeat,
        "samples": samples,
        "numpy_samples": min(peer_samples if numpy_samples is None else numpy_samples, samples),
        "peer_samples": min(peer_samples, samples),
        "batch_sizes": {"per-sample": 1, "batch": batch_size},
        "lrs": lrs,
        "torch_threads": threads,
        "seed": check_int(seed, "seed", low=0),
        "peers": bool(use_peers),
        "hidden": hidden,
        "layers": network_name(hidden),
        "network": f"{network_name(hidden)}, ReLU, softmax cross-entropy, float32",
        "optimizer": optimizer,
        "adam": dict(ADAM),
        "optimizer_description": _describe_optimizer(optimizer),
    }


def _hidden(hidden):
    """The hidden widths as a list of ints >= 1."""
    if isinstance(hidden, (int, float, str)) or not hasattr(hidden, "__iter__"):
        hidden = [hidden]
    return [check_int(width, "hidden", low=1) for width in hidden]


def _check_network(hidden, batch_size):
    """Refuse, before loading anything, a network that the implementations cannot hold."""
    widths = layer_widths(hidden)
    n_params = sum(n_in * n_out + n_out for n_in, n_out in zip(widths, widths[1:]))
    rows = max(batch_size, TEST_ROWS)  # a batch's activations, or the test set's
    check_memory(4 * (NETWORK_COPIES * n_params + 3 * rows * sum(widths)),
                 f"timing a network of {n_params:,} parameters (hidden={hidden})")  # fmt: skip


def _describe_optimizer(optimizer):
    if optimizer == "adam":
        return (
            f"Adam (beta1 {ADAM['beta1']}, beta2 {ADAM['beta2']}, eps {ADAM['eps']:g}; eps added "
            "to sqrt(v), as scikit-learn and Keras add it)"
        )
    return "plain SGD (no momentum, no decay, no penalty)"


def _import_peers(notes):
    """The modules of the installed peers; a missing one gets a note."""
    modules = {}
    for name in _peers.PEERS:
        try:
            modules[name] = _peers.import_peer(name)
        except ImportError as exc:
            notes[name] = (
                f"{_peers.PEER_NAMES[name]} is not installed ({exc}): skipped; "
                'pip install "fastnn[peers]" adds PyTorch and JAX'
            )
    return modules


def _jobs(data, settings, modules, notes):
    """Every job of every regime: the peers, fastnn numpy, and fastnn numba on every slice."""
    jobs = []
    jax_cache = {}
    samples = settings["samples"]
    for regime in settings["regimes"]:
        slow = regime == "per-sample"
        n_numpy = settings["numpy_samples"] if slow else samples
        others = [fastnn_job("numpy", data, regime, n_numpy, settings)]
        for peer, module in modules.items():
            n = settings["peer_samples"] if slow and peer in ("torch", "sklearn") else samples
            try:
                others += _peers.peer_jobs(
                    peer, module, data, regime, n, settings, notes, jax_cache
                )
            except Exception as exc:  # a broken peer install must not stop the others
                notes[f"{peer}-{regime}"] = (
                    f"{_peers.PEER_NAMES[peer]}, {regime}: could not start: {exc}"
                )
        # fastnn numba on the full slice, and on every smaller slice another row trains on: the
        # reference for that row's speed-up and accuracy
        slices = sorted({samples} | {job.samples for job in others}, reverse=True)
        jobs += [fastnn_job("numba", data, regime, n, settings) for n in slices] + others
    for job in jobs:
        job.network, job.optimizer = settings["layers"], settings["optimizer"]
    return jobs


def _rounds(jobs, repeat, torch, say):
    """The warm-up round, then ``repeat`` timed rounds, each running every job once in turn."""
    torch_threads_before = torch.get_num_threads() if torch is not None else None
    gc.collect()
    gc.freeze()  # out of the collector's sight until the end, so each run's gc.collect() is quick
    try:
        for round_ in range(repeat + 1):
            label = "warm-up round" if round_ == 0 else f"round {round_}/{repeat}"
            say(f"{label}: {len(jobs)} runs")
            for job in jobs:
                if job.error is None:
                    _run_once(job, warmup=round_ == 0)
    finally:
        gc.unfreeze()
        if torch_threads_before is not None:
            torch.set_num_threads(torch_threads_before)


def _run_once(job, warmup):
    """Prepare, time the epoch, then measure the accuracy; a peer's failure is recorded."""
    try:
        job.prepare()
        gc.collect()  # the previous run's garbage is not collected inside this run's timing
        started = time.perf_counter()
        job.epoch()
        elapsed = time.perf_counter() - started
        accuracy = float(job.accuracy())
    except Exception as exc:
        if job.peer is None:
            raise
        job.error = f"{type(exc).__name__}: {exc}"
        return
    if warmup:
        job.warmup_s = elapsed
    else:
        job.times.append(elapsed)
        job.accuracies.append(accuracy)


def _results(jobs):
    """One row per job that ran, with its speed-up and accuracy against fastnn numba's."""
    rows = []
    reference = {}
    for job in jobs:
        if job.error is not None or not job.times:
            continue
        median = statistics.median(job.times)
        row = {
            "implementation": job.implementation,
            "network": job.network,
            "optimizer": job.optimizer,
            "regime": job.regime,
            "batch_size": job.batch_size,
            "lr": job.lr,
            "samples": job.samples,
            "threads": job.threads,
            "times_s": job.times,
            "warmup_s": job.warmup_s,
            "median_s": median,
            "min_s": min(job.times),
            "samples_per_s": job.samples / median,
            "test_accuracy": job.accuracies[-1],
            "accuracies": job.accuracies,
        }
        rows.append(row)
        if job.implementation == NUMBA:
            reference[(job.regime, job.samples)] = row
    for row in rows:
        ref = reference.get((row["regime"], row["samples"]))
        row["reference_samples_per_s"] = ref["samples_per_s"] if ref else None
        row["speedup"] = ref["samples_per_s"] / row["samples_per_s"] if ref else None
        row["accuracy_flag"] = None
        if ref and row["test_accuracy"] < ref["test_accuracy"] - ACCURACY_MARGIN:
            row["accuracy_flag"] = (
                f"test accuracy {row['test_accuracy']:.4f} is more than {ACCURACY_MARGIN} below "
                f"fastnn numba's {ref['test_accuracy']:.4f} on the same samples"
            )
    return rows


__all__ = ["MAX_THREADS", "MNIST_TRAIN", "REGIMES", "run"]
