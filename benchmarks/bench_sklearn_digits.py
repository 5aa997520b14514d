"""FastMLPClassifier beside scikit-learn's MLPClassifier on the digits, fit times in one run.

Both train the same network (64-64-10, ReLU) with the same SGD (constant learning rate, Nesterov
momentum 0.9, alpha 1e-4) for the same number of epochs; early stopping on the training loss is
off (``tol=0``, ``n_iter_no_change=max_iter``) so that both run every epoch. The numba kernels are
compiled (or loaded from the disk cache) before timing.

    python benchmarks/bench_sklearn_digits.py [--repeats 3]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from fastnn.sklearn import FastMLPClassifier


def _time_fit(make, X, y, X_test, y_test, repeats):
    times = []
    for _ in range(repeats):
        est = make()
        started = time.perf_counter()
        est.fit(X, y)
        times.append(time.perf_counter() - started)
    return min(times), est.score(X_test, y_test), est.n_iter_


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fits per row; the best is shown")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    regimes = [
        ("mini-batch (batch_size=200), 200 epochs", dict(batch_size=200, max_iter=200, lr=0.1)),
        ("per-sample (batch_size=1), 20 epochs", dict(batch_size=1, max_iter=20, lr=0.01)),
    ]
    # compile (or load) the kernels of both dtypes before timing
    for dtype in ("float32", "float64"):
        FastMLPClassifier(max_iter=1, dtype=dtype, backend="numba").fit(X_train, y_train)

    print(f"digits: {len(X_train)} training and {len(X_test)} test samples, 64-64-10 ReLU")
    print(f"{'regime':<42} {'estimator':<42} {'fit (s)':>8} {'accuracy':>9}")
    for title, r in regimes:
        common = dict(
            hidden_layer_sizes=(64,),
            batch_size=r["batch_size"],
            learning_rate_init=r["lr"],
            momentum=0.9,
            nesterovs_momentum=True,
            alpha=1e-4,
            max_iter=r["max_iter"],
            tol=0.0,
            n_iter_no_change=r["max_iter"],
            random_state=0,
        )
        rows = [
            (
                "sklearn MLPClassifier(solver='sgd')",
                lambda c=common: MLPClassifier(solver="sgd", learning_rate="constant", **c),
            ),
            (
                "FastMLPClassifier(backend='numpy')",
                lambda c=common: FastMLPClassifier(backend="numpy", **c),
            ),
            (
                "FastMLPClassifier(backend='numba')",
                lambda c=common: FastMLPClassifier(backend="numba", **c),
            ),
            (
                "FastMLPClassifier(numba, dtype='float32')",
                lambda c=common: FastMLPClassifier(backend="numba", dtype="float32", **c),
            ),
        ]
        baseline = None
        for name, make in rows:
            seconds, accuracy, epochs = _time_fit(
                make, X_train, y_train, X_test, y_test, args.repeats
            )
            baseline = baseline or seconds
            print(
                f"{title:<42} {name:<42} {seconds:8.3f} {accuracy:9.4f}"
                f"   ({epochs} epochs, x{baseline / seconds:.1f})"
            )
    print(f"numpy {np.__version__}; best of {args.repeats} fits per row")


if __name__ == "__main__":
    main()
