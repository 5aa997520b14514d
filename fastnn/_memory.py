"""The one estimate of what training a network allocates besides its data, checked before
anything is allocated: by ``fit`` and the estimators with their data in hand, by the command
line before it loads the data. The numbers mirror the buffers the backends allocate (the
numba backend's are the larger): what is counted here and what is allocated there change
together."""

import os

import numpy as np

from ._validation import check_memory

# SciPy's L-BFGS-B keeps about 2 * 10 + 5 float64 vectors of the parameters' size, and the
# objective a few more (the point, its gradient, the weights)
LBFGS_VECTORS = 30
PREDICT_BYTES = 2**28  # the most a block of predictions takes (see fastnn.inference)


def training_bytes(widths, dtype, batch_size=1, *, row_values=None, slots=1, plain=False,
                   lbfgs=False, workers=1, rollback=True):  # fmt: skip
    """Bytes that training a network of ``widths`` ([n_in, hidden..., n_out]) allocates.

    Parameters
    ----------
    widths : sequence of int
    dtype : numpy dtype
    batch_size : int
        1 trains per sample, more in mini-batches.
    row_values : int, optional
        The values an input row stores: ``n_in`` for dense rows (the default), the longest
        row's nonzero count for CSR rows (read as stored).
    slots : int
        The optimizer's state rows: 0 for SGD without momentum, 1 with, 2 for Adam.
    plain : bool
        Plain SGD (no momentum, no penalty), which steps the weights in place per sample.
    lbfgs : bool
        Full-batch L-BFGS: SciPy's vectors instead of batches.
    workers : int
        Per-sample threads, each with its own buffers.
    rollback : bool
        A copy of the parameters and the optimizer state taken at each epoch's start.
    """
    itemsize = np.dtype(dtype).itemsize
    pairs = list(zip(widths[:-1], widths[1:]))
    n_in = widths[0]
    n_params = sum(a * b + b for a, b in pairs)
    units, widest = sum(widths[1:]), max(widths[1:])
    largest = max(a * b for a, b in pairs)
    dense = row_values is None
    row_values = n_in if dense else row_values
    total = n_params * itemsize * (1 + slots) * (2 if rollback else 1)
    if lbfgs:
        total += n_params * 8 * LBFGS_VECTORS
    elif batch_size > 1:
        # the gradient (plain SGD steps inside the products); per row: its inputs (dense: the
        # row, and room for its nonzero index and value pairs; sparse: the pairs), every
        # layer's activations and deltas, its label; per thread, a few rows of the inputs'
        # indices and, for dense rows, two copies of the rows' bits (a bit per row and input)
        # (at most one thread per CPU)
        total += 0 if plain else n_params * itemsize
        pairs_bytes = row_values * (itemsize + 8)
        inputs = n_in * itemsize + pairs_bytes if dense else pairs_bytes
        total += batch_size * (inputs + 2 * units * itemsize + 8)
        bits = 2 * -(-batch_size // 8) * n_in if dense else 0
        total += (os.cpu_count() or 1) * (4 * 8 * n_in + bits)
    else:
        # per thread: a sample's units three times, four rows of deltas and nonzero values, its
        # input's nonzero pairs, and a layer's gradient for the optimizers that need it
        per_thread = (3 * units + 4 * widest + 2 * n_in) * itemsize + 8 * (n_in + widest)
        total += workers * (per_thread + (0 if plain else largest * itemsize))
    # a block of predictions (validation after each epoch)
    return total + min(PREDICT_BYTES, 8192 * 2 * units * itemsize)


def check_training(widths, dtype, what, **sizes):
    """Refuse, before allocating, training that :func:`training_bytes` says memory cannot hold;
    ``what`` says what is refused."""
    check_memory(training_bytes(widths, dtype, **sizes), what)
