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

The tile is written in LLVM IR (:func:`_tile`), as Numba cannot hold an array in registers.
It is used where Numba compiles for a processor with AVX-512 and FMA (:data:`TILES`): on
others a vector of 16 floats is split or emulated, and BLAS is the better choice.
"""

import llvmlite.binding as ll
import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.extending import intrinsic

from ._config import JIT_OPTIONS


def _target_has(feature):
    """Whether the processor Numba compiles for has ``feature``: the host's, unless
    ``NUMBA_CPU_NAME`` names another (with ``NUMBA_CPU_FEATURES``)."""
    if config.CPU_NAME and config.CPU_NAME != "host":
        return f"+{feature}" in (config.CPU_FEATURES or "").split(",")
    return bool(ll.get_host_cpu_features().get(feature, False))


TILES = _target_has("avx512f") and _target_has("fma")

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


def _tile_codegen(rows, scalar, lanes):
    """The code of one tile of ``rows`` rows and ``2 lanes`` columns of ``scalar`` floats."""
    vector = ir.VectorType(scalar, lanes)
    single = isinstance(scalar, ir.FloatType)
    name = f"llvm.fma.v{lanes}{'f32' if single else 'f64'}"
    align = 4 if single else 8  # an element's: the tiles' rows start anywhere

    def codegen(context, builder, sig, args):
        a_at, a_rows, a_steps, b_at, ldb, c_at, ldc, k, alpha, beta = args
        fma = builder.module.declare_intrinsic(name, fnty=ir.FunctionType(vector, [vector] * 3))
        pointer = scalar.as_pointer()
        a, b, c = (builder.inttoptr(at, pointer) for at in (a_at, b_at, c_at))
        zero = ir.Constant(vector, [0.0] * lanes)
        entry = builder.block
        loop = builder.append_basic_block("tile.loop")
        done = builder.append_basic_block("tile.done")
        builder.cbranch(builder.icmp_signed(">", k, ir.Constant(_I64, 0)), loop, done)

        # the loop over the inner dimension: sums[r][h] += op(A)[r, step] * B[step, h-th half]
        builder.position_at_end(loop)
        step = builder.phi(_I64)
        step.add_incoming(ir.Constant(_I64, 0), entry)
        sums = [[builder.phi(vector) for _ in range(2)] for _ in range(rows)]
        for row in sums:
            for s in row:
                s.add_incoming(zero, entry)
        b_row = builder.gep(b, [builder.mul(step, ldb)])
        halves = [builder.load(builder.bitcast(builder.gep(b_row, [ir.Constant(_I64, h * lanes)]),
                                               vector.as_pointer()), align=align)
                  for h in range(2)]  # fmt: skip
        a_step = builder.gep(a, [builder.mul(step, a_steps)])
        new = []
        for r in range(rows):
            element = builder.load(builder.gep(a_step, [builder.mul(ir.Constant(_I64, r),
                                                                     a_rows)]))  # fmt: skip
            broadcast = _splat(builder, vector, element)
            new.append([builder.call(fma, [broadcast, halves[h], sums[r][h]]) for h in range(2)])
        following = builder.add(step, ir.Constant(_I64, 1))
        end = builder.block
        step.add_incoming(following, end)
        for r in range(rows):
            for h in range(2):
                sums[r][h].add_incoming(new[r][h], end)
        builder.cbranch(builder.icmp_signed("<", following, k), loop, done)

        # C = alpha sums + beta C; C is not read when beta is 0 (as BLAS)
        builder.position_at_end(done)
        totals = [[builder.phi(vector) for _ in range(2)] for _ in range(rows)]
        for r in range(rows):
            for h in range(2):
                totals[r][h].add_incoming(zero, entry)
                totals[r][h].add_incoming(new[r][h], end)
        scale, keep = _splat(builder, vector, alpha), _splat(builder, vector, beta)
        overwrite = builder.fcmp_ordered("==", beta, ir.Constant(scalar, 0.0))
        for r in range(rows):
            c_row = builder.gep(c, [builder.mul(ir.Constant(_I64, r), ldc)])
            for h in range(2):
                total = totals[r][h]
                target = builder.bitcast(builder.gep(c_row, [ir.Constant(_I64, h * lanes)]),
                                         vector.as_pointer())  # fmt: skip
                product = builder.fmul(scale, total)
                with builder.if_else(overwrite) as (then, otherwise):
                    with then:
                        builder.store(product, target, align=align)
                    with otherwise:
                        old = builder.load(target, align=align)
                        builder.store(builder.call(fma, [keep, old, product]), target,
                                      align=align)  # fmt: skip
        return context.get_dummy_value()

    return codegen


def _tile(rows):
    """The intrinsic of a tile of ``rows`` rows: ``(a, a_rows, a_steps, b, ldb, c, ldc, k,
    alpha, beta)``, the addresses of the tile's first elements and the strides in elements
    (``op(A)[r, s]`` is at ``a + r a_rows + s a_steps``), alpha and beta in the dtype."""

    @intrinsic
    def tile(typingctx, a, a_rows, a_steps, b, ldb, c, ldc, k, alpha, beta):
        if alpha not in (types.float32, types.float64):
            return None
        scalar, lanes = (ir.FloatType(), 16) if alpha == types.float32 else (ir.DoubleType(), 8)
        signature = types.void(*([types.int64] * 8), alpha, alpha)
        return signature, _tile_codegen(rows, scalar, lanes)

    return tile


_tile_8, _tile_4, _tile_2, _tile_1 = _tile(8), _tile(4), _tile(2), _tile(1)


@njit(**JIT_OPTIONS)
def tiled_gemm(trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """``C[:, :n'] = alpha op(A) B[:, :n'] + beta C[:, :n']`` for the largest ``n'`` up to
    ``n`` that is a multiple of a tile's columns (two vectors of 512 bits: 32 float32 or 16
    float64 columns), on row-major matrices as :func:`.blas.gemm` takes them (``a``, ``b``,
    ``c`` flat from their first items); returns ``n'``: the columns from there are the
    caller's. ``n'`` is 0 (nothing done) where neither
    operand fits in :data:`IN_CACHE`."""
    width = 2 * 64 // c.itemsize
    covered = n - n % width
    size = c.itemsize
    by_rows = k * covered * size <= IN_CACHE  # B stays in cache: a tile's rows at a time
    if covered == 0 or not (by_rows or m * k * size <= IN_CACHE):
        return 0
    a_at, b_at, c_at = np.int64(a.ctypes.data), np.int64(b.ctypes.data), np.int64(c.ctypes.data)
    a_rows, a_steps = (1, lda) if trans_a else (lda, 1)
    scale, keep = c.dtype.type(alpha), c.dtype.type(beta)
    if by_rows:
        r = 0
        while r < m:
            rows = _rows_from(m - r)
            for j in range(0, covered, width):
                _tile_at(rows, a_at, a_rows, a_steps, b_at, ldb, c_at, ldc, k, scale, keep, r,
                         j, size)  # fmt: skip
            r += rows
    else:  # A stays in cache: a tile's columns at a time
        for j in range(0, covered, width):
            r = 0
            while r < m:
                rows = _rows_from(m - r)
                _tile_at(rows, a_at, a_rows, a_steps, b_at, ldb, c_at, ldc, k, scale, keep, r,
                         j, size)  # fmt: skip
                r += rows
    return covered


@njit(**JIT_OPTIONS)
def _tile_at(rows, a_at, a_rows, a_steps, b_at, ldb, c_at, ldc, k, scale, keep, r, j, size):
    """The tile of ``rows`` rows from row ``r`` and column ``j`` of ``C``."""
    first_a, first_b = a_at + size * r * a_rows, b_at + size * j
    first_c = c_at + size * (r * ldc + j)
    if rows == 8:
        _tile_8(first_a, a_rows, a_steps, first_b, ldb, first_c, ldc, k, scale, keep)
    elif rows == 4:
        _tile_4(first_a, a_rows, a_steps, first_b, ldb, first_c, ldc, k, scale, keep)
    elif rows == 2:
        _tile_2(first_a, a_rows, a_steps, first_b, ldb, first_c, ldc, k, scale, keep)
    else:
        _tile_1(first_a, a_rows, a_steps, first_b, ldb, first_c, ldc, k, scale, keep)


@njit(**JIT_OPTIONS)
def _rows_from(left):
    """The rows of the next tile, for ``left`` rows still to do: 8, else 4, 2 or 1."""
    rows = TILE_ROWS
    while rows > left:
        rows //= 2
    return rows
