"""The results files in ``benchmarks/results/`` as the tables and sentences the README and the
documentation show, so that every figure there comes from a file a named command regenerates.

    python benchmarks/render_results.py            # rewrite README.md's marked blocks
    python benchmarks/render_results.py --check    # exit 1 if README.md is out of date

A block in README.md starts with ``<!-- results: NAME -->`` and ends with ``<!-- end results
-->``; NAME is one of :data:`BLOCKS`. The documentation renders the same functions when it is
built (``docs/conf.py``), and ``tests/test_project.py`` holds the README to them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"

# Each results file and the command that writes it (run from the repository's root, on a
# quiet machine: see docs/benchmarks.md).
COMMANDS = {
    "mnist-sgd": "fastnn bench --peers --repeat 5 --torch-threads 2 "
    "--json benchmarks/results/mnist-sgd.json",
    "mnist-adam": "fastnn bench --peers --optimizer adam --repeat 5 --torch-threads 2 "
    "--json benchmarks/results/mnist-adam.json",
    "mnist-sgd-1024": "fastnn bench --peers torch,jax --hidden 1024 --regime batch --repeat 5 "
    "--torch-threads 2 --json benchmarks/results/mnist-sgd-1024.json",
    "bag-of-words-sgd": "fastnn bench --peers --data bag-of-words "
    "--json benchmarks/results/bag-of-words-sgd.json",
    "sklearn-digits": "python benchmarks/bench_sklearn_digits.py "
    "--json benchmarks/results/sklearn-digits.json",
}
TITLES = {
    "mnist-sgd": "MNIST, plain SGD",
    "mnist-adam": "MNIST, Adam",
    "mnist-sgd-1024": "MNIST, a wide hidden layer (1,024 units), plain SGD in batches",
    "bag-of-words-sgd": "Sparse bag-of-words, plain SGD",
    "sklearn-digits": "FastMLPClassifier beside MLPClassifier",
}
BLOCK = re.compile(r"(<!-- results: ([\w-]+) -->\n)(.*?)(<!-- end results -->)", re.DOTALL)


def load(name: str, folder: Path = RESULTS) -> dict | None:
    """The results file ``NAME.json``, or None when it has not been written yet."""
    path = Path(folder) / f"{name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def missing(name: str) -> str:
    return f"*No results file yet: `{COMMANDS[name]}` writes it.*"


# -- what a figure depends on ------------------------------------------------------------------


def blas_text(machine: dict) -> str:
    """``OpenBLAS 0.3.31 (SkylakeX kernel, 2 threads)``: NumPy's BLAS (else the first one)."""
    pools = [pool for pool in machine.get("blas", []) if pool.get("user_api") == "blas"]
    if not pools:
        return "BLAS unknown (threadpoolctl not installed)"
    numpys = [pool for pool in pools if "numpy" in (pool.get("filepath") or "")]
    pool = (numpys or pools)[0]
    name = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(
        pool.get("internal_api"), pool.get("internal_api")
    )
    version = ".".join(str(pool.get("version") or "").split(".")[:3])
    kernel = pool.get("architecture") or "unknown"
    return f"{name} {version} ({kernel} kernel, {pool.get('num_threads')} threads)"


def machine_text(result: dict) -> str:
    """The machine, its BLAS kernel, the versions and the date of a results file."""
    m = result["machine"]
    versions = m.get("versions", {})
    shown = ", ".join(
        f"{label} {versions[name]}"
        for name, label in (
            ("numpy", "NumPy"),
            ("numba", "Numba"),
            ("scikit-learn", "scikit-learn"),
            ("torch", "PyTorch"),
            ("jax", "JAX"),
        )  # fmt: skip
        if versions.get(name)
    )
    return (
        f"{m['cpu']}, {m['usable_cores']} cores; BLAS: {blas_text(m)}; Python {m['python']}, "
        f"{shown}; {result.get('date', 'undated')[:10]}"
    )


def provenance(name: str, result: dict) -> str:
    """One line: the machine, and the command that wrote the file."""
    command = result.get("command") or COMMANDS[name]
    return f"{machine_text(result)}. Written by `{command}` into `benchmarks/results/{name}.json`."


# -- fastnn bench results --------------------------------------------------------------------


def _regime(row: dict) -> str:
    return "per sample" if row["batch_size"] == 1 else f"batch {row['batch_size']}"


def _library(name: str) -> str:
    if name.startswith("fastnn"):
        return name
    return name.split(",")[0].split(" (")[0].removesuffix(" EmbeddingBag").removesuffix(" BCOO")


def best_rows(result: dict) -> list[dict]:
    """Per regime: fastnn numba on every sample, then the fastest variant of each other
    implementation (thread counts, jitted epoch or step) with its speed-up."""
    rows = []
    samples = result["settings"]["samples"]
    for regime in result["settings"]["regimes"]:
        of_regime = [r for r in result["results"] if r["regime"] == regime]
        rows += [r for r in of_regime if r["implementation"] == "fastnn numba"
                 and r["samples"] == samples]  # fmt: skip
        best = {}
        for row in of_regime:
            if row["implementation"].startswith("fastnn numba") or row["speedup"] is None:
                continue
            key = _library(row["implementation"])
            if key not in best or row["samples_per_s"] > best[key]["samples_per_s"]:
                best[key] = row
        rows += best.values()
    return rows


def _speedup(row: dict) -> str:
    if row["implementation"] == "fastnn numba":
        return "1.00x"
    return f"{row['speedup']:.2f}x"


def peers_table(result: dict, data: str | None = None) -> list[str]:
    """A Markdown table of :func:`best_rows`; ``data`` starts each row (for tables of several
    files)."""
    lines = []
    for row in best_rows(result):
        cells = [_regime(row), row["implementation"], f"{row['samples']:,}",
                 f"{row['median_s']:.3f}", f"{row['test_accuracy']:.4f}",
                 _speedup(row)]  # fmt: skip
        lines.append("| " + " | ".join(([data] if data else []) + cells) + " |")
    return lines


PEERS_HEADER = (
    "| regime | implementation | samples | seconds per epoch | test accuracy | "
    "fastnn numba's speed-up |",
    "|---|---|---:|---:|---:|---:|",
)


def full_table(result: dict) -> list[str]:
    """Every row of a ``fastnn bench`` results file, as a Markdown table."""
    lines = [
        "| regime | implementation | network | threads | samples | median s | min s | "
        "test accuracy | fastnn numba's speed-up |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["results"]:
        speedup = "" if row["speedup"] is None else f"{row['speedup']:.2f}x"
        flag = " !" if row.get("accuracy_flag") else ""
        lines.append(
            f"| {_regime(row)} | {row['implementation']} | {row['network']} | {row['threads']} "
            f"| {row['samples']:,} | {row['median_s']:.3f} | {row['min_s']:.3f} "
            f"| {row['test_accuracy']:.4f}{flag} | {speedup} |"
        )
    return lines


def speedups(result: dict) -> dict[tuple[str, str], float]:
    """{(regime, library): fastnn numba's speed-up over its fastest variant}."""
    return {
        (_regime(row), _library(row["implementation"])): row["speedup"]
        for row in best_rows(result)
        if row["implementation"] != "fastnn numba"
    }


def _times(x: float) -> str:
    return f"{x:.2f}x" if x < 10 else f"{x:.0f}x"


def summary(result: dict) -> str:
    """One sentence per regime: fastnn numba's speed-up over each peer, slower ones named."""
    parts = []
    for regime in dict.fromkeys(_regime(r) for r in best_rows(result)):
        found = {lib: x for (reg, lib), x in speedups(result).items()
                 if reg == regime and not lib.startswith("fastnn")}  # fmt: skip
        if not found:
            continue
        text = ", ".join(f"{_times(x)} {lib}" for lib, x in found.items())
        slower = [lib for lib, x in found.items() if x < 1]
        verdict = (f"slower than {' and '.join(slower)}" if slower
                   else "the fastest of them")  # fmt: skip
        parts.append(f"{regime}, fastnn's speed is {text} ({verdict})")
    return "; ".join(parts)


# -- the scikit-learn comparison -------------------------------------------------------------


def sklearn_table(result: dict) -> list[str]:
    lines = [
        "| data | estimator | fit seconds | accuracy | epochs | speed-up over MLPClassifier |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in result["results"]:
        lines.append(
            f"| {row['title']} | `{row['estimator']}` | {row['fit_s']:.3f} "
            f"| {row['accuracy']:.4f} | {row['epochs']:g} | {_sklearn_speedup(row)} |"
        )
    return lines


def _sklearn_speedup(row: dict) -> str:
    """The speed-up, with its range over the rounds where the file has one."""
    spread = row.get("speedup_range")
    if not spread or spread[0] == spread[1]:
        return f"{row['speedup']:.2f}x"
    return f"{row['speedup']:.2f}x ({spread[0]:.2f}-{spread[1]:.2f}x)"


def sklearn_summary(result: dict) -> str:
    fast = [r for r in result["results"] if r["estimator"].startswith("FastMLPClassifier")
            and "numpy" not in r["estimator"]]  # fmt: skip
    return "; ".join(
        f"{r['title'].split(',')[0]}, {_dtype(r['estimator'])}: {_sklearn_speedup(r)} at "
        f"accuracy {r['accuracy']:.4f}"
        for r in fast
    )


def _dtype(estimator: str) -> str:
    return "float32" if "float32" in estimator else "float64"


# -- the README's blocks ---------------------------------------------------------------------


def _performance(folder: Path) -> list[str]:
    """The README's one performance table: MNIST and bag-of-words, both regimes."""
    files = [(name, load(name, folder)) for name in ("mnist-sgd", "bag-of-words-sgd")]
    if not any(result for _, result in files):
        return [missing("mnist-sgd")]
    lines = ["| data | " + PEERS_HEADER[0][2:], "|---" + PEERS_HEADER[1]]
    notes = []
    for name, result in files:
        if result is None:
            notes.append(missing(name))
            continue
        data = "MNIST" if name.startswith("mnist") else "bag-of-words"
        lines += peers_table(result, f"{data}, {result['settings']['layers']}")
        notes.append(f"{data}: {provenance(name, result)}")
    return [*lines, "", *notes]


def _summary_block(name: str, folder: Path) -> list[str]:
    result = load(name, folder)
    if result is None:
        return [missing(name)]
    if name == "sklearn-digits":
        return [f"Measured on {machine_text(result)}: {sklearn_summary(result)}."]
    return [f"Measured on {machine_text(result)}: {summary(result)}."]


BLOCKS = {
    "performance": _performance,
    "mnist-sgd-summary": lambda folder: _summary_block("mnist-sgd", folder),
    "bag-of-words-sgd-summary": lambda folder: _summary_block("bag-of-words-sgd", folder),
    "sklearn-digits-summary": lambda folder: _summary_block("sklearn-digits", folder),
}


def render_block(name: str, folder: Path = RESULTS) -> str:
    return "\n".join(BLOCKS[name](Path(folder))) + "\n"


def render(text: str, folder: Path = RESULTS) -> str:
    """``text`` with every results block rendered again from the files in ``folder``."""

    def block(match):
        if match[2] not in BLOCKS:
            raise KeyError(f"unknown results block {match[2]!r}; known: {sorted(BLOCKS)}")
        return match[1] + render_block(match[2], folder) + match[4]

    return BLOCK.sub(block, text)


# -- the documentation's page of every results file ------------------------------------------


def benchmarks_page(folder: Path = RESULTS) -> str:
    """Markdown: every results file as a dated table naming its machine, kernel and command."""
    lines = []
    for name in COMMANDS:
        lines += [f"## {TITLES[name]}", ""]
        result = load(name, folder)
        if result is None:
            lines += [missing(name), ""]
            continue
        lines += [provenance(name, result), ""]
        if name == "sklearn-digits":
            lines += [*sklearn_table(result), ""]
            continue
        s = result["settings"]
        lines += [
            f"One epoch of {s['data'].get('title', 'MNIST')}, {s['network']}, "
            f"{s['optimizer_description']}; median and minimum of {s['repeat']} interleaved "
            f"rounds after a warm-up; load average {_load(result)}.",
            "",
            *full_table(result),
            "",
            f"In short: {summary(result)}.",
            "",
            *[f"- {note}" for note in result.get("notes", [])],
            "",
        ]
    return "\n".join(lines)


# -- where a mini-batch epoch's time goes -----------------------------------------------------

# The phase tables: batch sizes and hidden widths, and the command that writes each file.
PHASE_RUNS = [(hidden, batch) for hidden in (128, 1024) for batch in (32, 128, 512)]


def phases_command(hidden: int, batch: int, optimizer: str = "sgd") -> str:
    adam = " --optimizer adam" if optimizer == "adam" else ""
    return (
        f"python benchmarks/phases.py --hidden {hidden} --batch-size {batch}{adam} "
        f"--rounds 5 --json benchmarks/results/{phases_name(hidden, batch, optimizer)}.json"
    )


def phases_name(hidden: int, batch: int, optimizer: str = "sgd") -> str:
    return f"phases-{optimizer}-{hidden}-b{batch}"


def phases_page(folder: Path = RESULTS) -> str:
    """Markdown: each phases file as a table of the epoch's phases against their floor."""
    runs = [(h, b, "sgd") for h, b in PHASE_RUNS] + [(128, 128, "adam")]
    lines = []
    for hidden, batch, optimizer in runs:
        name = phases_name(hidden, batch, optimizer)
        result = load(name, folder)
        lines += [f"### 784-{hidden}-10, {optimizer.upper() if optimizer == 'sgd' else 'Adam'}, "
                  f"batches of {batch}", ""]  # fmt: skip
        if result is None:
            lines += [f"*No results file yet: `{phases_command(hidden, batch, optimizer)}` "
                      "writes it.*", ""]  # fmt: skip
            continue
        rate = result["gemm_gflops"]
        lines += [
            f"{machine_text(result)}; {result['threads']} thread(s); GEMM "
            f"rate of one thread on the epoch's shapes: fastnn {rate['fastnn']:.0f} GFLOP/s, "
            f"NumPy {rate['numpy']:.0f} GFLOP/s. Command: `{result['command']}`.",
            "",
            "| phase | seconds | share | GFLOP | floor (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        epoch = result["epoch_s"]
        for row in result["phases"]:
            lines.append(f"| {row['phase']} | {row['seconds']:.3f} | "
                         f"{row['seconds'] / epoch:.0%} | {row['gflop']:.2f} | "
                         f"{row['floor_s']:.3f} |")  # fmt: skip
        beyond = epoch - result["floor_s"]
        lines += [f"| whole epoch | {epoch:.3f} | 100% | | {result['floor_s']:.3f} |", "",
                  f"Beyond the products at the GEMM rate: {beyond:.3f} s ({beyond / epoch:.0%} "
                  "of the epoch).", ""]  # fmt: skip
    return "\n".join(lines)


def _load(result: dict) -> str:
    m = result["machine"]
    before, after = m.get("load_average"), m.get("load_average_after")
    if not before or not after:
        return "not reported"
    return f"{before[0]:.2f} before, {after[0]:.2f} after"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print("README.md's results blocks are stale: run python benchmarks/render_results.py")
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print(f"rewrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
