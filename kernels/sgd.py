"""The SGD update with momentum, Nesterov, and L1/L2 penalties.

``g += l1 sign(p) + 2 l2 p``; ``v = momentum v - lr g``; ``p += v`` (Nesterov: ``p += momentum v -
lr g``). With ``momentum == 0`` the velocity is neither read nor written: ``p -= lr g``.
"""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS


@njit(**JIT_OPTIONS)
def _penalised(p, g, l1, two_l2):
    return g + l1 * np.sign(p) + two_l2 * p


@njit(**JIT_OPTIONS)
def sgd_update(params, velocity, grad, lr, momentum, nesterov, l1, l2):
    """Update the 1-D ``params`` (and ``velocity``) in place from ``grad`` at rate ``lr``."""
    typ = params.dtype.type  # constants in the params' dtype: float32 stays float32
    rate, mu, c1, c2 = typ(lr), typ(momentum), typ(l1), typ(2 * l2)
    if momentum == 0:
        if l1 == 0 and l2 == 0:
            for i in range(params.shape[0]):
                params[i] -= rate * grad[i]
        else:
            for i in range(params.shape[0]):
                params[i] -= rate * _penalised(params[i], grad[i], c1, c2)
        return
    for i in range(params.shape[0]):
        g = _penalised(params[i], grad[i], c1, c2)
        v = mu * velocity[i] - rate * g
        velocity[i] = v
        if nesterov:
            params[i] += mu * v - rate * g
        else:
            params[i] += v
