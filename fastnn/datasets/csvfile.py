"""Reading a numeric table from a CSV file: the text, the columns, the numbers.

Every problem with the file is an :class:`~fastnn.errors.InputError` of one line that names the
file (and the line, column or value where that helps), never a traceback from :mod:`csv` or a
codec.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Sequence
from typing import NoReturn

import numpy as np

from .._files import Lines, as_path, check_size, open_regular
from .._typing import PathLike
from ..errors import InputError
from .download import DataFileNotFoundError

MISSING = {"", "na", "nan", "n/a", "null", "none", "?", "-"}
_SNIFF_BYTES = 1 << 16
_SHOWN_COLUMNS = 20


def parse_number(cell: str) -> float:
    """A stripped cell as a float; ValueError unless it is a plain ASCII decimal number.

    Python's ``float`` also takes ``1_000``, non-ASCII digits and surrounding whitespace, none
    of which a CSV reader should read as a number. ``inf`` and ``nan`` spelled out are read (as
    non-finite values, which the caller reports).
    """
    if not cell.isascii() or "_" in cell or cell != cell.strip():
        raise ValueError(cell)
    return float(cell)


# -- the text --------------------------------------------------------------------------------


def _bad_utf8(path):
    """(line, byte value) of the first byte of ``path`` that is not UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open_regular(path) as f:
        while True:
            chunk = f.read(_SNIFF_BYTES)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                pending = len(exc.object) - len(chunk)  # bytes held over from the last chunk
                position = exc.start - pending
                line += chunk[: max(position, 0)].count(b"\n")
                return line, exc.object[exc.start]
            if not chunk:
                return None
            line += chunk.count(b"\n")


def _sniff(f):
    sample = f.read(_SNIFF_BYTES)
    f.seek(0)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _read_rows(f, path):
    reader = csv.reader(Lines(f, path), _sniff(f))
    try:
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path} is empty; expected a header row of column names")
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:  # a field over csv.field_size_limit(), a NUL byte, ...
        raise InputError(f"{path}, line {reader.line_num}: {exc}; is it a CSV file?") from None
    return [name.strip() for name in header], rows


def read_table(path: PathLike) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a UTF-8 CSV file (delimiter sniffed among , ; tab)."""
    path = as_path(path)
    try:
        with open_regular(path, "r", "a CSV file", newline="", encoding="utf-8-sig") as f:
            check_size(f, 1, f"reading {path}")  # its rows hold at least as many bytes
            header, rows = _read_rows(f, path)
    except FileNotFoundError:
        raise DataFileNotFoundError(f"the CSV file {path!r} does not exist") from None
    except UnicodeDecodeError:
        where = _bad_utf8(path)
        detail = f" (line {where[0]} holds the byte 0x{where[1]:02x})" if where else ""
        raise InputError(f"{path} is not UTF-8 text{detail}; save it as UTF-8") from None
    if not rows:
        raise InputError(f"{path} has a header but no data rows")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise InputError(
                f"{path}, row {number}: {len(row)} fields, but the header has {len(header)}"
            )
    return header, rows


# -- the columns -----------------------------------------------------------------------------


def _shown(header):
    if len(header) <= _SHOWN_COLUMNS:
        return str(header)
    return f"{header[:_SHOWN_COLUMNS]} and {len(header) - _SHOWN_COLUMNS} more"


def select_columns(
    header: Sequence[str], target: str, features: list[str] | None, path: str
) -> tuple[list[str], int, list[int]]:
    """The feature names and the positions of the features and of the target in ``header``.

    The columns used must have unique, non-empty names.
    """
    positions = {}
    for i, name in enumerate(header):
        positions.setdefault(name, []).append(i)
    if features is None:
        features = [name for name in header if name != target]
    if not features:
        raise InputError(f"{path} has no feature columns besides the target {target!r}")
    used = [target, *features]
    for what, name in zip(["target"] + ["feature"] * len(features), used):
        if name not in positions:
            raise InputError(
                f"{what} {name!r} is not a column of {path}; its columns are {_shown(header)}"
            )
    _check_names(used, positions, path)
    return features, positions[target][0], [positions[name][0] for name in features]


def _check_names(used, positions, path):
    repeated = sorted({name for name in used if len(positions[name]) > 1}, key=used.index)
    if repeated:
        shown = "; ".join(
            f"{name!r} at columns {', '.join(str(i + 1) for i in positions[name])}"
            for name in repeated
        )
        message = f"{path} names more than one column the same: {shown}; rename them, or "
        raise InputError(message + "leave them out with features=[...]").for_cli(
            message + "leave them out: --features names the columns to use"
        )
    if "" in used:
        where = ", ".join(str(i + 1) for i in positions[""])
        message = f"{path}: column {where} has no name (an index column written by pandas?); "
        raise InputError(message + "name it, or leave it out with features=[...]").for_cli(
            message + "name it, or leave it out: --features names the columns to use"
        )
    if len(set(used)) != len(used):
        twice = sorted({name for name in used if used.count(name) > 1})
        raise InputError(f"features must name each column once; got {twice} more than once")


# -- the numbers -----------------------------------------------------------------------------


def numeric_columns(
    rows: Sequence[Sequence[str]],
    indices: Sequence[int],
    names: Sequence[str],
    path: str,
    missing: dict[str, list[int]],
) -> np.ndarray:
    """The columns ``indices`` as a float64 matrix; missing and non-finite cells are noted."""
    table = []
    for i, row in enumerate(rows):
        cells = [row[index].strip() for index in indices]
        joined = "".join(cells)
        try:
            if not joined.isascii() or "_" in joined:
                raise ValueError(joined)
            table.append([float(cell) for cell in cells])  # parse_number, row by row
        except ValueError:
            table.append([_number_or_nan(cell, names[j], i, path) for j, cell in enumerate(cells)])
    values = np.array(table, np.float64).reshape(len(rows), len(indices))
    _note_non_finite(values, names, missing)
    return values


def _number_or_nan(cell, name, i, path):
    try:
        return parse_number(cell)
    except ValueError:
        if cell.lower() in MISSING:
            return np.nan
        message = (
            f"column {name!r} of {path} must be numeric, but row {i + 2} holds {cell[:40]!r}; "
        )
        raise InputError(message + "leave it out with features=[...] or encode it as numbers"
                         ).for_cli(message + "leave it out (--features names the columns to "
                                   "use) or encode it as numbers") from None  # fmt: skip


def _note_non_finite(values, names, missing):
    bad_rows, bad_columns = np.nonzero(~np.isfinite(values))
    for j in np.unique(bad_columns):
        missing.setdefault(names[j], []).extend((bad_rows[bad_columns == j] + 2).tolist())


def note_missing_cells(cells: Sequence[str], name: str, missing: dict[str, list[int]]) -> None:
    for i, cell in enumerate(cells):
        if cell.strip().lower() in MISSING:
            missing.setdefault(name, []).append(i + 2)


def report_missing(missing: dict[str, list[int]], path: str) -> NoReturn:
    parts = []
    for name, rows in missing.items():
        rows = sorted(rows)
        shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        parts.append(f"{name!r} ({len(rows)} row(s): {shown})")
    raise InputError(
        f"{path} has missing or non-finite values in column(s) {'; '.join(parts)} "
        "(rows numbered as lines of the file); fill them in or drop those rows first"
    )


def encode_target(
    cells: Sequence[str],
    task: str,
    target: str,
    path: str,
    classes: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Labels 0..K-1 and the class names, for a classification target given as text cells.

    With ``classes`` (a trained model's), the labels are the cells' positions among them, a
    value compared as a number where both are numbers (``1.0`` is class ``"1"``); the cells may
    hold only some of them, or one.
    """
    values = [cell.strip() for cell in cells]
    if classes is not None:
        return _positions(values, list(classes), target, path), list(classes)
    try:
        order = sorted(set(values), key=parse_number)  # numeric labels in numeric order
    except ValueError:
        order = sorted(set(values))
    if task == "binary" and len(order) != 2:
        raise InputError(
            f"task 'binary' needs a target with exactly 2 distinct values, but {target!r} in "
            f"{path} has {len(order)}: {order[:10]}; use task='classification' or 'regression'"
        )
    if len(order) < 2:
        raise InputError(
            f"target {target!r} in {path} has a single value {order}; nothing to learn"
        )
    code = {value: i for i, value in enumerate(order)}
    return np.array([code[v] for v in values], np.int64), order


def _as_number(text):
    try:
        return parse_number(text)
    except ValueError:
        return None


def _positions(values, classes, target, path):
    code = {}
    for position, name in enumerate(classes):
        code.setdefault(name, position)
        number = _as_number(name)
        if number is not None:
            code.setdefault(number, position)
    labels = []
    for row, value in enumerate(values, start=2):
        position = code.get(value)
        if position is None:
            position = code.get(_as_number(value))
        if position is None:
            raise InputError(
                f"{path}, row {row}: the target {target!r} holds {value[:40]!r}, which is not one "
                f"of the classes {classes[:20]}"
            )
        labels.append(position)
    return np.array(labels, np.int64)
