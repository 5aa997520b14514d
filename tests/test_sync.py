"""The barrier the threads of the compiled mini-batch epoch meet at (kernels/sync.py)."""

import threading
import time

import numpy as np
from numba import njit

from fastnn.kernels.sync import ARRIVED, GENERATION, SLEEPING, atomic_add, barrier, new_sync


@njit(nogil=True)
def _meet(sync, n_threads, tid, counts, seen, rounds):
    """Each round: count this thread's arrival, meet, then note how many arrivals of this round
    every thread has made (all of them, if the barrier holds)."""
    for r in range(rounds):
        atomic_add(counts, tid, 1)
        barrier(sync, n_threads)
        low = counts[0]
        for t in range(n_threads):
            low = min(low, counts[t])
        seen[tid, r] = low
        barrier(sync, n_threads)  # nobody starts the next round before all have looked


def test_no_thread_passes_the_barrier_before_every_thread_has_arrived():
    """Threads that arrive far apart (one starts 50 ms late, long enough for the others to go to
    sleep) and threads that arrive together: after the k-th meeting every thread has counted
    k arrivals, and the barrier ends as it began."""
    n_threads, rounds = 3, 2000
    sync = new_sync()
    counts = np.zeros(n_threads, np.int64)
    seen = np.zeros((n_threads, rounds), np.int64)
    _meet(new_sync(), 1, 0, np.zeros(1, np.int64), np.zeros((1, 1), np.int64), 1)  # compile

    def run(tid):
        if tid == n_threads - 1:
            time.sleep(0.05)
        _meet(sync, n_threads, tid, counts, seen, rounds)

    threads = [threading.Thread(target=run, args=(tid,)) for tid in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    np.testing.assert_array_equal(seen, np.broadcast_to(np.arange(1, rounds + 1), seen.shape))
    assert sync[ARRIVED] == 0 and sync[SLEEPING] == 0
    assert sync[GENERATION] == 2 * rounds
