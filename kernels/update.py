"""One optimizer step on a stretch of the flat parameter buffer, whatever the optimizer.

``state`` holds the optimizer's slots (SGD: the velocity; Adam: the two moments), each laid out
like ``params``. The record ``opt`` says which update runs; ``rate`` is the step size of this
update (:func:`fastnn.optimizers.step_size`).
"""

from numba import njit

from . import codes
from ._config import JIT_OPTIONS
from .adam import adam_update
from .sgd import sgd_update

step_size = njit(**JIT_OPTIONS)(codes.step_size)
is_plain_sgd = njit(**JIT_OPTIONS)(codes.is_plain_sgd)
ADAM_KIND = codes.ADAM_KIND


@njit(**JIT_OPTIONS)
def _optimizer_update(params, state, first, grad, opt, rate, penalty_scale):
    """Step ``params[first : first + len(grad)]`` (and its state) along ``grad``; ``penalty_scale``
    scales the L1/L2 terms (0 for biases). Returns the stretch's sum of squares before the step
    when penalised (else 0)."""
    last = first + grad.shape[0]
    if opt.kind == ADAM_KIND:
        return adam_update(params[first:last], state[0, first:last], state[1, first:last], grad,
                           opt, rate, penalty_scale)  # fmt: skip
    return sgd_update(params[first:last], state[0, first:last], grad, opt, rate, penalty_scale)


@njit(**JIT_OPTIONS)
def _outer_update(x, delta, params, state, w_offset, b_offset, opt, rate, penalty_scale, grad):
    """The optimizer step of one sample's layer gradient: dW = outer(x, delta), db = delta.

    The gradient is written out whole into ``grad`` (a work buffer of at least n_in * n_out
    items), so that the step is one long pass over ``W`` and its state, which vectorises; a call
    per row of ``W`` cost twice as much. Returns the sum of the squared weights before the step
    when penalised (else 0).
    """
    size = _outer(x, delta, grad)
    return _step_layer(
        params, state, w_offset, b_offset, grad[:size], delta, opt, rate, penalty_scale
    )


@njit(**JIT_OPTIONS)
def _outer(x, delta, out):
    """out[i * len(delta) + j] = x[i] delta[j] (the outer product, flat); returns its size.
    ``_outer(delta, x, out)`` writes the transpose."""
    n_in, n_out = x.shape[0], delta.shape[0]
    for i in range(n_in):
        xi = x[i]
        row = out[i * n_out : (i + 1) * n_out]
        for j in range(n_out):
            row[j] = xi * delta[j]
    return n_in * n_out


@njit(**JIT_OPTIONS)
def _step_layer(params, state, w_offset, b_offset, grad_w, grad_b, opt, rate, penalty_scale):
    """The optimizer step of one layer along its gradient (``grad_w`` laid out as its ``W`` is
    stored): returns the sum of the squared weights before the step when penalised (else 0)."""
    squares = _optimizer_update(params, state, w_offset, grad_w, opt, rate, penalty_scale)
    _optimizer_update(params, state, b_offset, grad_b, opt, rate, 0.0)
    return squares


@njit(**JIT_OPTIONS)
def _lazy_update(indices, count, grad, params, state, w_offset, opt, rate):
    """The lazy optimizer step of a layer: only the rows ``indices[:count]`` of its ``W``
    (stored from ``w_offset``) and their state move, each along its row of ``grad``
    (n_in, n_out); the other rows and their momentum or moments stay as they are."""
    n_out = grad.shape[1]
    for c in range(count):
        i = indices[c]
        _optimizer_update(params, state, w_offset + i * n_out, grad[i], opt, rate, 0.0)
