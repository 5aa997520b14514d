"""The ``numpy`` backend: the reference, written as the textbook equations read.

Every function has a twin of the same name and signature in :mod:`fastnn.kernels` (the ``numba``
backend). Like the kernels, these functions fill the output arrays they are given and never
validate: the model checks everything before calling them.
"""

import numpy as np

from ._codes import (
    ADAM_KIND,
    BINARY_CROSS_ENTROPY,
    POISSON,
    RELU,
    SIGMOID,
    SOFTMAX_CROSS_ENTROPY,
    TANH,
    EpochData,
)
from .kernels.codes import ACT, B_OFFSET, W_OFFSET, is_plain_sgd, layer_views, step_size


def _sigmoid(z):
    e = np.exp(-np.abs(z))  # stable for any z: exp never sees a positive argument
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def activate(z, act, a):
    """Fill ``a`` with ``act(z)``."""
    if act == RELU:
        np.maximum(z, 0, out=a)
    elif act == SIGMOID:
        a[...] = _sigmoid(z)
    elif act == TANH:
        np.tanh(z, out=a)
    else:
        a[...] = z


def activation_derivative(z, a, act, out):
    """Fill ``out`` with ``act'(z)``: ReLU ``z > 0``, sigmoid ``a (1 - a)``, tanh ``1 - a**2``."""
    if act == RELU:
        out[...] = z > 0
    elif act == SIGMOID:
        out[...] = a * (1 - a)
    elif act == TANH:
        out[...] = 1 - a * a
    else:
        out[...] = 1


def dense_forward(x, W, b, act, z, a):
    """Fill ``z = x @ W + b`` and ``a = act(z)``; ``x`` may be a SciPy sparse matrix."""
    z[...] = x @ W
    z += b
    activate(z, act, a)


def dense_backward(x, W, delta, dW, db, dx):
    """Fill ``dW = x.T @ delta``, ``db = sum(delta, 0)``, ``dx = delta @ W.T`` (skipped if empty).

    ``delta`` is dL/dz and already carries the 1/m of the batch mean; ``x`` may be a SciPy
    sparse matrix.
    """
    dW[...] = x.T @ delta
    np.sum(delta, axis=0, out=db)
    if dx.shape[0] > 0:
        np.matmul(delta, W.T, out=dx)


def _log_sum_exp(logits):
    """Row-wise ``log(sum(exp(z)))``, shifted by the row max; shape (m, 1)."""
    top = logits.max(axis=1, keepdims=True)
    return top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True))


def softmax(logits, out):
    """Fill ``out`` with the row-wise softmax of ``logits``: ``exp(z - logsumexp(z))``."""
    out[...] = np.exp(logits - _log_sum_exp(logits))


def _shares(m, weights):
    """Each row's share of the batch, a column: ``w / sum(w)``, or ``1 / m`` without weights."""
    if len(weights) == 0:
        return np.full((m, 1), 1.0 / m)
    total = float(np.sum(weights, dtype=np.float64))
    w = weights.astype(np.float64)[:, None]
    return w / total if total > 0 else np.zeros_like(w)


def softmax_cross_entropy(logits, labels, weights, grad):
    """Return the weighted mean of ``-log softmax(z)[y]``;
    fill ``grad = w (softmax(z) - onehot(y)) / sum(w)`` (``1 / m`` for each row without weights).
    """
    share = _shares(logits.shape[0], weights)
    log_norm = _log_sum_exp(logits)
    rows = np.arange(logits.shape[0])
    losses = log_norm[:, 0] - logits[rows, labels]  # -log softmax(z)[y], row by row
    grad[...] = np.exp(logits - log_norm)
    grad[rows, labels] -= 1
    grad *= share.astype(grad.dtype)
    return float(np.sum(share[:, 0] * losses))


def binary_cross_entropy(logits, targets, weights, grad):
    """Return the weighted mean over rows, mean over outputs, of
    ``max(z, 0) - z y + log(1 + exp(-|z|))``; fill ``grad = w (sigmoid(z) - y) / (sum(w) k)``.

    Computed from the logits, so it is finite for any logit.
    """
    share = _shares(logits.shape[0], weights) / logits.shape[1]
    losses = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    grad[...] = (_sigmoid(logits) - targets) * share.astype(grad.dtype)
    return float(np.sum(share * losses))


def mean_squared_error(outputs, targets, weights, grad):
    """Return the weighted mean over rows, mean over outputs, of ``(y_hat - y)**2``;
    fill ``grad = 2 w (y_hat - y) / (sum(w) k)``."""
    share = _shares(outputs.shape[0], weights) / outputs.shape[1]
    diff = outputs - targets
    grad[...] = diff * (2 * share).astype(grad.dtype)
    return float(np.sum(share * (diff * diff)))


def poisson(logits, targets, weights, grad):
    """Return the weighted mean over rows, mean over outputs, of the Poisson deviance with a log
    link, ``exp(z) - y z + y log y - y``; fill ``grad = w (exp(z) - y) / (sum(w) k)``."""
    share = _shares(logits.shape[0], weights) / logits.shape[1]
    mu = np.exp(logits)  # the predicted mean
    tail = np.where(targets > 0, targets * np.log(np.where(targets > 0, targets, 1)) - targets, 0)
    grad[...] = (mu - targets) * share.astype(grad.dtype)
    return float(np.sum(share * ((mu - targets * logits) + tail)))


def loss_and_grad(loss, outputs, labels, targets, weights, grad):
    """The weighted mean loss of code ``loss`` and its gradient: the loss table, dispatched."""
    if loss == SOFTMAX_CROSS_ENTROPY:
        return softmax_cross_entropy(outputs, labels, weights, grad)
    if loss == BINARY_CROSS_ENTROPY:
        return binary_cross_entropy(outputs, targets, weights, grad)
    if loss == POISSON:
        return poisson(outputs, targets, weights, grad)
    return mean_squared_error(outputs, targets, weights, grad)


def n_correct(loss, outputs, labels, targets, weights):
    """The (weighted) number of rows classified correctly; 0 for regression losses.

    Binary cross-entropy: every output's logit is positive exactly where the target is 1.
    """
    if loss == SOFTMAX_CROSS_ENTROPY:
        right = np.argmax(outputs, axis=1) == labels
    elif loss == BINARY_CROSS_ENTROPY:
        right = np.all((outputs > 0) == (targets > 0.5), axis=1)
    else:
        return 0.0
    return float(np.sum(weights[right])) if len(weights) else float(np.sum(right))


def find_nonzero(x, indices, values):
    """Write the indices of the nonzero ``x`` into ``indices`` and their values into
    ``values``; return their count."""
    found = np.flatnonzero(x)
    indices[: len(found)] = found
    values[: len(found)] = x[found]
    return len(found)


def _weights(params, w_offset, n_in, n_out):
    return params[w_offset : w_offset + n_in * n_out].reshape(n_in, n_out)


def _rows(indices, count, params, w_offset, n_out):
    """The rows ``indices[:count]`` of the W stored from ``w_offset``: (their ids, a view of
    the rows from the first to the last id)."""
    rows = np.asarray(indices[:count], np.int64)
    n_in = int(rows.max()) + 1 if count else 0
    return rows, _weights(params, w_offset, n_in, n_out)


def forward_rows(indices, values, count, params, w_offset, b_offset, z):
    """z = b + values @ W[indices] over the ``count`` pairs of a sparse row."""
    n_out = z.shape[0]
    rows, W = _rows(indices, count, params, w_offset, n_out)
    z[...] = params[b_offset : b_offset + n_out] + values[:count] @ W[rows]


def update_rows(indices, values, count, params, w_offset, b_offset, delta, rate):
    """Plain SGD on a sparse row's rows: W[indices] -= rate outer(values, delta);
    b -= rate delta."""
    n_out = delta.shape[0]
    rows, W = _rows(indices, count, params, w_offset, n_out)
    W[rows] -= rate * np.outer(values[:count], delta)
    params[b_offset : b_offset + n_out] -= rate * delta


def backward_rows(x, dact, params, w_offset, b_offset, delta, delta_prev, rate, update):
    """delta_prev = (W delta) * act'(z_prev); with ``update`` also the plain SGD step."""
    n_out = delta.shape[0]
    W = _weights(params, w_offset, x.shape[0], n_out)
    delta_prev[: x.shape[0]] = np.where(dact != 0, W @ delta, 0) * dact
    if update:
        W -= rate * np.outer(x, delta)  # W -= rate x^T delta
        params[b_offset : b_offset + n_out] -= rate * delta


def forward_cols(x, params, w_offset, b_offset, z):
    """z = b + x W for a layer stored transposed, ``W^T`` (n_out, n_in)."""
    n_out = z.shape[0]
    WT = _weights(params, w_offset, n_out, x.shape[0])
    z[...] = params[b_offset : b_offset + n_out] + WT @ x


def backward_cols(x, dact, params, w_offset, b_offset, delta, delta_prev, rate, update):
    """:func:`backward_rows` for a layer stored transposed, ``W^T`` (n_out, n_in)."""
    n_out = delta.shape[0]
    WT = _weights(params, w_offset, n_out, x.shape[0])
    delta_prev[: x.shape[0]] = np.where(dact != 0, delta @ WT, 0) * dact
    if update:
        WT -= rate * np.outer(delta, x)
        params[b_offset : b_offset + n_out] -= rate * delta


def _penalised(grad, params, opt, penalty):
    """``g + penalty (l1 sign(W) + 2 l2 W)``, left to right, each term only where its factor is
    nonzero (0 times an infinite W would be NaN); ``penalty`` is 0 for biases, 1 for weights,
    ``1 / sum(w)`` for a batch with sample weights w."""
    typ = params.dtype.type
    l1, two_l2 = typ(opt.l1 * penalty), typ(2 * opt.l2 * penalty)
    g = grad
    if l1 != 0:
        g = g + l1 * np.sign(params)
    if two_l2 != 0:
        g = g + two_l2 * params
    return g


def _squares(params, opt, penalty):
    """The sum of the squared params when an L2 term applies (its size), else 0: each square
    in the params' dtype, their sum in float64."""
    return float(np.sum(params * params, dtype=np.float64)) if opt.l2 * penalty > 0 else 0.0


def _flush(state):
    """Set the state values below the dtype's smallest normal number to zero (subnormal
    arithmetic is slow, and a decaying velocity or moment would end there)."""
    state[np.abs(state) < np.finfo(state.dtype).tiny] = 0


def sgd_update(params, velocity, grad, opt, rate, penalty):
    """One SGD step on the 1-D ``params`` (and ``velocity``), in place; returns the squares of
    the params before the step when penalised."""
    typ = params.dtype.type
    squares = _squares(params, opt, penalty)
    g = _penalised(grad, params, opt, penalty)  # g + l1 sign(W) + 2 l2 W
    if opt.momentum == 0:
        params -= typ(rate) * g  # W -= lr g
        return squares
    velocity *= typ(opt.momentum)
    velocity -= typ(rate) * g  # v = momentum v - lr g
    _flush(velocity)
    if opt.nesterov:
        params += typ(opt.momentum) * velocity - typ(rate) * g  # W += momentum v - lr g
    else:
        params += velocity  # W += v
    return squares


def adam_update(params, m, v, grad, opt, rate, penalty):
    """One Adam step on the 1-D ``params`` and the moments ``m``, ``v``, in place.

    ``rate`` holds the bias correction: ``lr sqrt(1 - b2^t) / (1 - b1^t)``. Returns the squares
    of the params before the step when penalised.
    """
    typ = params.dtype.type
    squares = _squares(params, opt, penalty)
    b1, b2 = typ(opt.beta1), typ(opt.beta2)
    g = _penalised(grad, params, opt, penalty)
    m[...] = b1 * m + typ(1.0 - opt.beta1) * g  # m = b1 m + (1 - b1) g
    v[...] = b2 * v + typ(1.0 - opt.beta2) * (g * g)  # v = b2 v + (1 - b2) g^2
    _flush(m)
    _flush(v)
    params -= typ(rate) * m / (np.sqrt(v) + typ(opt.eps))  # W -= lr_t m / (sqrt(v) + eps)
    return squares


def optimizer_update(params, state, first, grad, opt, rate, penalty):
    """Step ``params[first : first + len(grad)]`` (and its state) along ``grad``."""
    part = slice(first, first + grad.shape[0])
    if opt.kind == ADAM_KIND:
        return adam_update(params[part], state[0, part], state[1, part], grad, opt, rate, penalty)
    return sgd_update(params[part], state[0, part], grad, opt, rate, penalty)


def outer_update(x, delta, params, state, w_offset, b_offset, opt, rate, penalty, grad):
    """The optimizer step of one sample's layer gradient: dW = outer(x, delta), db = delta."""
    grad = np.outer(x, delta).ravel()  # dW = outer(x, delta)
    squares = optimizer_update(params, state, w_offset, grad, opt, rate, penalty)
    optimizer_update(params, state, b_offset, delta, opt, rate, 0.0)
    return squares


def lazy_update(indices, count, grad, params, state, w_offset, opt, rate):
    """The lazy step: only the rows ``indices[:count]`` of the layer's W and their state move,
    along their rows of ``grad`` (n_in, n_out)."""
    n_out = grad.shape[1]
    rows = np.asarray(indices[:count], np.int64)
    at = (w_offset + rows[:, None] * n_out + np.arange(n_out)).ravel()  # those rows' entries
    moved, moved_state = params[at], state[:, at]
    optimizer_update(moved, moved_state, 0, grad[rows].ravel(), opt, rate, 0.0)
    params[at], state[:, at] = moved, moved_state


def _derivative(z, a, act):
    out = np.empty_like(z)
    activation_derivative(z, a, act, out)
    return out


def _batch(data, rows):
    """The ``rows`` of ``data`` (the arrays a loss does not use stay empty), and their weight:
    ``sum(w)``, or the number of rows without weights."""

    def take(values):
        return values[rows] if len(values) else values

    batch = EpochData(data.X[rows], take(data.labels), take(data.targets), take(data.weights))
    if len(batch.weights):
        return batch, float(np.sum(batch.weights, dtype=np.float64))
    return batch, float(batch.X.shape[0])


def _nonzero_columns(X):
    """The input indices that are nonzero in at least one row of ``X`` (dense or sparse)."""
    if isinstance(X, np.ndarray):
        return np.flatnonzero(np.any(X != 0, axis=0))
    return np.unique(X.indices[X.data != 0])


def train_epoch(params, state, layout, data, order, loss, batch_size, opt, t, stats):
    """Train on ``data.X[order]`` in batches of ``batch_size``.

    Same contract as :func:`fastnn.kernels.train_epoch`. A lazy optimizer steps only the first
    layer's rows of the batch's nonzero inputs.
    """
    lazy = opt.lazy and not is_plain_sgd(opt)
    for first in range(0, len(order), batch_size):
        batch, total = _batch(data, order[first : first + batch_size])
        m = batch.X.shape[0]
        stats["n_seen"] += m
        if total == 0:  # a batch of weight 0 contributes nothing, and makes no update
            continue
        mean, out, gradients = _forward_backward(params, layout, batch, loss)
        stats["loss_sum"] += total * mean
        stats["batch_loss_sum"] += m * mean
        stats["correct_sum"] += n_correct(loss, out, batch.labels, batch.targets, batch.weights)
        stats["weight_sum"] += total
        # update every layer at this step's rate; the penalty is over the batch's weight when
        # there are sample weights, and biases have none
        rate = step_size(opt, t[0])
        penalty = 1.0 / total if len(batch.weights) else 1.0
        squares = 0.0
        for layer, (dW, db) in enumerate(gradients):
            if layer == 0 and lazy:
                rows = _nonzero_columns(batch.X)
                lazy_update(rows, len(rows), dW, params, state, layout[0, W_OFFSET], opt, rate)
            else:
                squares += optimizer_update(params, state, layout[layer, W_OFFSET], dW.ravel(),
                                            opt, rate, penalty)  # fmt: skip
            optimizer_update(params, state, layout[layer, B_OFFSET], db, opt, rate, 0.0)
        stats["penalty_sum"] += m * penalty * squares
        t[0] += 1


def _forward_backward(params, layout, batch, loss):
    """The mean loss of the ``batch`` (an EpochData record) and the gradients [(dW, db), ...]
    of every layer."""
    n_layers = layout.shape[0]
    layers = [layer_views(params, layout, layer) for layer in range(n_layers)]
    acts = [layout[layer, ACT] for layer in range(n_layers)]
    m = batch.X.shape[0]
    # forward: z_l = a_{l-1} W_l + b_l, a_l = act(z_l), a_0 = x
    zs, activations = [], [batch.X]
    for (W, b), act in zip(layers, acts):
        z = np.empty((m, W.shape[1]), params.dtype)
        a = np.empty_like(z)
        dense_forward(activations[-1], W, b, act, z, a)
        zs.append(z)
        activations.append(a)
    # loss, and delta_L = dL/da_L * act'(z_L)
    out = activations[-1]
    grad = np.empty_like(out)
    mean = loss_and_grad(loss, out, batch.labels, batch.targets, batch.weights, grad)
    delta = grad * _derivative(zs[-1], out, acts[-1])
    # backward: dW_l = a_{l-1}^T delta_l, db_l = sum delta_l, delta_{l-1} = delta_l W_l^T act'
    gradients = [None] * n_layers
    for layer in reversed(range(n_layers)):
        W, b = layers[layer]
        dW, db = np.empty_like(W), np.empty_like(b)
        dx = np.empty((m if layer > 0 else 0, W.shape[0]), params.dtype)
        dense_backward(activations[layer], W, delta, dW, db, dx)
        gradients[layer] = (dW, db)
        if layer > 0:
            delta = dx * _derivative(zs[layer - 1], activations[layer], acts[layer - 1])
    return mean, out, gradients


def full_batch_gradient(params, layout, data, loss, chunk, grads):
    """Fill ``grads`` with the gradient of the (weighted) mean loss over all of ``data`` and
    return that loss, ``chunk`` rows at a time. Same contract as the ``numba`` kernel."""
    n = data.X.shape[0]
    total = float(np.sum(data.weights, dtype=np.float64)) if len(data.weights) else float(n)
    grads[...] = 0
    mean_loss = 0.0
    for first in range(0, n, max(1, min(chunk, n))):
        batch, weight = _batch(data, slice(first, first + chunk))
        if weight == 0:
            continue
        mean, _, gradients = _forward_backward(params, layout, batch, loss)
        mean_loss += weight / total * mean
        share = params.dtype.type(weight / total)  # this chunk's share of the whole
        for layer, (dW, db) in enumerate(gradients):
            gW, gb = layer_views(grads, layout, layer)
            gW += share * dW
            gb += share * db
    return mean_loss


def train_epoch_hogwild(params, state, layout, data, order, loss, opt, t, stats, workers):
    """The workers' shares of ``order``, one after another (Hogwild without the interleaving).

    Same contract as :func:`fastnn.kernels.train_epoch_hogwild`. Each share starts its own
    update count at ``t // workers`` and decays ``workers`` times faster, as each thread of the
    compiled version does: after k of its own updates a thread's rate is
    ``lr / (1 + decay workers (t // workers + k))``, close to ``lr / (1 + decay t_shared)``
    while all threads advance together.
    """
    share = -(-len(order) // workers)
    fast_decay = opt._replace(decay=opt.decay * workers)
    for w in range(workers):
        own_t = np.array([t[0] // workers], np.int64)
        part = order[w * share : (w + 1) * share]
        train_epoch(params, state, layout, data, part, loss, 1, fast_decay, own_t, stats)
    t[0] += len(order)
