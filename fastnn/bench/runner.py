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
from datetime import datetime, timezone

from .._distribution import pip_install
from .._validation import check_choice, check_int, check_memory, check_number
from ..errors import InputError
from . import peers as _peers
from .data import Mnist, data_kind
from .jobs import ADAM, NUMBA, OPTIMIZERS, fastnn_job, initial_weights, layer_widths, network_name
from .machine import load_average, machine_info

REGIMES = ("per-sample", "batch")
MNIST_TRAIN = Mnist.train_rows
MAX_THREADS = 1024  # more threads than a machine has cores only oversubscribes it
ACCURACY_MARGIN = 0.02  # a row this much below fastnn numba's accuracy on its samples is flagged
# the float32 copies of the network that may be held at once: the shared initial weights, and
# the running job's model with its gradient, optimizer state and a copy or two (each job drops
# its model after its run)
NETWORK_COPIES = 8
TEST_ROWS = 10000  # the test rows, evaluated at once
# The pause before each timed run, outside its timing: threads that the previous run's library
# left spinning (OpenBLAS's spin for a tenth of a second or more after a product) would
# otherwise take a core from the next run (docs/benchmarks.md gives the measurements).
SETTLE_SECONDS = 0.3
CSR = f"{NUMBA}, CSR rows"


def run(
    regime="both",
    repeat=3,
    samples=None,
    numpy_samples=None,
    peers=False,
    peer_samples=None,
    batch_size=128,
    lr_per_sample=None,
    lr_batch=None,
    torch_threads=None,
    seed=0,
    data=None,
    progress=None,
    optimizer="sgd",
    hidden=None,
    dataset="mnist",
    csr=False,
):
    """Time one epoch per implementation and regime.

    Parameters
    ----------
    regime : {"per-sample", "batch", "both"}, default "both"
        Per-sample SGD (batch size 1), mini-batch SGD (``batch_size``), or both.
    repeat : int, default 3
        Timed rounds, after one warm-up round that is not timed.
    samples : int, optional
        Train on the first ``samples`` training rows (default: all of them).
    numpy_samples : int, optional
        Samples for fastnn's ``numpy`` backend in the per-sample regime (default:
        ``peer_samples``); capped at ``samples``.
    peers : bool or sequence of str, default False
        Also time PyTorch, JAX and scikit-learn (True), or those named (``"torch"``, ``"jax"``,
        ``"sklearn"``), each when it is installed; a missing one is skipped with a note.
    peer_samples : int, optional
        Samples for the slow per-sample peers (MNIST: scikit-learn and PyTorch, default 6000;
        bag-of-words: scikit-learn and JAX, default 1000); capped at ``samples``.
    batch_size : int, default 128
        The mini-batch regime's batch size, at most ``samples``.
    lr_per_sample, lr_batch : float, optional
        Learning rates of the two regimes (default: the data kind's; MNIST 0.01 and 0.1 with
        SGD, 0.0005 and 0.001 with Adam; bag-of-words 0.05 and 0.1 with SGD, 0.001 with Adam).
    torch_threads : sequence of int, optional
        ``torch.set_num_threads`` values, at most :data:`MAX_THREADS`; each is a row (default:
        1 and 2 on MNIST, 2 on bag-of-words).
    seed : int, default 0
        Initial weights and shuffles (and bag-of-words' documents and split).
    data : tuple, optional
        ``((X_train, y_train), (X_test, y_test))`` to train on instead of the kind's own data
        (as :func:`fastnn.datasets.load_mnist` returns it; CSR rows for bag-of-words).
    progress : callable, optional
        Called with a line of text as the rounds go by.
    optimizer : {"sgd", "adam"}, default "sgd"
        Plain SGD (no momentum, decay or penalty), or Adam (beta1 0.9, beta2 0.999, eps 1e-8,
        in scikit-learn's and Keras's form; PyTorch uses its own ``torch.optim.Adam``, and a
        note says how it differs). On sparse rows Adam is lazy (see :mod:`.peers`).
    hidden : int or sequence of int, optional
        Widths of the hidden ReLU layers, for every implementation: ``(1024,)`` or
        ``(256, 256, 256)``; empty for none (default: MNIST 128, bag-of-words 256).
    dataset : {"mnist", "bag-of-words"} or a kind of :mod:`fastnn.bench.data`, default "mnist"
        What to train on: MNIST's dense images, or bag-of-words documents as CSR rows
        (``fastnn.bench.data.BagOfWords(documents, features, classes, words)``).
    csr : bool, default False
        Dense data only: also time fastnn numba on the same rows (all ``samples``) held as a
        ``scipy.sparse.csr_matrix``, a row ``fastnn numba, CSR rows`` per regime.

    Returns
    -------
    dict
        JSON-ready: ``date`` (UTC, ISO 8601), ``command`` (None; ``fastnn bench`` records
        itself there), ``settings``, ``machine`` (see :func:`~fastnn.bench.machine_info`),
        ``notes`` (skipped peers and other remarks) and ``results``, one dict per row (its
        fields are listed in :mod:`fastnn.bench.runner`). A peer that fails is dropped from
        the results, with a note.

    Raises
    ------
    ValueError, TypeError
        On a bad setting, naming it.
    """
    kind = data_kind(dataset)
    settings = check_settings(kind, regime, repeat, samples, numpy_samples, peers, peer_samples,
                         batch_size, lr_per_sample, lr_batch, torch_threads, seed, optimizer,
                         hidden, csr)  # fmt: skip
    data = load_data(kind, data, settings)
    notes = {}
    modules = _import_peers(settings["peers"], notes)
    machine = machine_info()
    jobs = _jobs(data, settings, modules, notes)
    time_jobs(jobs, repeat, modules.get("torch"), progress)
    for job in jobs:
        if job.error is not None:
            notes[f"{job.implementation}-{job.regime}-{job.samples}"] = (
                f"{job.implementation}, {job.regime}: failed and was dropped: {job.error}"
            )
    del settings["weights"]
    machine["load_average_after"] = load_average()
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": None,  # the command line sets it; a Python caller may
        "settings": settings,
        "machine": machine,
        "notes": list(notes.values()),
        "results": results(jobs),
    }


def load_data(kind, data, settings):
    """The data as a dict of the four arrays and a description, loaded (or generated) when
    none is given; fits the settings' slices to it and draws the initial weights."""
    data = kind.load(settings["seed"], data)
    n = len(data["y"])
    if settings["samples"] is None:
        settings["samples"] = n
    elif settings["samples"] > n:
        raise InputError(
            f"samples must be at most {n}, the size of the training set; got {settings['samples']}"
        )
    samples = settings["samples"]
    for name in ("numpy_samples", "peer_samples"):
        settings[name] = min(settings[name], samples)
    if "batch" in settings["regimes"] and settings["batch_sizes"]["batch"] > samples:
        batch_size = settings["batch_sizes"]["batch"]
        raise InputError(f"batch_size must be at most samples ({samples}); got {batch_size}")
    settings["test_samples"] = int(len(data["y_test"]))
    settings["data"]["description"] = data["description"]
    widths = settings["widths"]
    settings["weights"] = initial_weights(settings["seed"], settings["hidden"], widths[0],
                                          widths[-1])  # fmt: skip
    return data


def check_settings(kind, regime="both", repeat=3, samples=None, numpy_samples=None,
                   use_peers=False, peer_samples=None, batch_size=128, lr_per_sample=None,
                   lr_batch=None, torch_threads=None, seed=0, optimizer="sgd", hidden=None,
                   csr=False):  # fmt: skip
    """The checked settings of a run on data ``kind`` (see :func:`run` for the others): the
    record the jobs read and the result reports. :func:`load_data` completes it."""
    check_choice(regime, "regime", (*REGIMES, "both"))
    check_int(repeat, "repeat", low=1)
    if samples is not None:
        check_int(samples, "samples", low=1)
        if samples > kind.train_rows:
            raise InputError(f"samples must be at most {kind.train_rows} (the {kind.title} "
                             f"training rows); got {samples}")  # fmt: skip
    if numpy_samples is not None:
        check_int(numpy_samples, "numpy_samples", low=1)
    peer_samples = kind.peer_samples if peer_samples is None else peer_samples
    check_int(peer_samples, "peer_samples", low=1)
    check_int(batch_size, "batch_size", low=2)
    if regime != "per-sample" and batch_size > (samples or kind.train_rows):
        raise InputError(f"batch_size must be at most samples ({samples or kind.train_rows}); "
                         f"got {batch_size}")  # fmt: skip
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    lazy = optimizer == "adam" and kind.sparse  # as sparse input is trained with Adam
    if csr and kind.sparse:
        raise InputError(f"csr applies to dense data; {kind.title} rows are CSR already")
    lrs = dict(kind.lrs[optimizer])
    for name, regime_name, lr in (("lr_per_sample", "per-sample", lr_per_sample),
                                  ("lr_batch", "batch", lr_batch)):  # fmt: skip
        if lr is not None:
            lrs[regime_name] = check_number(lr, name, low=0, low_open=True)
    hidden = _hidden(kind.hidden if hidden is None else hidden)
    widths = layer_widths(hidden, kind.n_in, kind.n_out)
    check_network(widths, batch_size, kind.sparse, f"hidden={hidden}")
    threads = list(kind.torch_threads if torch_threads is None else torch_threads)
    if not threads:
        raise InputError("torch_threads must name at least one thread count; got none")
    for count in threads:
        if check_int(count, "torch_threads", low=1) > MAX_THREADS:
            raise InputError(f"torch_threads must be at most {MAX_THREADS}; got {count}")
    return {
        "data": kind.settings(),
        "regimes": list(REGIMES if regime == "both" else (regime,)),
        "repeat": repeat,
        "samples": samples,
        "numpy_samples": peer_samples if numpy_samples is None else numpy_samples,
        "peer_samples": peer_samples,
        "slow_peers": list(kind.slow_peers),
        "batch_sizes": {"per-sample": 1, "batch": batch_size},
        "lrs": lrs,
        "torch_threads": threads,
        "seed": check_int(seed, "seed", low=0),
        "peers": _peer_names(use_peers),
        "hidden": hidden,
        "widths": widths,
        "layers": network_name(widths),
        "network": f"{network_name(widths)}, ReLU, softmax cross-entropy, float32",
        "sparse": kind.sparse,
        "csr": bool(csr),
        "shuffle": kind.shuffle,
        "warmup_samples": kind.warmup_samples,
        "jax_loop": kind.jax_loop,
        "optimizer": optimizer,
        "lazy": lazy,
        "adam": dict(ADAM),
        "optimizer_description": _describe_optimizer(optimizer, lazy),
    }


def _peer_names(peers):
    """The peers asked for: all for True, none for False, else the names given, checked."""
    if peers is True:
        return list(_peers.PEERS)
    if not peers:
        return []
    names = [peers] if isinstance(peers, str) else list(peers)
    for name in names:
        check_choice(name, "peers", _peers.PEERS)
    return [name for name in _peers.PEERS if name in names]


def _hidden(hidden):
    """The hidden widths as a list of ints >= 1."""
    if isinstance(hidden, (int, float, str)) or not hasattr(hidden, "__iter__"):
        hidden = [hidden]
    return [check_int(width, "hidden", low=1) for width in hidden]


def check_network(widths, batch_size, sparse, what):
    """Refuse, before loading anything, a network that the implementations cannot hold.

    ``what`` names the setting in the error (such as ``hidden=[128]`` or ``--hidden``).
    """
    n_params = sum(n_in * n_out + n_out for n_in, n_out in zip(widths, widths[1:]))
    rows = max(batch_size, TEST_ROWS)  # a batch's activations, or the test set's
    # sparse rows are not held dense: only the layers' outputs count
    activations = sum(widths[1:] if sparse else widths)
    check_memory(4 * (NETWORK_COPIES * n_params + 3 * rows * activations),
                 f"timing a network of {n_params:,} parameters ({what})")  # fmt: skip


def _describe_optimizer(optimizer, lazy):
    if optimizer == "adam":
        return (
            f"{'lazy ' if lazy else ''}Adam (beta1 {ADAM['beta1']}, beta2 {ADAM['beta2']}, eps "
            f"{ADAM['eps']:g}; eps added to sqrt(v), as scikit-learn and Keras add it"
            + ("; only the first layer's rows of a batch's nonzero inputs step)" if lazy else ")")
        )
    return "plain SGD (no momentum, no decay, no penalty)"


def _import_peers(names, notes):
    """The modules of the installed peers among ``names``; a missing one gets a note."""
    modules = {}
    for name in names:
        try:
            modules[name] = _peers.import_peer(name)
        except ImportError as exc:
            notes[name] = (
                f"{_peers.PEER_NAMES[name]} is not installed ({exc}): skipped; "
                f"{pip_install('peers')} adds PyTorch and JAX"
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
            n = settings["peer_samples"] if slow and peer in settings["slow_peers"] else samples
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
        jobs += [fastnn_job("numba", data, regime, n, settings) for n in slices]
        if settings["csr"]:
            jobs.append(fastnn_job("numba", _as_csr(data), regime, samples, settings, CSR))
        jobs += others
    for job in jobs:
        job.network, job.optimizer = settings["layers"], settings["optimizer"]
    return jobs


def _as_csr(data):
    """The data with its training and test rows as CSR matrices."""
    import scipy.sparse as sp

    return dict(data, X=sp.csr_matrix(data["X"]), X_test=sp.csr_matrix(data["X_test"]))


def time_jobs(jobs, repeat, torch=None, progress=None):
    """The warm-up round, then ``repeat`` timed rounds, each running every job once in turn.

    Each job warms up untimed (its ``warm_up``, or a whole run), then each round runs every
    job once, starting one job further along the list each round, so that neither a change of
    load nor a job's place after another favours one; its times and accuracies go into the
    job. Each run starts :data:`SETTLE_SECONDS` after the one before, untimed. A peer's
    failure is recorded in its ``error`` and it runs no more; fastnn's is raised.
    ``torch``, when given, gets its thread count back at the end.
    """
    say = progress or (lambda line: None)
    torch_threads_before = torch.get_num_threads() if torch is not None else None
    gc.collect()
    gc.freeze()  # out of the collector's sight until the end, so each run's gc.collect() is quick
    try:
        for round_ in range(repeat + 1):
            label = "warm-up round" if round_ == 0 else f"round {round_}/{repeat}"
            say(f"{label}: {len(jobs)} runs")
            shift = max(round_ - 1, 0) % len(jobs) if jobs else 0
            for job in jobs[shift:] + jobs[:shift]:
                if job.error is None:
                    _run_once(job, warmup=round_ == 0)
    finally:
        gc.unfreeze()
        if torch_threads_before is not None:
            torch.set_num_threads(torch_threads_before)


def _run_once(job, warmup):
    """Prepare, time the epoch, then measure the accuracy (a warm-up with its own ``warm_up``
    only times that); a peer's failure is recorded."""
    try:
        if warmup and job.warm_up is not None:
            started = time.perf_counter()
            job.warm_up()
            job.warmup_s = time.perf_counter() - started
            return
        job.prepare()
        gc.collect()  # the previous run's garbage is not collected inside this run's timing
        time.sleep(SETTLE_SECONDS)  # and the threads it left spinning have gone to sleep
        started = time.perf_counter()
        job.epoch()
        elapsed = time.perf_counter() - started
        accuracy = float(job.accuracy())
    except Exception as exc:
        if job.peer is None:
            raise
        job.error = f"{type(exc).__name__}: {exc}"
        return
    finally:
        if job.release is not None:
            job.release()
    if warmup:
        job.warmup_s = elapsed
    else:
        job.times.append(elapsed)
        job.accuracies.append(accuracy)


def results(jobs):
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


__all__ = [
    "MAX_THREADS",
    "MNIST_TRAIN",
    "REGIMES",
    "check_network",
    "check_settings",
    "load_data",
    "results",
    "run",
    "time_jobs",
]
