"""Files an office opens in Excel: every cell that came from outside is inert.

A member's name or a red message sent by SMS may start with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return; Excel and LibreOffice would run it as a formula (``=HYPERLINK(...)``).
OWASP's rule for CSV: prefix such a text cell with a single quote. In XLSX a text cell is
written with the string type, so it is shown as typed and never evaluated. Numbers stay numbers.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FILE_MODE = 0o640  # exports hold names and full numbers: the owner and the smsd group, like backups


def open_private(path: str | Path, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """Open an export for writing as 0640, whatever the admin's umask (0644 by default) and
    whatever mode an older file of that name had."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with contextlib.suppress(OSError):  # a file owned by someone else keeps its mode (we could still write it)
        os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, mode, **kwargs)


def csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeCsvWriter:
    """csv.writer whose every text cell is neutralised."""

    def __init__(self, stream: IO[str]) -> None:
        self._w = csv.writer(stream)

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([csv_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def xlsx_row(ws: Any, values: Iterable[Any]) -> list[Any]:
    """Cells for a write-only openpyxl sheet: text typed as text (never a formula)."""
    from openpyxl.cell import WriteOnlyCell

    out = []
    for v in values:
        cell = WriteOnlyCell(ws, value=v)
        if isinstance(v, str):
            cell.data_type = "s"
        out.append(cell)
    return out


def report_xlsx(
    path: str,
    title: str,
    headers: list[tuple[str, str]],
    rows: Iterable[dict[str, Any]],
    *,
    money: frozenset[str] = frozenset(),
) -> int:
    """An Excel report an office can add up: a title row with the period, a header row, numbers as
    numbers (yuan columns with two decimals, so SUM works), text as text. headers: (key, label).
    Returns the number of data rows."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(_sheet_name(title))
    title_cell = xlsx_row(ws, [title])
    title_cell[0].font = Font(bold=True, size=13)
    ws.append(title_cell)
    head = xlsx_row(ws, [label for _, label in headers])
    for c in head:
        c.font = Font(bold=True)
    ws.append(head)
    n = 0
    for r in rows:
        cells = xlsx_row(ws, [r.get(key) for key, _ in headers])
        for cell, (key, _) in zip(cells, headers, strict=True):
            if key in money and isinstance(cell.value, int | float):
                cell.number_format = "0.00"
        ws.append(cells)
        n += 1
    with open_private(path, "wb") as f:
        wb.save(f)
    return n


def _sheet_name(title: str) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in title).strip()
    return cleaned[:31] or "report"
