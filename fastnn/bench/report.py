"""The text and the JSON file of a benchmark's results."""

import json

import numpy as np

from .._files import as_path, atomic_write
from ..errors import InputTypeError
from .jobs import NUMBA


def _regime_label(row):
    return "per-sample" if row["batch_size"] == 1 else f"batch {row['batch_size']}"


def format_report(result):
    """The text ``fastnn bench`` prints for a :func:`~fastnn.bench.run` result.

    Parameters
    ----------
    result : dict
        What :func:`~fastnn.bench.run` returned.

    Returns
    -------
    str
    """
    s, m = result["settings"], result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    data = s.get("data", {"title": "MNIST"})
    warm_up = (
        "1 warm-up round"
        if not s.get("warmup_samples")
        else f"a warm-up on each job's first {s['warmup_samples']} rows"
    )
    lines = [
        f"fastnn bench: one epoch of {data['title']}, {s['network']}, "
        f"{s.get('optimizer_description', s['optimizer'])}",
        *([f"data: {data['description']}"] if "description" in data else []),
        "regimes: "
        + "; ".join(
            f"{_regime_label({'batch_size': s['batch_sizes'][r]})} lr {s['lrs'][r]}"
            for r in s["regimes"]
        )
        + f"; seed {s['seed']}",
        f"machine: {m['cpu']}, {m['usable_cores']} usable core(s)" + _load_text(m),
        f"versions: Python {m['python']}, {versions}",
        f"timing: median (and min) of {s['repeat']} interleaved round(s) after {warm_up} "
        f"(excluded); test accuracy on the {s['test_samples']:,} test rows after the epoch, "
        "outside the timing",
        "",
    ]
    lines += _table(result["results"])
    lines += [
        "",
        "numba speed-up = samples/s of fastnn numba on the same regime and the same samples "
        "/ samples/s of the row (above 1: fastnn numba is faster); rows on fewer samples than "
        f"{s['samples']:,} are a slice of the training set, compared with fastnn numba on that "
        "slice, not scaled.",
    ]
    lines += _summary(result)
    flags = [row for row in result["results"] if row["accuracy_flag"]]
    for row in flags:
        lines.append(f"! {row['implementation']}, {_regime_label(row)}: {row['accuracy_flag']}")
    for note in result["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _table(rows):
    """The results as aligned columns, a header line first."""
    header = ("regime", "implementation", "network", "threads", "samples", "median s",
              "(min s)", "samples/s", "test acc", "numba speed-up")  # fmt: skip
    table = [header]
    for row in rows:
        speedup = "-" if row["speedup"] is None else f"{row['speedup']:.2f}x"
        table.append((
            _regime_label(row),
            row["implementation"],
            row.get("network", ""),
            row["threads"],
            f"{row['samples']:,}",
            f"{row['median_s']:.3f}",
            f"({row['min_s']:.3f})",
            f"{row['samples_per_s']:,.0f}",
            f"{row['test_accuracy']:.4f}" + (" !" if row["accuracy_flag"] else ""),
            speedup,
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    left = {0, 1, 2}
    return [
        "  ".join(c.ljust(w) if i in left else c.rjust(w)
                  for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        for r in table
    ]  # fmt: skip


def _load_text(machine):
    before, after = machine.get("load_average"), machine.get("load_average_after")
    if not before or not after:
        return ""
    return (
        f"; 1-minute load average {before[0]:.2f} before, {after[0]:.2f} after (other work on "
        "these cores makes the figures noisy)"
    )


def _library(name):
    """The library a row's implementation belongs to: ``PyTorch`` for ``PyTorch, 2 threads``,
    ``JAX`` for ``JAX BCOO (jit, lax.scan)``; fastnn's rows by their own names."""
    if name.startswith("fastnn"):
        return name
    return name.split(",")[0].split(" (")[0].removesuffix(" EmbeddingBag").removesuffix(" BCOO")


def _summary(result):
    """One line per regime: fastnn numba's speed-up over each other implementation (the
    fastest of a library's variants: thread counts, jitted epoch or step)."""
    lines = []
    for regime in result["settings"]["regimes"]:
        rows = [r for r in result["results"] if r["regime"] == regime]
        best, variants = {}, {}
        for row in rows:
            name = row["implementation"]
            if name == NUMBA or row["speedup"] is None:
                continue
            key = _library(name)
            variants.setdefault(key, set()).add(name)
            if key not in best or row["samples_per_s"] > best[key]["samples_per_s"]:
                best[key] = row
        if not best:
            continue
        parts = []
        for key, row in best.items():
            detail = f"{row['samples']:,} samples"
            if len(variants[key]) > 1:
                detail += f"; the fastest of {len(variants[key])}: {row['implementation']}"
            parts.append(f"{row['speedup']:.2f}x vs {key} ({detail})")
        lines.append(f"fastnn numba, {_regime_label(rows[0])}: " + "; ".join(parts))
    return lines


def write_json(result, path):
    """Write a :func:`~fastnn.bench.run` result to ``path`` as JSON; return the path.

    The file is written whole or not at all: a failure leaves no partial file behind.
    """
    path = as_path(path)
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, default=_json_default)
        f.write("\n")
    return path


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise InputTypeError(f"{type(value).__name__} is not JSON serialisable")


__all__ = ["format_report", "write_json"]
