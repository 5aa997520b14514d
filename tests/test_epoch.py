"""Whole epochs: numba vs numpy vs the naive oracle, gradients vs finite differences,
determinism, and switching backends on a live model."""

import numpy as np
import pytest

import fastnn as fn
import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend
from fastnn._codes import LOSSES, new_stats
from fastnn.params import ACT, layer_views

import naive
from helpers import (
    EPOCH_RTOL,
    LOSS_NAMES,
    OPTIONS,
    WEIGHTED_MATRIX,
    assert_stats_close,
    assert_weights_close,
    make_model,
    make_optimizer,
    make_problem,
    run_epoch,
    sample_weights,
)


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("batch_size", [1, 7])
@pytest.mark.parametrize("opts", list(OPTIONS), ids=str)
@pytest.mark.parametrize("zeros", [0.0, 0.95])
@WEIGHTED_MATRIX
def test_epoch_kernels_match_the_naive_oracle(loss, batch_size, opts, zeros, weighted):
    X, y, n_out = make_problem(loss, zeros=zeros)
    model = make_model(loss, X.shape[1], n_out, "numpy")
    data = model._epoch_data(X, y, sample_weights(weighted))
    order = np.random.default_rng(5).permutation(len(X))
    results = {
        module.__name__: run_epoch(module, model, data, order, batch_size, make_optimizer(opts))
        for module in (numba_backend, numpy_backend, naive)
    }
    ref = results["naive"]
    assert not np.allclose(ref[0], model._params)  # the epoch moved the parameters
    for name, (params, state, stats, t) in results.items():
        np.testing.assert_allclose(params, ref[0], rtol=EPOCH_RTOL, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(state, ref[1], rtol=EPOCH_RTOL, atol=1e-12, err_msg=name)
        assert_stats_close(stats, ref[2], err_msg=name)
        assert stats["n_seen"][0] == len(X)
        w = data.weights if len(data.weights) else np.ones(len(X))
        batches = [order[i : i + batch_size] for i in range(0, len(X), batch_size)]
        assert t == 3 + sum(w[rows].sum() > 0 for rows in batches)  # weight 0: no update


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("batch_size", [1, 7])
@pytest.mark.parametrize("opts", list(OPTIONS), ids=str)
@pytest.mark.parametrize("zeros", [0.0, 0.95])
@WEIGHTED_MATRIX
def test_backends_agree_over_several_epochs(loss, batch_size, opts, zeros, weighted):
    X, y, n_out = make_problem(loss, seed=1, zeros=zeros)
    trained = {}
    for backend in ("numba", "numpy"):
        model = make_model(loss, X.shape[1], n_out, backend)
        history = model.fit(
            X,
            y,
            epochs=3,
            batch_size=batch_size,
            optimizer=make_optimizer(opts),
            verbose=0,
            sample_weight=sample_weights(weighted, seed=1),
        )
        trained[backend] = (model.get_weights(), history.history["loss"])
    assert_weights_close(trained["numba"][0], trained["numpy"][0], rtol=EPOCH_RTOL)
    np.testing.assert_allclose(trained["numba"][1], trained["numpy"][1], rtol=1e-9)


@pytest.mark.parametrize("batch_size", [1, 16])
def test_backends_agree_in_float32(batch_size):
    X, y, n_out = make_problem("softmax_cross_entropy", seed=2)
    trained = []
    for backend in ("numba", "numpy"):
        model = make_model("softmax_cross_entropy", X.shape[1], n_out, backend, dtype="float32")
        model.fit(X, y, epochs=1, batch_size=batch_size, optimizer=fn.SGD(lr=0.05), verbose=0)
        trained.append(model.get_weights())
    assert trained[0][0][0].dtype == np.float32
    assert_weights_close(*trained, rtol=1e-4, atol=1e-5)


def _mean_loss(model, params, X, labels, targets, weights, l1, l2):
    """The regularised mean loss at ``params``, by the numpy backend's forward pass."""
    a = X
    for layer in range(len(model.layers)):
        W, b = layer_views(params, model._layout, layer)
        z = np.empty((len(X), W.shape[1]))
        nxt = np.empty_like(z)
        numpy_backend.dense_forward(a, W, b, model._layout[layer, ACT], z, nxt)
        a = nxt
    loss = numpy_backend.loss_and_grad(LOSSES[model.loss], a, labels, targets, weights,
                                       np.empty_like(a))  # fmt: skip
    for layer in range(len(model.layers)):
        W, _ = layer_views(params, model._layout, layer)
        penalty = l1 * np.abs(W).sum() + l2 * (W**2).sum()
        loss += penalty / weights.sum() if len(weights) else penalty
    return loss


@pytest.mark.parametrize("backend", [numba_backend, numpy_backend], ids=["numba", "numpy"])
@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("m", [1, 6])
@pytest.mark.parametrize("penalty", [(0.0, 0.0), (1e-3, 1e-2)], ids=["none", "l1l2"])
@WEIGHTED_MATRIX
def test_gradient_matches_finite_differences(backend, loss, m, penalty, weighted):
    """One step with lr=1 and no momentum moves the parameters by exactly -gradient (the
    gradient of the weighted mean loss plus the penalty over the batch's weight)."""
    X, y, n_out = make_problem(loss, seed=3, n=m)
    model = make_model(loss, X.shape[1], n_out, "numpy")
    w = np.random.default_rng(4).uniform(0.5, 2.0, m) if weighted else None
    data = model._epoch_data(X, y, w)
    X, labels, targets, weights = data.X, data.labels, data.targets, data.weights
    l1, l2 = penalty
    optimizer = fn.SGD(lr=1.0, l1=l1, l2=l2)
    after, *_ = run_epoch(backend, model, data, np.arange(m), m, optimizer)
    analytic = model._params - after
    numeric = np.zeros_like(analytic)
    eps = 1e-5
    for i in range(len(numeric)):
        up, down = model._params.copy(), model._params.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (
            _mean_loss(model, up, X, labels, targets, weights, l1, l2)
            - _mean_loss(model, down, X, labels, targets, weights, l1, l2)
        ) / (2 * eps)
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_same_seed_gives_bit_identical_weights(backend):
    X, y, n_out = make_problem("softmax_cross_entropy", seed=4)
    runs = []
    for _ in range(2):
        model = make_model("softmax_cross_entropy", X.shape[1], n_out, backend, dtype="float32")
        model.fit(X, y, epochs=2, optimizer=fn.SGD(lr=0.05, momentum=0.5), verbose=0)
        runs.append(model.get_weights())
    for (Wa, ba), (Wb, bb) in zip(*runs):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


def test_initial_weights_are_identical_on_both_backends_and_differ_by_seed():
    inits = [
        make_model("mse", 12, 2, backend, seed=seed).get_weights()
        for backend, seed in (("numba", 3), ("numpy", 3), ("numpy", 4))
    ]
    for (Wa, ba), (Wb, bb) in zip(inits[0], inits[1]):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)
    assert not np.array_equal(inits[0][0][0], inits[2][0][0])


@pytest.mark.parametrize("batch_size", [1, 8])
def test_switching_backend_between_epochs_continues_the_trajectory(batch_size):
    X, y, n_out = make_problem("softmax_cross_entropy", seed=5)
    straight = make_model("softmax_cross_entropy", X.shape[1], n_out, "numba")
    straight.fit(
        X,
        y,
        epochs=4,
        batch_size=batch_size,
        verbose=0,
        optimizer=fn.SGD(lr=0.05, momentum=0.9, decay=0.01),
    )
    switched = make_model("softmax_cross_entropy", X.shape[1], n_out, "numba")
    optimizer = fn.SGD(lr=0.05, momentum=0.9, decay=0.01)
    for backend in ("numba", "numpy", "numba", "numpy"):
        switched.backend = backend
        switched.fit(X, y, epochs=1, batch_size=batch_size, optimizer=optimizer, verbose=0)
    assert optimizer.iterations == 4 * -(-len(X) // batch_size)
    assert_weights_close(straight.get_weights(), switched.get_weights(), rtol=EPOCH_RTOL)


def test_progress_bar_does_not_change_the_numbers(capsys):
    X, y, n_out = make_problem("softmax_cross_entropy", seed=6, n=90)
    weights = []
    for verbose in (0, 1, 2):
        model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numba")
        model.fit(X, y, epochs=2, batch_size=4, verbose=verbose)
        weights.append(model.get_weights())
    assert "epoch 2/2" in capsys.readouterr().out
    for other in weights[1:]:
        for (Wa, ba), (Wb, bb) in zip(weights[0], other):
            np.testing.assert_array_equal(Wa, Wb)
            np.testing.assert_array_equal(ba, bb)


def test_shuffle_false_visits_samples_in_order():
    X, y, n_out = make_problem("mse", seed=7)
    model = make_model("mse", X.shape[1], n_out, "numba")
    data = model._epoch_data(X, y)
    expected, *_ = run_epoch(naive, model, data, np.arange(len(X)), 1, fn.SGD(lr=0.05))
    model.fit(X, y, epochs=1, shuffle=False, optimizer=fn.SGD(lr=0.05), verbose=0)
    np.testing.assert_allclose(model._params, expected, rtol=EPOCH_RTOL, atol=1e-12)


def test_hogwild_with_one_worker_is_the_serial_epoch():
    X, y, n_out = make_problem("softmax_cross_entropy", seed=8, zeros=0.85)
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numpy")
    data = model._epoch_data(X, y)
    order = np.random.default_rng(2).permutation(len(X))
    everything = make_optimizer("everything")
    serial = run_epoch(numba_backend, model, data, order, 1, everything)
    for module in (numba_backend, numpy_backend):
        params, _, stats, t = run_epoch(module, model, data, order, 1, everything, workers=1)
        np.testing.assert_allclose(params, serial[0], rtol=EPOCH_RTOL, atol=1e-12)
        assert_stats_close(stats, serial[2])
        assert t == serial[3]


def test_hogwild_workers_train_as_well_as_one():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (3, 10))
    y = rng.integers(0, 3, 3000)
    X = centers[y] + rng.normal(size=(3000, 10))
    scores = {}
    for workers in (1, 2):
        model = fn.Sequential([fn.Dense(10, 16, activation="relu"), fn.Dense(16, 3)], seed=0)
        model.fit(X, y, epochs=2, optimizer=fn.SGD(lr=0.01, decay=1e-4), workers=workers, verbose=0)
        assert model.optimizer.iterations == 2 * len(X)
        scores[workers] = model.evaluate(X, y)["accuracy"]
    assert scores[1] > 0.95 and scores[2] > scores[1] - 0.03


def test_hogwild_needs_per_sample_sgd():
    X, y, n_out = make_problem("softmax_cross_entropy")
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numba")
    with pytest.raises(ValueError, match="workers > 1 runs per-sample SGD only"):
        model.fit(X, y, batch_size=4, workers=2, verbose=0)
    with pytest.raises(ValueError, match="workers > 1 runs per-sample SGD only"):
        model.fit(X, y, optimizer=fn.Adam(), workers=2, verbose=0)


@pytest.mark.parametrize("workers", [1, 3])
def test_hogwild_twin_matches_the_oracle(workers):
    X, y, n_out = make_problem("softmax_cross_entropy", seed=9, zeros=0.5)
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numpy")
    data = model._epoch_data(X, y)
    order = np.random.default_rng(3).permutation(len(X))
    opt = make_optimizer("everything")
    ref = run_epoch(naive, model, data, order, 1, opt, workers=workers)
    got = run_epoch(numpy_backend, model, data, order, 1, opt, workers=workers)
    np.testing.assert_allclose(got[0], ref[0], rtol=EPOCH_RTOL, atol=1e-12)
    assert got[3] == ref[3] == 3 + len(X)


@pytest.mark.parametrize("opts", ["plain", "adam"])
@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.95])
def test_the_compiled_epoch_paths_match_the_numpy_twin(opts, zeros):
    """``per_sample_epoch`` and ``minibatch_worker`` (alone, as thread 0 of 1), called directly
    (a Training picks one of them by the batch size), against the numpy backend's epoch."""
    from fastnn.kernels.batch import compiled_data
    from fastnn.kernels.epoch import per_sample_epoch, sample_work
    from fastnn.kernels.minibatch import FIRST_STEP, batch_work, minibatch_worker
    from fastnn.kernels.sync import new_sync

    X, y, n_out = make_problem("softmax_cross_entropy", seed=11, zeros=zeros)
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numpy")
    data = model._epoch_data(X, y)
    order = np.random.default_rng(6).permutation(len(X))
    opt = make_optimizer(opts)
    arrays = compiled_data(data)
    for batch_size in (1, 7):
        expected = run_epoch(numpy_backend, model, data, order, batch_size, opt)
        params = model._params.copy()
        state = np.zeros((2, params.size))
        t, stats = np.array([3], np.int64), new_stats()
        args = (params, state, model._layout, arrays, order, 0, opt.config(), t, stats)
        if batch_size == 1:
            per_sample_epoch(*args, sample_work(model._layout, arrays, opt.config(), params.dtype))
        else:
            work = batch_work(model._layout, arrays, opt.config(), 7, params, 1)
            minibatch_worker(0, new_sync(), *args, work, FIRST_STEP)
        np.testing.assert_allclose(params, expected[0], rtol=EPOCH_RTOL, atol=1e-12)
        assert_stats_close(stats, expected[2])
        assert t[0] == expected[3]


@pytest.mark.parametrize(
    ("m", "density", "sparse"),
    [
        (128, 0.19, False),
        (128, 0.05, True),
        (32, 0.19, False),
        (32, 0.07, True),
        (512, 0.06, False),
        (7, 0.15, True),
        (7, 1.0, False),
    ],  # fmt: skip
)
def test_the_first_layer_goes_sparse_by_density_and_batch_size(m, density, sparse):
    """The cost model: MNIST (19% nonzero) takes BLAS in batches of any size; the sparse loops
    take batches below about 5% nonzero, a little more in tiny batches."""
    from fastnn.kernels.minibatch import goes_sparse

    assert goes_sparse(int(density * m * 784), m, 784) == sparse


def _first_batch_plan(X, y, batch_size):
    """The first layer's plan for the first batch of X (rows in order): path, spans."""
    from fastnn.kernels.batch import compiled_data
    from fastnn.kernels.minibatch import _gather, _plan, batch_work

    n_in = X.shape[1]
    model = make_model("softmax_cross_entropy", n_in, 4, "numpy")
    arrays = compiled_data(model._epoch_data(X, y, None))
    work = batch_work(model._layout, arrays, make_optimizer("plain").config(), batch_size,
                      model._params, 1)  # fmt: skip
    _gather(0, 0, batch_size, arrays, np.arange(len(X)), 0, batch_size, work)
    columns, position = np.empty(n_in, np.int64), np.empty(n_in, np.int64)
    spans = np.empty((n_in + 1, 2), np.int64)
    path, _, n_spans = _plan(batch_size, n_in, work, True, False, columns, position, spans)
    return path, spans[:n_spans].tolist()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
def test_the_gather_marks_the_used_inputs_counts_them_and_finds_a_bad_value(dtype, bad):
    """Two threads copy a batch's dense rows (rows 0:50 and 50:99: they share a byte of the
    rows' bits). Each marks the inputs its rows use, counts their nonzero entries, notes a NaN
    or an infinity (not the largest finite values, whose sum overflows) and sets a bit for
    each row's nonzero inputs: both threads' bits together are the batch's pattern of zeros."""
    from fastnn.kernels.batch import compiled_data
    from fastnn.kernels.minibatch import _gather, _row_bits, batch_work

    m, n_in, split = 99, 5, 50
    X = np.zeros((m, n_in), dtype)
    X[:61, 0] = 1
    X[::7, 1] = np.finfo(dtype).max
    X[5, 3] = np.finfo(dtype).smallest_subnormal
    model = make_model("softmax_cross_entropy", n_in, 2, "numpy")
    arrays = compiled_data(model._epoch_data(X, np.zeros(m, np.int64)))
    if bad is not None:  # after the check before training (input 4 is used by no row)
        X[m - 2, 2] = arrays.X[m - 2, 2] = bad
    work = batch_work(model._layout, arrays, make_optimizer("plain").config(), m,
                      model._params.astype(dtype), 2)  # fmt: skip
    for tid, (lo, hi) in enumerate([(0, split), (split, m)]):
        _gather(tid, lo, hi, arrays, np.arange(m), 0, m, work)
        np.testing.assert_array_equal(work.used[tid], (X[lo:hi] != 0).any(axis=0))
        assert work.nonzero_counts[tid] == np.count_nonzero(X[lo:hi])
    np.testing.assert_array_equal(work.xbuf.reshape(m, n_in), X)
    assert work.used.max(axis=0).tolist() == [1, 1, int(bad is not None), 1, 0]
    assert work.nonfinite.tolist() == [0, int(bad is not None)]
    mask = np.zeros((-(-m // 8), n_in), np.uint8)
    _row_bits(work, m, mask)
    np.testing.assert_array_equal(mask, np.packbits(X != 0, axis=0, bitorder="little"))


def test_many_stretches_are_joined_until_few_remain():
    """Thirty stretches of five used inputs, nine apart: more than MAX_SPANS products, so the
    gap doubles until the stretches join (here into one)."""
    from fastnn.kernels.minibatch import MAX_SPANS, SPAN_GAP, SPANS

    X, y, _ = make_problem("softmax_cross_entropy", seed=3, n=64, n_in=420, zeros=0.0)
    X[:, np.arange(420) % 14 >= 5] = 0
    assert 9 >= SPAN_GAP and 30 > MAX_SPANS
    assert _first_batch_plan(X, y, 64) == (SPANS, [[0, 411]])
    X, y, _ = make_problem("softmax_cross_entropy", seed=3, n=64, n_in=420, zeros=0.0)
    X[:, (np.arange(420) % 14 >= 5) & (np.arange(420) < 140)] = 0  # eleven: few enough
    expected = [[k, k + 5] for k in range(0, 140, 14)] + [[140, 420]]
    assert _first_batch_plan(X, y, 64) == (SPANS, expected)


@pytest.mark.parametrize("opts", list(OPTIONS), ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_batches_over_the_stretches_of_inputs_they_use_match_the_naive_oracle(opts, weighted):
    """Dense batches of 64 whose rows leave a stretch of inputs zero (wider than SPAN_GAP, half
    of the others nonzero: too dense for the sparse loops) take BLAS over the two stretches on
    either side, read in place, and leave the rows of W0 in between alone under plain SGD."""
    from fastnn.kernels.minibatch import SPAN_GAP, SPANS, goes_sparse

    n_in = 200
    X, y, n_out = make_problem("softmax_cross_entropy", seed=12, n=160, n_in=n_in, zeros=0.5)
    unused = np.arange(70, 150)  # zero in every row
    X[:, unused] = 0
    X[:64, 3] = 0  # and one more in the first batch only, inside a stretch
    assert len(unused) > SPAN_GAP
    for first in range(0, len(X), 64):
        batch = X[first : first + 64]
        assert not goes_sparse(np.count_nonzero(batch), len(batch), n_in)
    model = make_model("softmax_cross_entropy", n_in, n_out, "numpy")
    data = model._epoch_data(X, y, sample_weights(weighted, n=len(X)))
    order = np.arange(len(X))
    # the plan of the first batch: two stretches, the gap between them left out
    assert _first_batch_plan(X[:64], y[:64], 64) == (SPANS, [[0, 70], [150, 200]])
    results = {
        module.__name__: run_epoch(module, model, data, order, 64, make_optimizer(opts))
        for module in (numba_backend, numpy_backend, naive)
    }
    ref = results["naive"]
    assert not np.allclose(ref[0], model._params)
    for name, (params, state, stats, _) in results.items():
        np.testing.assert_allclose(params, ref[0], rtol=EPOCH_RTOL, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(state, ref[1], rtol=EPOCH_RTOL, atol=1e-12, err_msg=name)
        assert_stats_close(stats, ref[2], err_msg=name)
    W0 = layer_views(results["fastnn.kernels"][0], model._layout, 0)[0]
    W0_before = layer_views(model._params, model._layout, 0)[0]
    if opts == "plain":  # the rows of inputs no row uses do not move
        np.testing.assert_array_equal(W0[unused], W0_before[unused])


@pytest.mark.parametrize("opts", ["plain", "adam"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_first_layer_wider_than_a_tile_matches_the_naive_oracle(opts, dtype):
    """A first layer of 37 units (tiles of 32 float32 or 16 float64 columns over the used
    inputs, BLAS over the stretches of inputs for the 5 columns left), batches whose rows
    leave stretches of inputs zero, and one batch all zero."""
    n_in = 120
    X, y, n_out = make_problem("softmax_cross_entropy", seed=14, n=96, n_in=n_in, zeros=0.4)
    X[:, 30:60] = 0  # a gap wider than SPAN_GAP in every row
    X[:, :5] = 0  # and the first inputs: the used ones start later
    X[64:80] = 0  # one batch with no input used at all
    model = fn.Sequential([fn.Dense(n_in, 37, activation="relu"), fn.Dense(37, n_out)],
                          dtype=dtype, seed=2)  # fmt: skip
    data = model._epoch_data(X.astype(dtype), y)
    order = np.arange(len(X))
    results = {
        module.__name__: run_epoch(module, model, data, order, 16, make_optimizer(opts))
        for module in (numba_backend, numpy_backend, naive)
    }
    ref = results["naive"]
    rtol, atol = (EPOCH_RTOL, 1e-12) if dtype == "float64" else (2e-4, 1e-5)
    for name, (params, state, *_) in results.items():
        np.testing.assert_allclose(params, ref[0], rtol=rtol, atol=atol, err_msg=name)
        np.testing.assert_allclose(state, ref[1], rtol=rtol, atol=atol, err_msg=name)
    if opts == "plain":  # the rows of inputs no row uses do not move
        W0 = layer_views(results["fastnn.kernels"][0], model._layout, 0)[0]
        W0_before = layer_views(model._params, model._layout, 0)[0]
        np.testing.assert_array_equal(W0[30:60], W0_before[30:60])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("zeros", [0.7, 0.0], ids=["by-bits", "every-row"])
def test_adams_first_layer_step_inside_the_tiles_matches_the_twin_for_any_thread_count(
    monkeypatch, dtype, zeros
):
    """Adam without penalties, a first layer of 128 units on 256 inputs (stepped by stretches
    of rows, every unit in a tile), dense batches with unused inputs: the used inputs' rows are
    stepped inside the gradient's tiles, the others along zeros. The tiles run over the rows
    and inputs nonzero in them: a batch of 200 goes by two blocks of 100 rows (a tile's rows
    straddle two bytes of bits), the last of 100 by blocks of units; with 70% zeros the tiles
    go by the rows' bits, without zeros over every row (LISTS_DENSITY). 1, 2 or 3 threads
    train to the same bits, the numpy backend's numbers; in float64, the naive oracle's too."""
    from fastnn.kernels import epoch
    from fastnn.kernels.minibatch import (
        LISTS_DENSITY,
        SPANS,
        _fuses_adam,
        first_step_by_rows,
        row_blocks,
    )
    from fastnn.kernels.tiles import TILES

    monkeypatch.setattr(epoch, "THREADS_FROM", 0)
    monkeypatch.setattr(epoch, "usable_cpus", lambda: 3)
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 256))
    X[rng.random(X.shape) < zeros] = 0
    X[:, 40:60] = 0  # unused in every batch
    X[200:, 100:110] = 0  # and in the last batch alone
    y = rng.integers(0, 3, 300)
    for batch in (X[:200], X[200:]):
        used = np.count_nonzero(batch.any(axis=0))
        by_bits = np.count_nonzero(batch) <= LISTS_DENSITY * len(batch) * used
        assert by_bits == (zeros > 0)

    def optimizer():
        return fn.Adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6)

    assert first_step_by_rows(256, 128)
    results = {}
    for backend, threads in (("numpy", 1), ("numba", 1), ("numba", 2), ("numba", 3)):
        monkeypatch.setenv("FASTNN_NUM_THREADS", str(threads))
        model = fn.Sequential([fn.Dense(256, 128, "relu"), fn.Dense(128, 3)], backend=backend,
                              dtype=dtype, seed=1)  # fmt: skip
        model.fit(X, y, epochs=2, batch_size=200, optimizer=optimizer(), verbose=0)
        results[backend, threads] = model._params.copy()
    params = results["numba", 1]
    assert row_blocks(200, 128) == 2 and row_blocks(100, 128) == 1
    assert _fuses_adam(optimizer().config(), SPANS, 200, 128, params, params[None]) == TILES
    for threads in (2, 3):
        np.testing.assert_array_equal(results["numba", threads], params)
    rtol, atol = (EPOCH_RTOL, 1e-12) if dtype == "float64" else (2e-4, 1e-5)
    np.testing.assert_allclose(params, results["numpy", 1], rtol=rtol, atol=atol)
    if dtype == "float64":  # one epoch against the oracle (its state in the weights' dtype)
        data = model._epoch_data(X, y)
        order = np.arange(len(X))
        kernels, ref = (run_epoch(module, model, data, order, 200, optimizer())
                        for module in (numba_backend, naive))  # fmt: skip
        for got, want in zip(kernels[:2], ref[:2], strict=True):
            np.testing.assert_allclose(got, want, rtol=EPOCH_RTOL, atol=1e-12)


def test_small_layers_after_the_first_are_stored_transposed_behind_the_same_views():
    """The layout stores a layer after the first with fewer than 16 outputs as W^T; every
    view of it (layer.W, get_weights, the estimators' coefs_) is still (n_in, n_out)."""
    from fastnn.params import TRANSPOSED, stored_views

    model = make_model("softmax_cross_entropy", 12, 4, "numba")  # 12-9-17-5-4
    model._build()
    assert model._layout[:, TRANSPOSED].tolist() == [0, 0, 1, 1]
    for index, layer in enumerate(model.layers):
        W, b = layer_views(model._params, model._layout, index)
        stored, _ = stored_views(model._params, model._layout, index)
        assert W.shape == layer.W.shape == (layer.n_in, layer.n_out)
        np.testing.assert_array_equal(stored, W.T if index >= 2 else W)
        assert np.shares_memory(layer.W, model._params)
    weights = [(np.arange(W.size, dtype=float).reshape(W.shape), b) for W, b in model.get_weights()]
    model.set_weights(weights)
    for (W, _), (W_set, _) in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(W, W_set)


@pytest.mark.parametrize("opts", ["plain", "everything", "adam"])
@pytest.mark.parametrize("batch_size", [4, 1])
def test_the_same_fit_again_gives_the_same_bits(batch_size, opts):
    """Each fit's buffers sit elsewhere in memory; the weights must not change with them. (A
    loop that writes arrays and sums into a scalar is compiled by LLVM as a vector and a scalar
    version, picked by whether the addresses overlap, which sum in different orders: unless the
    kernels rule that out, the weights depend on where the buffers happen to sit.)"""
    X, y, n_out = make_problem("softmax_cross_entropy", seed=6, n=90)
    results = []
    for _ in range(4):
        model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numba")
        model.fit(X, y, epochs=2, batch_size=batch_size, optimizer=make_optimizer(opts),
                  verbose=0)  # fmt: skip
        results.append(model._params.copy())
    for params in results[1:]:
        np.testing.assert_array_equal(params, results[0])


@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("sparse", [False, True])
def test_what_the_epochs_need_is_prepared_once_per_fit_not_per_slice(monkeypatch, batch_size,
                                                                       sparse):  # fmt: skip
    """The data's arrays and the work buffers are made once per fit, however many slices
    (backend calls) the epochs take; no layer is transposed or copied between them."""
    import scipy.sparse as sp

    from fastnn import training
    from fastnn.kernels import epoch

    counts = {"data": 0, "buffers": 0, "slices": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(epoch, "compiled_data", counting("data", epoch.compiled_data))
    monkeypatch.setattr(epoch, "batch_work", counting("buffers", epoch.batch_work))
    monkeypatch.setattr(epoch, "sample_work", counting("buffers", epoch.sample_work))
    monkeypatch.setattr(epoch.Training, "train", counting("slices", epoch.Training.train))
    monkeypatch.setattr(training, "_FIRST_SLICE_WORK", 1.0)  # one batch a slice
    monkeypatch.setattr(training, "SLICE_SECONDS", 0.0)  # and no growing
    X, y, n_out = make_problem("softmax_cross_entropy", seed=3, n=64)
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numba")
    layout = model._build() or model._layout.copy()
    model.fit(sp.csr_matrix(X) if sparse else X, y, epochs=3, batch_size=batch_size, verbose=0)
    assert counts["data"] == 1 and counts["buffers"] == 1
    assert counts["slices"] > 3 * 64 // batch_size  # every batch a slice, and the warm-up's
    np.testing.assert_array_equal(model._layout, layout)


THREAD_OPTIONS = {**OPTIONS, "lazy-adam": dict(beta1=0.8, beta2=0.99, eps=1e-6)}


@pytest.mark.parametrize("opts", list(THREAD_OPTIONS))
@pytest.mark.parametrize("zeros, sparse", [(0.0, False), (0.6, False), (0.97, False), (0.6, True)])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n_in", [40, 400], ids=["step-by-units", "step-by-rows"])
def test_mini_batches_give_the_same_bits_for_any_number_of_threads(monkeypatch, opts, zeros,
                                                                    sparse, weighted,
                                                                    n_in):  # fmt: skip
    """The threads share each batch by blocks of units fixed by the layers' widths, and the
    first layer's step by blocks of units (40 inputs, 200 units) or by fixed stretches of its
    rows (400 inputs), and sum across blocks in block order: 1, 2 or 3 threads
    train to the same bits, which are the numpy backend's numbers. Inputs with no zeros take
    BLAS over every input, 60% zeros over the used ones, 97% the sparse first layer; CSR rows
    are read as stored."""
    import scipy.sparse as sp

    from fastnn.kernels import epoch
    from fastnn.kernels.minibatch import first_step_by_rows

    monkeypatch.setattr(epoch, "THREADS_FROM", 0)  # threads even for this small problem
    monkeypatch.setattr(epoch, "usable_cpus", lambda: 3)
    teams = []
    start = epoch._Team.__init__
    monkeypatch.setattr(epoch._Team, "__init__", lambda team, n: teams.append(n) or start(team, n))
    rng = np.random.default_rng(4)
    X = rng.normal(size=(90, n_in))
    X[rng.random(X.shape) < zeros] = 0
    X[:, [3, 17]] = 0  # inputs no row uses
    y = rng.integers(0, 3, 90)
    w = sample_weights(weighted, n=90)
    assert first_step_by_rows(n_in, 200) == (n_in == 400)
    layers = [fn.Dense(n_in, 200, "relu"), fn.Dense(200, 130, "tanh"), fn.Dense(130, 3)]
    lazy = opts == "lazy-adam"
    optimizer_args = THREAD_OPTIONS[opts]
    results = {}
    for backend, threads in (("numpy", 1), ("numba", 1), ("numba", 2), ("numba", 3)):
        monkeypatch.setenv("FASTNN_NUM_THREADS", str(threads))
        model = fn.Sequential([fn.Dense(**layer.to_config()) for layer in layers],
                              backend=backend, dtype="float64", seed=1)  # fmt: skip
        if opts == "adam" or lazy:
            optimizer = fn.Adam(
                lr=0.01,
                lazy=lazy,
                **{k: v for k, v in optimizer_args.items() if not (lazy and k in ("l1", "l2"))},
            )
        else:
            optimizer = fn.SGD(lr=0.05, **optimizer_args)
        model.fit(sp.csr_matrix(X) if sparse else X, y, epochs=2, batch_size=16,
                  optimizer=optimizer, sample_weight=w, verbose=0)  # fmt: skip
        results[backend, threads] = model._params.copy()
    assert teams == [1, 2, 3]  # 200 units: three blocks
    for threads in (2, 3):
        np.testing.assert_array_equal(results["numba", threads], results["numba", 1])
    np.testing.assert_allclose(results["numba", 1], results["numpy", 1], rtol=EPOCH_RTOL,
                               atol=1e-12)  # fmt: skip


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("opts", ["plain", "adam"])
@pytest.mark.parametrize("zeros, sparse", [(0.6, False), (0.97, False), (0.6, True)])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_large_batches_go_by_rows_to_the_same_bits(monkeypatch, loss, opts, zeros, sparse,
                                                   weighted):  # fmt: skip
    """Batches of 128 rows and more, with at least as many rows as the first layer's units,
    take the forward pass and the loss by fixed blocks of rows (``row_blocks``: here four of 64
    rows), the threads taking whole blocks through every layer: 1, 2 or 3 threads train to the
    same bits, the numpy backend's numbers, with dropout. The last batch (88 rows) is shared by
    blocks of units."""
    import scipy.sparse as sp

    from fastnn.kernels import epoch
    from fastnn.kernels.minibatch import row_blocks

    assert [row_blocks(m, 100) for m in (88, 127, 128, 255, 256, 1024)] == [1, 1, 2, 2, 4, 8]
    assert [row_blocks(m, 200) for m in (128, 199, 200, 256)] == [1, 1, 2, 4]
    monkeypatch.setattr(epoch, "THREADS_FROM", 0)
    monkeypatch.setattr(epoch, "usable_cpus", lambda: 3)
    X, y, n_out = make_problem(loss, seed=6, n=600, n_in=40, zeros=zeros)
    w = sample_weights(weighted, n=600)
    last = "sigmoid" if loss in ("binary_cross_entropy", "multilabel") else None
    results = {}
    for backend, threads in (("numpy", 1), ("numba", 1), ("numba", 2), ("numba", 3)):
        monkeypatch.setenv("FASTNN_NUM_THREADS", str(threads))
        model = fn.Sequential([fn.Dense(40, 200, "relu"), fn.Dropout(0.3),
                               fn.Dense(200, 130, "tanh"), fn.Dense(130, n_out, last)],
                              loss="binary_cross_entropy" if loss == "multilabel" else loss,
                              backend=backend, dtype="float64", seed=1)  # fmt: skip
        history = model.fit(sp.csr_matrix(X) if sparse else X, y, epochs=2, batch_size=256,
                            optimizer=make_optimizer(opts), sample_weight=w, verbose=0)  # fmt: skip
        results[backend, threads] = model._params.copy(), history.history["loss"]
    for threads in (2, 3):
        np.testing.assert_array_equal(results["numba", threads][0], results["numba", 1][0])
        assert results["numba", threads][1] == results["numba", 1][1]
    np.testing.assert_allclose(results["numba", 1][0], results["numpy", 1][0], rtol=EPOCH_RTOL,
                               atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(results["numba", 1][1], results["numpy", 1][1], rtol=1e-12)


@pytest.mark.parametrize("opts", ["momentum", "adam"])
def test_mini_batches_with_dropout_give_the_same_bits_for_any_number_of_threads(monkeypatch,
                                                                                 opts):  # fmt: skip
    """Each unit's mask depends on its sample and its index, not on the block or the thread
    that draws it: 1, 2 or 3 threads train to the same bits, the numpy backend's numbers."""
    from fastnn.kernels import epoch

    monkeypatch.setattr(epoch, "THREADS_FROM", 0)
    monkeypatch.setattr(epoch, "usable_cpus", lambda: 3)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(90, 40))
    y = rng.integers(0, 3, 90)
    results = {}
    for backend, threads in (("numpy", 1), ("numba", 1), ("numba", 2), ("numba", 3)):
        monkeypatch.setenv("FASTNN_NUM_THREADS", str(threads))
        model = fn.Sequential([fn.Dense(40, 200, "relu"), fn.Dropout(0.3),
                               fn.Dense(200, 130, "tanh"), fn.Dropout(0.5), fn.Dense(130, 3)],
                              backend=backend, dtype="float64", seed=1)  # fmt: skip
        optimizer = fn.Adam(lr=0.01) if opts == "adam" else fn.SGD(lr=0.05, momentum=0.5)
        model.fit(X, y, epochs=2, batch_size=16, optimizer=optimizer, verbose=0)
        results[backend, threads] = model._params.copy()
    for threads in (2, 3):
        np.testing.assert_array_equal(results["numba", threads], results["numba", 1])
    np.testing.assert_allclose(results["numba", 1], results["numpy", 1], rtol=EPOCH_RTOL,
                               atol=1e-12)  # fmt: skip


def _array_bytes(value):
    """The bytes of the arrays in a nest of tuples and lists."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_array_bytes(item) for item in value)
    return 0


@pytest.mark.parametrize("opts", ["plain", "adam"])
@pytest.mark.parametrize("batch_size", [1, 64])
def test_the_memory_estimate_covers_what_training_allocates(opts, batch_size):
    """``fastnn._memory.training_bytes``, the bound checked before training, is at least what
    the numba backend's training allocates (parameters, optimizer state, work buffers), and not
    wildly more."""
    from fastnn._memory import training_bytes
    from fastnn.kernels.epoch import start_training

    X, y, n_out = make_problem("softmax_cross_entropy", seed=5, n=200, n_in=300)
    model = make_model("softmax_cross_entropy", 300, n_out, "numba", dtype="float32")
    model._build()
    optimizer = make_optimizer(opts)
    state = optimizer.state_for(model._params)
    data = model._epoch_data(X, y, None)
    with start_training(model._params, state, model._layout, data, model._loss_code,
                        batch_size, optimizer.config()) as training:  # fmt: skip
        allocated = model._params.nbytes + state.nbytes + _array_bytes(training.work)
    widths = [300] + [layer.n_out for layer in model.layers]
    estimate = training_bytes(widths, "float32", batch_size, slots=2 if opts == "adam" else 0,
                              plain=opts == "plain", rollback=False)  # fmt: skip
    predictions = 8192 * 2 * sum(widths[1:]) * 4  # the validation's block, counted too
    assert allocated <= estimate < 4 * allocated + predictions
