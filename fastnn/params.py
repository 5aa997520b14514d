"""The flat parameter buffer: where each layer's ``W`` and ``b`` sit, and how they start.

Every parameter of a model lives in one 1-D, 64-byte aligned array. The layout table has one
int64 row per dense layer, with the columns named below; each ``W`` (n_in, n_out) and ``b``
(n_out,) starts on a cache line. Optimizer state (velocity, Adam's moments) mirrors the same
layout, so one table decodes every buffer: :func:`layer_views` gives each layer's ``W`` as
(n_in, n_out) whichever way it is stored, and :func:`stored_views` the block as stored, which
the compiled kernels read (both are defined in :mod:`fastnn.kernels.codes`, with the layout's
column numbers). How a layer is stored is free (DESIGN: the API's shapes are fixed, the
buffer's order is not): small layers after the first are stored transposed.
"""

import math

import numpy as np

from ._codes import ACTIVATIONS
from .kernels.codes import (
    ACT,
    B_OFFSET,
    N_IN,
    N_OUT,
    TRANSPOSED,
    W_OFFSET,
    layer_views,
    stored_views,
    unit_offsets,
)

ALIGN = 64  # bytes: every W and b starts on a cache line

# A layer after the first with fewer outputs than this stores W transposed, W^T (n_out, n_in):
# one sample at a time, the numba backend's loops over such a layer then run along its inputs,
# which fill vector registers, rather than along its few outputs (the 10 logits of MNIST). The
# first layer stays (n_in, n_out): its rows are what the zero inputs of a sample skip.
TRANSPOSE_BELOW = 16


def stores_transposed(index, n_out):
    """Whether layer ``index`` (from 0) with ``n_out`` outputs is stored as W^T."""
    return index > 0 and n_out < TRANSPOSE_BELOW


def _round_up(n, multiple):
    return -(-n // multiple) * multiple


def build_layout(shapes, activations, dtype):
    """The layout table and the buffer size for layers of ``shapes`` [(n_in, n_out), ...].

    ``activations`` holds the kernel activation code of each layer; which layers are stored
    transposed follows :func:`stores_transposed`.
    """
    pad = ALIGN // np.dtype(dtype).itemsize
    rows, offset = [], 0
    for index, ((n_in, n_out), act) in enumerate(zip(shapes, activations, strict=True)):
        w_offset = offset
        offset += _round_up(n_in * n_out, pad)
        b_offset = offset
        offset += _round_up(n_out, pad)
        rows.append((w_offset, b_offset, n_in, n_out, act, stores_transposed(index, n_out)))
    return np.array(rows, dtype=np.int64).reshape(-1, 6), offset


def aligned_zeros(shape, dtype):
    """A zeroed C-contiguous array whose first byte sits on an ``ALIGN`` boundary.

    ``shape`` is an int or a tuple; the rows of a 2-D array stay aligned when a row's size in
    bytes is a multiple of ``ALIGN`` (as every buffer :func:`build_layout` sizes is).
    """
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    itemsize = np.dtype(dtype).itemsize
    n = math.prod(shape)
    raw = np.zeros(n + ALIGN // itemsize, dtype)
    shift = (-raw.ctypes.data % ALIGN) // itemsize
    return raw[shift : shift + n].reshape(shape)


INIT_BLOCK = 1 << 20  # weights drawn per call: the float64 draws of a wide layer stay small


def initialize(weights, activation, rng):
    """Draw one layer's initial ``W`` in place: He normal for ReLU, Glorot uniform otherwise.

    The rows are drawn a block at a time (the generator gives the same numbers as one call),
    so a 100000 x 256 layer never holds its float64 draws whole.
    """
    n_in, n_out = weights.shape
    step = max(1, INIT_BLOCK // max(n_out, 1))
    for first in range(0, n_in, step):
        rows = weights[first : first + step]
        if ACTIVATIONS[activation] == ACTIVATIONS["relu"]:  # He: N(0, 2 / n_in)
            rows[...] = rng.standard_normal(rows.shape) * math.sqrt(2.0 / n_in)
        else:  # Glorot: U(-l, l), l = sqrt(6 / (n_in + n_out))
            limit = math.sqrt(6.0 / (n_in + n_out))
            rows[...] = rng.uniform(-limit, limit, rows.shape)


def seed_streams(seed):
    """The random streams a model draws from its ``seed``: initial weights, shuffles, dropout.

    Returns ``(init_seq, shuffle_rng, dropout_seed)``: a :class:`numpy.random.SeedSequence` for
    the weights, a :class:`numpy.random.Generator` whose successive permutations are the epochs'
    orders, and the integer in [0, 2**64) that keys the dropout masks. (The first two children
    of a SeedSequence do not depend on how many are spawned: a third leaves them as they were.)
    """
    init_seq, shuffle_seq, dropout_seq = np.random.SeedSequence(seed).spawn(3)
    dropout_seed = int(dropout_seq.generate_state(1, np.uint64)[0])
    return init_seq, np.random.default_rng(shuffle_seq), dropout_seed


def first_epoch_order(seed, n):
    """The order in which a new model with ``seed`` visits ``n`` samples in its first epoch."""
    return seed_streams(seed)[1].permutation(n)


__all__ = [
    "ACT",
    "ALIGN",
    "B_OFFSET",
    "N_IN",
    "N_OUT",
    "TRANSPOSE_BELOW",
    "TRANSPOSED",
    "W_OFFSET",
    "aligned_zeros",
    "build_layout",
    "first_epoch_order",
    "initialize",
    "layer_views",
    "seed_streams",
    "stored_views",
    "stores_transposed",
    "unit_offsets",
]
