"""What a trained model computes for given rows: outputs, probabilities, labels, values and
the metrics of ``evaluate``, on either backend."""

import warnings

import numpy as np

from ._codes import CLASSIFICATION_LOSSES, SIGMOID
from .errors import InputError

PREDICT_ROWS = 8192  # rows per pass: bounded work buffers whatever the input's size
SPARSE_PREDICT_ROWS = 1024  # sparse rows: each is copied as stored into a buffer of the longest
PREDICT_BYTES = 2**28  # and fewer rows where the layers are so wide that their buffers pass this


def outputs(model, X, warn=True):
    """The last layer's outputs for checked ``X`` (logits for the classification losses), by
    the backend's forward pass, a block of rows at a time; with ``warn``, a RuntimeWarning
    counts the rows whose outputs are not finite.

    A CSR ``X`` takes its first layer over its stored entries: nothing dense of its width is
    made.
    """
    n_out = model.layers[-1].n_out
    out = np.empty((X.shape[0], n_out), model.dtype)
    rows = PREDICT_ROWS if isinstance(X, np.ndarray) else SPARSE_PREDICT_ROWS
    units = sum(layer.n_out for layer in model.layers)
    rows = max(1, min(rows, PREDICT_BYTES // (2 * units * np.dtype(model.dtype).itemsize)))
    for first in range(0, X.shape[0], rows):
        model._ops.forward(model._params, model._layout, X[first : first + rows],
                           out[first : first + rows])  # fmt: skip
    bad = ~np.isfinite(out).all(axis=1)
    if warn and bad.any():
        warnings.warn(
            f"{int(bad.sum())} of {len(out)} rows have non-finite outputs (NaN or inf): the "
            "weights or the inputs are out of range, and the predictions of those rows are "
            "meaningless",
            RuntimeWarning,
            stacklevel=3,
        )
    return out


def probabilities(model, out):
    if model.loss == "softmax_cross_entropy":
        proba = np.empty_like(out)
        model._ops.softmax(out, proba)
        return proba
    if model.loss == "binary_cross_entropy":
        p = np.empty_like(out)
        model._ops.activate(out, SIGMOID, p)
        return np.hstack([1 - p, p]) if out.shape[1] == 1 else p
    raise InputError(
        f"predict_proba needs a classification loss; this model's loss is {model.loss!r}: "
        "use predict"
    )


def labels(model, out):
    if model.loss == "softmax_cross_entropy":
        return np.argmax(out, axis=1)
    labels = (out > 0).astype(np.int64)  # sigmoid(z) > 0.5 exactly when z > 0
    return labels[:, 0] if out.shape[1] == 1 else labels


def values(model, out):
    """Regression outputs in the target's units."""
    if model.loss == "poisson":
        out = np.exp(out)  # the log link: the network's output is log(mean)
    if model.scaling is not None:
        out = model.scaling.outputs(out)
    return out


def evaluate(model, data):
    out = outputs(model, data.X)
    code = model._loss_code
    loss = float(model._ops.loss_value(code, out, data.labels, data.targets, data.weights))
    weights = data.weights if len(data.weights) else None
    if model.loss in CLASSIFICATION_LOSSES:
        correct = model._ops.n_correct(code, out, data.labels, data.targets, data.weights)
        total = float(np.sum(weights, dtype=np.float64)) if weights is not None else len(out)
        return {"loss": loss, "accuracy": float(correct) / total}
    predicted = values(model, out).astype(np.float64)
    targets = data.targets.astype(np.float64)
    if model.scaling is not None:  # in the target's units
        targets = model.scaling.outputs(targets)
    from sklearn.metrics import r2_score  # imported here: scikit-learn is slow to import

    squares = np.mean((targets - predicted) ** 2, axis=1)
    mse = float(np.average(squares, weights=weights))
    return {
        "loss": loss,
        "mse": mse,
        "r2": float(r2_score(targets, predicted, sample_weight=weights)),
    }
