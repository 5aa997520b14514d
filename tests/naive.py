"""A loop-by-loop oracle with the backends' function names and signatures.

Slow on purpose: scalar Python arithmetic, one element at a time, so that it shares no
vectorisation (and no bug) with either backend.
"""

import math

import numpy as np

from fastnn._codes import (
    ADAM_KIND,
    BINARY_CROSS_ENTROPY,
    POISSON,
    RELU,
    SIGMOID,
    SOFTMAX_CROSS_ENTROPY,
    TANH,
)
from fastnn.kernels.codes import MIX_MUL1, MIX_MUL2, MIX_STEP, UNIFORM_BITS
from fastnn.params import ACT, B_OFFSET, N_OUT, W_OFFSET, layer_views


def _act(z, act):
    if act == RELU:
        return 0.0 if z <= 0 else z  # NaN stays NaN
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


def _shares(m, weights):
    if len(weights) == 0:
        return [1.0 / m] * m
    total = sum(float(w) for w in weights)
    return [float(w) / total if total > 0 else 0.0 for w in weights]


def softmax_cross_entropy(logits, labels, weights, grad):
    shares = _shares(logits.shape[0], weights)
    p = np.empty(logits.shape)
    softmax(logits, p)
    loss = 0.0
    for r in range(logits.shape[0]):
        row = [float(v) for v in logits[r]]
        top = max(row)
        log_norm = top + math.log(sum(math.exp(v - top) for v in row))
        loss += shares[r] * (log_norm - row[labels[r]])
        for j in range(len(row)):
            grad[r, j] = (p[r, j] - (1.0 if j == labels[r] else 0.0)) * shares[r]
    return loss


def _elementwise_loss(outputs, targets, weights, grad, term, derivative):
    shares = _shares(outputs.shape[0], weights)
    k = outputs.shape[1]
    loss = 0.0
    for r in range(outputs.shape[0]):
        for j in range(k):
            z, y = float(outputs[r, j]), float(targets[r, j])
            loss += shares[r] / k * term(z, y)
            grad[r, j] = derivative(z, y) * shares[r] / k
    return loss


def binary_cross_entropy(logits, targets, weights, grad):
    return _elementwise_loss(logits, targets, weights, grad,
                             lambda z, y: max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z))),
                             lambda z, y: _act(z, SIGMOID) - y)  # fmt: skip


def mean_squared_error(outputs, targets, weights, grad):
    return _elementwise_loss(outputs, targets, weights, grad, lambda z, y: (z - y) ** 2,
                             lambda z, y: 2 * (z - y))  # fmt: skip


def poisson(logits, targets, weights, grad):
    def deviance(z, y):
        return y * math.log(y / math.exp(z)) - y + math.exp(z) if y > 0 else math.exp(z)

    return _elementwise_loss(logits, targets, weights, grad, deviance,
                             lambda z, y: math.exp(z) - y)  # fmt: skip


def loss_and_grad(loss, outputs, labels, targets, weights, grad):
    if loss == SOFTMAX_CROSS_ENTROPY:
        return softmax_cross_entropy(outputs, labels, weights, grad)
    if loss == BINARY_CROSS_ENTROPY:
        return binary_cross_entropy(outputs, targets, weights, grad)
    if loss == POISSON:
        return poisson(outputs, targets, weights, grad)
    return mean_squared_error(outputs, targets, weights, grad)


def loss_value(loss, outputs, labels, targets, weights):
    """The oracle's loss alone: its loss_and_grad, the gradient dropped."""
    return loss_and_grad(loss, outputs, labels, targets, weights, np.empty(outputs.shape))


def n_correct(loss, outputs, labels, targets, weights):
    correct = 0.0
    for r in range(outputs.shape[0]):
        if loss == SOFTMAX_CROSS_ENTROPY:
            right = int(np.argmax(outputs[r])) == labels[r]
        elif loss == BINARY_CROSS_ENTROPY:
            right = all((outputs[r, j] > 0) == (targets[r, j] == 1)
                        for j in range(outputs.shape[1]))  # fmt: skip
        else:
            right = False
        if right:
            correct += float(weights[r]) if len(weights) else 1.0
    return correct


def find_nonzero(x, indices, values):
    count = 0
    for i in range(x.shape[0]):
        if x[i] != 0:
            indices[count] = i
            values[count] = x[i]
            count += 1
    return count


def forward_rows(indices, values, count, params, w_offset, b_offset, z):
    n_out = z.shape[0]
    for j in range(n_out):
        s = float(params[b_offset + j])
        for c in range(count):
            s += float(values[c]) * float(params[w_offset + indices[c] * n_out + j])
        z[j] = s


def update_rows(indices, values, count, params, w_offset, b_offset, delta, rate):
    n_out = delta.shape[0]
    for c in range(count):
        i = indices[c]
        for j in range(n_out):
            params[w_offset + i * n_out + j] -= rate * float(values[c]) * float(delta[j])
    for j in range(n_out):
        params[b_offset + j] -= rate * float(delta[j])


def backward_rows(x, dact, params, w_offset, b_offset, delta, delta_prev, rate, update):
    n_out = delta.shape[0]
    for i in range(x.shape[0]):
        s = sum(float(params[w_offset + i * n_out + j]) * float(delta[j]) for j in range(n_out))
        delta_prev[i] = s * float(dact[i]) if dact[i] != 0 else 0.0  # an off unit passes nothing
    if update:
        nonzero = np.flatnonzero(x)
        update_rows(nonzero, x[nonzero], len(nonzero), params, w_offset, b_offset, delta, rate)


def forward_cols(x, params, w_offset, b_offset, z):
    n_in = x.shape[0]
    for j in range(z.shape[0]):
        s = float(params[b_offset + j])
        for i in range(n_in):
            s += float(params[w_offset + j * n_in + i]) * float(x[i])
        z[j] = s


def backward_cols(x, dact, params, w_offset, b_offset, delta, delta_prev, rate, update):
    n_in, n_out = x.shape[0], delta.shape[0]
    for i in range(n_in):
        s = sum(float(params[w_offset + j * n_in + i]) * float(delta[j]) for j in range(n_out))
        delta_prev[i] = s * float(dact[i]) if dact[i] != 0 else 0.0
    if update:
        for j in range(n_out):
            for i in range(n_in):
                params[w_offset + j * n_in + i] -= rate * float(delta[j]) * float(x[i])
            params[b_offset + j] -= rate * float(delta[j])


# The optimizer steps compute in the params' dtype (NumPy scalars, one element at a time), so
# that a product overflows where the backends' does: in float32, g**2 is inf from |g| ~ 1.8e19.


def _penalised(p, g, opt, penalty_scale, typ):
    """g + l1 sign(p) + 2 l2 p, left to right; a term with a zero factor is not there."""
    l1, two_l2 = typ(opt.l1 * penalty_scale), typ(2 * opt.l2 * penalty_scale)
    if l1 != 0:
        g = g + l1 * typ(np.sign(p))
    if two_l2 != 0:
        g = g + two_l2 * p
    return g


def _flushed(value, dtype):
    return dtype.type(0) if abs(value) < np.finfo(dtype).tiny else value


def _squares(params, opt, penalty_scale):
    """Each square in the dtype, the sum in Python's float."""
    return sum(float(p * p) for p in params) if opt.l2 * penalty_scale > 0 else 0.0


def sgd_update(params, velocity, grad, opt, rate, penalty_scale):
    typ = params.dtype.type
    lr, mu = typ(rate), typ(opt.momentum)
    with np.errstate(all="ignore"):
        squares = _squares(params, opt, penalty_scale)
        for i in range(params.shape[0]):
            p = params[i]
            g = _penalised(p, typ(grad[i]), opt, penalty_scale, typ)
            if opt.momentum == 0:
                params[i] = p - lr * g
                continue
            v = _flushed(mu * velocity[i] - lr * g, params.dtype)
            velocity[i] = v
            params[i] = p + (mu * v - lr * g if opt.nesterov else v)
    return squares


def adam_update(params, m, v, grad, opt, rate, penalty_scale):
    typ = params.dtype.type
    lr, b1, b2, eps = typ(rate), typ(opt.beta1), typ(opt.beta2), typ(opt.eps)
    one_b1, one_b2 = typ(1 - opt.beta1), typ(1 - opt.beta2)
    with np.errstate(all="ignore"):
        squares = _squares(params, opt, penalty_scale)
        for i in range(params.shape[0]):
            p = params[i]
            g = _penalised(p, typ(grad[i]), opt, penalty_scale, typ)
            m[i] = _flushed(b1 * m[i] + one_b1 * g, params.dtype)
            v[i] = _flushed(b2 * v[i] + one_b2 * (g * g), params.dtype)
            params[i] = p - lr * m[i] / (np.sqrt(v[i]) + eps)
    return squares


def optimizer_update(params, state, first, grad, opt, rate, penalty_scale):
    part = slice(first, first + grad.shape[0])
    if opt.kind == ADAM_KIND:
        return adam_update(
            params[part], state[0, part], state[1, part], grad, opt, rate, penalty_scale
        )
    return sgd_update(params[part], state[0, part], grad, opt, rate, penalty_scale)


def outer_update(x, delta, params, state, w_offset, b_offset, opt, rate, penalty_scale, grad):
    dW = np.array([float(x[i]) * float(delta[j]) for i in range(x.shape[0])
                     for j in range(delta.shape[0])])  # fmt: skip
    squares = optimizer_update(params, state, w_offset, dW, opt, rate, penalty_scale)
    optimizer_update(params, state, b_offset, delta, opt, rate, 0.0)
    return squares


def lazy_update(indices, count, grad, params, state, w_offset, opt, rate):
    n_out = grad.shape[1]
    for c in range(count):
        i = int(indices[c])
        optimizer_update(params, state, w_offset + i * n_out, grad[i], opt, rate, 0.0)


def step_size(opt, t):
    """The oracle's own schedule: lr / (1 + decay t) for SGD, Adam's bias-corrected rate."""
    if opt.kind == ADAM_KIND:
        return opt.lr * math.sqrt(1 - opt.beta2 ** (t + 1)) / (1 - opt.beta1 ** (t + 1))
    return opt.lr / (1 + opt.decay * t)


_layer = layer_views  # the layout is the contract, not the arithmetic: one decoder for all

_MASK64 = (1 << 64) - 1


def _mix(z):
    z = ((z ^ (z >> 30)) * MIX_MUL1) & _MASK64
    z = ((z ^ (z >> 27)) * MIX_MUL2) & _MASK64
    return z ^ (z >> 31)


def _next(h, counter):
    return _mix((h + (counter + 1) * MIX_STEP) & _MASK64)


def dropout_uniform(seed, epoch, sample, layer, unit):
    """The oracle's uniform number of one unit, in Python integers."""
    key = _next(_next(_next(int(seed), int(epoch)), int(sample)), int(layer))
    return (_next(key, int(unit)) >> (64 - UNIFORM_BITS)) * 2.0**-UNIFORM_BITS


def dropout_masks(plan, epoch, rows, layout):
    """Each layer's mask for the samples ``rows``: 0 or 1 / (1 - rate), or None."""
    masks = []
    for layer, rate in enumerate(plan.rates):
        if rate <= 0:
            masks.append(None)
            continue
        width = int(layout[layer, N_OUT])
        masks.append([[1 / (1 - rate) if dropout_uniform(plan.seed, epoch, s, layer, j) >= rate
                       else 0.0 for j in range(width)] for s in rows])  # fmt: skip
    return masks


def _batch_gradients(params, layout, X, labels, targets, weights, loss, masks=None):
    n_layers = layout.shape[0]
    m = X.shape[0]
    inputs, zs, before = [X.astype(np.float64)], [], []
    for layer in range(n_layers):
        W, b = _layer(params, layout, layer)
        z = np.empty((m, W.shape[1]))
        a = np.empty_like(z)
        dense_forward(inputs[-1], W, b, layout[layer, ACT], z, a)
        zs.append(z)
        before.append(a)
        mask = None if masks is None else masks[layer]
        if mask is not None:  # inverted dropout: a dropped unit is 0, a kept one scaled
            a = np.array([[float(a[r, j]) * mask[r][j] if mask[r][j] else 0.0
                           for j in range(a.shape[1])] for r in range(m)])  # fmt: skip
        inputs.append(a)
    out = inputs[-1]
    grad = np.empty_like(out)
    value = loss_and_grad(loss, out, labels, targets, weights, grad)
    delta = _times_derivative(grad, zs[-1], out, layout[n_layers - 1, ACT])
    grads = []
    for layer in reversed(range(n_layers)):
        W, b = _layer(params, layout, layer)
        dW, db = np.empty(W.shape), np.empty(b.shape)
        dx = np.empty((m if layer else 0, W.shape[0]))
        dense_backward(inputs[layer], W, delta, dW, db, dx)
        grads.insert(0, (dW, db))
        if layer:
            mask = None if masks is None else masks[layer - 1]
            delta = _times_derivative(dx, zs[layer - 1], before[layer - 1],
                                      layout[layer - 1, ACT], mask)  # fmt: skip
    return value, out, grads


def _times_derivative(delta, z, a, act, mask=None):
    """delta * act'(z) (* mask) entry by entry, zero where that factor is zero."""
    d = np.empty_like(z)
    activation_derivative(z, a, act, d)
    out = np.zeros_like(delta)
    for r in range(delta.shape[0]):
        for j in range(delta.shape[1]):
            factor = d[r, j] if mask is None else (d[r, j] * mask[r][j] if mask[r][j] else 0.0)
            if factor != 0:
                out[r, j] = delta[r, j] * factor
    return out


def _plain(opt):
    return opt.kind != ADAM_KIND and opt.momentum == 0 and opt.l1 == 0 and opt.l2 == 0


def full_batch_gradient(params, layout, data, loss, chunk, grads):
    """The whole data set as one batch (``chunk`` is ignored: the oracle does not chunk)."""
    X = data.X if isinstance(data.X, np.ndarray) else data.X.toarray()
    value, _, gradients = _batch_gradients(params, layout, X, data.labels, data.targets,
                                           data.weights, loss)  # fmt: skip
    grads[...] = 0
    for layer, (dW, db) in enumerate(gradients):
        gW, gb = _layer(grads, layout, layer)
        gW[...] = dW
        gb[...] = db
    return value


def forward(params, layout, X, out):
    """The oracle's forward pass: dense_forward layer after layer, in float64."""
    a = (X if isinstance(X, np.ndarray) else X.toarray()).astype(np.float64)
    for layer in range(layout.shape[0]):
        W, b = _layer(params, layout, layer)
        z = np.empty((a.shape[0], W.shape[1]))
        nxt = np.empty_like(z)
        dense_forward(a, W, b, layout[layer, ACT], z, nxt)
        a = nxt
    out[...] = a


class _Training:
    def __init__(self, params, state, layout, data, loss, batch_size, workers, dropout):
        self.args = (params, state, layout, data)
        self.loss, self.batch_size, self.workers = loss, batch_size, workers
        self.dropout = dropout

    def train(self, order, opt, t, stats, *, epoch=0):
        """The workers' shares one after another, each counting from t // workers with the
        decay multiplied by workers."""
        drop = (self.dropout, epoch)
        if self.workers == 1:
            _train(*self.args, order, self.loss, self.batch_size, opt, t, stats, drop)
            return
        share = -(-len(order) // self.workers)
        for w in range(self.workers):
            own_t = np.array([int(t[0]) // self.workers])
            _train(*self.args, order[w * share : (w + 1) * share], self.loss, 1,
                   opt._replace(decay=opt.decay * self.workers), own_t, stats, drop)  # fmt: skip
        t[0] += len(order)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_training(params, state, layout, data, loss, batch_size, opt, workers=1, dropout=None):
    return _Training(params, state, layout, data, loss, batch_size, workers, dropout)


def _train(params, state, layout, data, order, loss, batch_size, opt, t, stats, drop=(None, 0)):
    n_layers = layout.shape[0]
    plan, epoch = drop
    for first in range(0, len(order), batch_size):
        rows = order[first : first + batch_size]
        m = len(rows)
        stats["n_seen"] += m
        weights = data.weights[rows] if len(data.weights) else data.weights
        total = sum(float(w) for w in weights) if len(weights) else float(m)
        if total == 0:
            continue
        labels = data.labels[rows] if len(data.labels) else data.labels
        targets = data.targets[rows] if len(data.targets) else data.targets
        X = data.X[rows]
        X = X if isinstance(X, np.ndarray) else X.toarray()  # the oracle may densify
        masks = None if plan is None else dropout_masks(plan, epoch, rows, layout)
        value, out, grads = _batch_gradients(params, layout, X, labels, targets, weights, loss,
                                             masks)  # fmt: skip
        stats["loss_sum"] += total * value
        stats["batch_loss_sum"] += m * value
        stats["correct_sum"] += n_correct(loss, out, labels, targets, weights)
        stats["weight_sum"] += total
        rate = step_size(opt, int(t[0]))
        penalty_scale = 1.0 / total if len(weights) else 1.0
        squares = 0.0
        for layer in range(n_layers):
            dW, db = grads[layer]
            stored = np.zeros(params.shape)  # the gradient laid out as the layer is stored
            _layer(stored, layout, layer)[0][...] = dW
            w, size = layout[layer, W_OFFSET], dW.size
            if layer == 0 and opt.lazy and not _plain(opt):  # the rows of nonzero inputs only
                rows = [i for i in range(X.shape[1]) if any(X[:, i] != 0)]
                lazy_update(rows, len(rows), dW, params, state, w, opt, rate)
            else:
                squares += optimizer_update(params, state, w, stored[w : w + size], opt, rate,
                                            penalty_scale)  # fmt: skip
            optimizer_update(params, state, layout[layer, B_OFFSET], db, opt, rate, 0.0)
        stats["penalty_sum"] += m * penalty_scale * squares
        t[0] += 1
