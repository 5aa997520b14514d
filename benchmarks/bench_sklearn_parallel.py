"""Independent fits across cores: GridSearchCV and cross_val_score with n_jobs=1 and n_jobs=-1.

One per-sample SGD run uses one core; a search is many independent fits, which joblib spreads
over worker processes. Each worker loads the compiled kernels from numba's disk cache instead of
compiling them; the first part shows what that costs in a fresh process.

    python benchmarks/bench_sklearn_parallel.py [--no-compile] [--repeats 3]

The figures depend on the machine and on whatever else runs on it.
"""

import argparse
import os
import subprocess
import sys
import textwrap
import time
import warnings

import joblib
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score

from fastnn.sklearn import FastMLPClassifier

FIRST_FIT = textwrap.dedent(
    """
    import time, warnings
    started = time.perf_counter()
    from sklearn.datasets import load_digits
    from fastnn.sklearn import FastMLPClassifier
    from fastnn.kernels.epoch import per_sample_epoch
    X, y = load_digits(return_X_y=True)
    warnings.simplefilter("ignore")
    clf = FastMLPClassifier(batch_size=1, max_iter=1, backend="numba")
    t = time.perf_counter(); clf.fit(X / 16.0, y); first = time.perf_counter() - t
    t = time.perf_counter(); clf.fit(X / 16.0, y); second = time.perf_counter() - t
    stats = per_sample_epoch.stats
    print(f"{first:.3f} {second:.3f} {sum(stats.cache_hits.values())} "
          f"{sum(stats.cache_misses.values())}")
    """
)


def first_fit_in_fresh_process(cache):
    env = dict(os.environ, FASTNN_NUMBA_CACHE="1" if cache else "0")
    out = subprocess.run(
        [sys.executable, "-c", FIRST_FIT], env=env, capture_output=True, text=True, check=True
    )
    first, second, hits, misses = out.stdout.split()
    return float(first), float(second), int(hits), int(misses)


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-compile", action="store_true", help="skip the fresh process that compiles"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the best")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"{joblib.cpu_count()} cores seen by joblib")

    print("\nfirst fit (one per-sample epoch on digits) in a fresh process:")
    runs = [("kernels from the disk cache", True)]
    if not args.no_compile:
        runs.append(("disk cache off (FASTNN_NUMBA_CACHE=0)", False))
    for name, cache in runs:
        first, second, hits, misses = first_fit_in_fresh_process(cache)
        print(
            f"  {name:<40} first fit {first:7.3f} s, second {second:.3f} s "
            f"(per-sample epoch kernel cache hits {hits}, misses {misses})"
        )

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    estimator = FastMLPClassifier(batch_size=1, max_iter=20, random_state=0, backend="numba")
    estimator.fit(X[:50], y[:50])  # kernels ready in this process
    grid = {"hidden_layer_sizes": [(32,), (64,)], "learning_rate_init": [0.005, 0.01]}

    def search(n_jobs):
        return GridSearchCV(estimator, grid, cv=5, n_jobs=n_jobs).fit(X, y)

    def cv(n_jobs):
        return cross_val_score(estimator, X, y, cv=8, n_jobs=n_jobs)

    def best_of(repeats, fn):
        runs = [timed(fn) for _ in range(repeats)]
        return min(runs, key=lambda run: run[0])

    print(
        f"\nGridSearchCV: {len(X)} digits, 4 candidates x 5 folds = 20 per-sample fits "
        "(solver adam, the default)"
    )
    print(f"(best of {args.repeats} runs; load average before: {os.getloadavg()[0]:.2f})")
    cold, _ = timed(lambda: search(-1))  # starts the worker processes
    serial, s1 = best_of(args.repeats, lambda: search(1))
    warm, s2 = best_of(args.repeats, lambda: search(-1))  # reuses the running workers
    assert (s1.cv_results_["mean_test_score"] == s2.cv_results_["mean_test_score"]).all()
    for name, seconds, result in (
        ("n_jobs=1", serial, s1),
        ("n_jobs=-1", warm, s2),
    ):
        per_fit = result.cv_results_["mean_fit_time"].mean()
        print(
            f"  {name:<10} {seconds:6.2f} s   speed-up x{serial / seconds:.2f}   "
            f"mean time of one fit {per_fit:.3f} s"
        )
    print(f"  n_jobs=-1 on the first call, workers starting: {cold:.2f} s")
    print(f"  best {s1.best_params_}, score {s1.best_score_:.4f} (same in both)")

    print("\ncross_val_score: 8 folds")
    serial, c1 = best_of(args.repeats, lambda: cv(1))
    parallel, c2 = best_of(args.repeats, lambda: cv(-1))
    assert (c1 == c2).all()
    print(f"  n_jobs=1   {serial:6.2f} s")
    print(f"  n_jobs=-1  {parallel:6.2f} s   speed-up x{serial / parallel:.2f}")


if __name__ == "__main__":
    main()
