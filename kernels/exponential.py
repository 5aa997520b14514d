"""The exponential in arithmetic that vectorises: :func:`exp`, for float32 and float64.

``math.exp`` compiles to a call of the C library's ``exp`` for each number, which no loop can
vectorise. :func:`exp` is the textbook method in plain arithmetic instead: ``x = k ln 2 + r``
with ``k`` the integer nearest ``x / ln 2`` (``ln 2`` split in two parts, the first with enough
trailing zeros that ``k`` times it is exact), ``e^r`` by a polynomial on ``|r| <= ln(2) / 2``,
and ``2^k`` written as the bits of a float. It is within one unit in the last place of the
exact value over the whole range (the tests check it against the C library's ``exp``, whose
errors are below half a unit); it gives ``inf`` above the largest
float's logarithm, zero below the smallest subnormal's (flushed to zero below the smallest
normal number in the compiled epochs, which run with the CPU's flush-to-zero mode), and NaN
for NaN.

As plain Python (``NUMBA_DISABLE_JIT=1``), :func:`exp` is ``math.exp`` in the argument's type.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ._config import EXACT_OPTIONS


def exp(x):
    """``e**x`` for a float32 or float64 ``x``, in its type (see the module's docstring)."""
    try:
        return type(x)(math.exp(x))
    except OverflowError:
        return type(x)(math.inf)


@intrinsic
def _power_of_two(typingctx, k, like):
    """``2**k`` in the float type of ``like``, for an integer ``k`` in its normal exponents
    (``-126..127`` for float32, ``-1022..1023`` for float64): the float whose exponent field
    holds ``k`` plus the bias, and whose other bits are zero."""
    if not isinstance(k, types.Integer) or like not in (types.float32, types.float64):
        return None
    signature = like(k, like)
    wide = like == types.float64
    bits, bias, shift = (64, 1023, 52) if wide else (32, 127, 23)

    def codegen(context, builder, sig, args):
        integer = ir.IntType(bits)
        n = args[0]
        if n.type.width > bits:
            n = builder.trunc(n, integer)
        elif n.type.width < bits:
            n = builder.sext(n, integer)
        field = builder.shl(builder.add(n, ir.Constant(integer, bias)), ir.Constant(integer, shift))
        return builder.bitcast(field, ir.DoubleType() if wide else ir.FloatType())

    return signature, codegen


# float64: ln 2 = LN2_HI + LN2_LO, LN2_HI with its last 21 bits zero (k LN2_HI is exact for any
# k here); e^r by its Taylor series to r^13 (the next term is below 5e-18 for |r| <= ln(2) / 2)
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
C2, C3, C4, C5, C6, C7 = (1.0 / math.factorial(n) for n in range(2, 8))
C8, C9, C10, C11, C12, C13 = (1.0 / math.factorial(n) for n in range(8, 14))
LOWEST, HIGHEST = -746.0, 710.0  # e^x is 0 below, inf above (after rounding)

# float32: the same with float32 constants (Cephes's ``expf``: ln 2 = 0.693359375 -
# 2.12194440e-4, a polynomial of degree 7 fitted on the interval)
LOG2E_32 = np.float32(LOG2E)
LN2_HI_32, LN2_LO_32 = np.float32(0.693359375), np.float32(-2.12194440e-4)
P0, P1, P2, P3, P4, P5 = (np.float32(c) for c in (1.9875691500e-4, 1.3981999507e-3,
                                                   8.3334519073e-3, 4.1665795894e-2,
                                                   1.6666665459e-1, 5.0000001201e-1))  # fmt: skip
ONE_32, HALF_32 = np.float32(1), np.float32(0.5)
LOWEST_32, HIGHEST_32 = np.float32(-104.0), np.float32(89.0)


def _exp64(x):
    c = x if x > LOWEST else LOWEST  # NaN goes to LOWEST here, and is given back at the end
    c = c if c < HIGHEST else HIGHEST
    k = np.floor(c * LOG2E + 0.5)
    r = (c - k * LN2_HI) - k * LN2_LO
    p = ((((C13 * r + C12) * r + C11) * r + C10) * r + C9) * r + C8
    p = ((((((p * r + C7) * r + C6) * r + C5) * r + C4) * r + C3) * r + C2) * r
    p = (p * r + r) + 1.0
    n = np.int64(k)
    half = n >> 1  # 2^k as 2^half 2^(k - half): both normal for every k from LOWEST to HIGHEST
    e = p * _power_of_two(half, x) * _power_of_two(n - half, x)
    return e if x == x else x


def _exp32(x):
    c = x if x > LOWEST_32 else LOWEST_32
    c = c if c < HIGHEST_32 else HIGHEST_32
    k = np.floor(c * LOG2E_32 + HALF_32)
    r = (c - k * LN2_HI_32) - k * LN2_LO_32
    p = ((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + P5
    p = (p * (r * r) + r) + ONE_32
    n = np.int64(k)
    half = n >> 1
    e = p * _power_of_two(half, x) * _power_of_two(n - half, x)
    return e if x == x else x


@overload(exp, jit_options={k: EXACT_OPTIONS[k] for k in ("fastmath", "error_model")})
def _exp_overload(x):
    if x == types.float64:
        return _exp64
    if x == types.float32:
        return _exp32
    return None
