"""What a benchmark's figures depend on: the CPU, its cores and load, libraries and threads."""

import os
import platform
from importlib import metadata

from .._distribution import DISTRIBUTION

ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "XLA_FLAGS",
    "FASTNN_NUMBA_CACHE",
)
VERSIONED = (DISTRIBUTION, "numpy", "numba", "scikit-learn", "torch", "jax", "jaxlib")


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keys = ("user_api", "internal_api", "prefix", "filepath", "version", "num_threads",
            "architecture")  # fmt: skip
    return [{key: pool.get(key) for key in keys} for pool in threadpool_info()]


def load_average():
    """The load averages over 1, 5 and 15 minutes, or None where the system has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info():
    """What the figures depend on: CPU, cores, load, library versions, BLAS and environment.

    Returns
    -------
    dict
        JSON-ready: ``cpu``, ``cores``, ``usable_cores``, ``load_average`` (over 1, 5 and 15
        minutes, when the system reports it; :func:`~fastnn.bench.run` adds
        ``load_average_after``), ``platform``, ``python``, ``versions`` (``None`` for a package
        that is not installed), ``blas`` (thread pools as threadpoolctl reports them) and
        ``env`` (the set variables among :data:`ENV_VARS`).
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in VERSIONED},
        "blas": _blas_info(),
        "env": {name: os.environ[name] for name in ENV_VARS if name in os.environ},
    }


def blas_threads():
    """``"BLAS n"``, the thread count of the BLAS library in use, for a row's threads column."""
    threads = [pool["num_threads"] for pool in _blas_info() if pool["user_api"] == "blas"]
    return f"BLAS {threads[0]}" if threads else "BLAS"


__all__ = ["ENV_VARS", "VERSIONED", "blas_threads", "load_average", "machine_info"]
