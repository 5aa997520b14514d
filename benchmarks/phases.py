"""Where a per-sample MNIST epoch spends its time, phase by phase.

A compiled driver runs fastnn's own per-sample kernels over the 60,000 MNIST images
(784-H-10, ReLU, softmax cross-entropy, plain SGD, float32, the output layer stored
transposed as the epoch stores it), stopping after a given phase:

1. the scan of the image for its nonzero pixels (``find_nonzero``);
2. the first layer's forward product over them (``forward_rows``) and ReLU;
3. the output layer's logits (``forward_cols``);
4. softmax cross-entropy and its gradient (``softmax_cross_entropy``);
5. the output layer's backward product fused with its step (``backward_cols``);
6. the first layer's step over the nonzero pixels' rows (``update_rows``).

Each phase's cost is the difference between the driver stopping after it and after the one
before (cumulative runs keep the caches as warm as in a real epoch). The whole epoch
(``train_epoch``) is timed in the same rounds; what it takes beyond phase 6 is its
bookkeeping: the step size, the activation derivatives, the statistics of the epoch.
Phases 1-4 leave the weights as they were, so those drivers time the same numbers each round.

    python benchmarks/phases.py [--rounds 5] [--hidden 128]
"""

import argparse
import statistics
import time

import numpy as np
from numba import njit

import fastnn as fn
from fastnn._codes import RELU, EpochData, new_stats
from fastnn.kernels import (
    backward_cols,
    find_nonzero,
    forward_cols,
    forward_rows,
    softmax_cross_entropy,
    update_rows,
)
from fastnn.kernels.activations import _activate_row, _derivative_row
from fastnn.params import B_OFFSET, W_OFFSET

PHASES = ("nonzero scan", "first layer forward + ReLU", "output logits",
          "softmax cross-entropy", "output backward + step", "first layer step")  # fmt: skip


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
        count = find_nonzero(X[s], indices, values)
        if last_phase >= 2:
            forward_rows(indices, values, count, params, w1, b1, z1)
            _activate_row(z1, RELU, a1)
        if last_phase >= 3:
            forward_cols(a1, params, w2, b2, z2[0])
        if last_phase >= 4:
            total += softmax_cross_entropy(z2, y[s : s + 1], no_weights, grad)
        if last_phase >= 5:
            _derivative_row(z1, a1, RELU, d1)
            backward_cols(a1, d1, params, w2, b2, grad[0], delta1, lr, True)
        if last_phase >= 6:
            update_rows(indices, values, count, params, w1, b1, delta1, lr)
        total += count
    return total


def _model(hidden):
    model = fn.Sequential(fn.dense_stack([784, hidden, 10]), dtype="float32", seed=0)
    model._build()
    return model


def time_phase(X, y, hidden, lr, last_phase):
    """The driver stopping after ``last_phase``, from fresh seed-0 weights: (seconds, model)."""
    model = _model(hidden)
    params, layout = model._params, model._layout
    (w1, b1), (w2, b2) = [(row[W_OFFSET], row[B_OFFSET]) for row in layout]
    W2 = model.layers[1].W
    params[w2 : w2 + W2.size] = W2.T.ravel()  # stored transposed, as the epoch stores it
    started = time.perf_counter()
    _driver(X, y, params, w1, b1, w2, b2, hidden, 10, np.float32(lr), last_phase)
    seconds = time.perf_counter() - started
    W2[...] = params[w2 : w2 + W2.size].reshape(W2.shape[::-1]).T  # back to (n_in, n_out)
    return seconds, model


def time_epoch(X, y, hidden, lr):
    """The backend's whole ``train_epoch`` on the same job: (seconds, model)."""
    model = _model(hidden)
    optimizer = fn.SGD(lr=lr)
    data = EpochData(X, y, np.empty((0, 0), np.float32), np.empty(0, np.float32))
    state = optimizer.state_for(model._params)
    order = np.arange(len(X))
    started = time.perf_counter()
    model._ops.train_epoch(model._params, state, model._layout, data, order, model._loss_code,
                           1, optimizer.config(), optimizer._t, new_stats())  # fmt: skip
    return time.perf_counter() - started, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--rows", type=int, default=60000, help="training rows (a smoke test)")
    args = parser.parse_args(argv)
    (X, y), _ = fn.datasets.load_mnist()
    X, y = X[: args.rows], y[: args.rows].astype(np.int64)
    stages = range(1, len(PHASES) + 1)
    for stage in stages:  # compile outside the timings
        time_phase(X[:16], y[:16], args.hidden, args.lr, stage)
    time_epoch(X[:16], y[:16], args.hidden, args.lr)
    times = {stage: [] for stage in [*stages, "epoch"]}
    for _ in range(args.rounds):
        for stage in stages:
            times[stage].append(time_phase(X, y, args.hidden, args.lr, stage)[0])
        times["epoch"].append(time_epoch(X, y, args.hidden, args.lr)[0])
    medians = {stage: statistics.median(values) for stage, values in times.items()}
    epoch = medians["epoch"]
    print(f"784-{args.hidden}-10 float32, per-sample SGD, {len(X):,} samples, {args.rounds} rounds "
          "(medians)\n")  # fmt: skip
    print("| phase | seconds | share of the epoch |")
    print("|---|---:|---:|")
    before = 0.0
    for stage, name in zip(stages, PHASES, strict=True):
        cost = medians[stage] - before
        before = medians[stage]
        print(f"| {stage}. {name} | {cost:.3f} | {cost / epoch:.0%} |")
    print(f"| bookkeeping (the epoch beyond phase 6) | {epoch - before:.3f} | "
          f"{(epoch - before) / epoch:.0%} |")  # fmt: skip
    print(f"| whole epoch, `train_epoch` | {epoch:.3f} | 100% |")


if __name__ == "__main__":
    main()
