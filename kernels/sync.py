"""Threads that meet: a barrier for the threads of one compiled loop, made of atomic integers.

The mini-batch epoch runs the same compiled loop in a few Python threads at once (the kernels
release the GIL), each on its share of a batch, and the threads meet between the phases of a
step. A barrier here costs a microsecond or two: the threads spin rather than sleep at first,
because they wait for each other for a fraction of a millisecond at a time, and only while an
epoch runs. Numba's ``parallel=True`` would start a process-wide threading layer instead, which
either costs tens of microseconds a launch (workqueue) or breaks ``fork`` (OpenMP).

``sync`` (:func:`new_sync`) is an int32 array shared by the threads: the number of threads that
have arrived, the barrier's generation, and the number of threads asleep. A thread that has
spun for a while without the others arriving goes to sleep on the generation (Linux's futex),
and the last thread to arrive wakes it: on a machine busier than its cores, the thread it waits
for may be the one that needs the core, and a sleeping thread gives it up until it is needed.
(Yielding the core instead, ``sched_yield``, hands it to any other process for a whole time
slice, milliseconds.) Where there is no futex, a waiting thread yields.
"""

import ctypes
import ctypes.util
import platform
import sys

import llvmlite.binding as ll
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._config import JIT_OPTIONS

X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")

SPINS_BEFORE_SLEEP = 20000  # about fifty microseconds of pauses

# Linux's futex system call: its number, and the operations on a word of this process's own
FUTEX_CALLS = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}
FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 128, 129
WAKE_ALL = 2**31 - 1

# the items of ``sync``
ARRIVED, GENERATION, SLEEPING = 0, 1, 2


def new_sync():
    """A fresh barrier for the threads of one loop (see the module's docstring)."""
    return np.zeros(3, np.int32)


def _libc_symbol(name, registered_as):
    """The address of the C library's function ``name``, registered with LLVM under a name of
    fastnn's own (compiled kernels refer to it by name, so that they can be cached); None
    where there is no such function."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        address = ctypes.cast(getattr(libc, name), ctypes.c_void_p).value
    except (OSError, AttributeError, TypeError):
        return None
    ll.add_symbol(registered_as, address)
    return registered_as


@njit(**JIT_OPTIONS)
def _nothing(*args):
    return 0


def _yield_function():
    """``sched_yield``, or a function that returns at once (the barrier then only spins)."""
    if _libc_symbol("sched_yield", "fastnn_sched_yield") is None:
        return _nothing
    return types.ExternalFunction("fastnn_sched_yield", types.int32())


def _futex_function():
    """``syscall`` for the futex calls, where this is Linux on a processor whose call number
    is known; else None."""
    number = FUTEX_CALLS.get(platform.machine().lower())
    if not sys.platform.startswith("linux") or number is None:
        return None, 0
    if _libc_symbol("syscall", "fastnn_syscall") is None:
        return None, 0
    # syscall(number, address, operation, value, timeout, address2, value3): integers and
    # pointers alike travel in integer registers
    signature = types.int64(types.int64, types.voidptr, *([types.int64] * 5))
    return types.ExternalFunction("fastnn_syscall", signature), number


_sched_yield = _yield_function()
_syscall, _FUTEX = _futex_function()
HAS_FUTEX = _syscall is not None
if not HAS_FUTEX:
    _syscall = _nothing


def _item_pointer(context, builder, array_type, array, index):
    ary = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, ary, [index])


@intrinsic
def atomic_add(typingctx, array, index, value):
    """``array[index] += value`` as one atomic operation; returns the old value."""
    signature = array.dtype(array, index, value)

    def codegen(context, builder, sig, args):
        pointer = _item_pointer(context, builder, sig.args[0], args[0], args[1])
        value = context.cast(builder, args[2], sig.args[2], sig.args[0].dtype)
        return builder.atomic_rmw("add", pointer, value, "seq_cst")

    return signature, codegen


@intrinsic
def atomic_load(typingctx, array, index):
    """``array[index]``, read atomically (acquire: what was written before it is seen)."""
    signature = array.dtype(array, index)

    def codegen(context, builder, sig, args):
        pointer = _item_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(pointer, "acquire", sig.args[0].dtype.bitwidth // 8)

    return signature, codegen


@intrinsic
def atomic_store(typingctx, array, index, value):
    """``array[index] = value``, written atomically (release)."""
    signature = types.void(array, index, value)

    def codegen(context, builder, sig, args):
        pointer = _item_pointer(context, builder, sig.args[0], args[0], args[1])
        value = context.cast(builder, args[2], sig.args[2], sig.args[0].dtype)
        builder.store_atomic(value, pointer, "release", sig.args[0].dtype.bitwidth // 8)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def spin_pause(typingctx):
    """The CPU's hint that this is a spin loop (x86's ``pause``); nothing elsewhere."""

    def codegen(context, builder, sig, args):
        if X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            pause = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause")
            builder.call(pause, [])
        return context.get_dummy_value()

    return types.void(), codegen


@njit(**JIT_OPTIONS)
def _sleep_while(sync, generation):
    """Sleep until the barrier's generation is no longer ``generation`` (or a spurious wake-up:
    the caller checks again); yield the core where there is no futex."""
    if HAS_FUTEX:
        atomic_add(sync, SLEEPING, 1)
        _syscall(_FUTEX, sync[GENERATION:].ctypes, FUTEX_WAIT_PRIVATE, generation, 0, 0, 0)
        atomic_add(sync, SLEEPING, -1)
    else:
        _sched_yield()


@njit(**JIT_OPTIONS)
def barrier(sync, n_threads):
    """Wait until all ``n_threads`` threads have arrived (nothing for one thread). Whatever a
    thread wrote before the barrier, every thread sees after it."""
    if n_threads == 1:
        return
    generation = atomic_load(sync, GENERATION)
    if atomic_add(sync, ARRIVED, 1) == n_threads - 1:  # the last to arrive lets the others go
        atomic_store(sync, ARRIVED, 0)
        atomic_add(sync, GENERATION, 1)
        # a thread that went to sleep after this read sees the new generation in the kernel
        if HAS_FUTEX and atomic_load(sync, SLEEPING) > 0:
            _syscall(_FUTEX, sync[GENERATION:].ctypes, FUTEX_WAKE_PRIVATE, WAKE_ALL, 0, 0, 0)
    else:
        spins = 0
        while atomic_load(sync, GENERATION) == generation:
            if spins < SPINS_BEFORE_SLEEP:
                spin_pause()
                spins += 1
            else:
                _sleep_while(sync, generation)
