"""The public API as a user drives it: building, fit/predict/evaluate, weights, files."""

import os

import numpy as np
import pytest

import fastnn as fn


def blobs(n=120, seed=0, n_classes=3, n_features=4):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, (n_classes, n_features))
    y = rng.integers(0, n_classes, n)
    return centers[y] + rng.normal(size=(n, n_features)), y


def classifier(backend="numba", dtype="float64", seed=0, n_classes=3):
    return fn.Sequential(
        [fn.Dense(4, 16, activation="relu"), fn.Dense(16, n_classes)],
        backend=backend,
        dtype=dtype,
        seed=seed,
    )


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_fit_predict_evaluate_on_separable_blobs(backend):
    X, y = blobs()
    model = classifier(backend)
    history = model.fit(X, y, epochs=5, batch_size=4, validation_data=(X, y), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "epoch_time", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 5 and history.epoch == [0, 1, 2, 3, 4]
    assert history.history["loss"][-1] < history.history["loss"][0]
    scores = model.evaluate(X, y)
    assert scores["accuracy"] > 0.9
    assert scores == pytest.approx(
        {"loss": history.history["val_loss"][-1], "accuracy": history.history["val_accuracy"][-1]}
    )
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(axis=1))


def test_keras_style_building_equals_the_list_form():
    a = classifier()
    b = fn.Sequential(backend="numba", dtype="float64")
    b.add(fn.Dense(4, 16, activation="relu"))
    b.add(fn.Dense(16, 3))
    for (Wa, ba), (Wb, bb) in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


def test_binary_classification_with_one_sigmoid_output():
    X, y = blobs(n_classes=2)
    for last in (None, "sigmoid"):
        model = fn.Sequential(
            [fn.Dense(4, 8, activation="tanh"), fn.Dense(8, 1, activation=last)],
            loss="binary_cross_entropy",
            dtype="float64",
        )
        model.fit(X, y, epochs=5, verbose=0)
        proba = model.predict_proba(X)
        assert proba.shape == (len(X), 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1)
        np.testing.assert_array_equal(model.predict(X), (proba[:, 1] > 0.5).astype(int))
        assert model.evaluate(X, y)["accuracy"] > 0.9


def test_regression_with_mse():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    model = fn.Sequential(
        [fn.Dense(3, 16, activation="tanh"), fn.Dense(16, 1)], loss="mse", dtype="float64"
    )
    history = model.fit(X, y, epochs=30, batch_size=8, optimizer=fn.SGD(lr=0.01), verbose=0)
    assert set(history.history) == {"loss", "epoch_time"}
    scores = model.evaluate(X, y)
    assert set(scores) == {"loss", "mse", "r2"}
    assert scores["r2"] > 0.95
    assert model.predict(X).shape == (200,)
    np.testing.assert_allclose(scores["mse"], np.mean((model.predict(X) - y) ** 2), rtol=1e-9)
    with pytest.raises(ValueError, match="predict_proba needs a classification loss"):
        model.predict_proba(X)


def test_mse_with_several_outputs():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    Y = np.column_stack([X.sum(axis=1), X[:, 0]])
    model = fn.Sequential([fn.Dense(3, 2)], loss="mse", dtype="float64")
    model.fit(X, Y, epochs=50, batch_size=5, verbose=0)
    assert model.predict(X).shape == (50, 2)
    assert model.evaluate(X, Y)["r2"] > 0.99


def test_get_weights_are_copies_and_set_weights_round_trips():
    model = classifier()
    weights = model.get_weights()
    assert [(W.shape, b.shape) for W, b in weights] == [((4, 16), (16,)), ((16, 3), (3,))]
    weights[0][0][...] = 0
    assert not np.all(model.get_weights()[0][0] == 0)
    new = [(np.full(W.shape, 0.5), np.arange(b.size, dtype=float)) for W, b in weights]
    model.set_weights(new)
    for (W, b), (Wn, bn) in zip(model.get_weights(), new):
        np.testing.assert_array_equal(W, Wn)
        np.testing.assert_array_equal(b, bn)
    np.testing.assert_array_equal(model.layers[0].W, 0.5)  # layers see the same parameters


def test_biases_start_at_zero_unless_asked():
    model = fn.Sequential([fn.Dense(4, 5, activation="relu"), fn.Dense(5, 2, bias_init=0.1)])
    (_, b0), (_, b1) = model.get_weights()
    np.testing.assert_array_equal(b0, 0)
    np.testing.assert_allclose(b1, 0.1, rtol=1e-6)


def test_he_and_glorot_initial_scales():
    model = fn.Sequential(
        [fn.Dense(500, 400, activation="relu"), fn.Dense(400, 300)], dtype="float64"
    )
    (W0, _), (W1, _) = model.get_weights()
    assert W0.std() == pytest.approx(np.sqrt(2 / 500), rel=0.02)  # He
    limit = np.sqrt(6 / 700)
    assert np.abs(W1).max() <= limit and W1.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)


def test_parameters_are_aligned_views_of_one_buffer():
    model = classifier(dtype="float32")
    model.get_weights()
    for layer in model.layers:
        assert layer.W.base is not None and np.shares_memory(layer.W, model._params)
        assert layer.W.ctypes.data % 64 == 0 and layer.b.ctypes.data % 64 == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_and_load_round_trip(tmp_path, dtype):
    X, y = blobs()
    model = classifier(dtype=dtype)
    model.fit(X, y, epochs=2, verbose=0)
    path = model.save(tmp_path / "model")
    assert path.endswith("model.npz") and os.path.exists(path)
    loaded = fn.load(path)
    assert loaded.dtype == dtype and loaded.loss == model.loss and loaded.seed == model.seed
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert fn.load(path, backend="numpy").backend == "numpy"


def test_save_is_atomic_and_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    model = classifier()
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]  # no temporary left behind


def test_load_rejects_files_that_are_not_models(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a readable fastnn model"):
        fn.load(bad)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable fastnn model"):
        fn.load(text)
    with pytest.raises(FileNotFoundError):
        fn.load(tmp_path / "missing.npz")


def test_backend_defaults_to_the_environment_then_numba(monkeypatch):
    assert fn.Sequential().backend == "numba"
    monkeypatch.setenv("FASTNN_BACKEND", "numpy")
    assert fn.Sequential().backend == "numpy"
    assert fn.Sequential(backend="numba").backend == "numba"
    monkeypatch.setenv("FASTNN_BACKEND", "cuda")
    with pytest.raises(ValueError, match=r"\$FASTNN_BACKEND must be one of"):
        fn.Sequential()


def test_reusing_the_optimizer_continues_its_state():
    X, y = blobs()
    one = classifier()
    opt = fn.SGD(lr=0.01, momentum=0.9)
    one.fit(X, y, epochs=1, batch_size=10, optimizer=opt, verbose=0)
    assert opt.iterations == 12 and one.optimizer is opt
    one.fit(X, y, epochs=1, batch_size=10, verbose=0)  # no optimizer: the model's last one
    assert opt.iterations == 24
    assert opt.learning_rate() == 0.01


def test_summary_and_repr(capsys):
    model = classifier()
    assert model.describe().startswith("4 -> 16 relu -> 3 | loss softmax_cross_entropy")
    table = model.summary()
    assert capsys.readouterr().out == table + "\n"
    assert "dense (Dense, relu)" in table and "dense_1 (Dense, linear)" in table
    assert "Dense(4, 16, activation='relu')" in repr(model)


def test_zero_epochs_changes_nothing():
    X, y = blobs()
    model = classifier()
    before = model.get_weights()
    history = model.fit(X, y, epochs=0, verbose=0)
    assert history.history == {}
    np.testing.assert_array_equal(model.get_weights()[0][0], before[0][0])


def test_a_batch_larger_than_the_data_is_one_batch_of_all_rows():
    X = np.random.default_rng(0).normal(size=(30, 4))
    y = (X[:, 0] > 0).astype(int)
    weights = []
    for batch_size in (30, 10**9):
        model = fn.Sequential(fn.dense_stack([4, 3, 2]), seed=0)
        model.fit(X, y, epochs=2, batch_size=batch_size, verbose=0)
        weights.append(model.get_weights())
    for (Wa, ba), (Wb, bb) in zip(*weights):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


def test_a_slow_first_load_says_it_is_compiling(monkeypatch, capsys):
    import io
    import sys
    import threading

    from fastnn import training

    monkeypatch.setattr(training, "COMPILE_NOTICE_AFTER", 60.0)
    training.with_compile_notice(lambda: None, "float32, batch training")
    assert capsys.readouterr().err == ""  # loaded from the cache: nothing to say

    # a load that lasts until the notice has been written: slow, whatever the machine does
    noticed = threading.Event()

    class Stderr(io.StringIO):
        def write(self, text):
            if "compiling kernels" in text:
                noticed.set()
            return super().write(text)

    monkeypatch.setattr(training, "COMPILE_NOTICE_AFTER", 0.01)
    monkeypatch.setattr(sys, "stderr", Stderr())
    training.with_compile_notice(lambda: noticed.wait(600), "float32, batch training")
    err = sys.stderr.getvalue()
    assert "compiling kernels for float32, batch training (once: they are then cached" in err
    assert "compiled in" in err

    def broken():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        training.with_compile_notice(broken, "x")


def test_many_fast_epochs_of_a_tiny_network():
    """Slices never outgrow an epoch, however fast the epochs are."""
    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    model = fn.Sequential(fn.dense_stack([2, 3, 2]), seed=0)
    history = model.fit(X, y, epochs=300, batch_size=8, verbose=0)
    assert len(history.epoch) == 300 and np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_weights_drawn_in_blocks_are_those_of_one_draw(monkeypatch, activation):
    """A wide layer's initial weights are drawn a block of rows at a time: the same numbers as
    one draw of the whole matrix."""
    from fastnn import params

    one = np.empty((50, 7))
    params.initialize(one, activation, np.random.default_rng(3))
    monkeypatch.setattr(params, "INIT_BLOCK", 20)  # two rows of 7 per draw
    blocks = np.empty((50, 7))
    params.initialize(blocks, activation, np.random.default_rng(3))
    np.testing.assert_array_equal(blocks, one)
    scale = np.sqrt(2 / 50) if activation == "relu" else np.sqrt(6 / 57)
    assert 0.3 < one.std() / scale < 1.5
