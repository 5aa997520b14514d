"""
fastnn against its peers
========================

One epoch of the same job in fastnn, PyTorch, JAX and scikit-learn, drawn from the results files
the benchmark writes (``benchmarks/results/*.json``; see the Benchmarking page). Nothing is timed
here: re-run the benchmark to update the chart, for instance::

    fastnn bench --peers --json benchmarks/results/mnist-sgd.json

Each bar is fastnn ``numba``'s speed-up over that implementation on the same samples (a slow
peer trains on a slice and is compared with fastnn on that slice); the bars right of 1 are
slower than fastnn.
"""

import json
from pathlib import Path

from matplotlib.figure import Figure

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # run cell by cell
    HERE = Path.cwd()
RESULTS = HERE.parent / "benchmarks" / "results"
FILES = {"mnist-sgd": "MNIST 784-128-10", "bag-of-words-sgd": "bag-of-words (sparse)"}


def best_rows(result, regime):
    """fastnn numba's speed-up over the fastest variant of each other implementation."""
    best = {}
    for row in result["results"]:
        name = row["implementation"]
        if row["regime"] != regime or name.startswith("fastnn numba") or not row["speedup"]:
            continue
        library = name if name.startswith("fastnn") else name.split(",")[0].split(" (")[0]
        if library not in best or row["speedup"] < best[library]:
            best[library] = row["speedup"]
    return best


found = {name: RESULTS / f"{name}.json" for name in FILES if (RESULTS / f"{name}.json").exists()}
figure = Figure(figsize=(9.5, 1.2 + 2.2 * max(len(found), 1)), layout="constrained")
if not found:
    ax = figure.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, "No results file yet: fastnn bench --peers --json "
            "benchmarks/results/mnist-sgd.json writes one", ha="center", va="center")  # fmt: skip
grid = figure.subplots(len(found), 2, squeeze=False) if found else []
for axes, (name, path) in zip(grid, found.items()):
    result = json.loads(path.read_text(encoding="utf-8"))
    machine = result["machine"]
    for ax, regime in zip(axes, ("per-sample", "batch")):
        speedups = best_rows(result, regime)
        ax.barh(list(speedups), list(speedups.values()),
                color=["#d62728" if x < 1 else "#1f77b4" for x in speedups.values()])  # fmt: skip
        ax.axvline(1, color="black", linewidth=0.8)
        ax.set_xscale("log")
        label = "per sample" if regime == "per-sample" else "batches of 128"
        ax.set_title(f"{FILES[name]}, {label}", fontsize=10)
        ax.set_xlabel("fastnn numba's speed-up, log scale")
        for i, x in enumerate(speedups.values()):
            ax.annotate(f" {x:.2f}x", (x, i), va="center", fontsize=8)
    print(f"{name}: {machine['cpu']}, {machine['usable_cores']} cores, {result['date'][:10]}: "
          f"{result['command']}")  # fmt: skip
