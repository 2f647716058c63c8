"""Reading a member roster from CSV or XLSX, as county offices keep it (Chinese headers welcome).

Every row is checked before anything is written: the import is all or nothing unless the
admin asks to skip invalid rows, and every problem names its line in the file.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from smsd.errors import InputError
from smsd.phone import normalise

HEADERS = {
    "name": ("name", "姓名", "名字"),
    "phone": ("phone", "mobile", "手机", "手机号", "手机号码", "电话", "联系电话"),
    "org": ("org", "org_unit", "组织", "党组织", "所在党组织", "单位", "所在支部"),
    "tags": ("tags", "roles", "groups", "role", "group", "角色", "身份", "职务", "分组", "类别"),
    "joined": ("joined", "join_date", "入党日期", "入党时间", "入党年月日"),
}
TAG_SPLIT = re.compile(r"[,，;；、/|\s]+")


@dataclass
class MemberRow:
    line: int
    name: str
    phone: str
    org: str
    tags: list[str]
    joined: str | None
    extras: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportResult:
    rows: list[MemberRow]
    errors: list[str]


def read(path: str | Path) -> ImportResult:
    """Parse and check every row; nothing is written here."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        table = _xlsx(p)
    elif suffix in (".csv", ".txt"):
        table = _csv(p)
    else:
        raise InputError(f"{p}: use a .csv or .xlsx file")
    if not table:
        raise InputError(f"{p}: the file is empty")
    header_line, header = table[0]
    columns = _columns(header, p)
    rows, errors, seen = [], [], {}
    for line, cells in table[1:]:
        if not any(str(c).strip() for c in cells if c is not None):
            continue
        try:
            row = _row(line, cells, columns, header)
        except InputError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        if row.phone in seen:
            errors.append(f"line {line}: {row.phone} is already on line {seen[row.phone]}")
            continue
        seen[row.phone] = line
        rows.append(row)
    return ImportResult(rows, errors)


def _csv(p: Path) -> list[tuple[int, list[Any]]]:
    raw = p.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(f"{p}: not UTF-8 or GBK text")
    reader = csv.reader(io.StringIO(text))
    return [(reader.line_num, row) for row in reader]


def _xlsx(p: Path) -> list[tuple[int, list[Any]]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InputError(f"{p}: cannot read this Excel file ({type(exc).__name__})") from None
    try:
        ws = wb.worksheets[0]
        return [(i, list(row)) for i, row in enumerate(ws.iter_rows(values_only=True), start=1)]
    finally:
        wb.close()


def _columns(header: list[Any], p: Path) -> dict[str, int]:
    names = [str(h or "").strip().lower() for h in header]
    columns = {}
    for key, aliases in HEADERS.items():
        for i, n in enumerate(names):
            if n in aliases:
                columns[key] = i
                break
    missing = [k for k in ("name", "phone") if k not in columns]
    if missing:
        raise InputError(f"{p}: line 1 needs columns {' and '.join(missing)} (e.g. 姓名, 手机); found {names}")
    return columns


def _cell(cells: list[Any], i: int | None) -> Any:
    if i is None or i >= len(cells):
        return None
    return cells[i]


def _row(line: int, cells: list[Any], columns: dict[str, int], header: list[Any]) -> MemberRow:
    name = str(_cell(cells, columns["name"]) or "").strip()
    if not name:
        raise InputError("the name is empty")
    phone_cell = _cell(cells, columns["phone"])
    if isinstance(phone_cell, float) and phone_cell.is_integer():
        phone_cell = int(phone_cell)  # Excel stores 13800138000 as a number
    phone = normalise(str(phone_cell or ""))
    org = "/".join(p.strip() for p in str(_cell(cells, columns.get("org")) or "").split("/") if p.strip())
    tags = [t for t in TAG_SPLIT.split(str(_cell(cells, columns.get("tags")) or "").strip()) if t]
    joined = parse_date(_cell(cells, columns.get("joined")))
    used = set(columns.values())
    extras = {
        str(h).strip(): str(c).strip()
        for i, (h, c) in enumerate(zip(header, cells, strict=False))
        if i not in used and h and c not in (None, "")
    }
    return MemberRow(line, name, phone, org, tags, joined, extras)


def parse_date(value: Any) -> str | None:
    """'2001-07-01', '2001/7/1', '2001年7月1日', '2001.07.01' or an Excel date -> 'YYYY-MM-DD'."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    m = re.fullmatch(r"\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*", str(value))
    if not m:
        raise InputError(f"joining date {value!r}: use YYYY-MM-DD")
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        raise InputError(f"joining date {value!r} does not exist") from None
