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

# No kernel is compiled with parallel=True. Numba's threading layer is process-wide and starts
# at the first parallel launch: GNU OpenMP (its pick on Linux without TBB) kills a forked child
# that launches parallel work (multiprocessing, joblib), workqueue aborts when two threads launch
# at once, and cached parallel functions have crashed when the thread count changed. Parallel
# training (Hogwild, kernels/epoch.py) runs the serial kernels in Python threads instead, which
# nogil lets run at once, and leaves NUMBA_THREADING_LAYER and NUMBA_NUM_THREADS to the user.
