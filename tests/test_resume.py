"""Resuming exactly: a saved file holds the optimizer, the epoch count and the shuffle
generator, so that save, load and train on gives the bits of training straight through; files
of the first format still load."""

import json
import os
import pickle
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import fastnn as fn
from fastnn import training
from fastnn.errors import InputError

from helpers import make_problem

DATA = Path(__file__).resolve().parent / "data"


def optimizer(kind):
    if kind == "sgd":
        return fn.SGD(lr=0.05, momentum=0.9, nesterov=True, decay=0.01, l2=1e-3)
    return fn.Adam(lr=0.01, l1=1e-4)


def model(backend, dropout=0.0, dtype="float64", seed=3):
    return fn.Sequential(fn.dense_stack([12, 9, 20, 4], dropout=dropout), backend=backend,
                         dtype=dtype, seed=seed)  # fmt: skip


def assert_same_weights(a, b):
    for (Wa, ba), (Wb, bb) in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


def cases():
    for backend in ("numba", "numpy"):
        for batch_size in (1, 8):
            for dropout in (0.0, 0.3):
                yield backend, batch_size, dropout


@pytest.mark.parametrize("backend, batch_size, dropout", list(cases()))
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_save_load_and_train_on_gives_the_bits_of_training_straight(
    tmp_path, backend, batch_size, dropout, kind
):
    X, y, _ = make_problem("softmax_cross_entropy", seed=4, zeros=0.3)
    straight = model(backend, dropout)
    straight.fit(X, y, epochs=4, batch_size=batch_size, optimizer=optimizer(kind), verbose=0)
    first = model(backend, dropout)
    first.fit(X, y, epochs=2, batch_size=batch_size, optimizer=optimizer(kind), verbose=0)
    loaded = fn.load(first.save(tmp_path / "half.npz"))
    assert loaded.epochs_trained == 2 and loaded.optimizer.iterations == first.optimizer.iterations
    if first.optimizer.state is not None:
        np.testing.assert_array_equal(loaded.optimizer.state, first.optimizer.state)
    history = loaded.fit(X, y, epochs=2, batch_size=batch_size, verbose=0)  # its own optimizer
    assert history.epoch == [2, 3] and loaded.epochs_trained == 4
    assert loaded.optimizer.iterations == straight.optimizer.iterations
    assert_same_weights(loaded, straight)
    np.testing.assert_array_equal(loaded.optimizer.state, straight.optimizer.state)


def test_the_schedules_resume_too(tmp_path):
    """invscaling's samples seen, adaptive's rate and plateau count, in float32."""
    X, y, _ = make_problem("softmax_cross_entropy", seed=5)
    for schedule in ("invscaling", "adaptive"):

        def make_opt(schedule=schedule):
            return fn.SGD(lr=0.1, momentum=0.5, schedule=schedule, n_iter_no_change=1, tol=1.0)

        straight = model("numba", dtype="float32")
        straight.fit(X, y, epochs=4, optimizer=make_opt(), verbose=0, batch_size=4)
        half = model("numba", dtype="float32")
        half.fit(X, y, epochs=2, optimizer=make_opt(), verbose=0, batch_size=4)
        loaded = fn.load(half.save(tmp_path / f"{schedule}.npz"))
        assert loaded.optimizer.current_lr == half.optimizer.current_lr
        assert loaded.optimizer.plateau.count == half.optimizer.plateau.count
        loaded.fit(X, y, epochs=2, verbose=0, batch_size=4)
        assert loaded.optimizer.current_lr == straight.optimizer.current_lr < 0.1
        assert_same_weights(loaded, straight)


def test_a_model_without_a_seed_resumes_its_own_shuffles_and_masks(tmp_path):
    X, y, _ = make_problem("softmax_cross_entropy", seed=5)
    half = model("numpy", dropout=0.4, seed=None)
    half.fit(X, y, epochs=1, verbose=0)
    loaded = fn.load(half.save(tmp_path / "m.npz"))
    loaded.fit(X, y, epochs=1, verbose=0)
    half.fit(X, y, epochs=1, verbose=0)
    assert_same_weights(loaded, half)


def test_pickle_keeps_the_optimizer_state_too():
    X, y, _ = make_problem("softmax_cross_entropy", seed=4)
    straight, half = model("numba"), model("numba")
    straight.fit(X, y, epochs=2, optimizer=optimizer("adam"), verbose=0)
    half.fit(X, y, epochs=1, optimizer=optimizer("adam"), verbose=0)
    copy = pickle.loads(pickle.dumps(half))
    copy.fit(X, y, epochs=1, verbose=0)
    assert_same_weights(copy, straight)


def test_an_interrupted_epoch_rolled_back_and_saved_resumes_exactly(tmp_path, monkeypatch):
    """A Ctrl-C inside epoch 2: the rollback puts back the weights, the optimizer and the
    shuffle generator of the end of epoch 1; saved there, the file trains on as if nothing
    had happened."""
    X, y, _ = make_problem("softmax_cross_entropy", seed=4, n=60)
    straight = model("numpy")
    straight.fit(X, y, epochs=4, optimizer=optimizer("sgd"), verbose=0)
    part = training.EpochRunner.run_part

    def interrupting(runner, order, stats):
        part(runner, order, stats)  # some updates are made, then Ctrl-C
        if runner._epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "_FIRST_SLICE_WORK", 1.0)  # one sample a slice
    monkeypatch.setattr(training, "SLICE_SECONDS", 0.0)
    monkeypatch.setattr(training.EpochRunner, "run_part", interrupting)
    interrupted = model("numpy")
    with pytest.raises(fn.TrainingInterrupted) as info:
        interrupted.fit(X, y, epochs=4, optimizer=optimizer("sgd"), verbose=0)
    assert interrupted.optimizer.iterations > 2 * len(X)  # inside epoch 2
    info.value.rollback()
    assert interrupted.epochs_trained == 2 and interrupted.optimizer.iterations == 2 * len(X)
    monkeypatch.setattr(training.EpochRunner, "run_part", part)
    loaded = fn.load(interrupted.save(tmp_path / "m.npz"))
    loaded.fit(X, y, epochs=2, verbose=0)
    assert_same_weights(loaded, straight)


def test_initial_epoch_numbers_as_keras_does():
    X, y, _ = make_problem("softmax_cross_entropy", seed=4)
    net = model("numpy")
    assert net.fit(X, y, epochs=3, initial_epoch=1, verbose=0).epoch == [1, 2]
    assert net.epochs_trained == 3
    assert net.fit(X, y, epochs=2, verbose=0).epoch == [3, 4]
    assert net.fit(X, y, epochs=2, initial_epoch=2, verbose=0).epoch == []
    with pytest.raises(InputError, match="initial_epoch must be an integer >= 0"):
        net.fit(X, y, initial_epoch=-1, verbose=0)


# -- the file -------------------------------------------------------------------------------------


def test_the_file_holds_the_training_record_and_no_pickle(tmp_path):
    X, y, _ = make_problem("softmax_cross_entropy", seed=4)
    net = model("numpy", dropout=0.25)
    net.fit(X, y, epochs=2, optimizer=optimizer("adam"), verbose=0)
    path = net.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as archive:  # every entry reads without pickle
        entries = {name: archive[name] for name in archive.files}
    config = json.loads(str(entries["config"]))
    assert config["version"] == 2 and config["dropout"] == [0.25, 0.25, 0.0]
    record = config["training"]
    assert record["epochs"] == 2 and record["optimizer"]["config"]["name"] == "Adam"
    assert record["optimizer"]["iterations"] == net.optimizer.iterations
    assert record["shuffle"] == net._shuffle_rng.bit_generator.state
    for slot in (0, 1):
        for index, layer in enumerate(net.layers):
            assert entries[f"state{slot}_W{index}"].shape == (layer.n_in, layer.n_out)
    assert all(array.dtype.kind in "fU" for array in entries.values())


def test_a_file_of_the_first_format_still_loads_and_trains():
    """tests/data/model_v1.npz was written by the first format: weights, scaling, metadata;
    no optimizer, no epoch count, no dropout."""
    with zipfile.ZipFile(DATA / "model_v1.npz") as zf:
        assert sorted(zf.namelist()) == sorted(
            ["config.npy", "W0.npy", "b0.npy", "W1.npy", "b1.npy", "feature_mean.npy",
             "feature_scale.npy"])  # fmt: skip
    loaded = fn.load(DATA / "model_v1.npz")
    assert loaded.optimizer is None and loaded.epochs_trained == 0
    assert loaded.metadata == {"classes": ["ant", "bee", "cat"]}
    assert [type(layer).__name__ for layer in loaded.stack] == ["Dense", "Dense"]
    np.testing.assert_allclose(loaded.predict_proba(np.eye(4)[:2]),
                               [[0.4321117401123047, 0.37932878732681274, 0.1885593682527542],
                                [0.28165706992149353, 0.45287850499153137, 0.2654644250869751]],
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_array_equal(
        loaded.get_weights()[1][1], np.array([-0.029649757, -0.095418334, 0.12506808], np.float32)
    )
    X, y, _ = make_problem("softmax_cross_entropy", n_in=4, seed=1)
    assert loaded.fit(X, y % 3, epochs=1, verbose=0).epoch == [0]


def test_a_model_trained_with_lbfgs_saves_its_optimizer_and_keeps_the_rule(tmp_path):
    X, y, _ = make_problem("softmax_cross_entropy", seed=4)
    net = model("numpy")
    net.fit(X, y, optimizer=fn.LBFGS(max_iter=3), verbose=0)
    loaded = fn.load(net.save(tmp_path / "m.npz"))
    assert repr(loaded.optimizer) == repr(net.optimizer) and loaded.epochs_trained == 0
    with pytest.raises(InputError, match="last fit used LBFGS"):
        loaded.fit(X, y, epochs=5, verbose=0)


@pytest.fixture
def ctrl_c_raises():
    """SIGINT's Python default (KeyboardInterrupt) for the test, however pytest was started (a
    shell's background job starts it with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_a_ctrl_c_during_a_backend_call_is_raised_when_the_call_returns():
    done = []

    def call():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler has run by now: the call goes on regardless
        done.append(True)

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with training.DeferredInterrupt() as interrupts:
            interrupts.call(call)
            pytest.fail("the Ctrl-C was not raised after the call")
    assert done == [True]
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.usefixtures("ctrl_c_raises")
def test_a_ctrl_c_between_backend_calls_is_raised_at_once():
    with pytest.raises(KeyboardInterrupt):
        with training.DeferredInterrupt():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
            pytest.fail("the Ctrl-C was held outside a backend call")


def test_a_ctrl_c_goes_to_the_programs_own_handler():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with training.DeferredInterrupt() as interrupts:
            interrupts.call(os.kill, os.getpid(), signal.SIGINT)
            assert seen == [signal.SIGINT]
            interrupts.call(lambda: None)  # handled once
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_ignored_ctrl_c_stays_ignored():
    """Where SIGINT is ignored (a background job), a slice does not turn it into an interrupt."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with training.DeferredInterrupt() as interrupts:
            interrupts.call(os.kill, os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    except KeyboardInterrupt:
        pytest.fail("an ignored SIGINT came back as KeyboardInterrupt")
    finally:
        signal.signal(signal.SIGINT, previous)
