"""Helpers that several test modules share: building epochs to compare, running the command
line in-process, and editing model files."""

import contextlib
import io
import json
import signal
import zipfile

import numpy as np
import pytest

import fastnn as fn
from fastnn import cli
from fastnn._codes import LOSSES, new_stats

# -- whole epochs ----------------------------------------------------------------------------

LOSS_NAMES = [*LOSSES, "multilabel"]  # multilabel: binary cross-entropy over 3 outputs
OPTIONS = {
    "plain": {},
    "everything": dict(momentum=0.9, nesterov=True, decay=0.01, l1=1e-3, l2=1e-2),
    "momentum": dict(momentum=0.5),
    "adam": dict(beta1=0.8, beta2=0.99, eps=1e-6, l1=1e-3, l2=1e-2),
}


# The weighted half of the large parity matrices runs in the whole suite only, which keeps
# ``pytest -m "not slow"`` quick; the fast lane still weighs samples in the thread-count tests
# and the lower-level kernel tests.
WEIGHTED_MATRIX = pytest.mark.parametrize(
    "weighted", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["unweighted", "weighted"]
)


def make_optimizer(opts, lr=0.05):
    """SGD with the options, or Adam for the "adam" case (at a fifth of the rate)."""
    if opts == "adam":
        return fn.Adam(lr=lr / 5, **OPTIONS[opts])
    return fn.SGD(lr=lr, **OPTIONS[opts])


EPOCH_RTOL = 1e-9  # DESIGN.md: whole epochs on small data, float64 parameters


def make_problem(loss, seed=0, n=40, n_in=12, zeros=0.5):
    """Inputs with a fraction ``zeros`` of zeros: the zero-skipping paths are exercised (batches
    of 7 below a density of 0.19 take the sparse first layer, see ``goes_sparse``; denser ones
    take BLAS over the stretches of inputs they use)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    X[rng.random(X.shape) < zeros] = 0
    if loss == "softmax_cross_entropy":
        return X, rng.integers(0, 4, n), 4
    if loss == "binary_cross_entropy":
        return X, rng.integers(0, 2, n), 1
    if loss == "multilabel":
        return X, rng.integers(0, 2, (n, 3)), 3
    if loss == "poisson":
        return X, rng.poisson(1.5, (n, 2)), 2
    return X, rng.normal(size=(n, 2)), 2


def sample_weights(weighted, n=40, seed=0):
    """None, or positive weights with a few zeros among them."""
    if not weighted:
        return None
    w = np.random.default_rng(seed + 30).uniform(0.2, 2.5, n)
    w[[3, 17, 18]] = 0
    return w


def make_model(loss, n_in, n_out, backend, dtype="float64", seed=0):
    last = "sigmoid" if loss in ("binary_cross_entropy", "multilabel") else None
    loss = "binary_cross_entropy" if loss == "multilabel" else loss
    return fn.Sequential(
        [
            fn.Dense(n_in, 9, activation="relu"),
            fn.Dense(9, 17, activation="tanh"),  # per sample: stored as is (17 outputs)
            fn.Dense(17, 5, activation="sigmoid"),  # and transposed (fewer than 16)
            fn.Dense(5, n_out, activation=last),
        ],
        loss=loss,
        backend=backend,
        dtype=dtype,
        seed=seed,
    )


def assert_weights_close(a, b, rtol, atol=1e-12):
    for (Wa, ba), (Wb, bb) in zip(a, b, strict=True):
        np.testing.assert_allclose(Wa, Wb, rtol=rtol, atol=atol)
        np.testing.assert_allclose(ba, bb, rtol=rtol, atol=atol)


def run_epoch(module, model, data, order, batch_size, optimizer, workers=None, dropout=None,
              epoch=0):  # fmt: skip
    """One ``train`` call of ``module.start_training`` (with ``workers`` threads when given, and
    the masks of ``dropout``, a DropoutPlan, in ``epoch``) on copies of the model's parameters
    and fresh optimizer state, starting at t = 3.

    Returns (params, state, stats, t).
    """
    params = model._params.copy()
    state = np.zeros((max(optimizer.n_slots, 1), params.size))
    t = np.array([3], np.int64)
    stats = new_stats()
    args = (params, state, model._layout, data, order, LOSSES[model.loss])
    with module.start_training(*args[:4], args[5], batch_size, optimizer.config(),
                               workers or 1, dropout) as training:  # fmt: skip
        training.train(order, optimizer.config(), t, stats, epoch=epoch)
    return params, state, stats, int(t[0])


def assert_stats_close(stats, expected, err_msg=""):
    for name in stats.dtype.names:
        np.testing.assert_allclose(stats[name], expected[name], rtol=1e-9, err_msg=err_msg)


# -- the command line ------------------------------------------------------------------------


def main(*args):
    return cli.main([str(arg) for arg in args])


def refused(capsys, *args, message):
    """The command exits with status 2 and ``message`` in one line, before any training."""
    assert main(*args) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and message in captured.err, captured.err
    assert "Traceback" not in captured.err and "epoch" not in captured.out
    return captured.err


# -- model files ---------------------------------------------------------------------------


def npy_bytes(arr):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(arr), allow_pickle=False)
    return buffer.getvalue()


def rewrite(src, dst, edit=None, entries=None, drop=()):
    """Copy a model file, editing its config (``edit(config)``) and replacing, adding or
    dropping entries (raw ``.npy`` bytes by array name)."""
    with zipfile.ZipFile(src) as zf:
        raw = {info.filename[:-4]: zf.read(info) for info in zf.infolist()}
    if edit is not None:
        config = json.loads(str(np.lib.format.read_array(io.BytesIO(raw["config"]))))
        text = edit(config)  # a function that edits the record, or returns its new text
        raw["config"] = npy_bytes(np.array(json.dumps(config) if text is None else text))
    raw.update(entries or {})
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in raw.items():
            if name not in drop:
                zf.writestr(f"{name}.npy", data)
    return dst


@contextlib.contextmanager
def ctrl_c_as_typed():
    """Children started inside get SIGINT's default action, as in a terminal.

    A shell starts background jobs (``pytest &``) with SIGINT ignored, and children inherit an
    ignored signal across ``exec`` but not a handled one: a test that sends Ctrl-C to a child
    must not depend on how pytest was started. (A ``preexec_fn`` would do the same in the
    child, at the cost of a plain ``fork`` of this multithreaded process.)"""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
