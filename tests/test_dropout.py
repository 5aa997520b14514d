"""Dropout: the counter-based masks are one function in the kernels, the numpy backend and the
oracle; whole epochs with dropout agree across the three, per sample and in mini-batches; the
model applies it in training only."""

import numpy as np
import pytest

import fastnn as fn
import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend
from fastnn._codes import LOSSES, DropoutPlan, new_stats
from fastnn.errors import InputError
from fastnn.params import ACT, layer_views

import naive
from helpers import (
    EPOCH_RTOL,
    LOSS_NAMES,
    WEIGHTED_MATRIX,
    assert_stats_close,
    assert_weights_close,
    make_model,
    make_optimizer,
    make_problem,
    run_epoch,
    sample_weights,
)

# rates on the outputs of the 4 layers of helpers.make_model (12-9-17-5-out): the last feeds
# the loss and is never dropped
RATES = np.array([0.3, 0.5, 0.2, 0.0])
SEED = 2**64 - 12345  # a seed beyond int64: the arithmetic is uint64 throughout


def numba_uniforms(seed, epoch, samples, layer, width):
    from fastnn.kernels.dropout import uniforms

    out = np.empty((len(samples), width))
    uniforms(np.uint64(seed), np.uint64(epoch), np.asarray(samples, np.int64), layer, width, out)
    return out


@pytest.mark.parametrize("seed", [0, 1, SEED])
@pytest.mark.parametrize("epoch", [0, 7, 2**40])
def test_the_masks_are_one_function_in_the_kernels_the_numpy_backend_and_the_oracle(seed, epoch):
    samples = np.array([0, 5, 3, 2**31 + 7, 5])
    layout = np.zeros((3, 6), np.int64)
    layout[:, 3] = [4, 11, 2]  # N_OUT
    plan = DropoutPlan(np.array([0.25, 0.6, 0.0]), seed)
    masks = numpy_backend.dropout_masks(plan, epoch, samples, layout, np.float64)
    oracle = naive.dropout_masks(plan, epoch, samples, layout)
    for layer, rate in enumerate(plan.rates):
        if rate == 0:
            assert masks[layer] is None and oracle[layer] is None
            continue
        width = layout[layer, 3]
        u = numba_uniforms(seed, epoch, samples, layer, width)
        expected = [[naive.dropout_uniform(seed, epoch, s, layer, j) for j in range(width)]
                    for s in samples]  # fmt: skip
        np.testing.assert_array_equal(u, expected)
        np.testing.assert_array_equal(masks[layer], np.asarray(oracle[layer]))
        np.testing.assert_array_equal(masks[layer], np.where(u >= rate, 1 / (1 - rate), 0.0))
        np.testing.assert_array_equal(masks[layer][1], masks[layer][4])  # the same sample


def test_a_mask_depends_on_the_sample_not_on_its_place_in_a_batch():
    layout = np.zeros((2, 6), np.int64)
    layout[:, 3] = [40, 3]
    plan = DropoutPlan(np.array([0.5, 0.0]), 3)
    rows = np.array([9, 2, 30, 4])
    together = numpy_backend.dropout_masks(plan, 1, rows, layout, np.float32)[0]
    alone = [numpy_backend.dropout_masks(plan, 1, rows[i : i + 1], layout, np.float32)[0][0]
             for i in range(len(rows))]  # fmt: skip
    np.testing.assert_array_equal(together, np.array(alone))
    other_epoch = numpy_backend.dropout_masks(plan, 2, rows, layout, np.float32)[0]
    other_seed = numpy_backend.dropout_masks(plan._replace(seed=4), 1, rows, layout, np.float32)
    assert not np.array_equal(together, other_epoch)
    assert not np.array_equal(together, other_seed[0])
    assert together.dtype == np.float32 and set(np.unique(together)) == {0.0, 2.0}


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_units_are_dropped_at_the_rate(rate, seed):
    layout = np.zeros((2, 6), np.int64)
    layout[:, 3] = [200, 2]
    plan = DropoutPlan(np.array([rate, 0.0]), seed)
    mask = numpy_backend.dropout_masks(plan, seed, np.arange(500), layout, np.float64)[0]
    dropped = np.mean(mask == 0)  # 100,000 units: the standard error is below 0.0016
    assert abs(dropped - rate) < 0.01
    np.testing.assert_array_equal(mask[mask != 0], 1 / (1 - rate))


def _cases():
    for batch_size in (1, 7):
        for module in (numba_backend, numpy_backend):
            name = "numba" if module is numba_backend else "numpy"
            yield pytest.param(module, batch_size, id=f"{name}-batch{batch_size}")


@pytest.mark.parametrize("module, batch_size", list(_cases()))
@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("opts", ["plain", "everything", "adam"])
@WEIGHTED_MATRIX
def test_epochs_with_dropout_match_the_naive_oracle(module, batch_size, loss, opts, weighted):
    X, y, n_out = make_problem(loss, seed=2, zeros=0.5)
    model = make_model(loss, X.shape[1], n_out, "numpy")
    data = model._epoch_data(X, y, sample_weights(weighted))
    order = np.random.default_rng(8).permutation(len(X))
    plan = DropoutPlan(RATES, SEED)
    optimizer = make_optimizer(opts)
    ref = run_epoch(naive, model, data, order, batch_size, optimizer, dropout=plan, epoch=5)
    got = run_epoch(module, model, data, order, batch_size, optimizer, dropout=plan, epoch=5)
    without = run_epoch(naive, model, data, order, batch_size, optimizer, epoch=5)
    assert not np.allclose(ref[0], without[0])  # the masks changed the epoch
    np.testing.assert_allclose(got[0], ref[0], rtol=EPOCH_RTOL, atol=1e-12)
    np.testing.assert_allclose(got[1], ref[1], rtol=EPOCH_RTOL, atol=1e-12)
    assert_stats_close(got[2], ref[2])
    assert got[3] == ref[3]


@pytest.mark.parametrize("workers", [1, 3])
def test_hogwild_shares_with_dropout_match_the_oracle(workers):
    X, y, n_out = make_problem("softmax_cross_entropy", seed=9, zeros=0.5)
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, "numpy")
    data = model._epoch_data(X, y)
    order = np.random.default_rng(3).permutation(len(X))
    plan = DropoutPlan(RATES, 11)
    opt = make_optimizer("plain")
    ref = run_epoch(naive, model, data, order, 1, opt, workers=workers, dropout=plan, epoch=1)
    got = run_epoch(numpy_backend, model, data, order, 1, opt, workers=workers, dropout=plan,
                    epoch=1)  # fmt: skip
    np.testing.assert_allclose(got[0], ref[0], rtol=EPOCH_RTOL, atol=1e-12)
    # one thread of the compiled Hogwild is the serial compiled epoch
    one = run_epoch(numba_backend, model, data, order, 1, opt, workers=1, dropout=plan, epoch=1)
    serial = run_epoch(naive, model, data, order, 1, opt, dropout=plan, epoch=1)
    np.testing.assert_allclose(one[0], serial[0], rtol=EPOCH_RTOL, atol=1e-12)


def _mean_loss(model, params, batch, masks):
    a = batch.X
    for layer in range(len(model.layers)):
        W, b = layer_views(params, model._layout, layer)
        z = np.empty((len(a), W.shape[1]))
        out = np.empty_like(z)
        numpy_backend.dense_forward(a, W, b, model._layout[layer, ACT], z, out)
        a = out if masks[layer] is None else out * masks[layer]
    return numpy_backend.loss_and_grad(LOSSES[model.loss], a, batch.labels, batch.targets,
                                       batch.weights, np.empty_like(a))  # fmt: skip


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse"])
def test_the_gradient_with_dropout_matches_finite_differences(loss):
    """With the masks fixed, one step at lr=1 moves the parameters by -gradient of the masked
    network's loss."""
    X, y, n_out = make_problem(loss, seed=3, n=5)
    model = make_model(loss, X.shape[1], n_out, "numpy")
    data = model._epoch_data(X, y)
    rows = np.arange(5)
    plan = DropoutPlan(RATES, 21)
    after, *_ = run_epoch(numpy_backend, model, data, rows, 5, fn.SGD(lr=1.0), dropout=plan,
                          epoch=2)  # fmt: skip
    masks = numpy_backend.dropout_masks(plan, 2, rows, model._layout, np.float64)
    analytic = model._params - after
    numeric = np.zeros_like(analytic)
    for i in range(len(numeric)):
        up, down = model._params.copy(), model._params.copy()
        up[i] += 1e-5
        down[i] -= 1e-5
        numeric[i] = _mean_loss(model, up, data, masks) - _mean_loss(model, down, data, masks)
        numeric[i] /= 2e-5
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def dropout_model(backend, dtype="float64", seed=4, rate=0.3):
    return fn.Sequential([fn.Dense(12, 20, "relu"), fn.Dropout(rate), fn.Dense(20, 17, "tanh"),
                          fn.Dropout(0.5), fn.Dense(17, 4)], backend=backend, dtype=dtype,
                         seed=seed)  # fmt: skip


@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("opts", ["momentum", "adam"])
def test_a_fixed_seed_trains_alike_on_both_backends(batch_size, opts):
    X, y, _ = make_problem("softmax_cross_entropy", seed=6, zeros=0.3)
    trained = {}
    for backend in ("numba", "numpy"):
        model = dropout_model(backend)
        history = model.fit(X, y, epochs=3, batch_size=batch_size, optimizer=make_optimizer(opts),
                            verbose=0)  # fmt: skip
        trained[backend] = model.get_weights(), history.history["loss"]
    assert_weights_close(trained["numba"][0], trained["numpy"][0], rtol=EPOCH_RTOL)
    np.testing.assert_allclose(trained["numba"][1], trained["numpy"][1], rtol=1e-9)
    without = dropout_model("numpy", rate=0.0)
    without.fit(X, y, epochs=3, batch_size=batch_size, optimizer=make_optimizer(opts), verbose=0)
    assert not np.allclose(without.get_weights()[0][0], trained["numpy"][0][0][0])


def test_mini_batches_with_dropout_in_fit_match_the_oracle():
    """``fit`` numbers its epochs from 0 and hands the backend the model's dropout seed."""
    X, y, _ = make_problem("softmax_cross_entropy", seed=6, zeros=0.3)
    model = dropout_model("numpy")
    model.fit(X, y, epochs=2, batch_size=8, optimizer=fn.SGD(lr=0.05, momentum=0.5), verbose=0,
              shuffle=False)  # fmt: skip
    reference = dropout_model("numpy")
    data = reference._epoch_data(X, y)
    params = reference._params.copy()
    state, t = np.zeros((1, params.size)), np.zeros(1, np.int64)
    opt = fn.SGD(lr=0.05, momentum=0.5).config()
    with naive.start_training(params, state, reference._layout, data, LOSSES[reference.loss], 8,
                              opt, 1, reference._dropout_plan()) as training:  # fmt: skip
        for epoch in range(2):
            training.train(np.arange(len(X)), opt, t, new_stats(), epoch=epoch)
    np.testing.assert_allclose(model._params, params, rtol=EPOCH_RTOL, atol=1e-12)


def test_float32_with_dropout_agrees_across_backends():
    X, y, _ = make_problem("softmax_cross_entropy", seed=2)
    trained = []
    for backend in ("numba", "numpy"):
        model = dropout_model(backend, dtype="float32")
        model.fit(X, y, epochs=2, optimizer=fn.SGD(lr=0.05), verbose=0)
        trained.append(model.get_weights())
    assert_weights_close(*trained, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_dropout_is_the_identity_in_predict_and_evaluate(backend):
    X, y, _ = make_problem("softmax_cross_entropy", seed=1)
    model = dropout_model(backend, rate=0.5)
    model.fit(X, y, epochs=2, verbose=0)
    twin = fn.Sequential([fn.Dense(**layer.to_config()) for layer in model.layers],
                         backend=backend, dtype="float64")  # fmt: skip
    twin.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict_proba(X), twin.predict_proba(X))
    assert model.evaluate(X, y) == twin.evaluate(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X))


def test_the_same_seed_gives_the_same_training_and_another_seed_another():
    X, y, _ = make_problem("softmax_cross_entropy", seed=1)
    runs = []
    for seed in (4, 4, 5):
        model = dropout_model("numba", seed=seed)
        model.set_weights(dropout_model("numba", seed=4).get_weights())  # the same start
        model.fit(X, y, epochs=2, verbose=0)
        runs.append(model._params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_the_epochs_of_a_second_fit_draw_new_masks():
    """Two fits of one epoch are two epochs: the second draws epoch 1's masks, not epoch 0's
    again, and ends where one fit of two epochs ends."""
    X, y, _ = make_problem("softmax_cross_entropy", seed=1)
    straight, split = dropout_model("numba"), dropout_model("numba")
    straight.fit(X, y, epochs=2, verbose=0)
    split.fit(X, y, epochs=1, verbose=0)
    split.fit(X, y, epochs=1, verbose=0)
    assert split.epochs_trained == 2
    np.testing.assert_array_equal(split._params, straight._params)


def test_dropout_layers_are_placed_between_dense_layers():
    with pytest.raises(InputError, match=r"Dropout\(0.2\) cannot be the first layer"):
        fn.Sequential([fn.Dropout(0.2), fn.Dense(3, 2)])
    with pytest.raises(InputError, match="one Dropout between two Dense layers"):
        fn.Sequential([fn.Dense(3, 4), fn.Dropout(0.2), fn.Dropout(0.1), fn.Dense(4, 2)])
    model = fn.Sequential([fn.Dense(3, 4), fn.Dense(4, 2), fn.Dropout(0.2)])
    with pytest.raises(InputError, match=r"the model ends with Dropout\(0.2\)"):
        model.get_weights()
    for rate in (1.0, -0.1, 2, float("nan")):
        with pytest.raises(InputError, match="Dropout rate must be a finite number >= 0 and < 1"):
            fn.Dropout(rate)
    with pytest.raises(TypeError, match="Dropout rate must be a real number"):
        fn.Dropout("0.5")
    with pytest.raises(AttributeError, match="Dropout.rate is fixed"):
        fn.Dropout(0.5).rate = 0.1


def test_the_model_lists_its_dropout_layers():
    model = fn.Sequential(fn.dense_stack([6, 8, 8, 2], dropout=0.25))
    assert [type(layer).__name__ for layer in model.stack] == [
        "Dense", "Dropout", "Dense", "Dropout", "Dense"]  # fmt: skip
    assert len(model.layers) == 3 and len(model.get_weights()) == 3
    assert "6 -> 8 relu (dropout 0.25) -> 8 relu (dropout 0.25) -> 2" in model.describe()
    table = model.summary(print_fn=None)
    assert "dropout (Dropout 0.25)" in table and "dropout_1 (Dropout 0.25)" in table
    assert "Dropout(0.25)" in repr(model)


def test_lbfgs_refuses_a_model_with_dropout():
    X, y, _ = make_problem("softmax_cross_entropy")
    with pytest.raises(InputError, match="a Dropout layer applies to the epochs of SGD and Adam"):
        dropout_model("numpy").fit(X, y, optimizer=fn.LBFGS(max_iter=2), verbose=0)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", None])
def test_the_block_kernels_for_mini_batches_match_the_numpy_backend(act):
    """``_dropout_block`` and ``_times_factor``, what the compiled mini-batch epoch calls per
    block of units, against the numpy backend's forward mask and backward derivative."""
    from fastnn._codes import ACTIVATIONS
    from fastnn.kernels.dropout import _dropout_block, _times_factor

    rng = np.random.default_rng(0)
    m, width, layer, epoch = 6, 11, 2, 3
    code = ACTIVATIONS[act]
    z = rng.normal(size=(m, width))
    a = np.empty_like(z)
    numpy_backend.activate(z, code, a)
    order = np.array([40, 7, 3, 21, 9, 30, 12, 5])
    first = 2  # the batch is order[2:8]
    plan = DropoutPlan(np.array([0.0, 0.0, 0.35, 0.0]), SEED)
    layout = np.zeros((4, 6), np.int64)
    layout[:, 3] = width
    mask = numpy_backend.dropout_masks(plan, epoch, order[first : first + m], layout, np.float64)
    delta = rng.normal(size=(m, width))
    expected_delta = numpy_backend._times_derivative(delta, z, a, code, mask[layer])
    dropped, factor, got_delta = a.ravel().copy(), np.empty(m * width), delta.ravel().copy()
    for lo, hi in ((0, 4), (4, 11)):  # two blocks of units, as two threads would take them
        _dropout_block(dropped, factor, m, width, lo, hi, code, np.uint64(SEED), np.uint64(epoch),
                       order, first, layer, 0.35)  # fmt: skip
        _times_factor(got_delta, factor, m, width, lo, hi)
    expected = np.where(mask[layer] != 0, a * mask[layer], 0)
    np.testing.assert_array_equal(dropped.reshape(m, width), expected)
    # the same masks; the derivatives may round apart by an ulp (the kernels may fuse 1 - a*a)
    np.testing.assert_allclose(got_delta.reshape(m, width), expected_delta, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(got_delta.reshape(m, width) == 0, expected_delta == 0)
