"""CSV rows that are safe to open in a spreadsheet (formula injection).

Excel, LibreOffice and Google Sheets evaluate a cell that starts with `=`, `+`, `-` or `@` (and
some a leading tab or carriage return) as a formula, so a run or model name like
`=HYPERLINK(...)` would run when a leaderboard is opened. Every text cell (names, paths,
anything from data, configs or models) that starts with one of those characters, after any
leading spaces, gets a leading apostrophe, the usual escape: spreadsheets show the text as is.

Cells holding a comma, a quote, a newline or a carriage return are quoted (RFC 4180). The
standard csv module with "\n" line ends leaves a bare carriage return unquoted, which a
spreadsheet reads as a row break: a name could then start a row of its own.

Numbers pertool computed itself (metrics, intervals, counts, p-values) are written as numbers
and never escaped, so a negative difference stays a number a spreadsheet can sum. Only real
numbers (Python's or NumPy's) count as such; a string that looks like a number is still text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

__all__ = ["FORMULA_START", "csv_row", "csv_text", "number_cell", "text_cell"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: object) -> str:
    """A text cell, with an apostrophe in front when a spreadsheet would read a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) or text.lstrip(" ").startswith(FORMULA_START):
        return "'" + text
    return text


def number_cell(value: Real | None, fmt: str = ".6g") -> str:
    """A number pertool computed; empty when undefined. NaN and infinities are not numbers a
    spreadsheet knows (`-inf` would read as a formula), so they go out as escaped text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Integral):
        return str(int(value))
    if not math.isfinite(value):
        return text_cell(str(value))
    return format(float(value), fmt)


def csv_row(cells: Iterable[object], fmt: str = ".6g") -> list[str]:
    """Cells for csv.writer: ints and floats (NumPy's too) as numbers (`fmt` for floats), None as
    empty, booleans as true/false, anything else as escaped text."""
    return [number_cell(c, fmt) if c is None or isinstance(c, Real) else text_cell(c) for c in cells]


def csv_text(rows: Iterable[Iterable[object]], fmt: str = ".6g") -> str:
    """Rows as CSV text, "\n" line ends, cells made by `csv_row` and quoted where needed."""
    return "".join(",".join(_quoted(cell) for cell in csv_row(row, fmt)) + "\n" for row in rows)


def _quoted(cell: str) -> str:
    if any(c in cell for c in ',"\r\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell
