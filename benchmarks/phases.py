"""Where an MNIST epoch spends its time, phase by phase, per sample or in batches.

Per sample, a compiled driver runs fastnn's own per-sample kernels over the 60,000 MNIST images
(784-H-10, ReLU, softmax cross-entropy, plain SGD, float32, the output layer stored
transposed as the epoch stores it), stopping after a given phase:

1. the scan of the image for its nonzero pixels (``_find_nonzero``);
2. the first layer's forward product over them (``_forward_rows``) and ReLU;
3. the output layer's logits (``_forward_cols``);
4. softmax cross-entropy and its gradient (``softmax_cross_entropy``);
5. the output layer's backward product fused with its step (``_backward_cols``);
6. the first layer's step over the nonzero pixels' rows (``_update_rows``).

With ``--batch-size`` above 1 the epoch itself is timed, stopping each batch after a given
phase (``Training.train(..., last_phase=k)``, see ``fastnn.kernels.minibatch.PHASES``): the
gather of the batch's rows (and their compaction), the first layer's forward product, the
other layers and the loss, the backward pass above the first layer, the first layer's step.
The products of each phase are counted too (multiply-adds of the epoch's actual shapes: the
inputs each batch uses, or where the register tiles go by the rows' bits, the steps each tile
takes), and the floor of each phase is that count at the GEMM rate this
machine measures with one thread, divided by the threads the epoch uses, on the shape of a
thread's share of the first layer's forward product by blocks of units: all the batch's rows
by one block of units (a batch that goes forward by blocks of rows, such as 128 rows at 128
units, runs the other split, a block of rows by all the units, at a rate within a few percent
of it on the 2-core AMD EPYC machine of the performance notes). The rate of fastnn's own
product (``fastnn.kernels.blas.gemm``) and NumPy's on that shape are printed side by side.

Each phase's cost is the difference between the driver stopping after it and after the one
before (cumulative runs keep the caches as warm as in a real epoch). The whole epoch (one
``train`` call of the backend) is timed in the same rounds; what it takes beyond the last phase
is its bookkeeping: the step size, the activation derivatives, the statistics of the epoch.
The phases before the steps (before the backward pass, in batches) leave the weights as they
were, so those runs time the same numbers each round.

    python benchmarks/phases.py [--rounds 5] [--hidden 128] [--batch-size 1] \
        [--optimizer sgd|adam] [--json PATH]

``--json`` also writes the table, the machine (CPU, BLAS kernel, versions) and the command to a
results file.
"""

import argparse
import statistics
import sys
import time

import numpy as np
from numba import njit

import fastnn as fn
from fastnn._codes import RELU, EpochData, new_stats
from fastnn.kernels import softmax_cross_entropy
from fastnn.kernels.activations import _activate_row, _derivative_row
from fastnn.kernels.blas import gemm, gemm_scratch
from fastnn.kernels.minibatch import (
    FIRST_STEP,
    LISTS_DENSITY,
    first_step_by_rows,
    goes_sparse,
    row_blocks,
    unit_blocks,
)
from fastnn.kernels.minibatch import PHASES as PHASES_OF_A_STEP
from fastnn.kernels.rows import (
    _backward_cols,
    _find_nonzero,
    _forward_cols,
    _forward_rows,
    _update_rows,
)
from fastnn.kernels.tiles import TILES, _rows_from
from fastnn.params import B_OFFSET, W_OFFSET

PHASES = ("nonzero scan", "first layer forward + ReLU", "output logits",
          "softmax cross-entropy", "output backward + step", "first layer step")  # fmt: skip
BATCH_PHASES = PHASES_OF_A_STEP


@njit(nogil=True)  # compiled in each run, not cached
def _driver(X, y, params, w1, b1, w2, b2, hidden, n_out, lr, last_phase):
    """Per-sample SGD on every row of X, stopping each sample after phase ``last_phase``."""
    n_in = X.shape[1]
    indices = np.empty(n_in, np.int32)
    values = np.empty(n_in, np.float32)
    z1, a1, d1 = (
        np.empty(hidden, np.float32),
        np.empty(hidden, np.float32),
        np.empty(hidden, np.float32),
    )
    z2 = np.empty((1, n_out), np.float32)
    grad = np.empty((1, n_out), np.float32)
    delta1 = np.empty(hidden, np.float32)
    no_weights = np.empty(0, np.float32)
    total = 0.0
    for s in range(X.shape[0]):
        count = _find_nonzero(X[s], indices, values)
        if last_phase >= 2:
            _forward_rows(indices, values, count, params, w1, b1, z1)
            _activate_row(z1, RELU, a1)
        if last_phase >= 3:
            _forward_cols(a1, params, w2, b2, z2[0])
        if last_phase >= 4:
            total += softmax_cross_entropy(z2, y[s : s + 1], no_weights, grad)
        if last_phase >= 5:
            _derivative_row(z1, a1, RELU, d1)
            _backward_cols(a1, d1, params, w2, b2, grad[0], delta1, lr, True)
        if last_phase >= 6:
            _update_rows(indices, values, count, params, w1, b1, delta1, lr)
        total += count
    return total


def _model(hidden):
    model = fn.Sequential(fn.dense_stack([784, hidden, 10]), dtype="float32", seed=0)
    model._build()
    return model


def time_phase(X, y, hidden, lr, last_phase, batch_size=1, adam=False):
    """The driver stopping after ``last_phase``, from fresh seed-0 weights: (seconds, model)."""
    if batch_size > 1:
        return time_epoch(X, y, hidden, lr, batch_size, last_phase, adam)
    model = _model(hidden)
    params, layout = model._params, model._layout
    (w1, b1), (w2, b2) = [(row[W_OFFSET], row[B_OFFSET]) for row in layout]
    started = time.perf_counter()  # the output layer is stored transposed, as the kernels read
    _driver(X, y, params, w1, b1, w2, b2, hidden, 10, np.float32(lr), last_phase)
    return time.perf_counter() - started, model


def time_epoch(X, y, hidden, lr, batch_size=1, last_phase=FIRST_STEP, adam=False):
    """The backend's training of the whole epoch in one call, on the same job: (seconds,
    model); in batches, each stopped after ``last_phase``; plain SGD, or Adam."""
    model = _model(hidden)
    optimizer = fn.Adam(lr=lr) if adam else fn.SGD(lr=lr)
    data = EpochData(X, y, np.empty((0, 0), np.float32), np.empty(0, np.float32))
    state = optimizer.state_for(model._params)
    order = np.arange(len(X))
    config = optimizer.config()
    with model._ops.start_training(model._params, state, model._layout, data, model._loss_code,
                                   batch_size, config) as training:  # fmt: skip
        started = time.perf_counter()
        if batch_size > 1:
            training.train(order, config, optimizer._t, new_stats(), last_phase)
        else:
            training.train(order, config, optimizer._t, new_stats())
        return time.perf_counter() - started, model


def _tiles(n):
    """The tiles over ``n`` rows, as the epoch makes them (``_rows_from``): (first, height)."""
    tiles, first = [], 0
    while first < n:
        height = _rows_from(n - first)
        tiles.append((first, height))
        first += height
    return tiles


def _listed_products(batch, hidden, width):
    """Multiply-adds of the first layer's register tiles, ``width`` of its ``hidden`` units,
    on a batch that goes by its rows' bits: the forward tiles (8 rows of a block of rows) over
    the inputs their rows use, the gradient's tiles (8 used inputs of a stretch of the layer's
    rows, or of all of them) over the rows their inputs use."""
    m, n_in = batch.shape
    columns = np.flatnonzero(np.any(batch != 0, axis=0))
    nonzero = batch[:, columns] != 0
    n_rows = row_blocks(m, hidden)
    forward = 0
    for k in range(n_rows):
        r0, r1 = k * m // n_rows, (k + 1) * m // n_rows
        for r, height in _tiles(r1 - r0):
            forward += height * np.count_nonzero(nonzero[r0 + r : r0 + r + height].any(axis=0))
    n_chunks = len(unit_blocks(hidden)) - 1 if first_step_by_rows(n_in, hidden) else 1
    gradient = 0
    for b in range(n_chunks):
        c0, c1 = np.searchsorted(columns, [b * n_in // n_chunks, (b + 1) * n_in // n_chunks])
        for c, height in _tiles(c1 - c0):
            gradient += height * np.count_nonzero(nonzero[:, c0 + c : c0 + c + height].any(axis=1))
    return forward * width, gradient * width


def batch_products(X, hidden, batch_size):
    """Multiply-adds of the mini-batch epoch's products, per phase, on the shapes it runs:
    each dense batch's first layer over the inputs some row uses (a batch that goes sparse
    counts its nonzero inputs; one whose register tiles go by the rows' bits, the tiles' own
    steps, see ``LISTS_DENSITY``), and the output layer (10 units) over the hidden ones."""
    first = other = backward = step = 0
    tiled = hidden - hidden % 32 if TILES else 0  # float32 columns in tiles; BLAS the rest
    for start in range(0, len(X), batch_size):
        batch = X[start : start + batch_size]
        m = len(batch)
        nonzero = int(np.count_nonzero(batch))
        used = np.any(batch != 0, axis=0)
        n_used = int(np.count_nonzero(used))
        inputs = nonzero if goes_sparse(nonzero, m, X.shape[1]) else m * n_used
        forward = gradient = inputs * hidden
        if inputs > nonzero and tiled and nonzero <= LISTS_DENSITY * m * n_used:
            forward, gradient = _listed_products(batch, hidden, tiled)
            forward += inputs * (hidden - tiled)
            gradient += inputs * (hidden - tiled)
        first += forward
        other += m * hidden * 10
        backward += 2 * m * hidden * 10
        step += gradient
    return {2: first, 3: other, 4: backward, 5: step}


@njit(nogil=True)
def _gemm_loop(a, b, c, m, n, k, repeats):
    scratch = gemm_scratch(c)
    for _ in range(repeats):
        gemm(False, False, m, n, k, 1.0, a, k, b, n, 0.0, c, n, scratch)


def gemm_rates(m, n, k, repeats=200):
    """Multiply-adds per second of fastnn's product and NumPy's on an (m, k) by (k, n)
    float32 product, BLAS on one thread: (fastnn's, NumPy's)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.random((m, k), np.float32), rng.random((k, n), np.float32)
    c = np.empty((m, n), np.float32)
    with threadpool_limits(1, user_api="blas"):
        _gemm_loop(a.ravel(), b.ravel(), c.ravel(), m, n, k, 2)
        rates = []
        for product in ("fastnn", "numpy"):
            best = np.inf
            for _ in range(5):
                started = time.perf_counter()
                if product == "fastnn":
                    _gemm_loop(a.ravel(), b.ravel(), c.ravel(), m, n, k, repeats)
                else:
                    for _ in range(repeats):
                        np.matmul(a, b, out=c)
                best = min(best, time.perf_counter() - started)
            rates.append(repeats * m * n * k / best)
    return rates


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument(
        "--lr", type=float, help="default: 0.01 per sample, 0.1 in batches (Adam: 0.001)"
    )
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                        help="in batches: plain SGD (default) or Adam")  # fmt: skip
    parser.add_argument("--rows", type=int, default=60000, help="training rows (a smoke test)")
    parser.add_argument("--json", metavar="PATH", help="also write the results to PATH")
    args = parser.parse_args(argv)
    batch_size = args.batch_size
    adam = args.optimizer == "adam" and batch_size > 1
    lr = args.lr or (0.001 if adam else 0.01 if batch_size == 1 else 0.1)
    names = PHASES if batch_size == 1 else BATCH_PHASES
    (X, y), _ = fn.datasets.load_mnist()
    X, y = X[: args.rows], y[: args.rows].astype(np.int64)
    stages = range(1, len(names) + 1)
    for stage in stages:  # compile outside the timings
        time_phase(X[:256], y[:256], args.hidden, lr, stage, batch_size, adam)
    time_epoch(X[:256], y[:256], args.hidden, lr, batch_size, adam=adam)
    times = {stage: [] for stage in [*stages, "epoch"]}
    for _ in range(args.rounds):
        for stage in stages:
            times[stage].append(time_phase(X, y, args.hidden, lr, stage, batch_size, adam)[0])
        if batch_size == 1:  # in batches, the last phase is the whole epoch
            times["epoch"].append(time_epoch(X, y, args.hidden, lr, batch_size)[0])
    medians = {stage: statistics.median(values) for stage, values in times.items() if values}
    epoch = medians.get("epoch", medians[len(names)])
    optimizer = "Adam" if adam else "SGD"
    regime = "per-sample SGD" if batch_size == 1 else f"{optimizer} in batches of {batch_size}"
    title = f"784-{args.hidden}-10 float32, {regime}, {len(X):,} samples, {args.rounds} rounds"
    print(f"{title} (medians)\n")
    if batch_size > 1:
        result = _batch_table(X, args.hidden, batch_size, stages, names, medians)
    else:
        result = _sample_table(stages, names, medians, epoch)
    if args.json:
        from fastnn.bench.machine import machine_info
        from fastnn.bench.report import write_json

        command = " ".join(["python", "benchmarks/phases.py", *sys.argv[1:]])
        result = dict(result, title=title, hidden=args.hidden, batch_size=batch_size,
                      optimizer=optimizer, rows=len(X), rounds=args.rounds, command=command,
                      date=time.strftime("%Y-%m-%d"), machine=machine_info())  # fmt: skip
        write_json(result, args.json)


def _sample_table(stages, names, medians, epoch):
    """The phases of a per-sample epoch; returns them as a dict."""
    print("| phase | seconds | share of the epoch |")
    print("|---|---:|---:|")
    rows = []
    before = 0.0
    for stage, name in zip(stages, names, strict=True):
        cost = medians[stage] - before
        before = medians[stage]
        rows.append({"phase": name, "seconds": cost})
        print(f"| {stage}. {name} | {cost:.3f} | {cost / epoch:.0%} |")
    rows.append({"phase": f"bookkeeping (the epoch beyond phase {len(names)})",
                 "seconds": epoch - before})  # fmt: skip
    print(f"| {rows[-1]['phase']} | {epoch - before:.3f} | {(epoch - before) / epoch:.0%} |")
    print(f"| whole epoch, `train` | {epoch:.3f} | 100% |")
    return {"phases": rows, "epoch_s": epoch}


def _batch_table(X, hidden, batch_size, stages, names, medians):
    """The phases of a batch epoch against the floor of their products."""
    from fastnn.kernels.epoch import batch_threads

    threads = batch_threads(_model(hidden)._layout, batch_size)
    products = batch_products(X, hidden, batch_size)
    used = int(np.mean([np.count_nonzero(np.any(X[s : s + batch_size] != 0, axis=0))
                        for s in range(0, len(X), batch_size)]))  # fmt: skip
    block = -(-hidden // threads)
    fastnn_rate, numpy_rate = gemm_rates(batch_size, block, used)
    epoch = medians[len(names)]
    print(f"threads: {threads}; GEMM rate, one thread, ({batch_size} x {used}) by ({used} x "
          f"{block}): fastnn {2 * fastnn_rate / 1e9:.0f} GFLOP/s, NumPy "
          f"{2 * numpy_rate / 1e9:.0f} GFLOP/s\n")  # fmt: skip
    print("| phase | seconds | share of the epoch | GFLOP | floor (s) |")
    print("|---|---:|---:|---:|---:|")
    rows = []
    before = floor_total = 0.0
    for stage, name in zip(stages, names, strict=True):
        cost = medians[stage] - before
        before = medians[stage]
        flops = 2 * products.get(stage, 0)
        floor = flops / 2 / (fastnn_rate * threads)
        floor_total += floor
        rows.append({"phase": name, "seconds": cost, "gflop": flops / 1e9, "floor_s": floor})
        print(f"| {stage}. {name} | {cost:.3f} | {cost / epoch:.0%} | {flops / 1e9:.2f} | "
              f"{floor:.3f} |")  # fmt: skip
    print(f"| whole epoch, `train` | {epoch:.3f} | 100% | | {floor_total:.3f} |")
    print(
        f"\nbeyond the products at the GEMM rate: {epoch - floor_total:.3f} s "
        f"({(epoch - floor_total) / epoch:.0%} of the epoch)"
    )
    return {"phases": rows, "epoch_s": epoch, "floor_s": floor_total, "threads": threads,
            "gemm_gflops": {"fastnn": 2 * fastnn_rate / 1e9, "numpy": 2 * numpy_rate / 1e9},
            "gemm_shape": [batch_size, used, block]}  # fmt: skip


if __name__ == "__main__":
    main()
