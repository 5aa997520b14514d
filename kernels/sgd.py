"""The SGD update with momentum, Nesterov, and L1/L2 penalties.

``g += penalty_scale (l1 sign(p) + 2 l2 p)``; ``v = momentum v - rate g``; ``p += v``
(Nesterov: ``p += momentum v - rate g``). With ``momentum == 0`` the velocity is neither read nor
written: ``p -= rate g``.

A velocity (or Adam moment) that decays below the dtype's smallest normal number is set to zero:
where the gradient stays zero (the weights of an input that is always 0) it decays geometrically,
and arithmetic on subnormal numbers is a hundred times slower on x86; the numbers change by less
than that smallest normal (1.2e-38 in float32, 2.2e-308 in float64).

The arithmetic of a step is written in helpers compiled without fastmath flags (inlined into the
loops): the update must give the textbook formula's inf and NaN where it overflows, as the numpy
backend and scikit-learn do. With ``reassoc`` LLVM may regroup a step (``b m + (1 - b) g``
becomes ``g + b (m - g)``, inf - inf = NaN once ``g`` is inf where the formula gives inf), and
with ``contract`` a fused multiply-add moves the point where a product overflows. The sum of
squares (what the reported loss's L2 term needs) keeps the fastmath flags, so that it vectorises,
in a pass of its own that only reads: a loop that both writes arrays and adds into a sum is
compiled twice by LLVM (a vector and a scalar version, picked at run time by whether the
arrays' addresses overlap), and with reassociation the two add in different orders.
"""

import numpy as np
from numba import njit

from ._config import EXACT_OPTIONS, JIT_OPTIONS


@njit(**EXACT_OPTIONS)
def _penalised(p, g, l1, two_l2):
    """``g + l1 sign(p) + two_l2 p``, left to right, each term only where its factor is nonzero
    (0 times an infinite ``p`` would be NaN)."""
    if l1 != 0:
        g = g + l1 * np.sign(p)
    if two_l2 != 0:
        g = g + two_l2 * p
    return g


@njit(**JIT_OPTIONS)
def smallest_normal(x):
    """The smallest normal number of ``x``'s dtype, in that dtype."""
    typ = x.dtype.type
    return typ(1.1754943508222875e-38) if x.itemsize == 4 else typ(2.2250738585072014e-308)


@njit(**EXACT_OPTIONS)
def flushed(value, tiny):
    """``value``, or zero when its magnitude is below ``tiny`` (a subnormal number); NaN stays
    NaN (the comparison is false for NaN). ``value - value`` keeps the dtype, where a literal 0
    would make float32 float64; without fastmath it is not folded away."""
    return value - value if abs(value) < tiny else value


@njit(**EXACT_OPTIONS)
def _plain_step(p, g, lr):
    return p - lr * g  # p -= rate g


@njit(**EXACT_OPTIONS)
def _momentum_step(p, v, g, lr, mu, nesterov, tiny):
    """The new ``(p, v)``: ``v = mu v - lr g``; ``p += v``, or ``p += mu v - lr g``."""
    v = flushed(mu * v - lr * g, tiny)
    return p + ((mu * v - lr * g) if nesterov else v), v


@njit(**JIT_OPTIONS)
def _squares(params):
    """The sum of the squared ``params``, in float64."""
    total = 0.0
    for i in range(params.shape[0]):
        p = params[i]
        total += p * p
    return total


@njit(**JIT_OPTIONS)
def sgd_update(params, velocity, grad, opt, rate, penalty_scale):
    """Update the 1-D ``params`` (and ``velocity``) in place from ``grad`` at ``rate``.

    ``opt`` is the optimizer's record; its L1/L2 terms are multiplied by ``penalty_scale`` (0 for
    biases, 1 for weights, ``1 / sum(w)`` for a batch with sample weights ``w``). Returns the
    sum of the squared ``params`` before the step when an L2 term applies (else 0), which the
    reported loss's L2 term needs.
    """
    typ = params.dtype.type  # constants in the params' dtype: float32 stays float32
    lr, mu = typ(rate), typ(opt.momentum)
    c1, c2 = typ(opt.l1 * penalty_scale), typ(2 * opt.l2 * penalty_scale)
    squares = _squares(params) if opt.l2 * penalty_scale > 0 else 0.0
    if c1 == 0 and c2 == 0 and opt.momentum == 0:
        for i in range(params.shape[0]):
            params[i] = _plain_step(params[i], grad[i], lr)
    elif opt.momentum == 0:
        for i in range(params.shape[0]):
            p = params[i]
            params[i] = _plain_step(p, _penalised(p, grad[i], c1, c2), lr)
    else:
        tiny = smallest_normal(params)
        nesterov = opt.nesterov
        penalised = c1 != 0 or c2 != 0
        for i in range(params.shape[0]):
            p = params[i]
            if penalised:  # the same for every i: LLVM takes the branch out of the loop
                g = _penalised(p, grad[i], c1, c2)
            else:
                g = grad[i]
            params[i], velocity[i] = _momentum_step(p, velocity[i], g, lr, mu, nesterov, tiny)
    return squares
