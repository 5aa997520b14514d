"""The Adam update, in the form scikit-learn and Keras use (Kingma & Ba's "efficient" form).

``g += penalty (l1 sign(p) + 2 l2 p)``; ``m = b1 m + (1 - b1) g``;
``v = b2 v + (1 - b2) g^2``; ``p -= rate m / (sqrt(v) + eps)``, where ``rate`` already holds the
bias correction ``lr sqrt(1 - b2^t) / (1 - b1^t)``. One fused pass over ``p``, ``m`` and ``v``.
"""

import math

from numba import njit

from ._config import JIT_OPTIONS
from .sgd import _penalised, flushed, smallest_normal


@njit(**JIT_OPTIONS)
def adam_update(params, m, v, grad, opt, rate, penalty):
    """Update the 1-D ``params`` and the moments ``m``, ``v`` in place from ``grad``; return the
    sum of the squared ``params`` before the step when an L2 term applies (else 0)."""
    typ = params.dtype.type
    lr, b1, b2, eps = typ(rate), typ(opt.beta1), typ(opt.beta2), typ(opt.eps)
    one_b1, one_b2 = typ(1.0 - opt.beta1), typ(1.0 - opt.beta2)  # 1 - b in float64, then cast
    c1, c2 = typ(opt.l1 * penalty), typ(2 * opt.l2 * penalty)
    squares = 0.0
    tiny = smallest_normal(params)
    penalised = c1 != 0 or c2 != 0
    for i in range(params.shape[0]):
        p = params[i]
        if penalised:  # the branch is the same for every i: LLVM takes it out of the loop
            squares += p * p
            g = _penalised(p, grad[i], c1, c2)
        else:
            g = grad[i]
        mi = flushed(b1 * m[i] + one_b1 * g, tiny)  # subnormal moments are zero (see sgd.py)
        vi = flushed(b2 * v[i] + one_b2 * (g * g), tiny)
        m[i] = mi
        v[i] = vi
        params[i] = p - lr * mi / (math.sqrt(vi) + eps)
    return squares if opt.l2 * penalty > 0 else 0.0
