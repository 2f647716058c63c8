"""Files an office opens in Excel: every cell that came from outside is inert.

A member's name or a red message sent by SMS may start with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return; Excel and LibreOffice would run it as a formula (``=HYPERLINK(...)``).
OWASP's rule for CSV: prefix such a text cell with a single quote. In XLSX a text cell is
written with the string type, so it is shown as typed and never evaluated. Numbers stay numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
