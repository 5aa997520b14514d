"""The one place where the Numba options of every kernel are set.

- fastmath: a subset without ``nnan``/``ninf``, so NaN and inf still behave (a NaN loss must
  surface as NaN, not be optimised away); ``reassoc`` and ``contract`` let LLVM vectorise
  reductions and use FMA.
- ``error_model="numpy"``: division by zero gives inf/NaN as in NumPy, never ZeroDivisionError.
- ``cache``: compiled kernels are kept on disk so that a second process starts at once;
  :mod:`._cache` decides where, and ``FASTNN_NUMBA_CACHE`` can turn it off.
"""

from ._cache import decide

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

CACHE = decide()

JIT_OPTIONS = dict(nogil=True, fastmath=FASTMATH, error_model="numpy", cache=CACHE)

# For the few operations whose rounding must not be reassociated with their neighbours (a loss
# term that subtracts two huge logits): no fastmath flags at all.
EXACT_OPTIONS = dict(JIT_OPTIONS, fastmath=False)

# Parallel kernels are not cached on disk: cached parallel functions have crashed when the
# thread count changed between processes. They compile on first use in each process.
PARALLEL_OPTIONS = dict(JIT_OPTIONS, cache=False, parallel=True)
