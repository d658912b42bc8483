"""Material CSV files: strict reading with row/column error messages, canonical writing.

Format: UTF-8, comma-separated, header ``name,E,nu,rho`` plus optional ``category,source``
(any order, case-insensitive); E in GPa, ν dimensionless, ρ in g/cm³. Other columns (an Excel
export's ``notes``) are ignored with an :class:`~matdesign.errors.InputNote`.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

from matdesign.errors import InputError, InputNote
from matdesign.materials.validation import value_problem

REQUIRED = ("name", "E", "nu", "rho")
OPTIONAL = ("category", "source")
COLUMNS = REQUIRED + OPTIONAL
_HEADER_HINT = "expected a header 'name,E,nu,rho' with optional 'category,source'"
_OTHER_DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'"}


def read_materials_csv(path) -> dict[str, list]:
    """Parse and validate a material CSV; returns ``{column: list}`` for all of :data:`COLUMNS`.

    Every problem raises :class:`InputError` naming the file, the line and the column.
    """
    path = Path(path)
    rows = csv.reader(io.StringIO(_read_text(path), newline=""))
    header, header_line = _read_header(path, rows)
    out: dict[str, list] = {c: [] for c in COLUMNS}
    first_line: dict[str, int] = {}
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            hint = _delimiter_hint(row)
            raise InputError(f"{path}, line {line}: expected {len(header)} comma-separated fields "
                             f"({','.join(c or '…' for c in header)}), found {len(row)}{hint}")
        cells = {col: cell.strip() for col, cell in zip(header, row) if col is not None}
        name = cells["name"]
        if not name:
            raise InputError(f"{path}, line {line}, column 'name': empty material name")
        if name in first_line:
            raise InputError(f"{path}, line {line}, column 'name': duplicate material name {name!r} "
                             f"(first on line {first_line[name]})")
        first_line[name] = line
        out["name"].append(name)
        for col in ("E", "nu", "rho"):
            out[col].append(_number(path, line, col, name, cells[col]))
        for col in OPTIONAL:
            out[col].append(cells.get(col, ""))
    if not out["name"]:
        raise InputError(f"{path}: no material rows after the header on line {header_line}")
    return out


def format_materials_csv(columns: dict[str, list]) -> str:
    """Canonical CSV text (all :data:`COLUMNS`, floats as shortest round-trip repr, '\\n' line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(len(columns["name"])):
        writer.writerow([columns["name"][i], *(repr(float(columns[c][i])) for c in ("E", "nu", "rho")),
                         columns["category"][i], columns["source"][i]])
    return buf.getvalue()


def _read_text(path: Path) -> str:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a CSV file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError(f"{path}, line {line}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset "
                         f"{err.start}); save the file as UTF-8") from None
    if not text.strip():
        raise InputError(f"{path}: empty file; {_HEADER_HINT}")
    return text


def _read_header(path: Path, rows) -> tuple[list[str | None], int]:
    """Canonical column names of the first non-blank row (None for an ignored column), and its line number."""
    for row in rows:
        if any(cell.strip() for cell in row):
            break
    else:
        raise InputError(f"{path}: no header line; {_HEADER_HINT}")
    line = rows.line_num
    if len(row) == 1 and _delimiter_hint(row):
        raise InputError(f"{path}, line {line}: header {row[0].strip()!r} is not comma-separated"
                         f"{_delimiter_hint(row)}; {_HEADER_HINT}")
    canonical = {c.lower(): c for c in COLUMNS}
    header: list[str | None] = []
    ignored = []
    for cell in row:
        col = canonical.get(cell.strip().lower())
        if col is None:
            ignored.append(cell.strip())
        elif col in header:
            raise InputError(f"{path}, line {line}: column {col!r} appears twice")
        header.append(col)  # None: a column that is not used
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"{path}, line {line}: missing column(s) {', '.join(map(repr, missing))}; {_HEADER_HINT}")
    if ignored:
        warnings.warn(f"{path}: ignoring column(s) {', '.join(map(repr, ignored))} (only {','.join(COLUMNS)} "
                      "are used)", InputNote, stacklevel=2)
    return header, line


def _number(path: Path, line: int, col: str, name: str, cell: str) -> float:
    where = f"{path}, line {line}, column {col!r} (material {name!r})"
    try:
        value = float(cell)
    except ValueError:
        raise InputError(f"{where}: {cell!r} is not a number") from None
    problem = value_problem(col, value)
    if problem:
        raise InputError(f"{where}: {problem}")
    return value


def _delimiter_hint(row: list[str]) -> str:
    """' (the file seems to use X as delimiter; use commas)' when a cell holds another delimiter."""
    joined = ",".join(row)
    for sep, label in _OTHER_DELIMITERS.items():
        if sep in joined:
            return f" (the file seems to use {label} as delimiter; use commas)"
    return ""
