"""The CPU's floating-point mode inside the compiled epochs: subnormal numbers flushed to zero.

Arithmetic that produces or reads a subnormal number (below 1.2e-38 in float32, 2.2e-308 in
float64) takes a microcode assist on x86, about a hundred times slower than normal arithmetic.
Late in training the squared gradients of confidently classified samples underflow there, and
per-sample Adam slowed from about 95 to 150 microseconds a sample over an MNIST epoch. So each
epoch runs with the flush-to-zero and denormals-are-zero bits of the thread's MXCSR register set
(as XLA does for JAX on the CPU), and the register is put back afterwards. Only numbers below the
smallest normal number change (to zero). On other processors the mode is left alone.

The mode is set and restored by calls from Python around a kernel, never inside one: LLVM does
not order floating-point arithmetic against a change of the mode within a function.
"""

import contextlib
import platform

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils, config
from numba.extending import intrinsic

from ._config import JIT_OPTIONS

X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
FLUSH_BITS = 0x8040  # MXCSR: flush to zero (bit 15) and denormals are zero (bit 6)


def _mxcsr_call(builder, name, pointer):
    fnty = ir.FunctionType(ir.VoidType(), [ir.PointerType(ir.IntType(8))])
    function = cgutils.get_or_insert_function(builder.module, fnty, name)
    builder.call(function, [builder.bitcast(pointer, ir.PointerType(ir.IntType(8)))])


@intrinsic
def _read_mode(typingctx):
    def codegen(context, builder, sig, args):
        if not X86:
            return context.get_constant(types.uint32, 0)
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr_call(builder, "llvm.x86.sse.stmxcsr", slot)
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _write_mode(typingctx, mode):
    def codegen(context, builder, sig, args):
        if X86:
            slot = cgutils.alloca_once_value(builder, args[0])
            _mxcsr_call(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.void(types.uint32), codegen


@njit(**JIT_OPTIONS)
def _flush():
    previous = _read_mode()
    _write_mode(previous | FLUSH_BITS)
    return previous


@njit(**JIT_OPTIONS)
def _restore(previous):
    _write_mode(previous)


@contextlib.contextmanager
def subnormals_flushed():
    """Run the block with subnormal numbers flushed to zero (x86), then restore the mode. With
    ``NUMBA_DISABLE_JIT=1`` (the kernels run as Python) the mode is left alone."""
    if config.DISABLE_JIT:
        yield
        return
    previous = _flush()
    try:
        yield
    finally:
        _restore(previous)
