"""Callbacks in fit: each does its job (EarlyStopping restores the best epoch bit for bit, the
checkpoint holds the best epoch, the CSV rows are the history), their arguments are checked
before any training, and the hooks run between whole epochs."""

import csv

import numpy as np
import pytest

import fastnn as fn
from fastnn.errors import InputError

EPOCHS = 15


def problem():
    """A small noisy classification task on which a wide network overfits: its validation loss
    is lowest after epoch 1 and then rises (see the test that checks it)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 10))
    y = (X[:, 0] + 0.8 * rng.normal(size=80) > 0).astype(int) + (X[:, 1] > 1)
    return X[:50], y[:50], X[50:], y[50:]


def model(backend="numpy"):
    return fn.Sequential([fn.Dense(10, 32, "relu"), fn.Dense(32, 3)], backend=backend,
                         dtype="float64", seed=0)  # fmt: skip


def fit(net, callbacks, epochs=EPOCHS, **kwargs):
    X, y, X_val, y_val = problem()
    return net.fit(X, y, epochs=epochs, optimizer=fn.SGD(lr=0.05, momentum=0.5),
                   validation_data=(X_val, y_val), verbose=0, callbacks=callbacks,
                   **kwargs)  # fmt: skip


class Recorder(fn.Callback):
    """The weights as each epoch left them."""

    def on_train_begin(self, logs=None):
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = self.model.get_weights()


def assert_same_weights(a, b):
    for (Wa, ba), (Wb, bb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)


def test_the_validation_loss_of_the_problem_is_lowest_early():
    val_loss = fit(model(), []).history["val_loss"]
    best = int(np.argmin(val_loss))
    assert best == 1 and val_loss[-1] > val_loss[best]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("patience", [0, 3])
def test_early_stopping_stops_after_patience_and_restores_the_best_epoch(backend, patience):
    recorder = Recorder()
    stopper = fn.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    net = model(backend)
    history = fit(net, [recorder, stopper])
    val_loss = history.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert history.epoch[-1] == best + max(patience, 1) < EPOCHS - 1  # stopped early
    assert stopper.best_epoch == best and stopper.stopped_epoch == history.epoch[-1]
    assert stopper.best == val_loss[best]
    assert_same_weights(net.get_weights(), recorder.weights[best])
    assert net.epochs_trained == len(history.epoch)  # epochs trained, not the best one


def test_without_restoring_the_last_epoch_stays():
    recorder = Recorder()
    net = model()
    history = fit(net, [recorder, fn.EarlyStopping(patience=2)])
    assert_same_weights(net.get_weights(), recorder.weights[history.epoch[-1]])


def test_a_training_that_never_stalls_runs_every_epoch_and_restores_the_best():
    recorder = Recorder()
    net = model()
    stopper = fn.EarlyStopping(monitor="loss", patience=EPOCHS, restore_best_weights=True)
    history = fit(net, [recorder, stopper], epochs=5)
    assert len(history.epoch) == 5
    best = int(np.argmin(history.history["loss"]))
    assert_same_weights(net.get_weights(), recorder.weights[best])


def feed(callback, values, key="loss"):
    """Run a callback's hooks on a built model with given logs; the epochs that stopped."""
    net = model()
    net._build()
    callback.set_model(net)
    callback.set_params({})
    callback.on_train_begin({})
    stops = []
    net.stop_training = False
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {key: value})
        if net.stop_training:
            stops.append(epoch)
            net.stop_training = False
    return stops


def test_min_delta_patience_mode_and_baseline_count_as_keras_counts():
    values = [1.0, 0.97, 0.90, 0.88, 0.87]
    # 0.97 and 0.88 do not beat the best by 0.05; 0.90 does
    assert feed(fn.EarlyStopping(monitor="loss", min_delta=0.05, patience=2), values) == [4]
    assert feed(fn.EarlyStopping(monitor="loss", patience=2), values) == []
    assert feed(fn.EarlyStopping(monitor="loss", patience=0), [1.0, 1.0]) == [1]
    # accuracy is a score: higher is better ("auto"), or say so
    scores = [0.5, 0.6, 0.55, 0.54]
    assert feed(fn.EarlyStopping(monitor="val_accuracy", patience=2), scores, "val_accuracy") == [3]
    assert feed(fn.EarlyStopping(monitor="loss", mode="max", patience=2), scores) == [3]
    assert feed(fn.EarlyStopping(monitor="loss", mode="min", patience=2), scores) == [2, 3]
    # an improvement that does not beat the baseline does not restart the count
    rising = [0.5, 0.4, 0.3]
    assert feed(fn.EarlyStopping(monitor="loss", patience=2), rising) == []
    assert feed(fn.EarlyStopping(monitor="loss", patience=2, baseline=0.1), rising) == []
    falling = [0.5, 0.6]
    assert feed(fn.EarlyStopping(monitor="loss", patience=2), falling) == []
    assert feed(fn.EarlyStopping(monitor="loss", patience=2, baseline=0.1), falling) == [1]
    # the warm-up epochs are not watched
    assert feed(fn.EarlyStopping(monitor="loss", start_from_epoch=3), [1.0, 2.0, 3.0, 4.0]) == []


def test_a_checkpoint_of_the_best_only_holds_the_best_epoch(tmp_path):
    recorder = Recorder()
    path = tmp_path / "best.npz"
    checkpoint = fn.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    history = fit(model(), [recorder, checkpoint])
    best = int(np.argmin(history.history["val_loss"]))
    assert len(history.epoch) == EPOCHS and best < EPOCHS - 1
    saved = fn.load(path)
    assert_same_weights(saved.get_weights(), recorder.weights[best])
    assert saved.epochs_trained == best + 1 and checkpoint.last_path == str(path)
    assert checkpoint.best == history.history["val_loss"][best]


def test_a_checkpoint_every_epoch_resumes_the_run(tmp_path):
    X, y, X_val, y_val = problem()
    pattern = str(tmp_path / "m-{epoch:02d}-{val_loss:.2f}.npz")
    straight = model()
    history = fit(straight, [fn.ModelCheckpoint(pattern)], epochs=4)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 4 and names[0] == f"m-01-{history.history['val_loss'][0]:.2f}.npz"
    resumed = fn.load(tmp_path / names[1])
    assert resumed.epochs_trained == 2
    more = resumed.fit(X, y, epochs=2, validation_data=(X_val, y_val), verbose=0)
    assert more.epoch == [2, 3]
    assert_same_weights(resumed.get_weights(), straight.get_weights())
    np.testing.assert_array_equal(more.history["val_loss"], history.history["val_loss"][2:])


def test_csv_rows_equal_the_history(tmp_path):
    path = tmp_path / "log.csv"
    history = fit(model(), [fn.CSVLogger(path)], epochs=3)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    keys = sorted(history.history)
    assert list(rows[0]) == ["epoch", *keys] and len(rows) == 3
    for row, epoch in zip(rows, history.epoch, strict=True):
        assert int(row["epoch"]) == epoch
        for key in keys:
            assert float(row[key]) == history.history[key][epoch]  # every digit written


def test_csv_appends_after_its_header(tmp_path):
    path = tmp_path / "log.csv"
    net = model()
    fit(net, [fn.CSVLogger(path, separator=";")], epochs=2)
    fit(net, [fn.CSVLogger(path, separator=";", append=True)], epochs=1)
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch;") and lines[3].startswith("2;")
    fit(net, [fn.CSVLogger(path, separator=";")], epochs=1)  # without append: a new file
    assert len(path.read_text().splitlines()) == 2


def test_lambda_callback_hooks_run_in_order_between_whole_epochs():
    calls = []
    net = model()
    steps = []
    callback = fn.LambdaCallback(
        on_train_begin=lambda logs: calls.append("begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch {epoch}"),
        on_epoch_end=lambda epoch, logs: (calls.append(f"end {epoch} {sorted(logs)}"),
                                          steps.append(net.optimizer.iterations)),
        on_train_end=lambda logs: calls.append(f"done {logs['loss']:.3f}"),
    )  # fmt: skip
    history = fit(net, [callback], epochs=2)
    keys = sorted(history.history)
    assert calls == ["begin", "epoch 0", f"end 0 {keys}", "epoch 1", f"end 1 {keys}",
                     f"done {history.history['loss'][-1]:.3f}"]  # fmt: skip
    assert steps == [50, 100]  # 50 samples a epoch, one update each: whole epochs only


def test_a_callback_stops_training_by_setting_stop_training():
    def stop(epoch, logs):
        net.stop_training = epoch == 1

    net = model()
    history = fit(net, [fn.LambdaCallback(on_epoch_end=stop)])
    assert history.epoch == [0, 1] and net.epochs_trained == 2


def test_the_history_has_params_as_keras_does():
    history = fit(model(), [], epochs=2, batch_size=8)
    params = history.params
    assert params["epochs"] == 2 and params["initial_epoch"] == 0
    assert params["steps"] == 7 and params["batch_size"] == 8 and params["samples"] == 50
    assert params["validation_samples"] == 30 and params["verbose"] == 0
    assert params["optimizer"]["name"] == "SGD" and params["optimizer"]["momentum"] == 0.5
    assert params["metrics"] == ["loss", "accuracy", "epoch_time", "val_loss", "val_accuracy"]
    assert sorted(history.history) == sorted(params["metrics"])


def test_callbacks_see_the_params():
    seen = {}

    class Peek(fn.Callback):
        def on_train_begin(self, logs=None):
            seen.update(self.params)

    fit(model(), [Peek()], epochs=1)
    assert seen["epochs"] == 1 and "val_loss" in seen["metrics"]


def test_an_unknown_monitor_is_refused_before_any_training(tmp_path):
    X, y, _, _ = problem()
    for callback in (fn.EarlyStopping(monitor="val_loss"),
                     fn.ModelCheckpoint(tmp_path / "m.npz", save_best_only=True)):  # fmt: skip
        net = model()
        with pytest.raises(InputError, match="monitor='val_loss' is not among this fit's logs: "
                           "loss, accuracy, epoch_time.*need validation_data") as info:  # fmt: skip
            net.fit(X, y, epochs=2, verbose=0, callbacks=[callback])
        assert "\n" not in str(info.value) and net.epochs_trained == 0
    with pytest.raises(InputError, match="monitor='accuracy' is not among this fit's logs"):
        fn.Sequential([fn.Dense(10, 1)], loss="mse").fit(
            X, X[:, 0], verbose=0, callbacks=[fn.EarlyStopping(monitor="accuracy")]
        )


def test_a_checkpoint_path_with_an_unknown_field_is_refused_before_training(tmp_path):
    net = model()
    with pytest.raises(InputError, match=r"format field this fit's logs cannot fill.*val_f1"):
        fit(net, [fn.ModelCheckpoint(str(tmp_path / "m-{val_f1}.npz"))])
    assert net.epochs_trained == 0


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: fn.EarlyStopping(patience=-1), ValueError, "patience must be an integer >= 0"),
        (lambda: fn.EarlyStopping(min_delta=-0.1), ValueError, "min_delta must be a finite"),
        (lambda: fn.EarlyStopping(mode="up"), ValueError, "mode must be one of"),
        (lambda: fn.EarlyStopping(monitor="val_f1"), ValueError, "pass mode='min' or mode='max'"),
        (lambda: fn.EarlyStopping(monitor=3), TypeError, "monitor must be the name of a log"),
        (lambda: fn.EarlyStopping(restore_best_weights=1), TypeError, "True or False"),
        (lambda: fn.ModelCheckpoint("m", save_best_only=True, monitor="f1"), ValueError,
         "cannot tell whether"),
        (lambda: fn.ModelCheckpoint(3), TypeError, "filepath must be a str"),
        (lambda: fn.CSVLogger("log.csv", separator=";;"), ValueError, "one character"),
        (lambda: fn.LambdaCallback(on_epoch_end=3), TypeError, "must be callable"),
    ],
)  # fmt: skip
def test_bad_callback_arguments_are_one_line_errors(make, error, match):
    with pytest.raises(error, match=match) as info:
        make()
    assert "\n" not in str(info.value)


def test_callbacks_must_be_a_list_of_callbacks():
    X, y, _, _ = problem()
    with pytest.raises(TypeError, match="callbacks must be a list"):
        model().fit(X, y, verbose=0, callbacks=fn.EarlyStopping())
    with pytest.raises(TypeError, match=r"callbacks\[1\] must be a fastnn.callbacks.Callback"):
        model().fit(X, y, verbose=0, callbacks=[fn.EarlyStopping(), print])


def test_the_adaptive_schedule_counts_on_from_fit_to_fit():
    """Its plateau counter is the optimizer's: three fits of one epoch are one fit of three."""
    X, y, _, _ = problem()

    def optimizer():
        return fn.SGD(lr=0.05, schedule="adaptive", n_iter_no_change=1, tol=1.0)

    straight, split = model(), model()
    one, other = optimizer(), optimizer()
    straight.fit(X, y, epochs=3, optimizer=one, verbose=0)
    for _ in range(3):
        split.fit(X, y, epochs=1, optimizer=other, verbose=0)
    assert one.current_lr == other.current_lr < 0.05  # divided on the way
    assert one.plateau.count == other.plateau.count
    assert_same_weights(straight.get_weights(), split.get_weights())
