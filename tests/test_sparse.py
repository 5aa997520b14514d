"""Sparse input: SciPy matrices into both backends, lazy optimizers against their own oracle,
dense-vs-CSR parity, the thread count, and what bad sparse input gets."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

import fastnn as fn
import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend
from fastnn.params import N_IN, N_OUT, W_OFFSET

import naive
from conftest import DTYPES, SEEDS, assert_agree, call_private
from helpers import (
    EPOCH_RTOL,
    LOSS_NAMES,
    OPTIONS,
    WEIGHTED_MATRIX,
    assert_stats_close,
    make_model,
    make_problem,
    run_epoch,
    sample_weights,
)

LAZY = {"lazy-adam": dict(beta1=0.8, beta2=0.99, eps=1e-6), "lazy-momentum": dict(momentum=0.7)}
SPARSE_OPTIONS = [*OPTIONS, *LAZY]


def make_optimizer(opts, lr=0.05, lazy=True):
    if opts == "lazy-adam":
        return fn.Adam(lr=lr / 5, lazy=lazy, **LAZY[opts])
    if opts == "lazy-momentum":
        return fn.SGD(lr=lr, lazy=lazy, **LAZY[opts])
    if opts == "adam":
        return fn.Adam(lr=lr / 5, **OPTIONS[opts])
    return fn.SGD(lr=lr, **OPTIONS[opts])


def with_X(data, X):
    return data._replace(X=X)


# -- whole epochs: CSR on both backends against the oracle on dense rows -------------------


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("batch_size", [1, 7])
@pytest.mark.parametrize("opts", SPARSE_OPTIONS, ids=str)
@WEIGHTED_MATRIX
def test_sparse_epochs_match_the_oracle(loss, batch_size, opts, weighted):
    X, y, n_out = make_problem(loss, zeros=0.7)
    model = make_model(loss, X.shape[1], n_out, "numpy")
    dense = model._epoch_data(X, y, sample_weights(weighted))
    csr = model._epoch_data(sp.csr_matrix(X), y, sample_weights(weighted))
    assert sp.issparse(csr.X) and csr.X.format == "csr"
    order = np.random.default_rng(5).permutation(len(X))
    opt = make_optimizer(opts)
    ref = run_epoch(naive, model, dense, order, batch_size, opt)
    assert not np.allclose(ref[0], model._params)
    runs = {
        f"{module.__name__} {kind}": run_epoch(module, model, data, order, batch_size, opt)
        for module in (numba_backend, numpy_backend)
        for kind, data in (("csr", csr), ("dense", dense))
    }
    for name, (params, state, stats, t) in runs.items():
        np.testing.assert_allclose(params, ref[0], rtol=EPOCH_RTOL, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(state, ref[1], rtol=EPOCH_RTOL, atol=1e-12, err_msg=name)
        assert_stats_close(stats, ref[2], err_msg=name)
        assert t == ref[3], name


@pytest.mark.parametrize("opts", list(LAZY))
@pytest.mark.parametrize("batch_size", [1, 5])
def test_a_lazy_step_moves_only_the_rows_of_nonzero_inputs(opts, batch_size):
    """One epoch eager, then one batch lazily: rows whose inputs are all zero in the batch keep
    their weights and their state, and the lazy step differs from the eager one."""
    X, y, n_out = make_problem("softmax_cross_entropy", zeros=0.85)
    X[:, [2, 5]] = 0  # two inputs never seen: their rows never move lazily
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numpy")
    order = np.arange(len(X))
    for module in (numba_backend, numpy_backend):
        data = model._epoch_data(sp.csr_matrix(X), y)
        eager = make_optimizer(opts, lazy=False)
        params, state, _, _ = run_epoch(module, model, data, order, 1, eager)
        batch = order[:batch_size]
        untouched = np.flatnonzero(~np.any(X[batch] != 0, axis=0))
        lazy_params, lazy_state = params.copy(), state.copy()
        eager_params, eager_state = params.copy(), state.copy()
        for p, s, opt in ((lazy_params, lazy_state, make_optimizer(opts)),
                          (eager_params, eager_state, eager)):  # fmt: skip
            with module.start_training(p, s, model._layout, data, 0, batch_size,
                                       opt.config()) as training:  # fmt: skip
                training.train(batch, opt.config(), np.array([7], np.int64),
                               fn._codes.new_stats())  # fmt: skip
        rows = _first_layer_rows(model._layout)
        np.testing.assert_array_equal(rows(lazy_params)[untouched], rows(params)[untouched])
        np.testing.assert_array_equal(rows(lazy_state)[:, untouched], rows(state)[:, untouched])
        # rows seen before but not in this batch: the eager step moves them on their momentum
        waiting = untouched[np.any(X[:, untouched] != 0, axis=0)]
        assert len(waiting) >= 2
        assert not np.allclose(rows(eager_params)[waiting], rows(params)[waiting])
        touched = np.setdiff1d(np.arange(X.shape[1]), untouched)
        np.testing.assert_allclose(rows(lazy_params)[touched], rows(eager_params)[touched],
                                   rtol=1e-12, atol=1e-12)  # fmt: skip


def _first_layer_rows(layout):
    """A function giving the (..., n_in, n_out) rows of the first layer's W in a buffer."""
    w0, n_in, width = layout[0, W_OFFSET], layout[0, N_IN], layout[0, N_OUT]

    def rows(buffer):
        return buffer[..., w0 : w0 + n_in * width].reshape(*buffer.shape[:-1], n_in, width)

    return rows


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("opts", list(LAZY))
def test_lazy_update_kernel_parity(dtype, seed, opts):
    rng = np.random.default_rng(seed)
    n_in, n_out, w_offset = 9, 5, 3
    params = rng.normal(size=w_offset + n_in * n_out + 4).astype(dtype)
    state = rng.normal(size=(2, params.size)).astype(dtype)
    state[1] = np.abs(state[1])  # Adam's second moment is never negative
    grad = rng.normal(size=(n_in, n_out)).astype(dtype)
    rows = np.array([7, 0, 4], np.int32)
    opt = make_optimizer(opts).config()
    results = call_private("lazy_update", rows, 3, grad, params, state, w_offset, opt, 0.01)
    assert_agree(results, dtype, positions=[3, 4])
    moved = results["numba"][1][3][w_offset : w_offset + n_in * n_out].reshape(n_in, n_out)
    before = params[w_offset : w_offset + n_in * n_out].reshape(n_in, n_out)
    still = np.setdiff1d(np.arange(n_in), rows)
    np.testing.assert_array_equal(moved[still], before[still])
    assert not np.allclose(moved[rows], before[rows])


def test_lazy_takes_no_penalty():
    with pytest.raises(ValueError, match=r"lazy=True .* no l1/l2 penalty"):
        fn.Adam(lazy=True, l2=1e-4)
    with pytest.raises(ValueError, match=r"lazy=True"):
        fn.SGD(momentum=0.9, lazy=True, l1=1e-4)
    with pytest.raises(TypeError, match="lazy must be True or False"):
        fn.SGD(lazy="yes")


# -- the public API: dense and CSR give the same model ------------------------------------


def _fit(X, y, backend, opt, batch_size, epochs=2, dtype="float64"):
    model = fn.Sequential([fn.Dense(X.shape[1], 8, "relu"), fn.Dense(8, 3)], backend=backend,
                          dtype=dtype, seed=3)  # fmt: skip
    history = model.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=opt, verbose=0)
    return model, history


def _sparse_problem(n=60, n_in=30, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, n_in, density=density, format="csr", random_state=seed, dtype=np.float64)
    return X, rng.integers(0, 3, n)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("opts", ["plain", "momentum", "adam", "lazy-adam"])
def test_fit_on_csr_equals_fit_on_dense(backend, batch_size, opts):
    X, y = _sparse_problem()
    dense, h_dense = _fit(X.toarray(), y, backend, make_optimizer(opts), batch_size)
    sparse, h_sparse = _fit(X, y, backend, make_optimizer(opts), batch_size)
    for (Wd, bd), (Ws, bs) in zip(dense.get_weights(), sparse.get_weights(), strict=True):
        np.testing.assert_allclose(Ws, Wd, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(bs, bd, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_sparse.history["loss"], h_dense.history["loss"], rtol=1e-12)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X.toarray()),
                               rtol=1e-12, atol=1e-14)  # fmt: skip
    assert sparse.evaluate(X, y) == pytest.approx(dense.evaluate(X.toarray(), y), rel=1e-12)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_lbfgs_on_csr_equals_lbfgs_on_dense(backend):
    X, y = _sparse_problem(seed=4)
    dense, _ = _fit(X.toarray(), y, backend, fn.LBFGS(max_iter=15), 1)
    sparse, _ = _fit(X, y, backend, fn.LBFGS(max_iter=15), 1)
    for (Wd, bd), (Ws, bs) in zip(dense.get_weights(), sparse.get_weights(), strict=True):
        np.testing.assert_allclose(Ws, Wd, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(bs, bd, rtol=1e-9, atol=1e-11)


def test_full_batch_gradient_on_csr_matches_the_oracle():
    X, y, n_out = make_problem("softmax_cross_entropy", zeros=0.7, seed=2)
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numpy")
    csr = model._epoch_data(sp.csr_matrix(X), y, sample_weights(True))
    results = {}
    for module in (numba_backend, numpy_backend, naive):
        grads = np.empty_like(model._params)
        loss = module.full_batch_gradient(model._params, model._layout, csr, 0, 7, grads)
        results[module.__name__] = (loss, grads)
    ref_loss, ref_grads = results["naive"]
    for name, (loss, grads) in results.items():
        assert loss == pytest.approx(ref_loss, rel=1e-12), name
        np.testing.assert_allclose(grads, ref_grads, rtol=1e-10, atol=1e-13, err_msg=name)


def test_float32_csr_trains_as_dense():
    X, y = _sparse_problem(n=200, n_in=50, seed=1)
    for batch_size in (1, 16):
        dense, _ = _fit(X.toarray(), y, "numba", fn.SGD(0.1), batch_size, 1, "float32")
        sparse, _ = _fit(X, y, "numba", fn.SGD(0.1), batch_size, 1, "float32")
        for (Wd, _), (Ws, _) in zip(dense.get_weights(), sparse.get_weights(), strict=True):
            np.testing.assert_allclose(Ws, Wd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("to_format", [
    lambda X: X.tocsc(), lambda X: X.tocoo(), sp.csr_array, sp.csc_array, sp.coo_array,
], ids=["csc", "coo", "csr_array", "csc_array", "coo_array"])  # fmt: skip
def test_every_accepted_format_gives_the_same_model(to_format):
    X, y = _sparse_problem(seed=5)
    expected, _ = _fit(X, y, "numba", fn.SGD(0.05), 4)
    got, _ = _fit(to_format(X), y, "numba", fn.SGD(0.05), 4)
    for (We, _), (Wg, _) in zip(expected.get_weights(), got.get_weights(), strict=True):
        np.testing.assert_array_equal(Wg, We)
    np.testing.assert_array_equal(got.predict(to_format(X)), expected.predict(X))


def test_unsorted_duplicate_and_zero_entries_are_fixed_on_a_copy():
    X, y = _sparse_problem(n=20, n_in=10, seed=6)
    rows, cols = X.nonzero()
    values = X.data.copy()
    # the same matrix, its entries shuffled, one split in two halves, an explicit zero added
    perm = np.random.default_rng(0).permutation(len(values))
    rows, cols, values = rows[perm], cols[perm], values[perm]
    rows = np.append(rows, [rows[0], 0])
    cols = np.append(cols, [cols[0], 9])
    values = np.append(values, [0.0, 0.0])
    values[0] /= 2
    values[-2] = values[0]
    messy = sp.csr_matrix((values, (rows, cols)), shape=X.shape)
    messy.has_sorted_indices = False
    raw = sp.csr_matrix((messy.data.copy(), messy.indices.copy(), messy.indptr.copy()),
                        shape=X.shape)  # fmt: skip
    model = fn.Sequential([fn.Dense(10, 4, "relu"), fn.Dense(4, 3)], dtype="float64", seed=0)
    checked = model._epoch_data(messy, y).X
    assert checked.has_canonical_format and checked.data.all()
    np.testing.assert_array_equal(checked.toarray(), X.toarray())
    for name in ("data", "indices", "indptr"):  # the caller's matrix is as it was
        np.testing.assert_array_equal(getattr(messy, name), getattr(raw, name))


def test_a_canonical_csr_of_the_model_dtype_is_not_copied():
    X, y = _sparse_problem(n=20, n_in=10)
    X = X.astype(np.float32)
    model = fn.Sequential([fn.Dense(10, 4, "relu"), fn.Dense(4, 3)], dtype="float32", seed=0)
    checked = model._epoch_data(X, y).X
    assert np.shares_memory(checked.data, X.data)
    assert np.shares_memory(checked.indices, X.indices)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_hogwild_takes_csr(backend):
    X, y = _sparse_problem(n=80, seed=7)
    model = fn.Sequential([fn.Dense(30, 8, "relu"), fn.Dense(8, 3)], backend=backend, seed=0)
    history = model.fit(X, y, epochs=3, optimizer=fn.SGD(0.1), workers=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_validation_data_may_be_sparse():
    X, y = _sparse_problem(n=80, seed=8)
    model = fn.Sequential([fn.Dense(30, 8, "relu"), fn.Dense(8, 3)], seed=0)
    history = model.fit(X[:60], y[:60], epochs=2, validation_data=(X[60:], y[60:]), verbose=0)
    assert history.history["val_accuracy"][-1] == model.evaluate(X[60:], y[60:])["accuracy"]


# -- threads ------------------------------------------------------------------------------

_THREADS_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, scipy.sparse as sp, fastnn as fn
    rng = np.random.default_rng(0)
    X = rng.random((512, 300)).astype(np.float32)
    X[X < 0.85] = 0
    y = rng.integers(0, 10, 512)
    out = []
    for X_in, opt in ((sp.csr_matrix(X), fn.SGD(0.1)), (X, fn.SGD(0.1)),
                      (sp.csr_matrix(X), fn.Adam(0.01, lazy=True)), (X, fn.Adam(0.01))):
        model = fn.Sequential([fn.Dense(300, 64, "relu"), fn.Dense(64, 10)], dtype="float32",
                              seed=1)
        model.fit(X_in, y, epochs=2, batch_size=32, optimizer=opt, verbose=0)
        out.append(np.concatenate([a.ravel() for pair in model.get_weights() for a in pair]))
    np.save(sys.argv[1], np.concatenate(out))
    """
)


@pytest.mark.slow
def test_weights_do_not_depend_on_the_thread_count(tmp_path):
    """Sparse and dense batches (BLAS and Numba threads alike; the kernels cached by the first
    process, then loaded by the others) give bit-identical weights with 1, 2 and 3 threads."""
    script = tmp_path / "threads.py"
    script.write_text(_THREADS_SCRIPT)
    weights = []
    for threads in ("2", "1", "3"):
        env = dict(os.environ, NUMBA_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
        out = tmp_path / f"w{threads}.npy"
        subprocess.run([sys.executable, str(script), str(out)], env=env, check=True,
                       timeout=600)  # fmt: skip
        weights.append(np.load(out))
    np.testing.assert_array_equal(weights[1], weights[0])
    np.testing.assert_array_equal(weights[2], weights[0])


# -- bad sparse input ---------------------------------------------------------------------


@pytest.fixture
def model():
    return fn.Sequential([fn.Dense(4, 3, "relu"), fn.Dense(3, 2)], seed=0)


def test_bad_sparse_input_gets_one_line_errors(model):
    y = np.array([0, 1])
    nan = sp.csr_matrix(np.array([[1.0, 0, np.nan, 0], [0, 0, 0, 1]]))
    with pytest.raises(ValueError, match=r"X\.data contains NaN or infinity"):
        model.fit(nan, y, verbose=0)
    inf = sp.csr_matrix(np.array([[1.0, 0, 0, 0], [0, np.inf, 0, 1]]))
    with pytest.raises(ValueError, match=r"X\.data contains NaN or infinity"):
        model.predict(inf)
    with pytest.raises(ValueError, match=r"X\.data holds 1 value\(s\) beyond the range of float32"):
        model.predict(sp.csr_matrix(np.array([[1e300, 0, 0, 0]])))
    with pytest.raises(ValueError, match="X has 5 features per sample, but the model's first"):
        model.predict(sp.csr_matrix(np.ones((2, 5))))
    with pytest.raises(TypeError, match=r"sparse dok matrix; fastnn takes CSR.*X\.tocsr\(\)"):
        model.predict(sp.dok_matrix(np.ones((2, 4))))
    one_dimensional = sp.coo_array(np.ones(4))  # 1-D where SciPy has 1-D sparse arrays (1.13)
    if one_dimensional.ndim == 1:
        with pytest.raises(ValueError, match="X must be 2-D"):
            model.predict(one_dimensional)
    with pytest.raises(TypeError, match="X must hold numbers"):
        model.predict(sp.csr_matrix(np.ones((2, 4), complex)))
    with pytest.raises(ValueError, match="validation_data\\[0\\] has 3 features"):
        validation = (sp.csr_matrix(np.ones((2, 3))), y)
        model.fit(sp.csr_matrix(np.ones((2, 4))), y, validation_data=validation, verbose=0)


def test_more_features_than_int32_indices_hold_are_refused():
    from fastnn._validation import check_sparse_features

    wide = sp.csr_matrix((2, 2**31), dtype=np.float32)  # nothing stored
    with pytest.raises(ValueError, match="X has 2147483648 features; fastnn takes at most"):
        check_sparse_features(wide, "X", np.float32)


def test_a_model_that_standardises_refuses_sparse_input():
    X, y = _sparse_problem(n=20, n_in=10)
    model = fn.Sequential([fn.Dense(10, 4, "relu"), fn.Dense(4, 3)], seed=0)
    model.scaling = fn.scaling.Scaling(np.zeros(10), np.ones(10))
    with pytest.raises(ValueError, match="X is sparse, but this model standardises its inputs"):
        model.fit(X, y, verbose=0)


@pytest.mark.slow
def test_a_wide_sparse_input_is_never_densified(tmp_path):
    """2,000 samples of 3,000,000 features: dense, that is 24 GB in float32, and a batch of 64
    rows 768 MB; as CSR it trains and predicts within a few hundred MB."""
    script = tmp_path / "wide.py"
    script.write_text(textwrap.dedent(
        """
        import resource, sys
        import numpy as np, scipy.sparse as sp, fastnn as fn
        n, d = 2000, 3_000_000
        rng = np.random.default_rng(0)
        cols = rng.integers(0, d, (n, 20))
        X = sp.csr_matrix((np.ones(n * 20, np.float32), (np.repeat(np.arange(n), 20),
                          cols.ravel())), shape=(n, d))
        y = rng.integers(0, 2, n)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        model = fn.Sequential([fn.Dense(d, 4, "relu"), fn.Dense(4, 2)], dtype="float32")
        for batch_size in (1, 64):
            model.fit(X, y, batch_size=batch_size, optimizer=fn.SGD(0.05), verbose=0)
        model.predict(X)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(grown // 1024)
        """
    ))  # fmt: skip
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          check=True, timeout=600)  # fmt: skip
    grown_mib = int(done.stdout.split()[-1])
    # the model is 3e6 x 4 float32 = 46 MiB; allow the rest for compiling and the data
    assert grown_mib < 400, done.stdout


def test_the_memory_check_counts_a_sparse_batch_by_its_stored_entries(monkeypatch):
    """A batch of 512 rows of 20,000 features needs 123 MB of work buffers dense and a few
    kilobytes as CSR rows of 10 entries: under a 50 MB limit the dense fit is refused up front,
    the sparse one trains."""
    from fastnn import _validation

    monkeypatch.setattr(_validation, "memory_limit", lambda: 50 * 2**20)
    X = sp.random(512, 20_000, density=10 / 20_000, format="csr", random_state=0,
                  dtype=np.float32)  # fmt: skip
    y = np.arange(512) % 2
    model = fn.Sequential(fn.dense_stack([20_000, 2, 2]), dtype="float32", seed=0)
    with pytest.raises(ValueError, match="training with batch_size=512 would need"):
        model.fit(X.toarray(), y, batch_size=512, verbose=0)
    model.fit(X, y, batch_size=512, verbose=0)
