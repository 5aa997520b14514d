"""The SGD update with momentum, Nesterov, and L1/L2 penalties.

``g += penalty (l1 sign(p) + 2 l2 p)``; ``v = momentum v - rate g``; ``p += v``
(Nesterov: ``p += momentum v - rate g``). With ``momentum == 0`` the velocity is neither read nor
written: ``p -= rate g``.

A velocity (or Adam moment) that decays below the dtype's smallest normal number is set to zero:
where the gradient stays zero (the weights of an input that is always 0) it decays geometrically,
and arithmetic on subnormal numbers is a hundred times slower on x86; the numbers change by less
than that smallest normal (1.2e-38 in float32, 2.2e-308 in float64).
"""

import numpy as np
from numba import njit

from ._config import EXACT_OPTIONS, JIT_OPTIONS


@njit(**JIT_OPTIONS)
def _penalised(p, g, l1, two_l2):
    return g + l1 * np.sign(p) + two_l2 * p


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


@njit(**JIT_OPTIONS)
def sgd_update(params, velocity, grad, opt, rate, penalty):
    """Update the 1-D ``params`` (and ``velocity``) in place from ``grad`` at ``rate``.

    ``opt`` is the optimizer's record; its L1/L2 terms are multiplied by ``penalty`` (0 for
    biases, 1 for weights, ``1 / sum(w)`` for a batch with sample weights ``w``). Returns the
    sum of the squared ``params`` before the step when an L2 term applies (else 0), which the
    reported loss's L2 term needs and which costs nothing in the same pass.
    """
    typ = params.dtype.type  # constants in the params' dtype: float32 stays float32
    lr, mu = typ(rate), typ(opt.momentum)
    c1, c2 = typ(opt.l1 * penalty), typ(2 * opt.l2 * penalty)
    squares = 0.0
    if c1 == 0 and c2 == 0 and opt.momentum == 0:
        for i in range(params.shape[0]):
            params[i] -= lr * grad[i]
    elif opt.momentum == 0:
        for i in range(params.shape[0]):
            p = params[i]
            squares += p * p
            params[i] = p - lr * _penalised(p, grad[i], c1, c2)
    else:
        tiny = smallest_normal(params)
        nesterov = opt.nesterov
        penalised = c1 != 0 or c2 != 0
        for i in range(params.shape[0]):
            p = params[i]
            if penalised:  # the same for every i: LLVM takes the branch out of the loop
                squares += p * p
                g = _penalised(p, grad[i], c1, c2)
            else:
                g = grad[i]
            v = flushed(mu * velocity[i] - lr * g, tiny)
            velocity[i] = v
            params[i] = p + ((mu * v - lr * g) if nesterov else v)
    return squares if opt.l2 * penalty > 0 else 0.0
