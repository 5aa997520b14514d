"""The SGD update with momentum, Nesterov, and L1/L2 penalties.

``g += penalty (l1 sign(p) + 2 l2 p)``; ``v = momentum v - rate g``; ``p += v``
(Nesterov: ``p += momentum v - rate g``). With ``momentum == 0`` the velocity is neither read nor
written: ``p -= rate g``.
"""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS


@njit(**JIT_OPTIONS)
def _penalised(p, g, l1, two_l2):
    return g + l1 * np.sign(p) + two_l2 * p


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
        return squares
    for i in range(params.shape[0]):
        p = params[i]
        squares += p * p
        g = _penalised(p, grad[i], c1, c2)
        if opt.momentum == 0:
            params[i] = p - lr * g
            continue
        v = mu * velocity[i] - lr * g
        velocity[i] = v
        if opt.nesterov:
            params[i] = p + (mu * v - lr * g)
        else:
            params[i] = p + v
    return squares if opt.l2 * penalty > 0 else 0.0
