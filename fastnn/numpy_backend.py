"""The ``numpy`` backend: the reference, written as the textbook equations read.

It provides every operation of the backend contract (:data:`fastnn.backend.KERNELS`), name for
name, with the signatures of :mod:`fastnn.kernels` (the ``numba`` backend). Like the kernels,
these functions fill the output arrays they are given and never validate: the model checks
everything before calling them. Nothing here follows the compiled backend's design: a batch is
the textbook's matrices, whatever its size.
"""

import numpy as np

from ._codes import (
    ADAM_KIND,
    BINARY_CROSS_ENTROPY,
    MSE,
    POISSON,
    RELU,
    SIGMOID,
    SOFTMAX_CROSS_ENTROPY,
    TANH,
    EpochData,
)
from .kernels.codes import (
    ACT,
    B_OFFSET,
    MIX_MUL1,
    MIX_MUL2,
    MIX_STEP,
    N_IN,
    N_OUT,
    UNIFORM_BITS,
    W_OFFSET,
    is_plain_sgd,
    layer_views,
    step_size,
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


def _terms(loss, outputs, labels, targets):
    """Each sample's loss before weighting: a column of ``-log softmax(z)[y]`` (softmax
    cross-entropy), else one term per output."""
    if loss == SOFTMAX_CROSS_ENTROPY:
        rows = np.arange(outputs.shape[0])
        return _log_sum_exp(outputs) - outputs[rows, labels][:, None]  # -log softmax(z)[y]
    if loss == BINARY_CROSS_ENTROPY:  # from the logits: finite for any logit
        return np.maximum(outputs, 0) - outputs * targets + np.log1p(np.exp(-np.abs(outputs)))
    if loss == POISSON:  # the deviance with a log link: exp(z) - y z + y log y - y
        tail = np.where(targets > 0, targets * np.log(np.where(targets > 0, targets, 1)) - targets,
                        0)  # fmt: skip
        return (np.exp(outputs) - targets * outputs) + tail
    diff = outputs - targets
    return diff * diff


def loss_value(loss, outputs, labels, targets, weights):
    """The weighted mean (over rows, and over outputs) of the loss of code ``loss``, without
    its gradient: what evaluating needs."""
    terms = _terms(loss, outputs, labels, targets)
    share = _shares(outputs.shape[0], weights) / terms.shape[1]
    return float(np.sum(share * terms))


def softmax_cross_entropy(logits, labels, weights, grad):
    """Return the weighted mean of ``-log softmax(z)[y]``;
    fill ``grad = w (softmax(z) - onehot(y)) / sum(w)`` (``1 / m`` for each row without weights).
    """
    share = _shares(logits.shape[0], weights)
    rows = np.arange(logits.shape[0])
    grad[...] = np.exp(logits - _log_sum_exp(logits))
    grad[rows, labels] -= 1
    grad *= share.astype(grad.dtype)
    return loss_value(SOFTMAX_CROSS_ENTROPY, logits, labels, None, weights)


def binary_cross_entropy(logits, targets, weights, grad):
    """Return the weighted mean over rows, mean over outputs, of
    ``max(z, 0) - z y + log(1 + exp(-|z|))``; fill ``grad = w (sigmoid(z) - y) / (sum(w) k)``.

    Computed from the logits, so it is finite for any logit.
    """
    share = _shares(logits.shape[0], weights) / logits.shape[1]
    grad[...] = (_sigmoid(logits) - targets) * share.astype(grad.dtype)
    return loss_value(BINARY_CROSS_ENTROPY, logits, None, targets, weights)


def mean_squared_error(outputs, targets, weights, grad):
    """Return the weighted mean over rows, mean over outputs, of ``(y_hat - y)**2``;
    fill ``grad = 2 w (y_hat - y) / (sum(w) k)``."""
    share = _shares(outputs.shape[0], weights) / outputs.shape[1]
    grad[...] = (outputs - targets) * (2 * share).astype(grad.dtype)
    return loss_value(MSE, outputs, None, targets, weights)


def poisson(logits, targets, weights, grad):
    """Return the weighted mean over rows, mean over outputs, of the Poisson deviance with a log
    link, ``exp(z) - y z + y log y - y``; fill ``grad = w (exp(z) - y) / (sum(w) k)``."""
    share = _shares(logits.shape[0], weights) / logits.shape[1]
    grad[...] = (np.exp(logits) - targets) * share.astype(grad.dtype)
    return loss_value(POISSON, logits, None, targets, weights)


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


def _penalised(grad, params, opt, penalty_scale):
    """``g + penalty_scale (l1 sign(W) + 2 l2 W)``, left to right, each term only where its
    factor is nonzero (0 times an infinite W would be NaN); ``penalty_scale`` is 0 for biases, 1
    for weights, ``1 / sum(w)`` for a batch with sample weights w."""
    typ = params.dtype.type
    l1, two_l2 = typ(opt.l1 * penalty_scale), typ(2 * opt.l2 * penalty_scale)
    g = grad
    if l1 != 0:
        g = g + l1 * np.sign(params)
    if two_l2 != 0:
        g = g + two_l2 * params
    return g


def _squares(params, opt, penalty_scale):
    """The sum of the squared params when an L2 term applies (its size), else 0: each square
    in the params' dtype, their sum in float64."""
    return float(np.sum(params * params, dtype=np.float64)) if opt.l2 * penalty_scale > 0 else 0.0


def sgd_update(params, velocity, grad, opt, rate, penalty_scale):
    """One SGD step on the 1-D ``params`` (and ``velocity``), in place; returns the squares of
    the params before the step when penalised."""
    typ = params.dtype.type
    squares = _squares(params, opt, penalty_scale)
    g = _penalised(grad, params, opt, penalty_scale)  # g + l1 sign(W) + 2 l2 W
    if opt.momentum == 0:
        params -= typ(rate) * g  # W -= lr g
        return squares
    velocity *= typ(opt.momentum)
    velocity -= typ(rate) * g  # v = momentum v - lr g
    if opt.nesterov:
        params += typ(opt.momentum) * velocity - typ(rate) * g  # W += momentum v - lr g
    else:
        params += velocity  # W += v
    return squares


def adam_update(params, m, v, grad, opt, rate, penalty_scale):
    """One Adam step on the 1-D ``params`` and the moments ``m``, ``v``, in place.

    ``rate`` holds the bias correction: ``lr sqrt(1 - b2^t) / (1 - b1^t)``. Returns the squares
    of the params before the step when penalised.
    """
    typ = params.dtype.type
    squares = _squares(params, opt, penalty_scale)
    b1, b2 = typ(opt.beta1), typ(opt.beta2)
    g = _penalised(grad, params, opt, penalty_scale)
    m[...] = b1 * m + typ(1.0 - opt.beta1) * g  # m = b1 m + (1 - b1) g
    v[...] = b2 * v + typ(1.0 - opt.beta2) * (g * g)  # v = b2 v + (1 - b2) g^2
    params -= typ(rate) * m / (np.sqrt(v) + typ(opt.eps))  # W -= lr_t m / (sqrt(v) + eps)
    return squares


def _step(params, state, first, grad, opt, rate, penalty_scale):
    """Step ``params[first : first + len(grad)]`` (and its state) along ``grad``."""
    part = slice(first, first + grad.shape[0])
    if opt.kind == ADAM_KIND:
        return adam_update(
            params[part], state[0, part], state[1, part], grad, opt, rate, penalty_scale
        )
    return sgd_update(params[part], state[0, part], grad, opt, rate, penalty_scale)


def _lazy_step(rows, grad, params, state, w_offset, opt, rate):
    """The lazy step: only the ``rows`` of the first layer's W and their state move, along
    their rows of ``grad`` (n_in, n_out)."""
    n_out = grad.shape[1]
    at = (w_offset + rows[:, None] * n_out + np.arange(n_out)).ravel()  # those rows' entries
    moved, moved_state = params[at], state[:, at]
    _step(moved, moved_state, 0, grad[rows].ravel(), opt, rate, 0.0)
    params[at], state[:, at] = moved, moved_state


def _times_derivative(delta, z, a, act, mask=None):
    """``delta * act'(z)`` (times the dropout ``mask`` when given), zero where that factor is
    zero (even for an infinite delta: a unit that is off passes nothing back, as scikit-learn's
    ReLU sets it)."""
    d = np.empty_like(z)
    activation_derivative(z, a, act, d)
    if mask is not None:
        d = np.where(mask != 0, d * mask, 0).astype(d.dtype, copy=False)
    return np.where(d != 0, delta * d, 0).astype(delta.dtype, copy=False)


# Dropout: the masks of a counter-based generator, the function kernels/dropout.py compiles,
# here on arrays of uint64, whose arithmetic wraps modulo 2**64 as the kernels' does.
_STEP, _MUL1, _MUL2 = np.uint64(MIX_STEP), np.uint64(MIX_MUL1), np.uint64(MIX_MUL2)


def _mix(z):
    """splitmix64's finaliser, element by element."""
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


def _next(h, counters):
    """``mix(h + (c + 1) * MIX_STEP)`` for each counter ``c``."""
    return _mix(h + (np.asarray(counters, np.uint64) + np.uint64(1)) * _STEP)


def dropout_masks(plan, epoch, samples, layout, dtype):
    """Each layer's dropout mask for the rows ``samples`` (their indices in the data set) in
    ``epoch``: an (m, n_out) array of 0 (dropped) and ``1 / (1 - rate)`` (kept), or None for a
    layer without dropout. Unit ``j`` of layer ``l`` is kept when ``u >= rate``, ``u`` the top
    53 bits of ``next(next(next(next(seed, epoch), sample), l), j)`` times ``2**-53``."""
    seed = np.array([plan.seed], np.uint64)
    by_sample = _next(_next(seed, [epoch]), samples)
    masks = []
    for layer, rate in enumerate(plan.rates):
        if rate <= 0:
            masks.append(None)
            continue
        key = _next(by_sample, [layer])[:, None]
        hashes = _next(key, np.arange(layout[layer, N_OUT]))
        u = (hashes >> np.uint64(64 - UNIFORM_BITS)).astype(np.float64) * 2.0**-UNIFORM_BITS
        scale = np.dtype(dtype).type(1.0 / (1.0 - rate))
        masks.append(np.where(u >= rate, scale, np.dtype(dtype).type(0)))
    return masks


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


def _forward(params, layout, X, masks=None):
    """Every layer's ``z``, its input to the next layer ``a`` and ``act(z)``, from ``a_0 = X``:
    ``z_l = a_{l-1} W_l + b_l``, ``a_l = act(z_l)``, times the dropout mask ``masks[l]`` when
    there is one (inverted dropout)."""
    zs, activations, before_dropout = [], [X], []
    for layer in range(layout.shape[0]):
        W, b = layer_views(params, layout, layer)
        z = np.empty((X.shape[0], W.shape[1]), params.dtype)
        a = np.empty_like(z)
        dense_forward(activations[-1], W, b, layout[layer, ACT], z, a)
        zs.append(z)
        before_dropout.append(a)
        mask = None if masks is None else masks[layer]
        if mask is not None:
            a = np.where(mask != 0, a * mask, 0).astype(a.dtype, copy=False)  # a_l *= mask_l
        activations.append(a)
    return zs, activations, before_dropout


def _forward_backward(params, layout, batch, loss, grads, masks=None):
    """Fill ``grads`` (laid out like ``params``) with the gradient of the ``batch``'s mean loss
    (an EpochData record), with the dropout ``masks`` of its rows when given; return that loss
    and the outputs."""
    n_layers = layout.shape[0]
    m = batch.X.shape[0]
    zs, activations, before_dropout = _forward(params, layout, batch.X, masks)
    # loss, and delta_L = dL/da_L * act'(z_L)
    out = activations[-1]
    grad = np.empty_like(out)
    mean = loss_and_grad(loss, out, batch.labels, batch.targets, batch.weights, grad)
    delta = _times_derivative(grad, zs[-1], out, layout[n_layers - 1, ACT])
    # backward: dW_l = a_{l-1}^T delta_l, db_l = sum delta_l, delta_{l-1} = delta_l W_l^T act'
    for layer in reversed(range(n_layers)):
        W, _ = layer_views(params, layout, layer)
        dW, db = layer_views(grads, layout, layer)  # laid out as the layer is stored
        dx = np.empty((m if layer > 0 else 0, W.shape[0]), params.dtype)
        dense_backward(activations[layer], W, delta, dW, db, dx)
        if layer > 0:  # act' is read from the activation before its dropout mask
            delta = _times_derivative(dx, zs[layer - 1], before_dropout[layer - 1],
                                      layout[layer - 1, ACT],
                                      None if masks is None else masks[layer - 1])  # fmt: skip
    return mean, out


class Training:
    """What one ``fit`` trains with on the numpy backend: the data and a gradient buffer; see
    :func:`start_training`."""

    def __init__(self, params, state, layout, data, loss, batch_size, opt, workers, dropout=None):
        self.params, self.state, self.layout, self.data = params, state, layout, data
        self.loss, self.batch_size, self.workers = loss, batch_size, workers
        self.dropout = dropout
        self.grads = np.zeros_like(params)  # the padding between layers stays zero
        self.checks_inputs = False  # X must be checked before: its rows are read as they are

    def train(self, order, opt, t, stats, *, epoch=0):
        """Train on the samples ``order``, a batch of ``batch_size`` after another; ``epoch``
        keys the dropout masks.

        With ``workers > 1`` the workers' shares of ``order`` run one after another (Hogwild
        without the interleaving). Each share starts its own update count at ``t // workers``
        and decays ``workers`` times faster, as each thread of the compiled version does: after
        k of its own updates a thread's rate is ``lr / (1 + decay workers (t // workers + k))``,
        close to ``lr / (1 + decay t_shared)`` while all threads advance together.
        """
        if self.workers == 1:
            self._train(order, opt, t, stats, epoch)
            return
        share = -(-len(order) // self.workers)
        fast_decay = opt._replace(decay=opt.decay * self.workers)
        for w in range(self.workers):
            own_t = np.array([t[0] // self.workers], np.int64)
            self._train(order[w * share : (w + 1) * share], fast_decay, own_t, stats, epoch)
        t[0] += len(order)

    def _train(self, order, opt, t, stats, epoch):
        params, state, layout, grads = self.params, self.state, self.layout, self.grads
        lazy = opt.lazy and not is_plain_sgd(opt)
        for first in range(0, len(order), self.batch_size):
            rows = order[first : first + self.batch_size]
            batch, total = _batch(self.data, rows)
            m = batch.X.shape[0]
            stats["n_seen"] += m
            if total == 0:  # a batch of weight 0 contributes nothing, and makes no update
                continue
            masks = None
            if self.dropout is not None:
                masks = dropout_masks(self.dropout, epoch, rows, layout, params.dtype)
            mean, out = _forward_backward(params, layout, batch, self.loss, grads, masks)
            stats["loss_sum"] += total * mean
            stats["batch_loss_sum"] += m * mean
            stats["correct_sum"] += n_correct(self.loss, out, batch.labels, batch.targets,
                                              batch.weights)  # fmt: skip
            stats["weight_sum"] += total
            # every layer steps at this update's rate; the L1/L2 terms are divided by the
            # batch's weight when there are sample weights, and biases have none
            rate = step_size(opt, t[0])
            penalty_scale = 1.0 / total if len(batch.weights) else 1.0
            squares = 0.0
            for layer in range(layout.shape[0]):
                w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
                n_in, n_out = layout[layer, N_IN], layout[layer, N_OUT]
                if layer == 0 and lazy:
                    gW = layer_views(grads, layout, 0)[0]
                    _lazy_step(_nonzero_columns(batch.X), gW, params, state, w, opt, rate)
                else:
                    squares += _step(params, state, w, grads[w : w + n_in * n_out], opt, rate,
                                     penalty_scale)  # fmt: skip
                _step(params, state, b, grads[b : b + n_out], opt, rate, 0.0)
            stats["penalty_sum"] += m * penalty_scale * squares
            t[0] += 1

    def close(self):
        """Release the data and the gradient buffer."""
        self.data = self.grads = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_training(params, state, layout, data, loss, batch_size, opt, workers=1, dropout=None):
    """Prepare the training of one ``fit``: a :class:`Training` whose ``train(order, opt, t,
    stats, epoch=epoch)`` trains the samples ``order`` of ``data`` in batches of ``batch_size``,
    updating ``params`` and ``state`` in place, with the masks of ``dropout`` (a
    :data:`~fastnn._codes.DropoutPlan`, or None) for ``epoch``. Same contract as
    :func:`fastnn.kernels.start_training`, but its ``checks_inputs`` is false. A lazy
    optimizer steps only the first layer's rows of the batch's nonzero inputs."""
    return Training(params, state, layout, data, loss, batch_size, opt, workers, dropout)


def forward(params, layout, X, out):
    """Fill ``out`` with the last layer's outputs for the rows ``X`` (an array, or a SciPy CSR
    matrix: its product with the first layer's W runs over the stored entries)."""
    out[...] = _forward(params, layout, X)[1][-1]


def full_batch_gradient(params, layout, data, loss, chunk, grads):
    """Fill ``grads`` with the gradient of the (weighted) mean loss over all of ``data`` and
    return that loss, ``chunk`` rows at a time. Same contract as the ``numba`` kernel."""
    n = data.X.shape[0]
    total = float(np.sum(data.weights, dtype=np.float64)) if len(data.weights) else float(n)
    grads[...] = 0
    part = np.zeros_like(grads)
    mean_loss = 0.0
    for first in range(0, n, max(1, min(chunk, n))):
        batch, weight = _batch(data, slice(first, first + chunk))
        if weight == 0:
            continue
        mean, _ = _forward_backward(params, layout, batch, loss, part)
        mean_loss += weight / total * mean
        grads += params.dtype.type(weight / total) * part  # this chunk's share of the whole
    return mean_loss
