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

With ``--batch-size`` above 1, the driver runs the mini-batch epoch's kernels on dense
batches (the BLAS path, which MNIST takes in batches of 128, over the inputs some row of the
batch uses):

1. copying the batch's rows into the work buffer, and its used inputs and the rows of ``W1``
   they meet into compact ones;
2. the first layer's forward product, bias and ReLU (``dense_forward``);
3. the output layer's (``dense_forward``);
4. softmax cross-entropy and its gradient;
5. the output layer's weight gradient and the hidden delta (``dense_backward``, ReLU');
6. the first layer's weight gradient (``dense_backward``, no input gradient);
7. the SGD step of both layers (of the first, the used inputs' rows).

Each phase's cost is the difference between the driver stopping after it and after the one
before (cumulative runs keep the caches as warm as in a real epoch). The whole epoch (one
``train`` call of the backend) is timed in the same rounds; what it takes beyond the last phase
is its bookkeeping: the step size, the activation derivatives, the statistics of the epoch.
The phases before the steps leave the weights as they were, so those drivers time the same
numbers each round.

    python benchmarks/phases.py [--rounds 5] [--hidden 128] [--batch-size 1]
"""

import argparse
import statistics
import time

import numpy as np
from numba import njit

import fastnn as fn
from fastnn._codes import IDENTITY, RELU, EpochData, new_stats
from fastnn.kernels import (
    activation_derivative,
    dense_backward,
    dense_forward,
    softmax_cross_entropy,
)
from fastnn.kernels.activations import _activate_row, _derivative_row
from fastnn.kernels.batch import _compact_columns, _touched_columns, stored_views
from fastnn.kernels.dense import _column_sums
from fastnn.kernels.rows import (
    _backward_cols,
    _find_nonzero,
    _forward_cols,
    _forward_rows,
    _update_rows,
)
from fastnn.kernels.update import _step_layer
from fastnn.params import B_OFFSET, W_OFFSET

PHASES = ("nonzero scan", "first layer forward + ReLU", "output logits",
          "softmax cross-entropy", "output backward + step", "first layer step")  # fmt: skip
BATCH_PHASES = ("copy the batch's rows, compact the used inputs",
                "first layer forward + ReLU (BLAS)",
                "output logits (BLAS)", "softmax cross-entropy",
                "output gradient + hidden delta (BLAS)", "first layer gradient (BLAS)",
                "SGD step of every weight")  # fmt: skip


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


@njit(nogil=True)  # compiled in each run, not cached
def _batch_driver(X, y, params, layout, batch_size, opt, last_phase):
    """Mini-batch SGD on the rows of X in order, stopping each batch after ``last_phase``."""
    W1, b1 = stored_views(params, layout, 0)
    W2T, b2 = stored_views(params, layout, 1)  # the output layer is stored transposed
    W2 = W2T.T
    grads = np.zeros_like(params)
    db1 = stored_views(grads, layout, 0)[1]
    dW2T, db2 = stored_views(grads, layout, 1)
    hidden, n_out = W1.shape[1], W2.shape[1]
    x = np.empty((batch_size, X.shape[1]), np.float32)
    columns = np.empty(X.shape[1], np.int64)
    xc_buf = np.empty(batch_size * X.shape[1], np.float32)
    Wc_buf = np.empty(X.shape[1] * hidden, np.float32)
    z1, a1 = np.empty((batch_size, hidden), np.float32), np.empty((batch_size, hidden), np.float32)
    z2, a2 = np.empty((batch_size, n_out), np.float32), np.empty((batch_size, n_out), np.float32)
    delta2 = np.empty((batch_size, n_out), np.float32)
    delta1 = np.empty((batch_size, hidden), np.float32)
    relu = np.empty((batch_size, hidden), np.float32)
    no_weights = np.empty(0, np.float32)
    state = np.zeros((1, 0), np.float32)
    lr = opt.lr
    total = 0.0
    for first in range(0, X.shape[0], batch_size):
        m = min(batch_size, X.shape[0] - first)
        for r in range(m):
            for i in range(X.shape[1]):
                x[r, i] = X[first + r, i]
        n_cols, _ = _touched_columns(x[:m], columns)  # as the epoch: only the used inputs
        xc = xc_buf[: m * n_cols].reshape(m, n_cols)
        Wc = Wc_buf[: n_cols * hidden].reshape(n_cols, hidden)
        _compact_columns(x[:m], W1, columns, n_cols, xc, Wc)
        if last_phase >= 2:
            dense_forward(xc, Wc, b1, RELU, z1[:m], a1[:m])
        if last_phase >= 3:
            dense_forward(a1[:m], W2, b2, IDENTITY, z2[:m], a2[:m])
        if last_phase >= 4:
            total += softmax_cross_entropy(a2[:m], y[first : first + m], no_weights, delta2[:m])
        if last_phase >= 5:
            np.dot(delta2[:m].T, a1[:m], dW2T)  # the output layer's gradient as it is stored
            _column_sums(delta2[:m], db2)
            np.dot(delta2[:m], W2T, delta1[:m])
            activation_derivative(z1[:m], a1[:m], RELU, relu[:m])
            for r in range(m):
                for j in range(hidden):
                    delta1[r, j] *= relu[r, j]
        if last_phase >= 6:
            dense_backward(xc, Wc, delta1[:m], Wc, db1, np.empty((0, n_cols), np.float32))
        if last_phase >= 7:
            step = np.float32(-lr)
            for c in range(n_cols):  # the first layer's used rows, then its bias and layer 2
                row, grad_row = W1[columns[c]], Wc[c]
                for j in range(hidden):
                    row[j] += step * grad_row[j]
            for j in range(hidden):
                b1[j] += step * db1[j]
            w, b = layout[1, W_OFFSET], layout[1, B_OFFSET]
            _step_layer(params, state, w, b, grads[w : w + dW2T.size], db2, opt, lr, 1.0)
    return total


def _model(hidden):
    model = fn.Sequential(fn.dense_stack([784, hidden, 10]), dtype="float32", seed=0)
    model._build()
    return model


def time_phase(X, y, hidden, lr, last_phase, batch_size=1):
    """The driver stopping after ``last_phase``, from fresh seed-0 weights: (seconds, model)."""
    model = _model(hidden)
    params, layout = model._params, model._layout
    if batch_size > 1:
        started = time.perf_counter()
        _batch_driver(X, y, params, layout, batch_size, fn.SGD(lr=lr).config(), last_phase)
        return time.perf_counter() - started, model
    (w1, b1), (w2, b2) = [(row[W_OFFSET], row[B_OFFSET]) for row in layout]
    started = time.perf_counter()  # the output layer is stored transposed, as the kernels read
    _driver(X, y, params, w1, b1, w2, b2, hidden, 10, np.float32(lr), last_phase)
    return time.perf_counter() - started, model


def time_epoch(X, y, hidden, lr, batch_size=1):
    """The backend's training of the whole epoch in one call, on the same job: (seconds,
    model)."""
    model = _model(hidden)
    optimizer = fn.SGD(lr=lr)
    data = EpochData(X, y, np.empty((0, 0), np.float32), np.empty(0, np.float32))
    state = optimizer.state_for(model._params)
    order = np.arange(len(X))
    config = optimizer.config()
    with model._ops.start_training(model._params, state, model._layout, data, model._loss_code,
                                   batch_size, config) as training:  # fmt: skip
        started = time.perf_counter()
        training.train(order, config, optimizer._t, new_stats())
        return time.perf_counter() - started, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, help="default: 0.01 per sample, 0.1 in batches")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--rows", type=int, default=60000, help="training rows (a smoke test)")
    args = parser.parse_args(argv)
    batch_size = args.batch_size
    lr = args.lr or (0.01 if batch_size == 1 else 0.1)
    names = PHASES if batch_size == 1 else BATCH_PHASES
    (X, y), _ = fn.datasets.load_mnist()
    X, y = X[: args.rows], y[: args.rows].astype(np.int64)
    stages = range(1, len(names) + 1)
    for stage in stages:  # compile outside the timings
        time_phase(X[:256], y[:256], args.hidden, lr, stage, batch_size)
    time_epoch(X[:256], y[:256], args.hidden, lr, batch_size)
    times = {stage: [] for stage in [*stages, "epoch"]}
    for _ in range(args.rounds):
        for stage in stages:
            times[stage].append(time_phase(X, y, args.hidden, lr, stage, batch_size)[0])
        times["epoch"].append(time_epoch(X, y, args.hidden, lr, batch_size)[0])
    medians = {stage: statistics.median(values) for stage, values in times.items()}
    epoch = medians["epoch"]
    regime = "per-sample SGD" if batch_size == 1 else f"SGD in batches of {batch_size}"
    print(f"784-{args.hidden}-10 float32, {regime}, {len(X):,} samples, {args.rounds} rounds "
          "(medians)\n")  # fmt: skip
    print("| phase | seconds | share of the epoch |")
    print("|---|---:|---:|")
    before = 0.0
    for stage, name in zip(stages, names, strict=True):
        cost = medians[stage] - before
        before = medians[stage]
        print(f"| {stage}. {name} | {cost:.3f} | {cost / epoch:.0%} |")
    print(f"| bookkeeping (the epoch beyond phase {len(names)}) | {epoch - before:.3f} | "
          f"{(epoch - before) / epoch:.0%} |")  # fmt: skip
    print(f"| whole epoch, `train` | {epoch:.3f} | 100% |")


if __name__ == "__main__":
    main()
