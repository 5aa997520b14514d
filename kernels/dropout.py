"""Dropout masks drawn from a counter-based generator, so that every backend draws the same.

A unit's mask is a pure function of five integers: the model's dropout seed, the epoch, the
sample's index in the data set (not its position in a batch), the layer and the unit. No
generator state moves from one draw to the next, so the masks depend neither on the batch
size, nor on the order of the samples, nor on the threads that share the work; the ``numpy``
backend computes the same function vectorised, and the oracle of the tests with Python integers.

The hash chains splitmix64's finaliser (Steele, Lea and Flood, 2014) over the counters, in
uint64 arithmetic modulo 2**64::

    next(h, c) = mix(h + (c + 1) * MIX_STEP)
    key        = next(next(next(seed, epoch), sample), layer)
    u          = (next(key, unit) >> 11) * 2**-53          # uniform in [0, 1), 53 bits

A unit is kept when ``u >= rate``; inverted dropout then scales what is kept by
``1 / (1 - rate)``, so the layer's expected output is unchanged and inference is the identity.
"""

import numpy as np
from numba import njit

from ._config import JIT_OPTIONS
from .activations import _derivative_row
from .codes import MIX_MUL1, MIX_MUL2, MIX_STEP, UNIFORM_BITS

_STEP, _MUL1, _MUL2 = np.uint64(MIX_STEP), np.uint64(MIX_MUL1), np.uint64(MIX_MUL2)
_ONE = np.uint64(1)
_S27, _S30, _S31 = np.uint64(27), np.uint64(30), np.uint64(31)
_TOP = np.uint64(64 - UNIFORM_BITS)
_UNIT = 2.0**-UNIFORM_BITS


@njit(**JIT_OPTIONS)
def _mix(z):
    """splitmix64's finaliser: a bijection of uint64 that scatters every input bit."""
    z = (z ^ (z >> _S30)) * _MUL1
    z = (z ^ (z >> _S27)) * _MUL2
    return z ^ (z >> _S31)


@njit(**JIT_OPTIONS)
def _next(h, counter):
    """The hash ``h`` moved on by ``counter`` (a non-negative integer)."""
    return _mix(h + (np.uint64(counter) + _ONE) * _STEP)


@njit(**JIT_OPTIONS)
def row_key(seed, epoch, sample, layer):
    """The key of one sample's units in one layer and epoch (``seed`` and ``epoch`` uint64)."""
    return _next(_next(_next(seed, epoch), sample), layer)


@njit(**JIT_OPTIONS)
def uniform(key, unit):
    """Unit ``unit``'s uniform number in [0, 1) under a :func:`row_key`."""
    return np.float64(_next(key, unit) >> _TOP) * _UNIT


@njit(**JIT_OPTIONS)
def _dropout_row(a, dact, seed, epoch, sample, layer, lo, rate):
    """Inverted dropout on one row of a layer's units ``lo, lo + 1, ...`` for one sample.

    ``a`` holds the units' activations and ``dact`` their activation derivatives, both computed
    before the mask (the sigmoid's and tanh's derivatives are read from the activation). A unit
    kept (``u >= rate``) has both multiplied by ``1 / (1 - rate)``; a unit dropped has both set
    to zero. ``a`` is then what the next layer reads and ``dact`` the factor that the backward
    pass multiplies the row's delta by. ``seed`` and ``epoch`` are uint64, ``sample`` is the
    sample's index in the data set.
    """
    key = row_key(seed, epoch, sample, layer)
    scale = a.dtype.type(1.0 / (1.0 - rate))
    zero = a.dtype.type(0)
    for j in range(a.shape[0]):
        if uniform(key, lo + j) >= rate:
            a[j] *= scale
            dact[j] *= scale
        else:
            a[j] = zero
            dact[j] = zero


@njit(**JIT_OPTIONS)
def _dropout_block(a, dact, m, width, lo, hi, act, seed, epoch, order, first, layer, rate):
    """Dropout on the units ``lo:hi`` of a batch's ``m`` rows, stored as (m, width) in the flat
    buffers ``a`` (the activations ``act(z)``, just computed) and ``dact``; row ``r`` is the
    sample ``order[first + r]``.

    Fills ``dact`` with each unit's activation derivative, read from the activation before its
    mask (ReLU's ``a > 0`` is ``z > 0``), then applies :func:`_dropout_row`: ``a`` becomes the
    dropped activations the next layer reads, ``dact`` the factor that :func:`_times_factor`
    multiplies the delta of these units by in the backward pass. A unit's mask depends on its
    sample and its index in the layer, not on the block or the thread that computes it.
    """
    for r in range(m):
        row = a[r * width + lo : r * width + hi]
        factor = dact[r * width + lo : r * width + hi]
        _derivative_row(row, row, act, factor)
        _dropout_row(row, factor, seed, epoch, order[first + r], layer, lo, rate)


@njit(**JIT_OPTIONS)
def _times_factor(delta, factor, m, width, lo, hi):
    """``delta[:, lo:hi] *= factor[:, lo:hi]`` on (m, width) buffers, zero where the factor is
    zero (a dropped unit passes nothing back, even an infinite delta): the backward step
    through a layer whose factor :func:`_dropout_block` made, in place of the activation's
    derivative."""
    zero = delta.dtype.type(0)
    for r in range(m):
        d = delta[r * width + lo : r * width + hi]
        f = factor[r * width + lo : r * width + hi]
        for j in range(hi - lo):
            d[j] = d[j] * f[j] if f[j] != zero else zero


@njit(**JIT_OPTIONS)
def uniforms(seed, epoch, samples, layer, width, out):
    """Fill ``out`` (len(samples), width) with the uniform numbers of the units ``0:width`` of
    ``layer`` for each of ``samples``: what the tests compare with the other implementations."""
    for r in range(samples.shape[0]):
        key = row_key(seed, epoch, samples[r], layer)
        for j in range(width):
            out[r, j] = uniform(key, j)
