"""The Adam update, in the form scikit-learn and Keras use (Kingma & Ba's "efficient" form).

``g += penalty_scale (l1 sign(p) + 2 l2 p)``; ``m = b1 m + (1 - b1) g``;
``v = b2 v + (1 - b2) g^2``; ``p -= rate m / (sqrt(v) + eps)``, where ``rate`` already holds the
bias correction ``lr sqrt(1 - b2^t) / (1 - b1^t)``. One fused pass over ``p``, ``m`` and ``v``.

As in :mod:`.sgd`, the step's arithmetic has no fastmath flags: once ``g^2`` overflows (``|g|``
above about 1.3e154 in float64, 1.8e19 in float32) the formula gives ``v = inf`` and a step of
``m / inf = 0``, and a regrouped ``b2 v + (1 - b2) g^2`` (``g^2 + b2 (v - g^2)``) would give NaN.
"""

import math

from numba import njit

from ._config import EXACT_OPTIONS, JIT_OPTIONS
from .sgd import _penalised, _squares, flushed, smallest_normal


@njit(**EXACT_OPTIONS)
def _adam_step(p, m, v, g, lr, b1, b2, one_b1, one_b2, eps, tiny):
    """The new ``(p, m, v)``; subnormal moments are zero (see sgd.py)."""
    m = flushed(b1 * m + one_b1 * g, tiny)
    v = flushed(b2 * v + one_b2 * (g * g), tiny)
    return p - lr * m / (math.sqrt(v) + eps), m, v


@njit(**JIT_OPTIONS)
def adam_scalars(params, opt, rate):
    """The scalars of a step, in the dtype of ``params``: ``(lr, b1, b2, 1 - b1, 1 - b2, eps,
    tiny)``, ``tiny`` the smallest normal number (the moments' flush)."""
    typ = params.dtype.type
    lr, b1, b2, eps = typ(rate), typ(opt.beta1), typ(opt.beta2), typ(opt.eps)
    one_b1, one_b2 = typ(1.0 - opt.beta1), typ(1.0 - opt.beta2)  # 1 - b in float64, then cast
    return lr, b1, b2, one_b1, one_b2, eps, smallest_normal(params)


@njit(**JIT_OPTIONS)
def adam_update(params, m, v, grad, opt, rate, penalty_scale):
    """Update the 1-D ``params`` and the moments ``m``, ``v`` in place from ``grad``; return the
    sum of the squared ``params`` before the step when an L2 term applies (else 0)."""
    typ = params.dtype.type
    lr, b1, b2, one_b1, one_b2, eps, tiny = adam_scalars(params, opt, rate)
    c1, c2 = typ(opt.l1 * penalty_scale), typ(2 * opt.l2 * penalty_scale)
    squares = _squares(params) if opt.l2 * penalty_scale > 0 else 0.0  # a pass of its own: sgd.py
    penalised = c1 != 0 or c2 != 0
    for i in range(params.shape[0]):
        p = params[i]
        if penalised:  # the branch is the same for every i: LLVM takes it out of the loop
            g = _penalised(p, grad[i], c1, c2)
        else:
            g = grad[i]
        params[i], m[i], v[i] = _adam_step(p, m[i], v[i], g, lr, b1, b2, one_b1, one_b2, eps,
                                           tiny)  # fmt: skip
    return squares
