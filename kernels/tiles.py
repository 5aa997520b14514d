"""Matrix products by register tiles, for the shapes of the mini-batch epoch.

The first layer's products of a batch run over a few rows at a time (a block of the batch's
rows, a stretch of its inputs) with leading dimensions of the whole matrices. OpenBLAS packs
both operands for each such call and reaches 80-84 GFLOP/s on them in float32 on one core of
the development machine (AMD Zen 4); a register tile that reads the operands in place reaches
about 116 (see the performance notes).

:func:`tiled_gemm` computes ``C = alpha op(A) B + beta C`` (``op(A)`` is ``A`` or its
transpose, ``B`` as stored) by tiles of :data:`TILE_ROWS` rows and two vectors' width of
columns (32 float32 or 16 float64 columns): each tile keeps its ``TILE_ROWS x 2`` vectors of
sums in registers through the whole inner dimension, loading a row of ``B`` and broadcasting
an element of each row of ``op(A)`` per step, one fused multiply-add per vector. The rows
left over go in tiles of 4, 2 and 1 rows; the columns left over are the caller's. Each entry
of ``C`` is the sum over ``k`` in order, so its rounding depends on nothing but the operands.

:func:`picked_gemm` runs the same tiles over a list of the inputs a batch uses: as the steps
of the inner dimension (the first layer's forward product, all in one pass, where a product
per stretch of inputs would write ``C`` out and read it back for each stretch), or as rows
(the first layer's gradient, in whole tiles of 8 rows, where each stretch would leave a few
rows to smaller tiles), or one tile at a time over both a list of rows and a list of steps
(:data:`BOTH`): the epoch gives each tile the steps where its rows' inputs are not all zero,
which leaves out about a third of an MNIST batch's steps. A step left out adds nothing: a
product with a zero is a zero (where the other operand is finite). The loop of a listed
tile is not unrolled: unrolled, it runs out of registers. :func:`adam_rows_gemm` takes
Adam's step of the rows of ``C`` along the tile's sums, in registers.

The tile is written in LLVM IR (:func:`_tile`), as Numba cannot hold an array in registers.
It is used where Numba compiles for a processor with AVX-512 and FMA (:data:`TILES`): on
others a vector of 16 floats is split or emulated, and BLAS is the better choice.
"""

import llvmlite.binding as ll
import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.extending import intrinsic

from ._config import EXACT_OPTIONS, JIT_OPTIONS


def _target_has(feature):
    """Whether the processor Numba compiles for has ``feature``: the host's, unless
    ``NUMBA_CPU_NAME`` names another (with ``NUMBA_CPU_FEATURES``)."""
    if config.CPU_NAME and config.CPU_NAME != "host":
        return f"+{feature}" in (config.CPU_FEATURES or "").split(",")
    return bool(ll.get_host_cpu_features().get(feature, False))


# (not where the kernels run as Python, NUMBA_DISABLE_JIT=1: an intrinsic cannot)
TILES = not config.DISABLE_JIT and _target_has("avx512f") and _target_has("fma")

TILE_ROWS = 8

# The tiles read one operand whole for each tile of the other: B for each tile's rows, or A
# for each tile's columns, which must stay in cache (half of a 1 MB second-level cache).
IN_CACHE = 512 * 1024
_I32, _I64 = ir.IntType(32), ir.IntType(64)


def _splat(builder, vector_type, value):
    """A vector of ``vector_type`` with ``value`` in every lane."""
    undef = ir.Constant(vector_type, ir.Undefined)
    first = builder.insert_element(undef, value, ir.Constant(_I32, 0))
    zeros = ir.Constant(ir.VectorType(_I32, vector_type.count), [0] * vector_type.count)
    return builder.shuffle_vector(first, undef, zeros)


def _no_unrolling(module, branch):
    """Mark the loop whose back edge is ``branch`` not to be unrolled (loop metadata: a node
    that names itself first, then the hint)."""
    hint = module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")])
    node = ir.values.MDValue(module, [], name=str(len(module.metadata)))
    node.operands = (node, hint)
    branch.set_metadata("llvm.loop", node)


def _tile_codegen(rows, scalar, lanes, picks, adam=False):
    """The code of one tile of ``rows`` rows and ``2 lanes`` columns of ``scalar`` floats,
    over every step of the inner dimension and row (``picks`` :data:`EVERY`), the steps
    listed (:data:`STEPS`) or the rows listed (:data:`ROWS`); with ``adam``, Adam's step of
    ``C`` along the tile's sums (:func:`_adam_epilogue`) instead of ``alpha sums + beta C``."""
    vector = ir.VectorType(scalar, lanes)
    single = isinstance(scalar, ir.FloatType)
    kind = f"v{lanes}{'f32' if single else 'f64'}"
    align = 4 if single else 8  # an element's: the tiles' rows start anywhere

    def codegen(context, builder, sig, args):
        if adam:
            a_at, a_rows, a_steps, b_at, ldb, c_at, ldc, k, listed_at, m_at, v_at = args[:11]
        else:
            a_at, a_rows, a_steps, b_at, ldb, c_at, ldc, k, alpha, beta, listed_at = args
        fma_type = ir.FunctionType(vector, [vector] * 3)
        fma = builder.module.declare_intrinsic(f"llvm.fma.{kind}", fnty=fma_type)
        pointer = scalar.as_pointer()
        a, b, c = (builder.inttoptr(at, pointer) for at in (a_at, b_at, c_at))
        listed = builder.inttoptr(listed_at, _I64.as_pointer())
        zero = ir.Constant(vector, [0.0] * lanes)
        # the rows of op(A) and of C: r, or the r-th listed (their offsets in A worked out
        # once; the others' in the loop, where LLVM steps from row to row by adding a_rows)
        rows_listed = picks in (ROWS, BOTH)
        row_of = [builder.load(builder.gep(listed, [ir.Constant(_I64, r)])) if rows_listed
                  else ir.Constant(_I64, r) for r in range(rows)]  # fmt: skip
        listed_offsets = [builder.mul(row, a_rows) for row in row_of] if rows_listed else None
        # the listed steps: from the list's start, or after a whole tile's rows (BOTH)
        steps = builder.gep(listed, [ir.Constant(_I64, TILE_ROWS if picks == BOTH else 0)])
        entry = builder.block
        loop = builder.append_basic_block("tile.loop")
        done = builder.append_basic_block("tile.done")
        builder.cbranch(builder.icmp_signed(">", k, ir.Constant(_I64, 0)), loop, done)

        # the loop over the inner dimension: sums[r][h] += op(A)[r, s] * B[s, h-th half] for
        # the step s (or the step-th listed)
        builder.position_at_end(loop)
        step = builder.phi(_I64)
        step.add_incoming(ir.Constant(_I64, 0), entry)
        sums = [[builder.phi(vector) for _ in range(2)] for _ in range(rows)]
        for row in sums:
            for s in row:
                s.add_incoming(zero, entry)
        at_step = builder.load(builder.gep(steps, [step])) if picks in (STEPS, BOTH) else step
        b_row = builder.gep(b, [builder.mul(at_step, ldb)])
        halves = [builder.load(builder.bitcast(builder.gep(b_row, [ir.Constant(_I64, h * lanes)]),
                                               vector.as_pointer()), align=align)
                  for h in range(2)]  # fmt: skip
        a_step = builder.gep(a, [builder.mul(at_step, a_steps)])
        new = []
        for r in range(rows):
            offset = (listed_offsets[r] if rows_listed
                      else builder.mul(ir.Constant(_I64, r), a_rows))  # fmt: skip
            element = builder.load(builder.gep(a_step, [offset]))
            broadcast = _splat(builder, vector, element)
            new.append([builder.call(fma, [broadcast, halves[h], sums[r][h]]) for h in range(2)])
        following = builder.add(step, ir.Constant(_I64, 1))
        end = builder.block
        step.add_incoming(following, end)
        for r in range(rows):
            for h in range(2):
                sums[r][h].add_incoming(new[r][h], end)
        back = builder.cbranch(builder.icmp_signed("<", following, k), loop, done)
        if picks != EVERY:  # unrolled, the loop of a listed tile spills its sums to memory
            _no_unrolling(builder.module, back)

        builder.position_at_end(done)
        totals = [[builder.phi(vector) for _ in range(2)] for _ in range(rows)]
        for r in range(rows):
            for h in range(2):
                totals[r][h].add_incoming(zero, entry)
                totals[r][h].add_incoming(new[r][h], end)

        def at(base, r, h):  # the address of C's (or a moment's) r-th row, h-th half
            row = builder.gep(base, [builder.mul(row_of[r], ldc)])
            return builder.bitcast(builder.gep(row, [ir.Constant(_I64, h * lanes)]),
                                   vector.as_pointer())  # fmt: skip

        if adam:
            bases = [c] + [builder.inttoptr(x, pointer) for x in (m_at, v_at)]
            scalars = [_splat(builder, vector, x) for x in args[11:]]
            for r in range(rows):
                for h in range(2):
                    _adam_epilogue(builder, kind, vector, align, totals[r][h],
                                   [at(base, r, h) for base in bases], scalars)  # fmt: skip
            return context.get_dummy_value()
        # C = alpha sums + beta C; C is not read when beta is 0 (as BLAS)
        scale, keep = _splat(builder, vector, alpha), _splat(builder, vector, beta)
        overwrite = builder.fcmp_ordered("==", beta, ir.Constant(scalar, 0.0))
        for r in range(rows):
            for h in range(2):
                target = at(c, r, h)
                product = builder.fmul(scale, totals[r][h])
                with builder.if_else(overwrite) as (then, otherwise):
                    with then:
                        builder.store(product, target, align=align)
                    with otherwise:
                        old = builder.load(target, align=align)
                        builder.store(builder.call(fma, [keep, old, product]), target,
                                      align=align)  # fmt: skip
        return context.get_dummy_value()

    return codegen


def _adam_epilogue(builder, kind, vector, align, g, targets, scalars):
    """Adam's step of a vector of weights along their gradient ``g``, as
    :func:`.adam._adam_step` computes it, operation by operation and without fastmath flags
    (the same bits): ``targets`` the addresses of the weights and their two moments,
    ``scalars`` the splatted ``lr, b1, b2, 1 - b1, 1 - b2, eps, tiny``."""
    lr, b1, b2, one_b1, one_b2, eps, tiny = scalars
    module = builder.module
    unary = ir.FunctionType(vector, [vector])
    fabs = module.declare_intrinsic(f"llvm.fabs.{kind}", fnty=unary)
    sqrt = module.declare_intrinsic(f"llvm.sqrt.{kind}", fnty=unary)

    def flushed(x):  # zero where |x| < tiny (a subnormal number); NaN stays NaN
        small = builder.fcmp_ordered("<", builder.call(fabs, [x]), tiny)
        return builder.select(small, builder.fsub(x, x), x)

    p, m, v = (builder.load(target, align=align) for target in targets)
    m = flushed(builder.fadd(builder.fmul(b1, m), builder.fmul(one_b1, g)))
    v = flushed(builder.fadd(builder.fmul(b2, v), builder.fmul(one_b2, builder.fmul(g, g))))
    step = builder.fdiv(builder.fmul(lr, m), builder.fadd(builder.call(sqrt, [v]), eps))
    for value, target in zip((builder.fsub(p, step), m, v), targets):
        builder.store(value, target, align=align)


def _tile(rows, picks):
    """The intrinsic of a tile of ``rows`` rows: ``(a, a_rows, a_steps, b, ldb, c, ldc, k,
    alpha, beta, listed)``, the addresses of the tile's first elements and the strides in
    elements (``op(A)[r, s]`` is at ``a + r a_rows + s a_steps``), alpha and beta in the
    dtype, and the address of what ``picks`` lists (unread for EVERY): for STEPS, the
    ``k`` steps of the inner dimension in the order of the sum; for ROWS, the tile's rows (of
    ``op(A)`` and of ``C``)."""

    @intrinsic
    def tile(typingctx, a, a_rows, a_steps, b, ldb, c, ldc, k, alpha, beta, listed):
        if alpha not in (types.float32, types.float64):
            return None
        scalar, lanes = (ir.FloatType(), 16) if alpha == types.float32 else (ir.DoubleType(), 8)
        signature = types.void(*([types.int64] * 8), alpha, alpha, types.int64)
        return signature, _tile_codegen(rows, scalar, lanes, picks)

    return tile


def _adam_tile(rows, picks):
    """The intrinsic of a tile of ``rows`` listed rows (``picks`` ROWS or BOTH) whose sums are
    the gradient of ``C`` and step it by Adam: ``(a, a_rows, a_steps, b, ldb, c, ldc, k,
    listed, m, v, lr, b1, b2, one_b1, one_b2, eps, tiny)``, as :func:`_tile`'s, with the
    addresses of the two moments (laid out as ``C``) and Adam's scalars in the dtype."""

    @intrinsic
    def tile(typingctx, a, a_rows, a_steps, b, ldb, c, ldc, k, listed, m, v, lr, b1, b2,
             one_b1, one_b2, eps, tiny):  # fmt: skip
        if lr not in (types.float32, types.float64):
            return None
        scalar, lanes = (ir.FloatType(), 16) if lr == types.float32 else (ir.DoubleType(), 8)
        signature = types.void(*([types.int64] * 11), *([lr] * 7))
        return signature, _tile_codegen(rows, scalar, lanes, picks, adam=True)

    return tile


# what a tile runs over: every step and row, the steps listed, the rows listed, or both
# listed (the tile's rows first, then from the TILE_ROWS-th item on its steps)
EVERY, STEPS, ROWS, BOTH = 0, 1, 2, 3
_tile_8, _tile_4, _tile_2, _tile_1 = (_tile(rows, EVERY) for rows in (8, 4, 2, 1))
_steps_8, _steps_4, _steps_2, _steps_1 = (_tile(rows, STEPS) for rows in (8, 4, 2, 1))
_rows_8, _rows_4, _rows_2, _rows_1 = (_tile(rows, ROWS) for rows in (8, 4, 2, 1))
_both_8, _both_4, _both_2, _both_1 = (_tile(rows, BOTH) for rows in (8, 4, 2, 1))
_adam_8, _adam_4, _adam_2, _adam_1 = (_adam_tile(rows, ROWS) for rows in (8, 4, 2, 1))
_adam_both_8, _adam_both_4, _adam_both_2, _adam_both_1 = (
    _adam_tile(rows, BOTH) for rows in (8, 4, 2, 1)
)
_NONE = np.zeros(0, np.int64)  # the list of an EVERY tile (unread)


@njit(**JIT_OPTIONS)
def tiled_gemm(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """``C[:, :n'] = alpha op(A) B[:, :n'] + beta C[:, :n']`` for the largest ``n'`` up to
    ``n`` that is a multiple of a tile's columns (two vectors of 512 bits: 32 float32 or 16
    float64 columns), on row-major matrices as :func:`.blas.gemm` takes them (``a``, ``b``,
    ``c`` flat from their first items); returns ``n'``: the columns from there are the
    caller's. ``n'`` is 0 (nothing done) where neither operand fits in :data:`IN_CACHE`."""
    return picked_gemm(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, _NONE, EVERY)


@njit(**JIT_OPTIONS)
def picked_gemm(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, listed, picks):
    """:func:`tiled_gemm` over some steps of the inner dimension or some rows, listed in
    ``listed`` (int64): with ``picks`` STEPS, ``op(A)`` is ``op(A)[:, listed[:k]]`` and ``B``
    ``B[listed[:k]]`` (the sum runs over the listed steps in their order); with ROWS,
    ``op(A)`` is ``op(A)[listed[:m]]`` and ``C`` ``C[listed[:m]]``, the other rows of ``C``
    left alone; with BOTH, one tile (``m`` 8, 4, 2 or 1) of the rows ``listed[:m]`` over the
    steps ``listed[TILE_ROWS : TILE_ROWS + k]``; EVERY: :func:`tiled_gemm`."""
    width = 2 * 64 // c.itemsize
    covered = n - n % width
    size = c.itemsize
    by_rows = k * covered * size <= IN_CACHE  # B stays in cache: a tile's rows at a time
    if covered == 0 or not (by_rows or m * k * size <= IN_CACHE):
        return 0
    a_at, b_at, c_at = np.int64(a.ctypes.data), np.int64(b.ctypes.data), np.int64(c.ctypes.data)
    at = (a_at, b_at, c_at, np.int64(listed.ctypes.data))
    a_rows, a_steps = (1, lda) if trans_a else (lda, 1)
    scale, keep = c.dtype.type(alpha), c.dtype.type(beta)
    if by_rows:
        r = 0
        while r < m:
            rows = _rows_from(m - r)
            for j in range(0, covered, width):
                _tile_at(rows, picks, at, a_rows, a_steps, ldb, ldc, k, scale, keep, r, j, size)
            r += rows
    else:  # A stays in cache: a tile's columns at a time
        for j in range(0, covered, width):
            r = 0
            while r < m:
                rows = _rows_from(m - r)
                _tile_at(rows, picks, at, a_rows, a_steps, ldb, ldc, k, scale, keep, r, j, size)
                r += rows
    return covered


@njit(**EXACT_OPTIONS)  # fastmath flags, which Numba puts on every instruction, would fuse
def adam_rows_gemm(m, n, k, a, lda, b, ldb, c, moment, square, ldc, listed, picks, scalars):
    """Adam's step of the rows ``listed[:m]`` of ``C`` (and of the moments ``moment`` and
    ``square``, laid out as ``C``) along the gradient ``A[:, listed[:m]]^T B`` (``picks``
    ROWS; BOTH: one tile of rows, over the steps listed after them, as :func:`picked_gemm`),
    as :func:`picked_gemm` computes it with ``trans_a``, ``alpha`` 1 and ``beta`` 0 into a
    gradient that :func:`.adam.adam_update` then steps along: the same bits, without
    writing the gradient out and reading it back. ``scalars`` :func:`.adam.adam_scalars`.
    Returns the columns done as :func:`tiled_gemm` does; 0 (nothing done) where ``B`` does
    not fit in :data:`IN_CACHE`."""
    width = 2 * 64 // c.itemsize
    covered = n - n % width
    size = c.itemsize
    if covered == 0 or k * covered * size > IN_CACHE:
        return 0
    a_at, b_at, c_at = np.int64(a.ctypes.data), np.int64(b.ctypes.data), np.int64(c.ctypes.data)
    m_at, v_at = np.int64(moment.ctypes.data), np.int64(square.ctypes.data)
    listed_at = np.int64(listed.ctypes.data)
    lr, b1, b2, one_b1, one_b2, eps, tiny = scalars
    r = 0
    while r < m:
        rows = _rows_from(m - r)
        for j in range(0, covered, width):  # the rows' places are listed from the r-th on
            places = (a_at, 1, lda, b_at + size * j, ldb, c_at + size * j, ldc, k,
                      listed_at + 8 * r, m_at + size * j, v_at + size * j)  # fmt: skip
            if picks == BOTH:
                if rows == 8:
                    _adam_both_8(*places, lr, b1, b2, one_b1, one_b2, eps, tiny)
                elif rows == 4:
                    _adam_both_4(*places, lr, b1, b2, one_b1, one_b2, eps, tiny)
                elif rows == 2:
                    _adam_both_2(*places, lr, b1, b2, one_b1, one_b2, eps, tiny)
                else:
                    _adam_both_1(*places, lr, b1, b2, one_b1, one_b2, eps, tiny)
            elif rows == 8:
                _adam_8(*places, lr, b1, b2, one_b1, one_b2, eps, tiny)
            elif rows == 4:
                _adam_4(*places, lr, b1, b2, one_b1, one_b2, eps, tiny)
            elif rows == 2:
                _adam_2(*places, lr, b1, b2, one_b1, one_b2, eps, tiny)
            else:
                _adam_1(*places, lr, b1, b2, one_b1, one_b2, eps, tiny)
        r += rows
    return covered


@njit(**JIT_OPTIONS)
def _tile_at(rows, picks, at, a_rows, a_steps, ldb, ldc, k, scale, keep, r, j, size):
    """The tile of ``rows`` rows from row ``r`` (or the ``r``-th listed) and column ``j`` of
    ``C``; ``at`` the addresses of A, B, C and the list."""
    a_at, b_at, c_at, listed = at
    first_b = b_at + size * j
    if picks in (ROWS, BOTH):  # the rows' places are listed (int64) from the r-th on
        first_a, first_c, listed = a_at, c_at + size * j, listed + 8 * r
    else:
        first_a, first_c = a_at + size * r * a_rows, c_at + size * (r * ldc + j)
    args = (first_a, a_rows, a_steps, first_b, ldb, first_c, ldc, k, scale, keep, listed)
    if picks == EVERY:
        if rows == 8:
            _tile_8(*args)
        elif rows == 4:
            _tile_4(*args)
        elif rows == 2:
            _tile_2(*args)
        else:
            _tile_1(*args)
    elif picks == STEPS:
        if rows == 8:
            _steps_8(*args)
        elif rows == 4:
            _steps_4(*args)
        elif rows == 2:
            _steps_2(*args)
        else:
            _steps_1(*args)
    elif picks == BOTH:
        if rows == 8:
            _both_8(*args)
        elif rows == 4:
            _both_4(*args)
        elif rows == 2:
            _both_2(*args)
        else:
            _both_1(*args)
    elif rows == 8:
        _rows_8(*args)
    elif rows == 4:
        _rows_4(*args)
    elif rows == 2:
        _rows_2(*args)
    else:
        _rows_1(*args)


@njit(**JIT_OPTIONS)
def _rows_from(left):
    """The rows of the next tile, for ``left`` rows still to do: 8, else 4, 2 or 1."""
    rows = TILE_ROWS
    while rows > left:
        rows //= 2
    return rows
