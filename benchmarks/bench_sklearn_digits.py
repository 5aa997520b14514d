"""FastMLPClassifier beside scikit-learn's MLPClassifier, both with their default arguments.

Both estimators are built as a user builds them, ``FastMLPClassifier(random_state=0)`` and
``MLPClassifier(random_state=0)``: every other argument at its default (solver "adam", one
hidden layer of 100 ReLU units, batches of min(200, n), lr 0.001, alpha 1e-4, up to 200 epochs,
stopping after 10 epochs without a 1e-4 improvement of the training loss). FastMLPClassifier
reproduces scikit-learn's numbers from the same ``random_state``, so both should stop after the
same epoch with the same accuracy; the fit time is what differs.

- Digits (scikit-learn's 8x8 digits, 1,797 images): ``make_pipeline(StandardScaler(),
  estimator)`` in 3-fold cross-validation (``cross_validate``, unshuffled stratified folds):
  the mean test accuracy and the total fit time of the three folds. The median of
  ``--repeats`` interleaved rounds (each round times every estimator once, in turn), and the
  range of the speed-up over the rounds (each round's MLPClassifier time over the row's).
- MNIST: one fit of each on the first ``--mnist-samples`` training images (pixels in [0, 1],
  float32), with ``max_iter=--mnist-max-iter`` (default 50: a minute or two for the whole
  script on two cores), then the accuracy on the 10,000 test images.

fastnn's kernels are compiled (or loaded from the disk cache) by an untimed fit before any
timing. Each estimator's fits start after an untimed pause (``SETTLE_SECONDS``, as in ``fastnn
bench``), so that no BLAS threads the one before left spinning take a core from them.
Convergence warnings (``max_iter`` reached) are silenced: the table shows the epochs run. The
speed-up is MLPClassifier's fit time divided by the row's (above 1: faster than
scikit-learn).

    python benchmarks/bench_sklearn_digits.py [--repeats 5] [--digits-max-iter N]
        [--mnist-samples 10000] [--mnist-max-iter 50] [--no-mnist] [--numpy] [--json PATH]

Options:
    --repeats N          digits: interleaved rounds of cross-validation (5); the median shown
    --digits-max-iter N  digits: max_iter of both estimators (default: theirs, 200); a small
                         value makes a quick check of the script
    --mnist-samples N    MNIST: train on the first N training images (10000; 0 skips MNIST)
    --mnist-max-iter N   MNIST: max_iter of both estimators (50)
    --no-mnist           digits only
    --numpy              also time FastMLPClassifier(backend="numpy")
    --json PATH          also write the results, the machine (CPU, BLAS kernel, versions), the
                         date and this command to PATH (benchmarks/results/sklearn-digits.json
                         is the file the documentation renders)

The figures depend on the machine and on whatever else runs on it: compare rows of one run.
"""

import argparse
import gc
import shlex
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastnn
from fastnn.bench import machine_info, write_json
from fastnn.bench.runner import SETTLE_SECONDS
from fastnn.sklearn import FastMLPClassifier

SKLEARN = "MLPClassifier(random_state=0)"


def _estimators(with_numpy):
    """(name, factory) of every row; scikit-learn's first, the reference of the speed-ups."""
    rows = [
        (SKLEARN, lambda **kw: MLPClassifier(random_state=0, **kw)),
        ("FastMLPClassifier(random_state=0)", lambda **kw: FastMLPClassifier(random_state=0, **kw)),
        (
            'FastMLPClassifier(random_state=0, dtype="float32")',
            lambda **kw: FastMLPClassifier(random_state=0, dtype="float32", **kw),
        ),
    ]
    if with_numpy:
        rows.append((
            'FastMLPClassifier(random_state=0, backend="numpy")',
            lambda **kw: FastMLPClassifier(random_state=0, backend="numpy", **kw),
        ))  # fmt: skip
    return rows


def _settle():
    """An untimed pause before each estimator's fits, as the benchmark runner makes before each
    run: the previous estimator's garbage is collected, and the BLAS threads it left spinning
    go to sleep instead of taking a core from the fits that follow."""
    gc.collect()
    time.sleep(SETTLE_SECONDS)


def _digits(estimators, repeats, max_iter):
    """{name: (median total fit seconds, mean accuracy, mean epochs, (lowest, highest)
    speed-up over the rounds)} over 3-fold CV rounds."""
    X, y = load_digits(return_X_y=True)
    options = {} if max_iter is None else {"max_iter": max_iter}
    rounds = {name: [] for name, _ in estimators}
    for _ in range(repeats):
        for name, make in estimators:  # interleaved: each round times every estimator in turn
            _settle()
            scores = cross_validate(make_pipeline(StandardScaler(), make(**options)), X, y, cv=3,
                                    return_estimator=True)  # fmt: skip
            epochs = np.mean([pipe[-1].n_iter_ for pipe in scores["estimator"]])
            rounds[name].append((float(np.sum(scores["fit_time"])),
                                 float(np.mean(scores["test_score"])), epochs))  # fmt: skip
    reference = [seconds for seconds, _, _ in rounds[SKLEARN]]
    results = {}
    for name, runs in rounds.items():
        seconds = [run[0] for run in runs]
        ratios = [ref / own for ref, own in zip(reference, seconds, strict=True)]
        results[name] = (float(np.median(seconds)), runs[0][1], runs[0][2],
                         (min(ratios), max(ratios)))  # fmt: skip
    limit = "" if max_iter is None else f", max_iter={max_iter}"
    return f"digits, 3-fold CV, {len(X):,} images{limit} (median of {repeats})", results


def _mnist(estimators, n_samples, max_iter):
    """{name: (fit seconds, test accuracy, epochs)}: one fit each on the first n images."""
    (X, y), (X_test, y_test) = fastnn.datasets.load_mnist()
    X, y = X[:n_samples], y[:n_samples]
    results = {}
    for name, make in estimators:
        estimator = make(max_iter=max_iter)
        _settle()
        started = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - started
        results[name] = (seconds, float(estimator.score(X_test, y_test)), estimator.n_iter_,
                         None)  # fmt: skip
    title = f"MNIST, first {len(X):,} images, max_iter={max_iter}, one fit"
    return title, results


def _table(sections):
    header = ("data", "estimator", "fit s", "accuracy", "epochs", "speed-up", "range")
    lines = [header]
    for title, results in sections:
        reference = results[SKLEARN][0]
        for i, (name, (seconds, accuracy, epochs, spread)) in enumerate(results.items()):
            low_high = "" if spread is None else f"{spread[0]:.2f}-{spread[1]:.2f}x"
            lines.append((title if i == 0 else "", name, f"{seconds:.3f}", f"{accuracy:.4f}",
                          f"{epochs:g}", f"{reference / seconds:.2f}x", low_high))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
        for line in lines
    )  # fmt: skip


def _json(sections, args, argv):
    """The results file: every row, the settings, the machine, the date and the command."""
    rows = []
    for title, results in sections:
        reference = results[SKLEARN][0]
        for name, (seconds, accuracy, epochs, spread) in results.items():
            rows.append({
                "data": title.split(",")[0].lower(),
                "title": title,
                "estimator": name,
                "fit_s": seconds,
                "accuracy": accuracy,
                "epochs": float(epochs),
                "speedup": reference / seconds,
                "speedup_range": None if spread is None else list(spread),
            })  # fmt: skip
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "benchmarks/bench_sklearn_digits.py", *argv]),
        "settings": {key: value for key, value in vars(args).items() if key != "json"},
        "machine": machine_info(),
        "results": rows,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5,
                        help="digits: interleaved CV rounds; the median shown")  # fmt: skip
    parser.add_argument("--digits-max-iter", type=int, default=None, help="digits: max_iter")
    parser.add_argument("--mnist-samples", type=int, default=10000, help="MNIST training slice")
    parser.add_argument("--mnist-max-iter", type=int, default=50, help="MNIST: max_iter")
    parser.add_argument("--no-mnist", action="store_true", help="digits only")
    parser.add_argument("--numpy", action="store_true", help='also backend="numpy"')
    parser.add_argument("--json", metavar="PATH", help="also write the results file PATH")
    args = parser.parse_args(argv)
    if min(args.repeats, args.mnist_max_iter, args.digits_max_iter or 1) < 1:
        parser.error("--repeats, --digits-max-iter and --mnist-max-iter must be >= 1")
    if args.mnist_samples < 0:
        parser.error("--mnist-samples must be >= 0")
    warnings.simplefilter("ignore", ConvergenceWarning)
    estimators = _estimators(args.numpy)

    # load (or compile) the kernels of both dtypes (digits: float64, MNIST: float32) untimed
    X, y = load_digits(return_X_y=True)
    for _, make in estimators[1:]:
        for dtype in (np.float64, np.float32):
            make(max_iter=2).fit(X[:300].astype(dtype), y[:300])

    sections = [_digits(estimators, args.repeats, args.digits_max_iter)]
    if args.mnist_samples and not args.no_mnist:
        sections.append(_mnist(estimators, args.mnist_samples, args.mnist_max_iter))
    print(_table(sections))
    print(
        f"speed-up: MLPClassifier's fit time / the row's. fastnn {fastnn.__version__}, "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}"
    )
    if args.json:
        argv = sys.argv[1:] if argv is None else argv
        print(f"wrote {write_json(_json(sections, args, argv), args.json)}")


if __name__ == "__main__":
    main()
