"""The forward pass of a whole network over a block of rows: what predicting and evaluating
need, with no gradient."""

import numpy as np
from numba import njit

from .._codes import EpochData
from ._config import JIT_OPTIONS
from .batch import _forward, _longest_row, _sparse_rows, _views, compiled_data, stored_views
from .codes import N_OUT
from .fpmode import subnormals_flushed
from .rows import _copy_into

_NO_LABELS = np.empty(0, np.int64)


def forward(params, layout, X, out):
    """Fill ``out`` (n, n_out) with the last layer's outputs for the rows ``X``: a dense (n,
    n_in) array, or a CSR matrix whose first layer is taken over its stored entries only (its
    rows are copied as stored, never made dense). The work buffers hold every layer's
    activations for the ``n`` rows: the caller passes blocks of rows."""
    data = compiled_data(EpochData(X, _NO_LABELS, np.empty((0, 0), out.dtype), out[:0, 0]))
    m, units = X.shape[0], int(layout[:, N_OUT].sum())
    sparse = data.indptr.shape[0] > 0
    longest = _longest_row(data) if sparse else 0
    with subnormals_flushed():
        _forward_rows(params, layout, data, out, np.empty(m * units, out.dtype),
                      np.empty(m * units, out.dtype), np.empty((m, longest), data.indices.dtype),
                      np.empty((m, longest), out.dtype), np.empty(m, np.int64))  # fmt: skip


@njit(**JIT_OPTIONS)
def _forward_rows(params, layout, data, out, zbuf, abuf, nonzero, values, counts):
    m, n_layers = out.shape[0], layout.shape[0]
    sparse = data.indptr.shape[0] > 0
    if sparse:
        _sparse_rows(data, np.arange(m), 0, data.X, nonzero, values, counts)
    units = np.zeros(n_layers + 1, np.int64)
    for layer in range(n_layers):
        units[layer + 1] = units[layer] + layout[layer, N_OUT]
    zs, acts = _views(zbuf, m, layout, units), _views(abuf, m, layout, units)
    W0, _ = stored_views(params, layout, 0)
    _forward(params, layout, data.X, W0, sparse, nonzero, values, counts, zs, acts)
    last = acts[n_layers - 1]
    for r in range(m):
        _copy_into(out[r], last[r], 0, out.shape[1])
