"""The ``numpy`` backend: the reference, written as the textbook equations read.

Every function has a twin of the same name and signature in :mod:`fastnn.kernels` (the ``numba``
backend). Like the kernels, these functions fill the output arrays they are given and never
validate: the model checks everything before calling them.
"""

import numpy as np

from ._codes import (
    ACT,
    B_OFFSET,
    BINARY_CROSS_ENTROPY,
    N_IN,
    N_OUT,
    RELU,
    SIGMOID,
    SOFTMAX_CROSS_ENTROPY,
    TANH,
    W_OFFSET,
)


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


def softmax(logits, out):
    """Fill ``out`` with the row-wise softmax of ``logits``."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    out[...] = e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits, labels, grad):
    """Return mean ``-log softmax(z)[y]``; fill ``grad = (softmax(z) - onehot(y)) / m``."""
    m = logits.shape[0]
    top = logits.max(axis=1, keepdims=True)
    log_norm = top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
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


def sgd_update(params, velocity, grad, lr, momentum, nesterov, l1, l2):
    """One SGD step on the 1-D ``params`` (and ``velocity``), in place."""
    typ = params.dtype.type
    g = grad + typ(l1) * np.sign(params) + typ(2 * l2) * params  # g + l1 sign(W) + 2 l2 W
    if momentum == 0:
        params -= typ(lr) * g  # W -= lr g
        return
    velocity *= typ(momentum)
    velocity -= typ(lr) * g  # v = momentum v - lr g
    if nesterov:
        params += typ(momentum) * velocity - typ(lr) * g  # W += momentum v - lr g
    else:
        params += velocity  # W += v


def _layer(buffer, layout, layer):
    n_in, n_out = layout[layer, N_IN], layout[layer, N_OUT]
    w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
    return buffer[w : w + n_in * n_out].reshape(n_in, n_out), buffer[b : b + n_out]


def _loss_and_grad(loss, out, labels, targets, grad):
    if loss == SOFTMAX_CROSS_ENTROPY:
        return softmax_cross_entropy(out, labels, grad)
    if loss == BINARY_CROSS_ENTROPY:
        return binary_cross_entropy(out, targets, grad)
    return mean_squared_error(out, targets, grad)


def _n_correct(loss, out, labels):
    if loss == SOFTMAX_CROSS_ENTROPY:
        return int(np.sum(np.argmax(out, axis=1) == labels))
    if loss == BINARY_CROSS_ENTROPY:
        return int(np.sum((out[:, 0] > 0) == (labels == 1)))
    return 0


def _derivative(z, a, act):
    out = np.empty_like(z)
    activation_derivative(z, a, act, out)
    return out


def train_epoch(
    params,
    velocity,
    layout,
    X,
    labels,
    targets,
    order,
    batch_size,
    loss,
    lr,
    momentum,
    nesterov,
    decay,
    l1,
    l2,
    t,
    stats,
):
    """Run SGD over ``X[order]`` in batches of ``batch_size``; return the new update count ``t``.

    Same contract as :func:`fastnn.kernels.train_epoch`.
    """
    n_layers = layout.shape[0]
    layers = [_layer(params, layout, layer) for layer in range(n_layers)]
    velocities = [_layer(velocity, layout, layer) for layer in range(n_layers)]
    acts = [layout[layer, ACT] for layer in range(n_layers)]
    for first in range(0, len(order), batch_size):
        rows = order[first : first + batch_size]
        m = len(rows)
        # forward: z_l = a_{l-1} W_l + b_l, a_l = act(z_l), a_0 = x
        zs, activations = [], [X[rows]]
        for (W, b), act in zip(layers, acts):
            z = np.empty((m, W.shape[1]), params.dtype)
            a = np.empty_like(z)
            dense_forward(activations[-1], W, b, act, z, a)
            zs.append(z)
            activations.append(a)
        # loss, and delta_L = dL/da_L * act'(z_L)
        out = activations[-1]
        grad = np.empty_like(out)
        y = labels[rows] if len(labels) else labels
        stats[0] += m * _loss_and_grad(
            loss, out, y, targets[rows] if len(targets) else targets, grad
        )
        stats[1] += _n_correct(loss, out, y)
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
        # update, with lr_t = lr / (1 + decay t); no penalty on biases
        lr_t = lr / (1.0 + decay * t)
        for (W, b), (VW, Vb), (dW, db) in zip(layers, velocities, gradients):
            sgd_update(
                W.reshape(-1), VW.reshape(-1), dW.reshape(-1), lr_t, momentum, nesterov, l1, l2
            )
            sgd_update(b, Vb, db, lr_t, momentum, nesterov, 0.0, 0.0)
        t += 1
    return t


def train_epoch_hogwild(
    params, velocity, layout, X, labels, targets, order, batch_size, loss,
    lr, momentum, nesterov, decay, l1, l2, t, stats, workers,
):  # fmt: skip
    """The workers' shares of ``order``, one after another (Hogwild without the interleaving).

    Same contract as :func:`fastnn.kernels.train_epoch_hogwild`; with ``workers == 1`` it is
    :func:`train_epoch`.
    """
    share = -(-len(order) // workers)
    for w in range(workers):
        part = order[w * share : (w + 1) * share]
        train_epoch(params, velocity, layout, X, labels, targets, part, 1, loss, lr, momentum,
                    nesterov, decay * workers, l1, l2, t // workers, stats)  # fmt: skip
    return t + len(order)
