"""Activations and their derivatives, on rows and on batches.

The derivatives follow the DESIGN: ReLU ``z > 0``, sigmoid ``a (1 - a)``, tanh ``1 - a**2``,
identity 1. The branch on the activation code sits outside each loop so that the loops vectorise.
"""

import math

from numba import njit

from ._config import JIT_OPTIONS
from .codes import RELU, SIGMOID, TANH
from .exponential import exp


@njit(**JIT_OPTIONS)
def _sigmoid(z, one):
    # Stable for any z: exp never sees a positive argument. ``one`` carries the dtype.
    e = exp(-abs(z))
    if z >= 0:
        return one / (one + e)
    return e / (one + e)


@njit(**JIT_OPTIONS)
def _activate_row(z, act, a):
    n = z.shape[0]
    zero = z.dtype.type(0)
    if act == RELU:  # max(z, 0), with NaN kept as NaN (as numpy.maximum does)
        for j in range(n):
            a[j] = zero if z[j] <= zero else z[j]
    elif act == SIGMOID:
        one = z.dtype.type(1)
        for j in range(n):
            a[j] = _sigmoid(z[j], one)
    elif act == TANH:
        for j in range(n):
            a[j] = math.tanh(z[j])
    else:
        for j in range(n):
            a[j] = z[j]


@njit(**JIT_OPTIONS)
def _derivative_row(z, a, act, out):
    n = z.shape[0]
    one = z.dtype.type(1)
    zero = z.dtype.type(0)
    if act == RELU:
        for j in range(n):
            out[j] = one if z[j] > zero else zero
    elif act == SIGMOID:
        for j in range(n):
            out[j] = a[j] * (one - a[j])
    elif act == TANH:
        for j in range(n):
            out[j] = one - a[j] * a[j]
    else:
        for j in range(n):
            out[j] = one


@njit(**JIT_OPTIONS)
def activate(z, act, a):
    """Fill ``a`` (m, n) with ``act(z)``."""
    for r in range(z.shape[0]):
        _activate_row(z[r], act, a[r])


@njit(**JIT_OPTIONS)
def activation_derivative(z, a, act, out):
    """Fill ``out`` (m, n) with ``act'(z)``, taken from ``z`` (ReLU) or from ``a = act(z)``."""
    for r in range(z.shape[0]):
        _derivative_row(z[r], a[r], act, out[r])
