import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend

import naive

# Parity tolerances from DESIGN.md, with an explicit atol for values that cross zero.
TOLERANCE = {
    np.float64: dict(rtol=1e-12, atol=1e-12),
    np.float32: dict(rtol=1e-5, atol=1e-5),
}
DTYPES = [np.float64, np.float32]
SEEDS = [0, 1, 2]
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_script(name):
    """The benchmark script ``benchmarks/<name>.py``, imported as a module."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _no_backend_env(monkeypatch):
    """Tests choose backends explicitly; a developer's $FASTNN_BACKEND must not leak in."""
    monkeypatch.delenv("FASTNN_BACKEND", raising=False)


def call_all(name, *args):
    """Call kernel ``name`` on fresh copies of ``args`` in the numba, numpy and naive backends.

    Returns ``{backend: (return value, args after the call)}``, so outputs filled in place can
    be compared.
    """
    results = {}
    for label, module in (("numba", numba_backend), ("numpy", numpy_backend), ("naive", naive)):
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        value = getattr(module, name)(*copies)
        results[label] = (value, copies)
    return results


# The numba backend's private kernels (no numpy twin: the oracle alone holds them), by the
# oracle's name, with the module that defines them.
PRIVATE_KERNELS = {
    "find_nonzero": "rows",
    "forward_rows": "rows",
    "update_rows": "rows",
    "backward_rows": "rows",
    "forward_cols": "rows",
    "backward_cols": "rows",
    "optimizer_update": "update",
    "outer_update": "update",
    "lazy_update": "update",
}


def private_kernel(name):
    """The numba backend's private kernel that the oracle's ``name`` stands for."""
    module = importlib.import_module(f"fastnn.kernels.{PRIVATE_KERNELS[name]}")
    return getattr(module, f"_{name}")


def call_private(name, *args):
    """Call the private kernel ``name`` and its oracle on fresh copies of ``args``; results as
    :func:`call_all` gives them, without a numpy entry."""
    results = {}
    for label, function in (("numba", private_kernel(name)), ("naive", getattr(naive, name))):
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        results[label] = (function(*copies), copies)
    return results


def assert_agree(results, dtype, positions, compare_value=False):
    """Assert numba == numpy == naive (numba == naive for a private kernel) on the arrays at
    ``positions`` (and the return value)."""
    tol = TOLERANCE[dtype]
    reference = "numpy" if "numpy" in results else "naive"
    ref_value, ref_args = results[reference]
    for label in [label for label in ("numba", "naive") if label != reference]:
        value, args = results[label]
        for p in positions:
            np.testing.assert_allclose(
                args[p], ref_args[p], err_msg=f"{label} vs {reference}, arg {p}", **tol
            )
        if compare_value:
            np.testing.assert_allclose(value, ref_value, err_msg=f"{label} vs {reference}", **tol)


def pytest_report_header(config):
    return f"FASTNN_NUMBA_CACHE={os.environ.get('FASTNN_NUMBA_CACHE', '1')}"
