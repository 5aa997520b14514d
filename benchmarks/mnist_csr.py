"""MNIST epochs on dense rows and on the same rows as CSR, in one interleaved run.

The numba backend trains 784-128-10 ReLU in float32 from the same initial weights, in the same
order, on the dense training images and on ``scipy.sparse.csr_matrix`` of them (19% of the
pixels are nonzero): per sample with plain SGD, and in batches. Each round runs every job once,
in turn; the table gives the median epoch time and the test accuracy after the epoch.

    python benchmarks/mnist_csr.py [--rounds 5] [--batch-size 128] [--hidden 128] [--rows N]
"""

import argparse
import statistics

import numpy as np
import scipy.sparse as sp

import fastnn as fn


def epoch(X, y, batch_size, lr, hidden, X_test, y_test):
    """One epoch from the seed-0 initial weights, in order; returns (seconds, accuracy)."""
    model = fn.Sequential(fn.dense_stack([784, *hidden, 10]), dtype="float32", seed=0)
    history = model.fit(X, y, batch_size=batch_size, optimizer=fn.SGD(lr=lr), shuffle=False,
                        verbose=0)  # fmt: skip
    return history.history["epoch_time"][0], model.evaluate(X_test, y_test)["accuracy"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128])
    parser.add_argument("--rows", type=int, default=60000, help="training rows (a smoke test)")
    args = parser.parse_args(argv)
    (X, y), (X_test, y_test) = fn.datasets.load_mnist()
    order = np.random.default_rng(0).permutation(len(X))[: args.rows]  # one order for all jobs
    X, y = X[order], y[order]
    rows = {"dense": X, "CSR": sp.csr_matrix(X)}
    print(f"MNIST: {len(X):,} rows, {rows['CSR'].nnz / X.size:.1%} nonzero")
    jobs = [(regime, kind) for regime in ("per sample", "batch") for kind in rows]
    settings = {"per sample": (1, 0.01), "batch": (args.batch_size, 0.1)}
    for regime, kind in jobs:  # load the kernels outside the timings
        batch_size, lr = settings[regime]
        epoch(rows[kind][:256], y[:256], batch_size, lr, args.hidden, X_test, y_test)
    times = {job: [] for job in jobs}
    accuracy = {}
    for _ in range(args.rounds):
        for regime, kind in jobs:
            batch_size, lr = settings[regime]
            seconds, accuracy[regime, kind] = epoch(rows[kind], y, batch_size, lr, args.hidden,
                                                    X_test, y_test)  # fmt: skip
            times[regime, kind].append(seconds)
    print(f"\n784-{'-'.join(map(str, args.hidden))}-10 float32, plain SGD, {args.rounds} rounds "
          "(median epoch seconds)\n")  # fmt: skip
    print("| regime | dense rows | CSR rows | CSR / dense | test accuracy dense, CSR |")
    print("|---|---:|---:|---:|---|")
    for regime in settings:
        dense = statistics.median(times[regime, "dense"])
        csr = statistics.median(times[regime, "CSR"])
        print(f"| {regime} | {dense:.3f} s | {csr:.3f} s | {csr / dense:.2f} | "
              f"{accuracy[regime, 'dense']:.4f}, {accuracy[regime, 'CSR']:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
