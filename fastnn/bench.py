"""Epoch times of fastnn's backends side by side, and of PyTorch, JAX and scikit-learn.

One job, everywhere: one epoch of MNIST on a 784-128-10 network (ReLU, softmax cross-entropy,
float32, plain SGD), per sample (batch size 1) and in mini-batches (128), from the same initial
weights, then the test accuracy it reached. :func:`run` times it, :func:`format_report` prints
it, and ``fastnn bench`` is the command behind both.

What is timed, and what is not:

- Data loading, model construction (initial weights included), the JAX compilation and the
  accuracy evaluation are outside the timed region. fastnn's time is the whole ``fit`` call a
  user makes (its input checks included), scikit-learn's the whole ``fit`` call, PyTorch's the
  training loop, JAX's the jitted epoch until its result is ready.
- Runs are interleaved: each round runs every implementation once, in turn, so a change of
  load on the machine touches all of them alike. A first round, the warm-up (JIT compilation,
  lazy initialisation), is excluded. The median and the minimum of the timed rounds are
  reported.
- Every implementation starts from the same initial weights, fastnn's (He normal for the ReLU
  layer, Glorot uniform for the output layer, zero biases, drawn from ``seed``), and fastnn,
  PyTorch and JAX visit the samples in the same shuffled order. scikit-learn shuffles with its
  own generator (``random_state=seed``).
- Slow per-sample jobs run on the first samples of the training set only (a slice). Nothing is
  scaled: each row reports the samples it trained on, and speed-ups are ratios of samples per
  second against fastnn's ``numba`` backend on the same samples, so a slice is compared with a
  slice.
"""

import gc
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module, metadata

import numpy as np

from ._validation import check_choice, check_int, check_number
from .errors import InputError, InputTypeError
from .layers import Dense
from .model import Sequential
from .optimizers import SGD

REGIMES = ("per-sample", "batch")
PEERS = ("torch", "jax", "sklearn")
PEER_NAMES = {"torch": "PyTorch", "jax": "JAX", "sklearn": "scikit-learn"}
PEER_MODULES = {"torch": "torch", "jax": "jax", "sklearn": "sklearn.neural_network"}
N_IN, N_HIDDEN, N_OUT = 784, 128, 10
MNIST_TRAIN = 60000
ACCURACY_MARGIN = (
    0.02  # a row this much below fastnn numba's accuracy on the same samples is flagged
)
ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "XLA_FLAGS",
    "FASTNN_NUMBA_CACHE",
)
VERSIONED = ("fastnn", "numpy", "numba", "scikit-learn", "torch", "jax", "jaxlib")
NUMBA = "fastnn numba"


@dataclass
class Job:
    """One implementation in one regime on a number of samples: what a round runs.

    ``prepare`` builds a fresh model from the shared initial weights, ``epoch`` is the timed
    region, ``accuracy`` returns the test accuracy afterwards; only ``epoch`` is timed.
    """

    implementation: str
    regime: str
    batch_size: int
    lr: float
    samples: int
    threads: str
    prepare: Callable[[], None]
    epoch: Callable[[], None]
    accuracy: Callable[[], float]
    peer: str | None = None
    times: list = field(default_factory=list)
    accuracies: list = field(default_factory=list)
    warmup_s: float | None = None
    error: str | None = None


# -- shared pieces ---------------------------------------------------------------------------


def epoch_order(seed, n):
    """The order in which a new :class:`~fastnn.Sequential` with ``seed`` visits ``n`` samples.

    It is the order of the model's first epoch (``shuffle=True``), handed to PyTorch and JAX so
    that they see the samples in the same order as fastnn.

    Parameters
    ----------
    seed : int
    n : int

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    shuffle_seq = np.random.SeedSequence(seed).spawn(2)[1]
    return np.random.default_rng(shuffle_seq).permutation(n)


def _fastnn_model(backend, seed):
    model = Sequential(
        [Dense(N_IN, N_HIDDEN, activation="relu"), Dense(N_HIDDEN, N_OUT)],
        loss="softmax_cross_entropy",
        backend=backend,
        dtype="float32",
        seed=seed,
    )
    model.get_weights()  # builds the model and draws its weights here, outside any timing
    return model


def initial_weights(seed):
    """The initial ``[(W, b), ...]`` of fastnn's 784-128-10 network for ``seed`` (float32).

    W has shape (n_in, n_out): He normal for the ReLU layer, Glorot uniform for the output
    layer; biases are zero.
    """
    return _fastnn_model("numpy", seed).get_weights()


def _import_peer(name):
    """Import the module a peer needs; raises ImportError when it is not installed."""
    return import_module(PEER_MODULES[name])


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "architecture")
    return [{key: pool.get(key) for key in keys} for pool in threadpool_info()]


def machine_info():
    """What the figures depend on: CPU, cores, load, library versions, BLAS and environment.

    Returns
    -------
    dict
        JSON-ready: ``cpu``, ``cores``, ``usable_cores``, ``load_average`` (over 1, 5 and 15
        minutes, when the system reports it; :func:`run` adds ``load_average_after``),
        ``platform``, ``python``, ``versions`` (``None`` for a package that is not installed),
        ``blas`` (thread pools as threadpoolctl reports them) and ``env`` (the set variables
        among :data:`ENV_VARS`).
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in VERSIONED},
        "blas": _blas_info(),
        "env": {name: os.environ[name] for name in ENV_VARS if name in os.environ},
    }


def _blas_threads():
    threads = [pool["num_threads"] for pool in _blas_info() if pool["user_api"] == "blas"]
    return f"BLAS {threads[0]}" if threads else "BLAS"


# -- the implementations ---------------------------------------------------------------------


def _fastnn_job(backend, data, regime, n, settings):
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = data["X"][:n], data["y"][:n]
    state = {}

    def prepare():
        state["model"] = _fastnn_model(backend, settings["seed"])

    def epoch():
        state["model"].fit(
            X, y, epochs=1, batch_size=batch_size, optimizer=SGD(lr=lr), shuffle=True, verbose=0
        )

    def accuracy():
        return state["model"].evaluate(data["X_test"], data["y_test"])["accuracy"]

    threads = "1" if backend == "numba" else _blas_threads()
    return Job(f"fastnn {backend}", regime, batch_size, lr, n, threads, prepare, epoch, accuracy)


def _torch_job(torch, data, regime, n, settings, threads):
    nn = torch.nn
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = torch.from_numpy(data["X"][:n]), torch.from_numpy(data["y"][:n])
    X_test, y_test = torch.from_numpy(data["X_test"]), torch.from_numpy(data["y_test"])
    order = epoch_order(settings["seed"], n)
    order_list, order_tensor = order.tolist(), torch.from_numpy(order)
    weights = settings["weights"]
    state = {}

    def prepare():
        torch.set_num_threads(threads)
        model = nn.Sequential(nn.Linear(N_IN, N_HIDDEN), nn.ReLU(), nn.Linear(N_HIDDEN, N_OUT))
        with torch.no_grad():
            for linear, (W, b) in zip((model[0], model[2]), weights):
                linear.weight.copy_(torch.from_numpy(W.T))  # nn.Linear keeps W as (out, in)
                linear.bias.copy_(torch.from_numpy(b))
        state["model"] = model
        state["optimizer"] = torch.optim.SGD(model.parameters(), lr=lr)
        state["loss"] = nn.CrossEntropyLoss()

    def epoch():
        model, optimizer, loss_fn = state["model"], state["optimizer"], state["loss"]
        if batch_size == 1:
            for i in order_list:
                optimizer.zero_grad()
                loss_fn(model(X[i : i + 1]), y[i : i + 1]).backward()
                optimizer.step()
        else:
            for first in range(0, n, batch_size):
                rows = order_tensor[first : first + batch_size]
                optimizer.zero_grad()
                loss_fn(model(X[rows]), y[rows]).backward()
                optimizer.step()

    def accuracy():
        with torch.no_grad():
            return float((state["model"](X_test).argmax(dim=1) == y_test).float().mean())

    label = f"PyTorch, {threads} thread{'s' if threads > 1 else ''}"
    return Job(label, regime, batch_size, lr, n, str(threads), prepare, epoch, accuracy, "torch")


def _jax_epoch_function(jax, n, batch_size, lr):
    """One jitted epoch: ``lax.scan`` over the full batches, then the shorter last batch."""
    jnp = jax.numpy
    n_full = n // batch_size

    def loss(params, xb, yb):
        W1, b1, W2, b2 = params
        logits = jax.nn.relu(xb @ W1 + b1) @ W2 + b2
        log_p = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(log_p, yb[:, None], axis=1))

    grad = jax.grad(loss)

    def step(params, X, y, rows):
        g = grad(params, X[rows], y[rows])
        return tuple(p - lr * dp for p, dp in zip(params, g))

    def epoch(params, X, y, order):
        if n_full:
            batches = order[: n_full * batch_size].reshape(n_full, batch_size)
            params, _ = jax.lax.scan(lambda p, rows: (step(p, X, y, rows), None), params, batches)
        if n % batch_size:
            params = step(params, X, y, order[n_full * batch_size :])
        return params

    return jax.jit(epoch)


def _jax_job(jax, data, regime, n, settings, cache):
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    cpu = jax.devices("cpu")[0]
    if n not in cache:  # the training data, moved once per slice
        cache[n] = (
            jax.device_put(data["X"][:n], cpu),
            jax.device_put(data["y"][:n].astype(np.int32), cpu),
            jax.device_put(epoch_order(settings["seed"], n).astype(np.int32), cpu),
        )
    X, y, order = cache[n]
    if "test" not in cache:
        cache["test"] = jax.device_put(data["X_test"], cpu)
    X_test = cache["test"]
    weights = [jax.device_put(a, cpu) for pair in settings["weights"] for a in pair]
    epoch_fn = _jax_epoch_function(jax, n, batch_size, lr)
    state = {}

    def prepare():
        state["params"] = tuple(weights)

    def epoch():
        state["params"] = jax.block_until_ready(epoch_fn(state["params"], X, y, order))

    def accuracy():
        W1, b1, W2, b2 = state["params"]
        logits = np.asarray(jax.nn.relu(X_test @ W1 + b1) @ W2 + b2)
        return float(np.mean(logits.argmax(axis=1) == data["y_test"]))

    return Job(
        "JAX (jit, lax.scan)", regime, batch_size, lr, n, "XLA", prepare, epoch, accuracy, "jax"
    )


def _sklearn_job(module, data, regime, n, settings, notes):
    from sklearn.exceptions import ConvergenceWarning

    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = data["X"][:n], data["y"][:n]
    MLPClassifier = module.MLPClassifier
    same_init = hasattr(MLPClassifier, "_init_coef")
    if same_init:
        by_shape = {W.shape: (W, b) for W, b in settings["weights"]}

        class MLPClassifier(MLPClassifier):  # the estimator, with fastnn's initial weights
            def _init_coef(self, fan_in, fan_out, dtype):
                W, b = by_shape[(fan_in, fan_out)]
                return W.astype(dtype), b.astype(dtype)

    elif "sklearn-init" not in notes:
        notes["sklearn-init"] = (
            "scikit-learn: this version has no _init_coef to override, so it starts from its "
            "own initial weights (Glorot uniform, biases too)"
        )
    state = {}

    def prepare():
        state["model"] = MLPClassifier(
            hidden_layer_sizes=(N_HIDDEN,),
            activation="relu",
            solver="sgd",
            batch_size=batch_size,
            learning_rate="constant",
            learning_rate_init=lr,
            momentum=0.0,
            nesterovs_momentum=False,
            alpha=0.0,
            max_iter=1,
            shuffle=True,
            random_state=settings["seed"],
        )

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 is the point
            state["model"].fit(X, y)

    def accuracy():
        return float(state["model"].score(data["X_test"], data["y_test"]))

    label, threads = "scikit-learn MLPClassifier", _blas_threads()
    return Job(label, regime, batch_size, lr, n, threads, prepare, epoch, accuracy, "sklearn")


# -- running ---------------------------------------------------------------------------------


def _check_settings(regime, repeat, samples, numpy_samples, peer_samples, batch_size, lrs, threads):
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
    for name, lr in lrs.items():
        check_number(lr, name, low=0, low_open=True)
    if not threads:
        raise InputError("torch_threads must name at least one thread count; got none")
    for count in threads:
        check_int(count, "torch_threads", low=1)


def run(
    regime="both",
    repeat=3,
    samples=MNIST_TRAIN,
    numpy_samples=None,
    peers=False,
    peer_samples=6000,
    batch_size=128,
    lr_per_sample=0.01,
    lr_batch=0.1,
    torch_threads=(1, 2),
    seed=0,
    data=None,
    progress=None,
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
        The mini-batch regime's batch size.
    lr_per_sample, lr_batch : float, default 0.01 and 0.1
        Learning rates of the two regimes.
    torch_threads : sequence of int, default (1, 2)
        ``torch.set_num_threads`` values; each is a row of its own.
    seed : int, default 0
        Initial weights and shuffles.
    data : tuple, optional
        ``((X_train, y_train), (X_test, y_test))`` as :func:`fastnn.datasets.load_mnist`
        returns it; loaded when not given.
    progress : callable, optional
        Called with a line of text as the rounds go by.

    Returns
    -------
    dict
        JSON-ready: ``settings``, ``machine`` (see :func:`machine_info`), ``notes`` (skipped
        peers and other remarks) and ``results``, one dict per row with ``implementation``,
        ``regime``, ``batch_size``, ``lr``, ``samples``, ``threads``, ``times_s`` (every timed
        round), ``warmup_s``, ``median_s``, ``min_s``, ``samples_per_s`` (from the median),
        ``test_accuracy`` (after the last round), ``accuracies``, ``reference_samples_per_s``
        and ``speedup`` (samples per second of fastnn numba on the same regime and samples,
        and that divided by the row's) and ``accuracy_flag`` (``None``, or why the accuracy
        is suspect). A peer that fails is dropped from the results, with a note.

    Raises
    ------
    ValueError, TypeError
        On a bad setting, naming it.
    """
    lrs = {"per-sample": lr_per_sample, "batch": lr_batch}
    threads = list(torch_threads)
    named_lrs = {"lr_per_sample": lr_per_sample, "lr_batch": lr_batch}
    _check_settings(
        regime, repeat, samples, numpy_samples, peer_samples, batch_size, named_lrs, threads
    )
    seed = check_int(seed, "seed", low=0)
    numpy_samples = min(peer_samples if numpy_samples is None else numpy_samples, samples)
    peer_samples = min(peer_samples, samples)
    regimes = REGIMES if regime == "both" else (regime,)
    say = progress or (lambda line: None)

    if data is None:
        from .datasets import load_mnist

        data = load_mnist()
    (X, y), (X_test, y_test) = data
    if samples > len(X):
        raise InputError(
            f"samples must be at most {len(X)}, the size of the training set; got {samples}"
        )
    data = {"X": X, "y": y, "X_test": X_test, "y_test": y_test}
    settings = {
        "regimes": list(regimes),
        "repeat": repeat,
        "samples": samples,
        "numpy_samples": numpy_samples,
        "peer_samples": peer_samples,
        "batch_sizes": {"per-sample": 1, "batch": batch_size},
        "lrs": lrs,
        "torch_threads": threads,
        "seed": seed,
        "peers": bool(peers),
        "test_samples": int(len(y_test)),
        "network": f"{N_IN}-{N_HIDDEN}-{N_OUT}, ReLU, softmax cross-entropy, float32",
        "optimizer": "plain SGD (no momentum, no decay, no penalty)",
    }
    settings["weights"] = initial_weights(seed)
    notes = {}
    modules = {}
    if peers:
        for name in PEERS:
            try:
                modules[name] = _import_peer(name)
            except ImportError as exc:
                notes[name] = (
                    f"{PEER_NAMES[name]} is not installed ({exc}): skipped; "
                    'pip install "fastnn[peers]" adds PyTorch and JAX'
                )

    machine = machine_info()
    jobs = []
    jax_cache = {}
    for name in regimes:
        slow = name == "per-sample"
        others = [_fastnn_job("numpy", data, name, numpy_samples if slow else samples, settings)]
        for peer, module in modules.items():
            n = peer_samples if slow and peer in ("torch", "sklearn") else samples
            try:
                if peer == "torch":
                    others.extend(_torch_job(module, data, name, n, settings, t) for t in threads)
                elif peer == "jax":
                    others.append(_jax_job(module, data, name, n, settings, jax_cache))
                else:
                    others.append(_sklearn_job(module, data, name, n, settings, notes))
            except Exception as exc:  # a broken peer install must not stop the others
                notes[f"{peer}-{name}"] = f"{PEER_NAMES[peer]}, {name}: could not start: {exc}"
        # fastnn numba on the full slice, and on every smaller slice another row trains on: the
        # reference for that row's speed-up and accuracy
        slices = sorted({samples} | {job.samples for job in others}, reverse=True)
        jobs += [_fastnn_job("numba", data, name, n, settings) for n in slices] + others

    torch_threads_before = modules["torch"].get_num_threads() if "torch" in modules else None
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
            modules["torch"].set_num_threads(torch_threads_before)

    for job in jobs:
        if job.error is not None:
            notes[f"{job.implementation}-{job.regime}-{job.samples}"] = (
                f"{job.implementation}, {job.regime}: failed and was dropped: {job.error}"
            )
    del settings["weights"]
    machine["load_average_after"] = machine_info()["load_average"]
    return {
        "settings": settings,
        "machine": machine,
        "notes": list(notes.values()),
        "results": _results(jobs),
    }


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
    rows = []
    reference = {}
    for job in jobs:
        if job.error is not None or not job.times:
            continue
        median = statistics.median(job.times)
        row = {
            "implementation": job.implementation,
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


# -- reporting -------------------------------------------------------------------------------


def _regime_label(row):
    return "per-sample" if row["batch_size"] == 1 else f"batch {row['batch_size']}"


def format_report(result):
    """The text ``fastnn bench`` prints for a :func:`run` result.

    Parameters
    ----------
    result : dict
        What :func:`run` returned.

    Returns
    -------
    str
    """
    s, m = result["settings"], result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    lines = [
        f"fastnn bench: one epoch of MNIST, {s['network']}, {s['optimizer']}",
        "regimes: "
        + "; ".join(
            f"{_regime_label({'batch_size': s['batch_sizes'][r]})} lr {s['lrs'][r]}"
            for r in s["regimes"]
        )
        + f"; seed {s['seed']}",
        f"machine: {m['cpu']}, {m['usable_cores']} usable core(s)" + _load_text(m),
        f"versions: Python {m['python']}, {versions}",
        f"timing: median (and min) of {s['repeat']} interleaved round(s) after 1 warm-up round "
        f"(excluded); test accuracy on the {s['test_samples']:,} test images after the epoch, "
        "outside the timing",
        "",
    ]
    header = ("regime", "implementation", "threads", "samples", "median s", "(min s)",
              "samples/s", "test acc", "numba speed-up")  # fmt: skip
    table = [header]
    for row in result["results"]:
        speedup = "-" if row["speedup"] is None else f"{row['speedup']:.2f}x"
        table.append((
            _regime_label(row),
            row["implementation"],
            row["threads"],
            f"{row['samples']:,}",
            f"{row['median_s']:.3f}",
            f"({row['min_s']:.3f})",
            f"{row['samples_per_s']:,.0f}",
            f"{row['test_accuracy']:.4f}" + (" !" if row["accuracy_flag"] else ""),
            speedup,
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    left = {0, 1}
    for r in table:
        cells = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    lines += [
        "",
        "numba speed-up = samples/s of fastnn numba on the same regime and the same samples "
        "/ samples/s of the row (above 1: fastnn numba is faster); rows on fewer samples than "
        f"{s['samples']:,} are a slice of the training set, compared with fastnn numba on that "
        "slice, not scaled.",
    ]
    lines += _summary(result)
    flags = [row for row in result["results"] if row["accuracy_flag"]]
    for row in flags:
        lines.append(f"! {row['implementation']}, {_regime_label(row)}: {row['accuracy_flag']}")
    for note in result["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _load_text(machine):
    before, after = machine.get("load_average"), machine.get("load_average_after")
    if not before or not after:
        return ""
    return (
        f"; 1-minute load average {before[0]:.2f} before, {after[0]:.2f} after (other work on "
        "these cores makes the figures noisy)"
    )


def _summary(result):
    """One line per regime: fastnn numba's speed-up over each other implementation."""
    lines = []
    for regime in result["settings"]["regimes"]:
        rows = [r for r in result["results"] if r["regime"] == regime]
        best = {}
        for row in rows:
            name = row["implementation"]
            if name == NUMBA or row["speedup"] is None:
                continue
            key = "PyTorch" if name.startswith("PyTorch") else name
            if key not in best or row["samples_per_s"] > best[key]["samples_per_s"]:
                best[key] = row
        if not best:
            continue
        parts = []
        for key, row in best.items():
            detail = f"{row['samples']:,} samples"
            counts = result["settings"]["torch_threads"]
            if key == "PyTorch" and len(counts) > 1:
                tried = ", ".join(str(count) for count in counts)
                detail += f"; the fastest of {tried} threads: {row['threads']}"
            parts.append(f"{row['speedup']:.2f}x vs {key} ({detail})")
        lines.append(f"fastnn numba, {_regime_label(rows[0])}: " + "; ".join(parts))
    return lines


def write_json(result, path):
    """Write a :func:`run` result to ``path`` as JSON (through a temporary file, then renamed)."""
    path = os.fspath(path)
    tmp = f"{path}.part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)
    return path


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise InputTypeError(f"{type(value).__name__} is not JSON serialisable")


__all__ = ["epoch_order", "format_report", "initial_weights", "machine_info", "run", "write_json"]
