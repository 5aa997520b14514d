"""The estimators across processes: joblib's worker processes and a local Dask cluster."""

import os
import warnings

import numpy as np
import pytest
from joblib import Parallel, delayed, parallel_backend
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score

from fastnn.sklearn import FastMLPClassifier

pytestmark = pytest.mark.slow

GRID = {"hidden_layer_sizes": [(16,), (32,)], "learning_rate_init": [0.01, 0.03]}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


def _estimator():
    return FastMLPClassifier(batch_size=1, max_iter=5, random_state=0, backend="numba")


def _search(X, y, n_jobs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GridSearchCV(_estimator(), GRID, cv=3, n_jobs=n_jobs).fit(X, y)


def test_grid_search_in_worker_processes_matches_serial(digits):
    X, y = digits
    serial = _search(X, y, n_jobs=1)
    parallel = _search(X, y, n_jobs=2)
    np.testing.assert_array_equal(
        parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert parallel.best_params_ == serial.best_params_


def test_cross_val_score_in_worker_processes_matches_serial(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        serial = cross_val_score(_estimator(), X, y, cv=3, n_jobs=1)
        parallel = cross_val_score(_estimator(), X, y, cv=3, n_jobs=-1)
    np.testing.assert_array_equal(parallel, serial)


@pytest.mark.skipif(
    os.environ.get("FASTNN_NUMBA_CACHE", "1") == "0", reason="the disk cache is turned off"
)
def test_worker_processes_load_kernels_from_the_disk_cache(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _estimator().set_params(max_iter=1).fit(X, y)  # compiled here (or loaded): now on disk

    def fit_in_worker(X, y):  # a local function: pickled by value into the worker
        import os
        import warnings

        from fastnn.kernels.epoch import per_sample_epoch
        from fastnn.sklearn import FastMLPClassifier

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            FastMLPClassifier(batch_size=1, max_iter=1, backend="numba").fit(X, y)
        stats = per_sample_epoch.stats
        return os.getpid(), sum(stats.cache_hits.values()), sum(stats.cache_misses.values())

    results = Parallel(n_jobs=2, backend="loky")(delayed(fit_in_worker)(X, y) for _ in range(4))
    assert {pid for pid, _, _ in results} - {os.getpid()}, "no worker process ran"
    for _pid, hits, misses in results:
        assert misses == 0, "a worker compiled per_sample_epoch instead of loading it from disk"
        assert hits >= 1


def test_grid_search_on_a_local_dask_cluster(digits):
    distributed = pytest.importorskip("distributed")
    X, y = digits
    serial = _search(X, y, n_jobs=1)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with parallel_backend("dask"):
            on_dask = _search(X, y, n_jobs=-1)
        workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    np.testing.assert_array_equal(
        on_dask.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert on_dask.best_params_ == serial.best_params_
