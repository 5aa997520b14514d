"""The ``numpy`` backend: the reference, written as the textbook equations read.

Every function has a twin of the same name and signature in :mod:`fastnn.kernels` (the ``numba``
backend). Like the kernels, these functions fill the output arrays they are given and never
validate: the model checks everything before calling them.
"""

import numpy as np

from ._codes import ADAM, BINARY_CROSS_ENTROPY, RELU, SIGMOID, SOFTMAX_CROSS_ENTROPY, TANH
from .optimizers import step_size
from .params import ACT, B_OFFSET, W_OFFSET, layer_views


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
    """Fill ``z = x @ W + b`` and ``a = act(z)``."""
    np.matmul(x, W, out=z)
    z += b
    activate(z, act, a)


def dense_backward(x, W, delta, dW, db, dx):
    """Fill ``dW = x.T @ delta``, ``db = sum(delta, 0)``, ``dx = delta @ W.T`` (skipped if empty).

    ``delta`` is dL/dz and already carries the 1/m of the batch mean.
    """
    np.matmul(x.T, delta, out=dW)
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


def softmax_cross_entropy(logits, labels, grad):
    """Return mean ``-log softmax(z)[y]``; fill ``grad = (softmax(z) - onehot(y)) / m``."""
    m = logits.shape[0]
    log_norm = _log_sum_exp(logits)
    rows = np.arange(m)
    loss = np.mean(log_norm[:, 0] - logits[rows, labels], dtype=np.float64)
    grad[...] = np.exp(logits - log_norm)
    grad[rows, labels] -= 1
    grad /= m
    return float(loss)


def binary_cross_entropy(logits, targets, grad):
    """Return mean ``max(z, 0) - z y + log(1 + exp(-|z|))``;
    fill ``grad = (sigmoid(z) - y) / size``.

    Computed from the logits, so it is finite for any logit; ``size`` is m for one output.
    """
    losses = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    grad[...] = (_sigmoid(logits) - targets) / logits.size
    return float(np.mean(losses, dtype=np.float64))


def mean_squared_error(outputs, targets, grad):
    """Return ``mean((y_hat - y)**2)``; fill ``grad = 2 (y_hat - y) / size``."""
    diff = outputs - targets
    grad[...] = 2 * diff / diff.size
    return float(np.mean(diff * diff, dtype=np.float64))


def loss_and_grad(loss, outputs, labels, targets, grad):
    """The mean loss of code ``loss`` and its gradient: the loss table, dispatched."""
    if loss == SOFTMAX_CROSS_ENTROPY:
        return softmax_cross_entropy(outputs, labels, grad)
    if loss == BINARY_CROSS_ENTROPY:
        return binary_cross_entropy(outputs, targets, grad)
    return mean_squared_error(outputs, targets, grad)


def n_correct(loss, outputs, labels):
    """How many rows the outputs classify correctly (0 for a regression loss).

    One binary logit predicts class 1 exactly when it is positive (sigmoid > 0.5).
    """
    if loss == SOFTMAX_CROSS_ENTROPY:
        return int(np.sum(np.argmax(outputs, axis=1) == labels))
    if loss == BINARY_CROSS_ENTROPY:
        return int(np.sum((outputs[:, 0] > 0) == (labels == 1)))
    return 0


def find_nonzero(x, nonzero):
    """Write the indices of the nonzero ``x`` into ``nonzero``; return their count."""
    found = np.flatnonzero(x)
    nonzero[: len(found)] = found
    return len(found)


def _weights(params, w, n_in, n_out):
    return params[w : w + n_in * n_out].reshape(n_in, n_out)


def forward_rows(x, nonzero, count, params, w, b, z):
    """z = b + x[rows] @ W[rows] over the ``count`` rows listed in ``nonzero``."""
    n_out = z.shape[0]
    rows = nonzero[:count]
    W = _weights(params, w, x.shape[0], n_out)
    z[...] = params[b : b + n_out] + x[rows] @ W[rows]


def update_rows(x, nonzero, count, params, w, b, delta, rate):
    """Plain SGD on the listed rows: W[rows] -= rate outer(x[rows], delta); b -= rate delta."""
    n_out = delta.shape[0]
    rows = nonzero[:count]
    W = _weights(params, w, x.shape[0], n_out)
    W[rows] -= rate * np.outer(x[rows], delta)
    params[b : b + n_out] -= rate * delta


def backward_rows(x, dact, params, w, b, delta, delta_prev, rate, update):
    """delta_prev = (W delta) * act'(z_prev); with ``update`` also the plain SGD step."""
    n_out = delta.shape[0]
    W = _weights(params, w, x.shape[0], n_out)
    delta_prev[: x.shape[0]] = np.where(dact != 0, W @ delta, 0) * dact
    if update:
        W -= rate * np.outer(x, delta)  # W -= rate x^T delta
        params[b : b + n_out] -= rate * delta


def _penalty(params, opt, penalize):
    """``l1 sign(W) + 2 l2 W`` for weights, nothing for biases."""
    if not penalize:
        return 0
    typ = params.dtype.type
    return typ(opt.l1) * np.sign(params) + typ(2 * opt.l2) * params


def sgd_update(params, velocity, grad, opt, rate, penalize):
    """One SGD step on the 1-D ``params`` (and ``velocity``), in place."""
    typ = params.dtype.type
    g = grad + _penalty(params, opt, penalize)  # g + l1 sign(W) + 2 l2 W
    if opt.momentum == 0:
        params -= typ(rate) * g  # W -= lr g
        return
    velocity *= typ(opt.momentum)
    velocity -= typ(rate) * g  # v = momentum v - lr g
    if opt.nesterov:
        params += typ(opt.momentum) * velocity - typ(rate) * g  # W += momentum v - lr g
    else:
        params += velocity  # W += v


def adam_update(params, m, v, grad, opt, rate, penalize):
    """One Adam step on the 1-D ``params`` and the moments ``m``, ``v``, in place.

    ``rate`` holds the bias correction: ``lr sqrt(1 - b2^t) / (1 - b1^t)``.
    """
    typ = params.dtype.type
    b1, b2 = typ(opt.beta1), typ(opt.beta2)
    g = grad + _penalty(params, opt, penalize)
    m[...] = b1 * m + (1 - b1) * g  # m = b1 m + (1 - b1) g
    v[...] = b2 * v + (1 - b2) * (g * g)  # v = b2 v + (1 - b2) g^2
    params -= typ(rate) * m / (np.sqrt(v) + typ(opt.eps))  # W -= lr_t m / (sqrt(v) + eps)


def optimizer_update(params, state, first, grad, opt, rate, penalize):
    """Step ``params[first : first + len(grad)]`` (and its state) along ``grad``."""
    part = slice(first, first + grad.shape[0])
    if opt.kind == ADAM:
        adam_update(params[part], state[0, part], state[1, part], grad, opt, rate, penalize)
    else:
        sgd_update(params[part], state[0, part], grad, opt, rate, penalize)


def outer_update(x, delta, params, state, w, b, opt, rate, grad_row):
    """The optimizer step of one sample's layer gradient: dW = outer(x, delta), db = delta."""
    optimizer_update(params, state, w, np.outer(x, delta).ravel(), opt, rate, True)
    optimizer_update(params, state, b, delta, opt, rate, False)


def _derivative(z, a, act):
    out = np.empty_like(z)
    activation_derivative(z, a, act, out)
    return out


def train_epoch(params, state, layout, data, order, loss, batch_size, opt, t, stats):
    """Train on ``data.X[order]`` in batches of ``batch_size``.

    Same contract as :func:`fastnn.kernels.train_epoch`.
    """
    n_layers = layout.shape[0]
    layers = [layer_views(params, layout, layer) for layer in range(n_layers)]
    acts = [layout[layer, ACT] for layer in range(n_layers)]
    for first in range(0, len(order), batch_size):
        rows = order[first : first + batch_size]
        m = len(rows)
        # forward: z_l = a_{l-1} W_l + b_l, a_l = act(z_l), a_0 = x
        zs, activations = [], [data.X[rows]]
        for (W, b), act in zip(layers, acts):
            z = np.empty((m, W.shape[1]), params.dtype)
            a = np.empty_like(z)
            dense_forward(activations[-1], W, b, act, z, a)
            zs.append(z)
            activations.append(a)
        # loss, and delta_L = dL/da_L * act'(z_L)
        out = activations[-1]
        grad = np.empty_like(out)
        labels = data.labels[rows] if len(data.labels) else data.labels
        targets = data.targets[rows] if len(data.targets) else data.targets
        stats["loss_sum"] += m * loss_and_grad(loss, out, labels, targets, grad)
        stats["n_correct"] += n_correct(loss, out, labels)
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
        # update every layer at this step's rate; no penalty on biases
        rate = step_size(opt, t[0])
        for layer, (dW, db) in enumerate(gradients):
            optimizer_update(params, state, layout[layer, W_OFFSET], dW.ravel(), opt, rate, True)
            optimizer_update(params, state, layout[layer, B_OFFSET], db, opt, rate, False)
        t[0] += 1
        stats["n_seen"] += m


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
