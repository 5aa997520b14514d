"""The mini-batch epoch: every step of a batch in one compiled loop, shared by a few threads.

Each batch goes through the phases of a step, the threads meeting (:func:`.sync.barrier`)
between the phases that need each other's results:

1. **gather**: the batch's rows are copied into a work buffer (the threads share the rows),
   and the inputs some row uses are noted, with a bit for each row's nonzero inputs (a NaN or
   an infinity among dense rows' values stops the call there, before any training on the
   batch); then the batch's first layer is chosen: its nonzero inputs one row at a time when
   they are few (:func:`goes_sparse`), else products over the stretches of inputs the rows
   use (an image's empty border is left out, and so are the rows of ``W0`` it would meet: the
   products read both in place; :data:`SPAN_GAP`);
2. **first layer forward**, ``a = act(x W0 + b0)``;
3. **the other layers forward**, then the loss and its gradient ``delta_L``;
4. **backward** through the layers above the first: ``delta_{l-1} = delta_l W_l^T act'`` and
   the step of ``W_l``;
5. **the first layer's step**.

The threads share the forward pass of a batch of at least 2 :data:`ROWS_PER_BLOCK` rows, and
at least as many rows as the first layer has units, by blocks of rows, fixed by the batch's
size alone (:func:`row_blocks`): a thread takes its blocks through every layer and the loss
with no meeting in between, and its first product reads the rows it copied itself (and all of
``W0``). They share any other batch's forward pass, and the backward pass through the
layers above the first, by blocks of units, fixed by each layer's width alone
(:func:`unit_blocks`): forward, blocks of the layer's outputs (the output layer and the loss
then go to thread 0); backward, blocks of its inputs, so that a thread computes
``delta_{l-1}`` for its block from the rows of ``W_l`` it then steps itself. The first layer's
step goes by fixed stretches of its rows (its inputs) where it has at most half as many units
as inputs (:func:`first_step_by_rows`): each thread computes the gradient of its rows and steps
them at once; a wider first layer is stepped by the blocks of units of its delta. Every
number is computed by the same operations in the same order whichever thread computes it, and
sums over blocks (of rows or of units) are added in block order: the weights are the same bits
for any number of threads. Each thread runs its blocks' products single-threaded (the
epoch's own threads are the parallelism: register tiles where they apply, else BLAS, see
:func:`.blas.gemm`), written straight into the layer's buffers, and a plain SGD step is folded
into the gradient's product.

The weights' gradients are written into ``grads`` (laid out like ``params``) only for the
optimizers that need them: momentum, Adam, penalties. Plain SGD steps the weights in the
products themselves, and moves only the first layer's rows of the inputs the batch uses, as
the gradient of the others is zero. The lazy optimizers step only those rows too, with their
state. Adam without penalties steps the first layer's rows of the used inputs inside the
register tiles of their gradient, where the tiles cover the layer (:func:`_fuses_adam`): the
gradient is neither written out nor read back.
"""

from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.extending import intrinsic

from ._config import JIT_OPTIONS
from .activations import _activate_row
from .adam import adam_scalars
from .blas import gemm, gemm_scratch
from .codes import ACT, B_OFFSET, IDENTITY, N_IN, N_OUT, RELU, SIGMOID, TANH, TRANSPOSED, W_OFFSET
from .dropout import _dropout_block, _times_factor
from .losses import _total_weight, n_correct, rows_loss_and_grad
from .rows import _copy_into
from .sync import barrier
from .tiles import (
    BOTH,
    IN_CACHE,
    ROWS,
    STEPS,
    TILE_ROWS,
    TILES,
    _rows_from,
    adam_rows_gemm,
    picked_gemm,
)
from .update import ADAM_KIND, _optimizer_update, is_plain_sgd, step_size

# A batch's first layer goes sparse (its nonzero inputs, row by row) when the fraction of its
# inputs that are nonzero is below SPARSE_DENSITY + SPARSE_ROWS / m, for a batch of m rows:
# BLAS pays per call and gains with m, the sparse loops cost the same per nonzero input. The
# constants are fitted to where the two paths tie (the performance notes give the runs).
SPARSE_DENSITY = 0.05
SPARSE_ROWS = 1.0

# The tiles of a dense batch's first layer go by its rows' bits (each tile over the rows and
# inputs not all zero in it) where at most LISTS_DENSITY of the used inputs' values are
# nonzero: an MNIST batch's are 28%, and about a third of its tiles' steps are left out; in
# data without zeros no step is, and the lists cost 5-8% of a digits epoch (performance notes).
LISTS_DENSITY = 0.5

# A dense batch's products run over the stretches of consecutive inputs its rows use, read in
# place (the batch's rows and the rows of W0 they meet, with their own strides): stretches
# fewer than SPAN_GAP inputs apart are joined (a product per stretch costs a call and a pass
# over its output, a few unused inputs cost little); where that leaves more than MAX_SPANS
# stretches, the gap doubles until it does not. Where the register tiles run, they take the
# used inputs themselves (:func:`.tiles.picked_gemm`), each tile over the rows and inputs
# that are not all zero in it (the rows' bits, :func:`_row_bits`), and the stretches only
# the columns they leave, through BLAS.
SPAN_GAP = 8
MAX_SPANS = 16

# How the threads share a layer: blocks of about UNITS_PER_BLOCK units, at most MAX_BLOCKS,
# each a multiple of BLOCK_ALIGN units wide (64 bytes of float32: BLAS's loads stay aligned).
UNITS_PER_BLOCK = 64
MAX_BLOCKS = 8
BLOCK_ALIGN = 16

# The forward pass of a batch of at least 2 ROWS_PER_BLOCK rows, and at least as many rows as
# the first layer's units, is shared by blocks of rows instead (:func:`row_blocks`): each
# thread takes its rows through every layer and the loss with no barrier between the layers,
# reading only the rows it copied itself and all of W0 (with more units than rows, W0 is the
# larger, and by blocks of units each thread reads only its own units' columns of it).
ROWS_PER_BLOCK = 64

# the phases of a step (``last_phase`` stops each batch after one: a profiling aid)
GATHER, FIRST_FORWARD, FORWARD, BACKWARD, FIRST_STEP = 1, 2, 3, 4, 5
PHASES = ("gather", "first layer forward", "other layers forward and loss",
          "backward through the other layers", "first layer step")  # fmt: skip

# the first layer's paths: nonzero inputs row by row, or BLAS over stretches of inputs
SPARSE, SPANS = 0, 1


@njit(**JIT_OPTIONS)
def goes_sparse(n_nonzero, m, n_in):
    """Whether a dense batch of ``m`` rows of ``n_in`` inputs, ``n_nonzero`` of them nonzero,
    takes the sparse first layer: its density is below SPARSE_DENSITY + SPARSE_ROWS / m."""
    return n_nonzero < (SPARSE_DENSITY * m + SPARSE_ROWS) * n_in


@njit(**JIT_OPTIONS)
def row_blocks(m, width):
    """How many blocks of rows a batch of ``m`` rows is shared in for the forward pass, for a
    first layer of ``width`` units: the largest power of two up to MAX_BLOCKS whose blocks have
    at least ROWS_PER_BLOCK rows (block ``k`` is the rows ``k m // n`` to ``(k + 1) m // n``),
    or 1 (blocks of units) where ``width`` is over ``m``. Not a function of the threads."""
    n = 1
    while width <= m and 2 * n <= MAX_BLOCKS and m >= 2 * n * ROWS_PER_BLOCK:
        n *= 2
    return n


@njit(**JIT_OPTIONS)
def first_step_by_rows(n_in, width):
    """Whether the threads share the first layer's step (of ``n_in`` inputs, ``width`` units)
    by fixed stretches of its rows: each thread then reads every delta_0 and the rows' columns
    of the batch's inputs it steps, instead of every input and its own units' deltas; the
    rows are cheaper where the layer has at most half as many units as inputs."""
    return 2 * width <= n_in


def unit_blocks(width):
    """The boundaries of the blocks a layer of ``width`` units is shared in: a function of the
    width alone, so that the arithmetic does not depend on the number of threads."""
    n_blocks = min(MAX_BLOCKS, max(1, round(width / UNITS_PER_BLOCK)))
    size = -(-width // n_blocks)
    size = -(-size // BLOCK_ALIGN) * BLOCK_ALIGN
    bounds = list(range(0, width, size)) + [width]
    return bounds[: MAX_BLOCKS + 1]


def block_table(layout):
    """Every layer's block boundaries, one row per layer (padded with the width), and the
    number of blocks of each."""
    n_layers = layout.shape[0]
    bounds = np.empty((n_layers, MAX_BLOCKS + 1), np.int64)
    counts = np.empty(n_layers, np.int64)
    for layer in range(n_layers):
        edges = unit_blocks(int(layout[layer, N_OUT]))
        counts[layer] = len(edges) - 1
        bounds[layer, :] = edges[-1]
        bounds[layer, : len(edges)] = edges
    return bounds, counts


# The work buffers, for batches of up to ``capacity`` rows and ``n_threads`` threads: the
# batch's dense rows, each thread's mark of the inputs its rows use, the rows' nonzero inputs
# as bits (``bits[t, w, i]``: bit ``b`` for row ``8 w + b``, of the bytes ``words[t, 0]`` to
# ``words[t, 1]`` that thread ``t``'s rows fill) and its mark of each input that holds a NaN
# or an infinity, its count of their nonzero entries and whether one of its rows holds a NaN
# or an infinity; the batch's sparse rows (indices, values, counts); every layer's activations
# and deltas (m rows each, one layer after another); the weights' gradient laid out like the
# parameters (for the optimizers that need it); the batch's labels, targets and weights; rows
# of zeros (the gradient of unused inputs); the sum of squares of each block of weights (the
# L2 term); and for dropout, each layer's rate (float64, empty without dropout), the masks'
# key (the seed and the epoch, uint64) and the dropped units' factors, laid out as ``abuf``
# (see :func:`.dropout._dropout_block`).
BatchWork = namedtuple(
    "BatchWork",
    "capacity n_threads bounds n_blocks xbuf used bits words bad nonzero_counts nonfinite nonzero "
    "values counts abuf dbuf grads labels targets weights zeros squares row_losses "
    "dropout_rates dropout_key dact",
)

ZERO_ROWS = 64  # rows of zeros: an unused inputs' stretch is stepped this many rows at a time


def batch_work(layout, data, opt, batch_size, params, n_threads, dropout=None):
    """The :data:`BatchWork` for batches of ``batch_size`` rows of ``data`` (a CompiledData);
    ``dropout`` a :data:`~fastnn._codes.DropoutPlan`, or None."""
    dtype = params.dtype
    units = int(layout[:, N_OUT].sum())
    n_in0, n_out0 = int(layout[0, N_IN]), int(layout[0, N_OUT])
    sparse_input = data.indptr.shape[0] > 0
    dense = 0 if sparse_input else 1
    longest = n_in0 if dense else int(np.diff(data.indptr).max(initial=0))
    bounds, n_blocks = block_table(layout)
    plain = is_plain_sgd(opt)
    return BatchWork(
        capacity=batch_size,
        n_threads=n_threads,
        bounds=bounds,
        n_blocks=n_blocks,
        xbuf=np.empty(dense * batch_size * n_in0, dtype),
        used=np.zeros((n_threads, dense * n_in0), np.uint8),
        bits=np.zeros((n_threads, dense * -(-batch_size // 8), n_in0), np.uint8),
        words=np.zeros((n_threads, 2), np.int64),
        bad=np.zeros((n_threads, dense * n_in0), np.uint8),
        nonzero_counts=np.zeros(n_threads, np.int64),
        nonfinite=np.zeros(n_threads, np.int64),
        nonzero=np.empty((batch_size, longest), data.indices.dtype),
        values=np.empty((batch_size, longest), dtype),
        counts=np.empty(batch_size, np.int64),
        abuf=np.empty(batch_size * units, dtype),
        dbuf=np.empty(batch_size * units, dtype),
        grads=np.zeros(0 if plain else params.shape[0], dtype),
        labels=np.empty(batch_size, np.int64),
        targets=np.empty((batch_size, data.targets.shape[1]), dtype),
        weights=np.empty(batch_size if data.weights.shape[0] > 0 else 0, dtype),
        zeros=np.zeros((1 if plain else ZERO_ROWS) * n_out0, dtype),
        squares=np.zeros((layout.shape[0], MAX_BLOCKS), np.float64),
        row_losses=np.zeros((MAX_BLOCKS, 2), np.float64),
        dropout_rates=np.empty(0) if dropout is None else np.asarray(dropout.rates, np.float64),
        dropout_key=np.array([0 if dropout is None else dropout.seed, 0], np.uint64),
        dact=np.empty(0 if dropout is None else batch_size * units, dtype),
    )


@njit(**JIT_OPTIONS)
def _activate_block(a, m, width, lo, hi, b, act):
    """``a[:, lo:hi] = act(a[:, lo:hi] + b[lo:hi])`` for the (m, width) activations in ``a``."""
    for r in range(m):
        row = a[r * width + lo : r * width + hi]
        for j in range(hi - lo):
            row[j] += b[lo + j]
        _activate_row(row, act, row)


@njit(**JIT_OPTIONS)
def _times_derivative(delta, a, m, width, lo, hi, act):
    """``delta[:, lo:hi] *= act'`` from the activations ``a`` of the same (m, width) layout:
    ReLU ``a > 0`` (``z > 0``), sigmoid ``a (1 - a)``, tanh ``1 - a^2``; zero where the
    derivative is zero, even for an infinite delta (a unit that is off passes nothing back)."""
    if act == IDENTITY:
        return
    one = a.dtype.type(1)
    zero = a.dtype.type(0)
    for r in range(m):
        d = delta[r * width + lo : r * width + hi]
        x = a[r * width + lo : r * width + hi]
        for j in range(hi - lo):
            if act == RELU:
                derivative = one if x[j] > zero else zero
            elif act == SIGMOID:
                derivative = x[j] * (one - x[j])
            elif act == TANH:
                derivative = one - x[j] * x[j]
            else:
                derivative = one
            d[j] = d[j] * derivative if derivative != zero else zero


@njit(**JIT_OPTIONS)
def _drops(work, layer):
    """Whether dropout drops units of ``layer``'s output."""
    return work.dropout_rates.shape[0] > 0 and work.dropout_rates[layer] > 0


@njit(**JIT_OPTIONS)
def _drop_block(work, layout, layer, m, units, order, first, r0, r1, lo, hi):
    """Dropout on the rows ``r0:r1`` and units ``lo:hi`` of ``layer``'s activations, just
    computed (and their derivatives into ``dact``), when the layer has a rate."""
    if _drops(work, layer):
        width = layout[layer, N_OUT]
        at = m * units[layer] + r0 * width
        _dropout_block(work.abuf[at:], work.dact[at:], r1 - r0, width, lo, hi,
                       layout[layer, ACT], work.dropout_key[0], work.dropout_key[1], order,
                       first + r0, layer, work.dropout_rates[layer])  # fmt: skip


@njit(**JIT_OPTIONS)
def _column_sums(delta, m, width, lo, hi, out):
    """``out[j] = sum over the m rows of delta[:, lo + j]``, row after row."""
    for j in range(hi - lo):
        out[j] = 0
    for r in range(m):
        row = delta[r * width + lo : r * width + hi]
        for j in range(hi - lo):
            out[j] += row[j]


@intrinsic
def _popcount(typingctx, word):
    """The number of bits set in the uint8 ``word`` (LLVM's ctpop)."""

    def codegen(context, builder, sig, args):
        return builder.zext(builder.ctpop(args[0]), ir.IntType(64))

    return types.int64(types.uint8), codegen


if config.DISABLE_JIT:  # the kernels run as Python (an intrinsic cannot)

    def _popcount(word):  # noqa: F811
        return bin(int(word)).count("1")


@njit(**JIT_OPTIONS)
def _gather(tid, lo, hi, data, order, first, m, work):
    """Copy thread ``tid``'s rows ``lo:hi`` of the batch: dense rows into ``xbuf`` (marking the
    inputs they use, counting their nonzero entries, and noting in ``nonfinite`` whether a
    value is NaN or infinite), CSR rows as stored into the sparse rows; thread 0 also copies
    the labels, targets and weights of all ``m`` rows."""
    if data.indptr.shape[0] == 0:
        n_in = data.X.shape[1]
        used, bits, bad = work.used[tid], work.bits[tid], work.bad[tid]
        w0, w1 = lo // 8, -(-hi // 8)
        work.words[tid, 0], work.words[tid, 1] = w0, w1
        for i in range(n_in):
            used[i] = bad[i] = 0
        for w in range(w0, w1):
            for i in range(n_in):
                bits[w, i] = 0
        infinity = data.X.dtype.type(np.inf)  # |v| < inf is false for NaN and infinity alone
        for r in range(lo, hi):  # per input, not into scalars: the loop runs on vectors
            src, dst = data.X[order[first + r]], work.xbuf[r * n_in : (r + 1) * n_in]
            word, bit, no = bits[r // 8], np.uint8(1 << (r % 8)), np.uint8(0)
            for i in range(n_in):
                v = src[i]
                dst[i] = v
                word[i] |= bit if v != 0 else no
                bad[i] |= not abs(v) < infinity
        count = nonfinite = 0
        for w in range(w0, w1):
            word = bits[w]
            for i in range(n_in):
                used[i] |= word[i] != 0
                count += _popcount(word[i])
        for i in range(n_in):
            nonfinite |= bad[i]
        work.nonzero_counts[tid] = count
        work.nonfinite[tid] = nonfinite
    else:
        for r in range(lo, hi):
            s = order[first + r]
            start, count = data.indptr[s], data.indptr[s + 1] - data.indptr[s]
            _copy_into(work.nonzero[r], data.indices, start, count)
            _copy_into(work.values[r], data.values, start, count)
            work.counts[r] = count
    if tid == 0:
        for r in range(m):
            s = order[first + r]
            if data.labels.shape[0] > 0:
                work.labels[r] = data.labels[s]
            if data.targets.shape[0] > 0:
                _copy_into(work.targets[r], data.targets[s], 0, work.targets.shape[1])
            if data.weights.shape[0] > 0:
                work.weights[r] = data.weights[s]


@njit(**JIT_OPTIONS)
def _holds_nonfinite(work):
    """Whether a row of the batch just gathered holds a NaN or an infinity (read by every
    thread alike after the gather's barrier)."""
    found = 0
    for t in range(work.n_threads):
        found |= work.nonfinite[t]
    return found != 0


@njit(**JIT_OPTIONS)
def _nonzero(work):
    """The number of nonzero values in the batch's dense rows (every thread's count)."""
    nonzero = 0
    for t in range(work.n_threads):
        nonzero += work.nonzero_counts[t]
    return nonzero


@njit(**JIT_OPTIONS)
def _plan(m, n_in, work, dense, lazy, columns, position, spans):
    """This batch's first layer, worked out alike by every thread into its own arrays once the
    rows are gathered: the inputs some row uses in ``columns`` (in input order for dense rows,
    in order of first use for CSR rows), and ``position`` of each input among them (-1 for an
    unused one); for SPANS the stretches of inputs the BLAS products run over in ``spans``
    (first, last + 1). Returns (path, the number of used inputs, the number of spans)."""
    for i in range(n_in):
        position[i] = -1
    n_cols = 0
    if not dense:  # CSR rows: the inputs they use, in the order they first appear
        for r in range(m):
            indices = work.nonzero[r]
            for c in range(work.counts[r]):
                i = indices[c]
                if position[i] < 0:
                    position[i] = n_cols
                    columns[n_cols] = i
                    n_cols += 1
        return SPARSE, n_cols, 0
    nonzero = _nonzero(work)
    for i in range(n_in):
        used = 0
        for t in range(work.n_threads):
            used |= work.used[t, i]
        if used:
            position[i] = n_cols
            columns[n_cols] = i
            n_cols += 1
    if goes_sparse(nonzero, m, n_in) or lazy:
        return SPARSE, n_cols, 0
    gap = SPAN_GAP
    n_spans = _join_spans(columns, n_cols, gap, spans)
    while n_spans > MAX_SPANS:
        gap *= 2
        n_spans = _join_spans(columns, n_cols, gap, spans)
    return SPANS, n_cols, n_spans


@njit(**JIT_OPTIONS)
def _row_bits(work, m, mask):
    """``mask[w, i]``: the rows of the batch (``m`` rows, 8 to a byte) in which input ``i`` is
    nonzero, from every thread's bits of its own rows."""
    n_in = mask.shape[1]
    for w in range(-(-m // 8)):
        out = mask[w]
        for i in range(n_in):
            out[i] = 0
        for t in range(work.n_threads):
            if work.words[t, 0] <= w < work.words[t, 1]:
                bits = work.bits[t, w]
                for i in range(n_in):
                    out[i] |= bits[i]


@njit(**JIT_OPTIONS)
def _tile_steps(mask, n_cols, columns, r, rows, steps):
    """The used inputs nonzero in some row of ``r:r + rows`` (at most 8 rows), into ``steps``
    in input order; returns their number: the steps of a tile of those rows."""
    w, shift = r // 8, r % 8
    spill = shift + rows > 8  # the rows go on in the next byte
    keep = (1 << rows) - 1
    k = 0
    for c in range(n_cols):
        i = columns[c]
        word = np.int64(mask[w, i]) >> shift
        if spill:
            word |= np.int64(mask[w + 1, i]) << (8 - shift)
        steps[k] = i
        k += (word & keep) != 0
    return k


@njit(**JIT_OPTIONS)
def _tile_rows(mask, m, columns, c, rows, listed):
    """The list of a gradient's tile over the used inputs ``columns[c : c + rows]``: those
    inputs, then from ``listed[TILE_ROWS]`` on the batch's rows (of ``m``) in which one of
    them is nonzero, in order; returns the number of those rows."""
    k = 0
    for q in range(rows):
        listed[q] = columns[c + q]
    for w in range(-(-m // 8)):
        word = 0
        for q in range(rows):
            word |= np.int64(mask[w, columns[c + q]])
        for bit in range(8):
            listed[TILE_ROWS + k] = 8 * w + bit
            k += (word >> bit) & 1
    return k


@njit(**JIT_OPTIONS)
def _join_spans(columns, n_cols, gap, spans):
    """The stretches ``spans[k] = (first, last + 1)`` of the used inputs ``columns[:n_cols]``
    (in input order), those fewer than ``gap`` apart joined; returns their number (at least
    one: an empty batch's is empty)."""
    if n_cols == 0:
        spans[0, 0], spans[0, 1] = 0, 0
        return 1
    n_spans = 0
    for c in range(n_cols):
        i = columns[c]
        if n_spans > 0 and i - spans[n_spans - 1, 1] < gap:
            spans[n_spans - 1, 1] = i + 1
        else:
            spans[n_spans, 0], spans[n_spans, 1] = i, i + 1
            n_spans += 1
    return n_spans


@njit(**JIT_OPTIONS)
def _sparse_rows(lo, hi, n_in, work):
    """The nonzero entries of the rows ``lo:hi``, for a dense batch that goes sparse."""
    for r in range(lo, hi):
        row, indices, values = work.xbuf[r * n_in : (r + 1) * n_in], work.nonzero[r], work.values[r]
        count = 0
        for i in range(n_in):  # branch-free, as rows._find_nonzero
            indices[count] = i
            values[count] = row[i]
            count += row[i] != 0
        work.counts[r] = count


@njit(**JIT_OPTIONS)
def _batch_weight(data, order, first, m):
    """The batch's weight: the sum of its samples' weights, or m without weights."""
    if data.weights.shape[0] == 0:
        return float(m)
    total = 0.0
    for r in range(m):  # reads only: summed in one order (see losses.py)
        total += data.weights[order[first + r]]
    return total


@njit(**JIT_OPTIONS)
def _my_blocks(tid, n_threads, bounds, n_blocks):
    """The blocks of every layer that thread ``tid`` takes (every ``n_threads``-th, from its
    own): ``(lo, hi)`` pairs in ``mine[layer, :count[layer]]``."""
    n_layers = n_blocks.shape[0]
    mine = np.zeros((n_layers, bounds.shape[1], 2), np.int64)
    count = np.zeros(n_layers, np.int64)
    for layer in range(n_layers):
        for b in range(tid, n_blocks[layer], n_threads):
            mine[layer, count[layer], 0] = bounds[layer, b]
            mine[layer, count[layer], 1] = bounds[layer, b + 1]
            count[layer] += 1
    return mine, count


@njit(**JIT_OPTIONS)
def _block_index(bounds, layer, lo):
    """Which block of ``layer`` starts at unit ``lo``."""
    b = 0
    while bounds[layer, b] != lo:
        b += 1
    return b


@njit(**JIT_OPTIONS)
def _first_forward(params, layout, work, path, n_cols, columns, spans, n_spans, mask, steps,
                   r0, r1, lo, hi, scratch):  # fmt: skip
    """``a0[r0:r1, lo:hi] = act(x[r0:r1] W0[:, lo:hi] + b0[lo:hi])`` on the batch's first-layer
    input: register tiles over the used inputs ``columns[:n_cols]`` (each tile over those
    nonzero in one of its rows, where ``mask`` holds the rows' bits: :func:`_tile_steps` into
    ``steps``), and BLAS over the stretches of inputs for the columns they leave (the rows of
    ``x`` and of ``W0`` read in place); or each row's nonzero inputs (SPARSE)."""
    n_in, n_out = layout[0, N_IN], layout[0, N_OUT]
    w, b = layout[0, W_OFFSET], layout[0, B_OFFSET]
    a = work.abuf
    if path == SPANS:
        done = 0
        if TILES and mask.shape[0] == 0:  # the tiles over the used inputs, in one pass
            done = picked_gemm(False, r1 - r0, hi - lo, n_cols, 1.0, work.xbuf[r0 * n_in :],
                               n_in, params[w + lo :], n_out, 0.0, a[r0 * n_out + lo :], n_out,
                               columns, STEPS)  # fmt: skip
        r = r0
        while TILES and mask.shape[0] > 0 and r < r1:  # or a tile's rows at a time
            rows = _rows_from(r1 - r)
            k = _tile_steps(mask, n_cols, columns, r, rows, steps)
            done = picked_gemm(False, rows, hi - lo, k, 1.0, work.xbuf[r * n_in :], n_in,
                               params[w + lo :], n_out, 0.0, a[r * n_out + lo :], n_out, steps,
                               STEPS)  # fmt: skip
            r += rows
        for k in range(n_spans if done < hi - lo else 0):
            start, end = spans[k, 0], spans[k, 1]
            gemm(False, False, r1 - r0, hi - lo - done, end - start, 1.0,
                 work.xbuf[r0 * n_in + start :], n_in, params[w + start * n_out + lo + done :],
                 n_out, 0.0 if k == 0 else 1.0, a[r0 * n_out + lo + done :], n_out,
                 scratch)  # fmt: skip
    else:  # z[r, lo:hi] = sum over the row's nonzero x_i of x_i W0[i, lo:hi]
        zero = params.dtype.type(0)
        for r in range(r0, r1):
            z = a[r * n_out + lo : r * n_out + hi]
            for j in range(hi - lo):
                z[j] = zero
            indices, values = work.nonzero[r], work.values[r]
            for c in range(work.counts[r]):
                v, row = values[c], params[w + indices[c] * n_out + lo :]
                for j in range(hi - lo):
                    z[j] += v * row[j]
    _activate_block(a[r0 * n_out :], r1 - r0, n_out, lo, hi, params[b : b + n_out], layout[0, ACT])


@njit(**JIT_OPTIONS)
def _layer_forward(params, layout, layer, work, m, units, r0, r1, lo, hi, scratch):
    """``a_l[r0:r1, lo:hi] = act(a_{l-1}[r0:r1] W_l[:, lo:hi] + b_l[lo:hi])`` for a layer above
    the first, in a batch of ``m`` rows."""
    n_in, n_out = layout[layer, N_IN], layout[layer, N_OUT]
    w, b = layout[layer, W_OFFSET], layout[layer, B_OFFSET]
    x = work.abuf[m * units[layer - 1] + r0 * n_in :]
    a = work.abuf[m * units[layer] + r0 * n_out :]
    if layout[layer, TRANSPOSED]:  # W^T stored (n_out, n_in): its rows lo:hi
        gemm(False, True, r1 - r0, hi - lo, n_in, 1.0, x, n_in, params[w + lo * n_in :], n_in,
             0.0, a[lo:], n_out, scratch)  # fmt: skip
    else:
        gemm(False, False, r1 - r0, hi - lo, n_in, 1.0, x, n_in, params[w + lo :], n_out, 0.0,
             a[lo:], n_out, scratch)  # fmt: skip
    _activate_block(a, r1 - r0, n_out, lo, hi, params[b : b + n_out], layout[layer, ACT])


@njit(**JIT_OPTIONS)
def _loss(layout, work, m, units, loss, weighted, r0, r1):
    """The terms of the rows ``r0:r1`` in the mean loss of a batch of ``m`` rows, and their
    rows of its gradient as the output layer's delta (times the output activation's
    derivative); returns (their terms of the mean loss, their correct predictions)."""
    n_layers = layout.shape[0]
    k = layout[n_layers - 1, N_OUT]
    at = m * units[n_layers - 1]
    out = work.abuf[at + r0 * k : at + r1 * k].reshape(r1 - r0, k)
    delta = work.dbuf[at + r0 * k : at + r1 * k].reshape(r1 - r0, k)
    weights = work.weights[r0:r1] if weighted else work.weights
    labels, targets = work.labels[r0:r1], work.targets[r0:r1]
    total = _total_weight(m, work.weights[:m] if weighted else work.weights)
    mean = rows_loss_and_grad(loss, out, labels, targets, weights, delta, m, total)
    correct = n_correct(loss, out, labels, targets, weights)
    _times_derivative(work.dbuf[at + r0 * k :], work.abuf[at + r0 * k :], r1 - r0, k, 0, k,
                      layout[n_layers - 1, ACT])  # fmt: skip
    return mean, correct


@njit(**JIT_OPTIONS)
def _rows_forward(params, layout, work, m, units, order, first, path, n_cols, columns, spans,
                  n_spans, mask, steps, r0, r1, loss, weighted, last_phase, scratch):  # fmt: skip
    """The rows ``r0:r1`` of a batch of ``m`` rows through every layer (all of each layer's
    units) and the loss: returns :func:`_loss` of the rows (zeros below the FORWARD phase)."""
    n_layers = layout.shape[0]
    if last_phase >= FIRST_FORWARD:
        n_out = layout[0, N_OUT]
        _first_forward(params, layout, work, path, n_cols, columns, spans, n_spans, mask, steps,
                       r0, r1, 0, n_out, scratch)  # fmt: skip
        _drop_block(work, layout, 0, m, units, order, first, r0, r1, 0, n_out)
    if last_phase < FORWARD:
        return 0.0, 0.0
    for layer in range(1, n_layers):
        n_out = layout[layer, N_OUT]
        _layer_forward(params, layout, layer, work, m, units, r0, r1, 0, n_out, scratch)
        if layer < n_layers - 1:
            _drop_block(work, layout, layer, m, units, order, first, r0, r1, 0, n_out)
    return _loss(layout, work, m, units, loss, weighted, r0, r1)


@njit(**JIT_OPTIONS)
def _step_segment(params, state, first, grad, opt, rate, penalty_scale):
    """The optimizer's step of ``params[first : first + len(grad)]``; its squares (L2)."""
    return _optimizer_update(params, state, first, grad, opt, rate, penalty_scale)


@njit(**JIT_OPTIONS)
def _layer_backward(params, state, layout, layer, work, m, units, lo, hi, plain, opt, rate,
                    penalty_scale, scratch):  # fmt: skip
    """For the block ``lo:hi`` of the inputs of ``layer`` (above the first): ``delta_{l-1}[:,
    lo:hi] = delta_l W_l[lo:hi, :]^T act'(a_{l-1})``, then the step of ``W_l[lo:hi, :]``, the
    rows it was read from (plain SGD inside the gradient's product). Returns the block's sum
    of squared weights before the step (the L2 term), else 0."""
    n_in, n_out = layout[layer, N_IN], layout[layer, N_OUT]
    w = layout[layer, W_OFFSET]
    delta = work.dbuf[m * units[layer] :]
    previous = work.dbuf[m * units[layer - 1] :]
    x = work.abuf[m * units[layer - 1] :]
    flipped = layout[layer, TRANSPOSED]
    if flipped:  # W^T (n_out, n_in): the columns lo:hi
        gemm(False, False, m, hi - lo, n_out, 1.0, delta, n_out, params[w + lo :], n_in, 0.0,
             previous[lo:], n_in, scratch)  # fmt: skip
    else:
        gemm(False, True, m, hi - lo, n_out, 1.0, delta, n_out, params[w + lo * n_out :], n_out,
             0.0, previous[lo:], n_in, scratch)  # fmt: skip
    if _drops(work, layer - 1):  # the factors the forward pass kept: derivative times mask
        _times_factor(previous, work.dact[m * units[layer - 1] :], m, n_in, lo, hi)
    else:
        _times_derivative(previous, x, m, n_in, lo, hi, layout[layer - 1, ACT])
    target = params if plain else work.grads
    alpha = -rate if plain else 1.0
    beta = 1.0 if plain else 0.0
    if flipped:  # dW^T[:, lo:hi] = delta^T x[:, lo:hi]
        gemm(True, False, n_out, hi - lo, m, alpha, delta, n_out, x[lo:], n_in, beta,
             target[w + lo :], n_in, scratch)  # fmt: skip
    else:  # dW[lo:hi, :] = x[:, lo:hi]^T delta
        gemm(True, False, hi - lo, n_out, m, alpha, x[lo:], n_in, delta, n_out, beta,
             target[w + lo * n_out :], n_out, scratch)  # fmt: skip
    if plain:
        return 0.0
    squares = 0.0
    if flipped:
        for j in range(n_out):
            first = w + j * n_in + lo
            squares += _step_segment(params, state, first, work.grads[first : first + hi - lo],
                                     opt, rate, penalty_scale)  # fmt: skip
    else:
        first, last = w + lo * n_out, w + hi * n_out
        squares += _step_segment(params, state, first, work.grads[first:last], opt, rate,
                                 penalty_scale)  # fmt: skip
    return squares


@njit(**JIT_OPTIONS)
def _bias_step(params, state, layout, layer, work, m, units, lo, hi, plain, opt, rate, row):
    """The step of ``b_l[lo:hi]`` along the column sums of ``delta_l`` (no penalty); ``row``
    is the thread's own scratch row."""
    n_out = layout[layer, N_OUT]
    b = layout[layer, B_OFFSET]
    delta = work.dbuf[m * units[layer] :]
    if plain:
        db = row[: hi - lo]
        _column_sums(delta, m, n_out, lo, hi, db)
        step = params.dtype.type(rate)
        for j in range(hi - lo):
            params[b + lo + j] -= step * db[j]
    else:
        db = work.grads[b + lo : b + hi]
        _column_sums(delta, m, n_out, lo, hi, db)
        _step_segment(params, state, b + lo, db, opt, rate, 0.0)


@njit(**JIT_OPTIONS)
def _fuses_adam(opt, path, m, width, params, state):
    """Whether the first layer's Adam step of the used inputs' rows runs inside the tiles of
    its gradient (:func:`.tiles.adam_rows_gemm`), for a batch of ``m`` rows on ``path`` (a
    lazy optimizer's batches go SPARSE) and a layer of ``width`` units: where the tiles cover
    every unit with ``delta_0`` in cache, the moments have the weights' dtype, and the step
    takes no penalty."""
    size = params.itemsize
    return (TILES and path == SPANS and opt.kind == ADAM_KIND and state.itemsize == size
            and opt.l1 == 0 and opt.l2 == 0
            and width % (128 // size) == 0 and m * width * size <= IN_CACHE)  # fmt: skip


@njit(**JIT_OPTIONS)
def _first_gradient(params, state, layout, work, m, path, n_cols, columns, spans, n_spans, mask,
                    listed, i0, i1, lo, hi, plain, opt, rate, fused, scratch):  # fmt: skip
    """The first layer's block ``W0[i0:i1, lo:hi]``: plain SGD's step ``W0[i0:i1, lo:hi] -=
    rate x[:, i0:i1]^T delta_0[:, lo:hi]`` on the rows of the inputs the batch uses (inside the
    products: the register tiles over the used inputs, BLAS over the stretches for the columns
    the tiles leave; SPARSE as each row's outer product), or for the other optimizers that
    gradient, written into ``grads`` where :func:`_first_rows_step` reads it (the rows of the
    used inputs; of the others, a stretch's product may write zeros). Each tile of used
    inputs runs over the batch's rows in which one of them is nonzero where ``mask`` holds
    the rows' bits (:func:`_tile_rows` into ``listed``), else over every row. ``fused``
    (:func:`_fuses_adam`): Adam's step of the used inputs' rows instead, inside the tiles."""
    n_in, n_out = layout[0, N_IN], layout[0, N_OUT]
    w = layout[0, W_OFFSET]
    delta = work.dbuf
    width = hi - lo
    if path == SPANS:
        target = params if plain else work.grads
        done = 0
        if TILES:  # the tiles over the used inputs from i0 to i1, the rest over the stretches
            c0 = 0
            while c0 < n_cols and columns[c0] < i0:
                c0 += 1
            c1 = c0
            while c1 < n_cols and columns[c1] < i1:
                c1 += 1
            done = width - width % (128 // params.itemsize)  # a tile's columns: 2 vectors
            scalars = adam_scalars(params, opt, rate)
            if mask.shape[0] == 0 and fused:  # the tiles over every row, no gradient written
                done = adam_rows_gemm(c1 - c0, width, m, work.xbuf, n_in, delta[lo:], n_out,
                                      params[w + lo :], state[0, w + lo :], state[1, w + lo :],
                                      n_out, columns[c0:c1], ROWS, scalars)  # fmt: skip
            elif mask.shape[0] == 0:
                done = picked_gemm(True, c1 - c0, width, m, -rate if plain else 1.0, work.xbuf,
                                   n_in, delta[lo:], n_out, 1.0 if plain else 0.0,
                                   target[w + lo :], n_out, columns[c0:c1], ROWS)  # fmt: skip
            c = c0
            while mask.shape[0] > 0 and c < c1:  # or a tile of inputs at a time, over the
                # rows that use them
                rows = _rows_from(c1 - c)
                k = _tile_rows(mask, m, columns, c, rows, listed)
                if fused:
                    done = adam_rows_gemm(rows, width, k, work.xbuf, n_in, delta[lo:], n_out,
                                          params[w + lo :], state[0, w + lo :],
                                          state[1, w + lo :], n_out, listed, BOTH,
                                          scalars)  # fmt: skip
                else:
                    done = picked_gemm(True, rows, width, k, -rate if plain else 1.0, work.xbuf,
                                       n_in, delta[lo:], n_out, 1.0 if plain else 0.0,
                                       target[w + lo :], n_out, listed, BOTH)  # fmt: skip
                c += rows
        for k in range(n_spans if done < width else 0):
            start, end = max(i0, spans[k, 0]), min(i1, spans[k, 1])
            if start < end:
                gemm(True, False, end - start, width - done, m, -rate if plain else 1.0,
                     work.xbuf[start:], n_in, delta[lo + done :], n_out, 1.0 if plain else 0.0,
                     target[w + start * n_out + lo + done :], n_out, scratch)  # fmt: skip
    elif plain:  # SPARSE: W0[i, lo:hi] -= rate x_i delta_0[r, lo:hi] for each row's nonzero x_i
        lr = params.dtype.type(rate)
        for r in range(m):
            d = delta[r * n_out + lo : r * n_out + hi]
            indices, values = work.nonzero[r], work.values[r]
            for c in range(work.counts[r]):
                i = indices[c]
                if i0 <= i < i1:
                    step, row = lr * values[c], params[w + i * n_out + lo :]
                    for j in range(width):
                        row[j] -= step * d[j]
    else:  # SPARSE: the used inputs' rows of the gradient, zeroed, then summed into
        grads = work.grads
        for c in range(n_cols):
            if i0 <= columns[c] < i1:
                row = grads[w + columns[c] * n_out + lo : w + columns[c] * n_out + hi]
                for j in range(width):
                    row[j] = 0
        for r in range(m):
            d = delta[r * n_out + lo : r * n_out + hi]
            indices, values = work.nonzero[r], work.values[r]
            for c in range(work.counts[r]):
                i = indices[c]
                if i0 <= i < i1:
                    v, row = values[c], grads[w + i * n_out + lo :]
                    for j in range(width):
                        row[j] += v * d[j]


@njit(**JIT_OPTIONS)
def _first_rows_step(params, state, layout, work, position, first_row, last_row, lazy,
                     opt, rate, penalty_scale, fused):  # fmt: skip
    """The optimizer's step of the first layer's rows ``first_row:last_row`` along the
    gradient :func:`_first_gradient` wrote (``position`` >= 0: the used inputs' rows; not
    where ``fused``: their step is done), a stretch of such rows (or of the others) at a time:
    the others along zeros (their momentum and moments decay), or not at all for a lazy
    optimizer. Returns the rows' sum of squared weights before the step (the L2 term), else
    0."""
    n_out = layout[0, N_OUT]
    w = layout[0, W_OFFSET]
    squares = 0.0
    i = first_row
    while i < last_row:
        used = position[i] >= 0
        end = i + 1
        while end < last_row and (position[end] >= 0) == used:
            end += 1
        first = w + i * n_out
        if used and not fused:
            squares += _step_segment(params, state, first, work.grads[first : w + end * n_out],
                                     opt, rate, 0.0 if lazy else penalty_scale)  # fmt: skip
        elif not used and not lazy:
            for start in range(i, end, ZERO_ROWS):
                rows = min(ZERO_ROWS, end - start)
                squares += _step_segment(params, state, w + start * n_out,
                                         work.zeros[: rows * n_out], opt, rate,
                                         penalty_scale)  # fmt: skip
        i = end
    return squares


@njit(**JIT_OPTIONS)
def minibatch_worker(tid, sync, params, state, layout, data, order, loss, opt, t, stats, work,
                     last_phase):  # fmt: skip
    """Thread ``tid``'s part of training on batches of ``work.capacity`` samples of
    ``order``, each step on the batch's mean gradient (the last, shorter batch over its own
    size); ``data`` a CompiledData, ``work`` a :data:`BatchWork`, ``sync`` the threads' barrier.

    Every thread of ``work.n_threads`` runs this with its ``tid`` at once; thread 0 alone
    keeps ``t`` and ``stats``. ``last_phase`` below FIRST_STEP stops each batch after that
    phase (a profiling aid; :data:`PHASES`): below BACKWARD the weights stay as they are. A
    batch of dense rows that hold a NaN or an infinity stops every thread before any training
    on it, counted in ``stats``' ``nonfinite_inputs``; every batch is checked, those of weight
    0 too.
    """
    n_threads = work.n_threads
    n_layers = layout.shape[0]
    n_in0, n_out0 = layout[0, N_IN], layout[0, N_OUT]
    rows_step = first_step_by_rows(n_in0, n_out0)
    units = np.zeros(n_layers + 1, np.int64)
    widest = 0
    for layer in range(n_layers):
        units[layer + 1] = units[layer] + layout[layer, N_OUT]
        widest = max(widest, layout[layer, N_OUT])
    dense = data.indptr.shape[0] == 0
    plain = is_plain_sgd(opt)
    lazy = opt.lazy and not plain
    weighted = data.weights.shape[0] > 0
    # this thread's own: BLAS's scalars, a scratch row, the batch's plan
    scratch = gemm_scratch(params)
    row = np.empty(widest, params.dtype)
    columns = np.empty(n_in0, np.int64)
    position = np.empty(n_in0, np.int64)
    spans = np.empty((n_in0 + 1, 2), np.int64)
    mask = np.empty((dense * -(-work.capacity // 8), n_in0), np.uint8)
    listed = np.empty(max(n_in0, work.capacity + TILE_ROWS), np.int64)  # a tile's steps
    mine, count = _my_blocks(tid, n_threads, work.bounds, work.n_blocks)
    n_chunks = work.n_blocks[0]  # the first layer's rows, stepped in this many fixed stretches
    record = stats[0]
    t0 = t[0]
    steps = 0
    for first in range(0, order.shape[0], work.capacity):
        m = min(work.capacity, order.shape[0] - first)
        total = _batch_weight(data, order, first, m)
        if tid == 0:
            record["n_seen"] += m
        # 1. each thread's rows (those of its blocks of rows, consecutive, where the batch
        # has several; else an even share), then the batch's plan (every thread alike)
        n_rows = row_blocks(m, layout[0, N_OUT])
        mine_first, mine_last = tid * n_rows // n_threads, (tid + 1) * n_rows // n_threads
        if n_rows > 1:
            lo, hi = mine_first * m // n_rows, mine_last * m // n_rows
        else:
            share = -(-m // n_threads)
            lo, hi = min(m, tid * share), min(m, (tid + 1) * share)
        _gather(tid, lo, hi, data, order, first, m, work)
        barrier(sync, n_threads)
        if dense and _holds_nonfinite(work):  # every thread stops here, before training on it
            if tid == 0:
                record["nonfinite_inputs"] += 1
            break
        if total == 0:  # a batch of weight 0 contributes nothing, and makes no update
            barrier(sync, n_threads)  # its flags are read before any thread gathers the next
            continue
        rate = step_size(opt, t0 + steps)
        penalty_scale = 1.0 / total if weighted else 1.0  # the L2 term over the batch's weight
        steps += 1
        path, n_cols, n_spans = _plan(m, n_in0, work, dense, lazy, columns, position, spans)
        bits = mask[:0]  # the rows' bits, where the tiles go by them
        if TILES and path == SPANS and _nonzero(work) <= LISTS_DENSITY * m * n_cols:
            _row_bits(work, m, mask)
            bits = mask
        fused = rows_step and _fuses_adam(opt, path, m, n_out0, params, state)
        if path == SPARSE and dense:  # the rows' nonzero entries: every thread needs them all
            _sparse_rows(lo, hi, n_in0, work)
            barrier(sync, n_threads)
        # 2-3. the forward pass and the loss: by blocks of rows, each through every layer, or
        # for a batch of one block, by blocks of units, a barrier after each layer
        if n_rows > 1:
            for k in range(mine_first, mine_last):
                work.row_losses[k, 0], work.row_losses[k, 1] = _rows_forward(
                    params, layout, work, m, units, order, first, path, n_cols, columns, spans,
                    n_spans, bits, listed, k * m // n_rows, (k + 1) * m // n_rows, loss,
                    weighted, last_phase, scratch)  # fmt: skip
        else:
            if last_phase >= FIRST_FORWARD:
                for k in range(count[0]):
                    lo, hi = mine[0, k, 0], mine[0, k, 1]
                    _first_forward(params, layout, work, path, n_cols, columns, spans, n_spans,
                                   bits, listed, 0, m, lo, hi, scratch)  # fmt: skip
                    _drop_block(work, layout, 0, m, units, order, first, 0, m, lo, hi)
            barrier(sync, n_threads)
            for layer in range(1, n_layers - 1):
                if last_phase >= FORWARD:
                    for k in range(count[layer]):
                        lo, hi = mine[layer, k, 0], mine[layer, k, 1]
                        _layer_forward(params, layout, layer, work, m, units, 0, m, lo, hi,
                                       scratch)  # fmt: skip
                        _drop_block(work, layout, layer, m, units, order, first, 0, m, lo, hi)
                barrier(sync, n_threads)
            if tid == 0 and last_phase >= FORWARD:  # the output layer and the loss
                if n_layers > 1:
                    _layer_forward(params, layout, n_layers - 1, work, m, units, 0, m, 0,
                                   layout[n_layers - 1, N_OUT], scratch)  # fmt: skip
                mean, correct = _loss(layout, work, m, units, loss, weighted, 0, m)
                work.row_losses[0, 0], work.row_losses[0, 1] = mean, correct
        barrier(sync, n_threads)
        if tid == 0 and last_phase >= FORWARD:
            mean, correct = 0.0, 0.0
            for k in range(n_rows):  # in block order, whoever computed each
                mean += work.row_losses[k, 0]
                correct += work.row_losses[k, 1]
            record["loss_sum"] += total * mean
            record["batch_loss_sum"] += m * mean
            record["correct_sum"] += correct
            record["weight_sum"] += total
        # 4. backward through the layers above the first, by blocks of each one's inputs
        for layer in range(n_layers - 1, 0, -1):
            if last_phase >= BACKWARD:
                below = layer - 1
                for k in range(count[below]):
                    lo, hi = mine[below, k, 0], mine[below, k, 1]
                    work.squares[layer, _block_index(work.bounds, below, lo)] = _layer_backward(
                        params, state, layout, layer, work, m, units, lo, hi, plain, opt, rate,
                        penalty_scale, scratch)  # fmt: skip
                for k in range(count[layer]):
                    _bias_step(params, state, layout, layer, work, m, units, mine[layer, k, 0],
                               mine[layer, k, 1], plain, opt, rate, row)  # fmt: skip
            if layer > 1:  # the layer below needs every block of this delta
                barrier(sync, n_threads)
        # 5. the first layer's step: for a wide layer, the gradient of this thread's blocks of
        # units, from the deltas it made; then, in fixed stretches of the rows (the inputs), a
        # narrow layer's gradient from the whole delta_0, and the step of the optimizers that
        # step every row
        if rows_step and n_layers > 1:  # every block of delta_0
            barrier(sync, n_threads)
        if last_phase >= FIRST_STEP:
            for k in range(count[0]):
                lo, hi = mine[0, k, 0], mine[0, k, 1]
                if not rows_step:
                    _first_gradient(params, state, layout, work, m, path, n_cols, columns,
                                    spans, n_spans, bits, listed, 0, n_in0, lo, hi, plain, opt,
                                    rate, False, scratch)  # fmt: skip
                _bias_step(params, state, layout, 0, work, m, units, lo, hi, plain, opt, rate,
                           row)  # fmt: skip
        if not plain and not rows_step:  # every block of the gradient
            barrier(sync, n_threads)
        if last_phase >= FIRST_STEP and (rows_step or not plain):
            for b in range(tid, n_chunks, n_threads):
                i0, i1 = b * n_in0 // n_chunks, (b + 1) * n_in0 // n_chunks
                if rows_step:
                    _first_gradient(params, state, layout, work, m, path, n_cols, columns,
                                    spans, n_spans, bits, listed, i0, i1, 0, n_out0, plain, opt,
                                    rate, fused, scratch)  # fmt: skip
                if not plain:
                    work.squares[0, b] = _first_rows_step(params, state, layout, work, position,
                                                          i0, i1, lazy, opt, rate,
                                                          penalty_scale, fused)  # fmt: skip
        barrier(sync, n_threads)
        if tid == 0 and opt.l2 * penalty_scale > 0 and last_phase >= FIRST_STEP:
            squares = 0.0
            for layer in range(n_layers):  # block by block, in order, whoever summed each
                for b in range(work.n_blocks[layer - 1] if layer > 0 else n_chunks):
                    squares += work.squares[layer, b]
            record["penalty_sum"] += m * penalty_scale * squares
    if tid == 0 and last_phase >= FIRST_STEP:
        t[0] = t0 + steps
