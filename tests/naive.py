"""A loop-by-loop oracle with the backends' function names and signatures.

Slow on purpose: scalar Python arithmetic, one element at a time, so that it shares no
vectorisation (and no bug) with either backend.
"""

import math

import numpy as np

from fastnn._codes import (
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


def _act(z, act):
    if act == RELU:
        return z if z > 0 else 0.0
    if act == SIGMOID:
        return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
    if act == TANH:
        return math.tanh(z)
    return z


def _dact(z, a, act):
    if act == RELU:
        return 1.0 if z > 0 else 0.0
    if act == SIGMOID:
        return a * (1 - a)
    if act == TANH:
        return 1 - a * a
    return 1.0


def activate(z, act, a):
    for r in range(z.shape[0]):
        for j in range(z.shape[1]):
            a[r, j] = _act(float(z[r, j]), act)


def activation_derivative(z, a, act, out):
    for r in range(z.shape[0]):
        for j in range(z.shape[1]):
            out[r, j] = _dact(float(z[r, j]), float(a[r, j]), act)


def dense_forward(x, W, b, act, z, a):
    for r in range(x.shape[0]):
        for j in range(W.shape[1]):
            s = float(b[j])
            for i in range(W.shape[0]):
                s += float(x[r, i]) * float(W[i, j])
            z[r, j] = s
            a[r, j] = _act(s, act)


def dense_backward(x, W, delta, dW, db, dx):
    m, n_in, n_out = x.shape[0], W.shape[0], W.shape[1]
    for i in range(n_in):
        for j in range(n_out):
            dW[i, j] = sum(float(x[r, i]) * float(delta[r, j]) for r in range(m))
    for j in range(n_out):
        db[j] = sum(float(delta[r, j]) for r in range(m))
    if dx.shape[0] > 0:
        for r in range(m):
            for i in range(n_in):
                dx[r, i] = sum(float(delta[r, j]) * float(W[i, j]) for j in range(n_out))


def softmax(logits, out):
    for r in range(logits.shape[0]):
        row = [float(v) for v in logits[r]]
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        total = sum(exps)
        for j, e in enumerate(exps):
            out[r, j] = e / total


def softmax_cross_entropy(logits, labels, grad):
    m = logits.shape[0]
    p = np.empty(logits.shape)
    softmax(logits, p)
    loss = 0.0
    for r in range(m):
        row = [float(v) for v in logits[r]]
        top = max(row)
        log_norm = top + math.log(sum(math.exp(v - top) for v in row))
        loss += log_norm - row[labels[r]]
        for j in range(len(row)):
            grad[r, j] = (p[r, j] - (1.0 if j == labels[r] else 0.0)) / m
    return loss / m


def binary_cross_entropy(logits, targets, grad):
    size = logits.size
    loss = 0.0
    for r in range(logits.shape[0]):
        for j in range(logits.shape[1]):
            z, y = float(logits[r, j]), float(targets[r, j])
            loss += max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))
            grad[r, j] = (_act(z, SIGMOID) - y) / size
    return loss / size


def mean_squared_error(outputs, targets, grad):
    size = outputs.size
    loss = 0.0
    for r in range(outputs.shape[0]):
        for j in range(outputs.shape[1]):
            d = float(outputs[r, j]) - float(targets[r, j])
            loss += d * d
            grad[r, j] = 2 * d / size
    return loss / size


def sgd_update(params, velocity, grad, lr, momentum, nesterov, l1, l2):
    for i in range(params.shape[0]):
        p = float(params[i])
        g = float(grad[i]) + l1 * float(np.sign(p)) + 2 * l2 * p
        if momentum == 0:
            params[i] = p - lr * g
            continue
        v = momentum * float(velocity[i]) - lr * g
        velocity[i] = v
        params[i] = p + (momentum * v - lr * g if nesterov else v)


def _layer(buffer, layout, layer):
    n_in, n_out = layout[layer, N_IN], layout[layer, N_OUT]
    w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
    return buffer[w : w + n_in * n_out].reshape(n_in, n_out), buffer[b : b + n_out]


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
    n_layers = layout.shape[0]
    for first in range(0, len(order), batch_size):
        rows = order[first : first + batch_size]
        m = len(rows)
        inputs, zs = [X[rows].astype(np.float64)], []
        for layer in range(n_layers):
            W, b = _layer(params, layout, layer)
            z = np.empty((m, W.shape[1]))
            a = np.empty_like(z)
            dense_forward(inputs[-1], W, b, layout[layer, ACT], z, a)
            zs.append(z)
            inputs.append(a)
        out = inputs[-1]
        grad = np.empty_like(out)
        if loss == SOFTMAX_CROSS_ENTROPY:
            value = softmax_cross_entropy(out, labels[rows], grad)
            stats[1] += sum(int(np.argmax(out[r]) == labels[rows][r]) for r in range(m))
        elif loss == BINARY_CROSS_ENTROPY:
            value = binary_cross_entropy(out, targets[rows], grad)
            stats[1] += sum(int((out[r, 0] > 0) == (labels[rows][r] == 1)) for r in range(m))
        else:
            value = mean_squared_error(out, targets[rows], grad)
        stats[0] += m * value
        d = np.empty_like(out)
        activation_derivative(zs[-1], out, layout[n_layers - 1, ACT], d)
        delta = grad * d
        grads = []
        for layer in reversed(range(n_layers)):
            W, b = _layer(params, layout, layer)
            dW, db = np.empty(W.shape), np.empty(b.shape)
            dx = np.empty((m if layer else 0, W.shape[0]))
            dense_backward(inputs[layer], W, delta, dW, db, dx)
            grads.insert(0, (dW, db))
            if layer:
                d = np.empty_like(dx)
                activation_derivative(zs[layer - 1], inputs[layer], layout[layer - 1, ACT], d)
                delta = dx * d
        lr_t = lr / (1 + decay * t)
        for layer in range(n_layers):
            W, b = _layer(params, layout, layer)
            VW, Vb = _layer(velocity, layout, layer)
            sgd_update(
                W.reshape(-1),
                VW.reshape(-1),
                grads[layer][0].reshape(-1),
                lr_t,
                momentum,
                nesterov,
                l1,
                l2,
            )
            sgd_update(b, Vb, grads[layer][1], lr_t, momentum, nesterov, 0.0, 0.0)
        t += 1
    return t
