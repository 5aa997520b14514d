"""fastnn's per-sample epoch against a hand-written Numba kernel for one network, interleaved.

The hand kernel is the shortest fast code for exactly one job: 784-H-10, ReLU, softmax
cross-entropy, plain SGD, float32, one sample at a time. It scans each image for its nonzero
pixels (branch-free), computes the hidden layer four rows of ``W1`` per pass over those pixels
only, keeps the output layer transposed (10 x H, so that every loop over it runs over H
contiguous floats), and updates only the rows of ``W1`` whose pixel is nonzero. It knows
nothing of other depths, losses, optimizers, sample weights or statistics.

fastnn trains the same network from the same initial weights in the same order: once through
``fit`` (``epoch_time``, the call a user makes) and once through the backend's ``train``
alone. Each round runs the three jobs in turn; the table gives medians and the test accuracy
after the epoch (equal up to float32 rounding: the three sum in different orders).

    python benchmarks/hand_kernel.py [--rounds 5] [--hidden 128] [--rows N]
"""

import argparse
import statistics
import time

import numpy as np
from numba import njit

import fastnn as fn
from fastnn._codes import EpochData, new_stats


@njit(fastmath=True, nogil=True)  # compiled in each run (about 2 s), not cached
def hand_epoch(X, y, order, W1, b1, W2T, b2, lr):
    """One epoch of per-sample SGD on 784-H-10 (ReLU, softmax cross-entropy), in place."""
    n_in, hidden = W1.shape
    n_out = b2.shape[0]
    nonzero = np.empty(n_in, np.int64)
    h = np.empty(hidden, np.float32)
    dh = np.empty(hidden, np.float32)
    p = np.empty(n_out, np.float32)
    for k in range(order.shape[0]):
        s = order[k]
        x = X[s]
        count = 0
        for i in range(n_in):  # branch-free scan for the nonzero pixels
            nonzero[count] = i
            count += x[i] != 0
        for j in range(hidden):
            h[j] = b1[j]
        c = 0
        while c + 4 <= count:  # four rows of W1 per pass
            i0, i1, i2, i3 = nonzero[c], nonzero[c + 1], nonzero[c + 2], nonzero[c + 3]
            x0, x1, x2, x3 = x[i0], x[i1], x[i2], x[i3]
            for j in range(hidden):
                h[j] += x0 * W1[i0, j] + x1 * W1[i1, j] + x2 * W1[i2, j] + x3 * W1[i3, j]
            c += 4
        while c < count:
            i = nonzero[c]
            for j in range(hidden):
                h[j] += x[i] * W1[i, j]
            c += 1
        for j in range(hidden):
            h[j] = max(h[j], np.float32(0))
        top = -np.inf
        for o in range(n_out):  # logits: one dot product per row of W2^T
            acc = np.float32(0)
            for j in range(hidden):
                acc += W2T[o, j] * h[j]
            p[o] = acc + b2[o]
            top = max(top, p[o])
        total = np.float32(0)
        for o in range(n_out):
            p[o] = np.exp(p[o] - top)
            total += p[o]
        for o in range(n_out):
            p[o] = p[o] / total - (o == y[s])  # delta of the output layer
        for j in range(hidden):
            dh[j] = 0
        for o in range(n_out):  # backward through W2, then its step
            d = p[o]
            step = lr * d
            for j in range(hidden):
                dh[j] += W2T[o, j] * d
                W2T[o, j] -= step * h[j]
            b2[o] -= step
        for j in range(hidden):
            dh[j] = dh[j] if h[j] > 0 else np.float32(0)
        for c in range(count):  # the rows of W1 whose pixel is nonzero
            i = nonzero[c]
            step = lr * x[i]
            for j in range(hidden):
                W1[i, j] -= step * dh[j]
        for j in range(hidden):
            b1[j] -= lr * dh[j]


def _model(hidden):
    """784-H-10 with fastnn's seed-0 initial weights, built (its layers' W and b are views of
    the parameter buffer)."""
    model = fn.Sequential(fn.dense_stack([784, hidden, 10]), dtype="float32", seed=0)
    model._build()
    return model


def run_hand(X, y, order, hidden, lr):
    """The hand kernel from fastnn's seed-0 weights; returns (seconds, model)."""
    model = _model(hidden)
    (W1, b1), (W2, b2) = [(layer.W, layer.b) for layer in model.layers]
    W2T = np.ascontiguousarray(W2.T)
    started = time.perf_counter()
    hand_epoch(X, y, order, W1, b1, W2T, b2, np.float32(lr))
    seconds = time.perf_counter() - started
    W2[...] = W2T.T
    return seconds, model


def run_kernel(X, y, order, hidden, lr):
    """fastnn's backend training alone (one ``train`` call for the epoch), with ``fit``'s
    arguments; (seconds, model)."""
    model = _model(hidden)
    optimizer = fn.SGD(lr=lr)
    data = EpochData(X, y.astype(np.int64), np.empty((0, 0), np.float32), np.empty(0, np.float32))
    state = optimizer.state_for(model._params)
    config = optimizer.config()
    with model._ops.start_training(model._params, state, model._layout, data, model._loss_code,
                                   1, config) as training:  # fmt: skip
        started = time.perf_counter()
        training.train(order, config, optimizer._t, new_stats())
        return time.perf_counter() - started, model


def run_fit(X, y, order, hidden, lr):
    """fastnn's ``fit`` (``epoch_time``); (seconds, model)."""
    model = _model(hidden)
    history = model.fit(X[order], y[order], batch_size=1, optimizer=fn.SGD(lr=lr), shuffle=False,
                        verbose=0)  # fmt: skip
    return history.history["epoch_time"][0], model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--rows", type=int, default=60000, help="training rows (a smoke test)")
    args = parser.parse_args(argv)
    (X, y), (X_test, y_test) = fn.datasets.load_mnist()
    shuffled = np.random.default_rng(0).permutation(len(X))[: args.rows]
    X, y = X[shuffled], y[shuffled]  # every job then reads the rows in storage order
    order = np.arange(len(X))
    jobs = {"hand kernel": run_hand, "fastnn train": run_kernel, "fastnn fit": run_fit}
    for job in jobs.values():  # compile or load outside the timings
        job(X, y, order[:64], args.hidden, args.lr)
    times = {name: [] for name in jobs}
    accuracy = {}
    for _ in range(args.rounds):
        for name, job in jobs.items():
            seconds, model = job(X, y, order, args.hidden, args.lr)
            times[name].append(seconds)
            accuracy[name] = model.evaluate(X_test, y_test)["accuracy"]
    hand = statistics.median(times["hand kernel"])
    print(f"784-{args.hidden}-10 float32, per-sample SGD lr {args.lr}, {len(order):,} samples, "
          f"{args.rounds} rounds\n")  # fmt: skip
    print("| job | median s | min s | hand kernel's time / this | test accuracy |")
    print("|---|---:|---:|---:|---:|")
    for name in jobs:
        median = statistics.median(times[name])
        print(f"| {name} | {median:.3f} | {min(times[name]):.3f} | {hand / median:.2f}x | "
              f"{accuracy[name]:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
