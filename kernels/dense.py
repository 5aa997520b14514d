"""The dense layer: fused forward (matmul + bias + activation) and backward."""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS
from .activations import _activate_row


@njit(**JIT_OPTIONS)
def dense_forward(x, W, b, act, z, a):
    """Fill ``z = x @ W + b`` and ``a = act(z)``.

    x is (m, n_in), W (n_in, n_out), b (n_out,), z and a (m, n_out).
    """
    np.dot(x, W, z)
    for r in range(z.shape[0]):
        zr = z[r]
        for j in range(zr.shape[0]):
            zr[j] += b[j]
        _activate_row(zr, act, a[r])


@njit(**JIT_OPTIONS)
def _column_sums(delta, db):
    """db = sum(delta, 0), row after row."""
    db[:] = 0
    for r in range(delta.shape[0]):
        for j in range(delta.shape[1]):
            db[j] += delta[r, j]


@njit(**JIT_OPTIONS)
def dense_backward(x, W, delta, dW, db, dx):
    """Fill ``dW = x.T @ delta``, ``db = sum(delta, 0)`` and ``dx = delta @ W.T``.

    ``delta`` is dL/dz of this layer, already divided by the batch size. Pass a ``dx`` with no
    rows to skip the input gradient (the first layer needs none).
    """
    np.dot(x.T, delta, dW)
    _column_sums(delta, db)
    if dx.shape[0] > 0:
        np.dot(delta, W.T, dx)
