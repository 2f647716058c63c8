"""Reading a member roster from CSV or XLSX, as county offices keep it (Chinese headers welcome).

Every row is checked before anything is written: the import is all or nothing unless the
admin asks to skip invalid rows, and every problem names its line in the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from smsd.errors import InputError
from smsd.i18n import _
from smsd.phone import normalise

HEADERS = {
    "name": ("name", "姓名", "名字"),
    "phone": ("phone", "mobile", "手机", "手机号", "手机号码", "电话", "联系电话"),
    "org": ("org", "org_unit", "组织", "党组织", "所在党组织", "单位", "所在支部"),
    "tags": ("tags", "roles", "groups", "role", "group", "角色", "身份", "职务", "分组", "类别"),
    "joined": ("joined", "join_date", "入党日期", "入党时间", "入党年月日"),
}
TAG_SPLIT = re.compile(r"[,，;；、/|\s]+")
# Limits on untrusted files: a roster is a few thousand short rows.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_CELL_CHARS = 1000
MAX_ROWS = 200_000
MAX_COLUMNS = 100
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # an .xlsx is a zip: its parts, unpacked, stay under this
MAX_ZIP_RATIO = 200  # and no part unpacks to more than this many times its packed size


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


HEADER_SEARCH_ROWS = 10  # a title, a date line or merged cells may sit above the headers


def read(path: str | Path, sheet: str | None = None) -> ImportResult:
    """Parse and check every row; nothing is written here. The header row is the first of the
    first ten rows that names a name and a phone column; with .xlsx, the sheet is `sheet` or the
    first sheet that has such a row (a notes sheet in front is passed over)."""
    p = Path(path)
    if not p.exists():
        raise InputError("{path}: no such file", path=p)
    if p.stat().st_size > MAX_FILE_BYTES:
        raise InputError(
            "{path}: the file is larger than {MAX_FILE_BYTES} MB; is it really a roster?",
            path=p,
            MAX_FILE_BYTES=MAX_FILE_BYTES // 1024 // 1024,
        )
    suffix = p.suffix.lower()
    if suffix == ".xls" or _is_old_excel(p):
        raise InputError(
            "{path}: an old Excel 97-2003 (.xls) file; open it in Excel or WPS and save it as .xlsx (Excel workbook)",
            path=p,
        )
    if suffix in (".xlsx", ".xlsm"):
        if _looks_like_text(p):
            raise InputError("{path}: this is a CSV (text) file named .xlsx; rename it to .csv and import that", path=p)
        table = _xlsx(p, sheet)
    elif suffix in (".csv", ".txt"):
        if sheet:
            raise InputError("{path}: --sheet is for Excel files; a CSV has one table", path=p)
        table = _csv(p)
    else:
        raise InputError("{path}: use a .csv or .xlsx file", path=p)
    if not table:
        raise InputError("{path}: the file is empty", path=p)
    at = _header_index(table)
    if at is None:
        first = table[0][1]
        names = [str(h or "").strip() for h in first if str(h or "").strip()]
        raise InputError(
            "{path}: no header row with a name and a phone column (e.g. 姓名, 手机) in the first "
            "{HEADER_SEARCH_ROWS} rows; the first row has {names}",
            path=p,
            HEADER_SEARCH_ROWS=HEADER_SEARCH_ROWS,
            names=names,
        )
    header_line, header = table[at]
    columns = _columns(header, p)
    rows: list[MemberRow] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for line, cells in table[at + 1 :]:
        if not any(str(c).strip() for c in cells if c is not None):
            continue
        try:
            row = _row(line, cells, columns, header)
        except InputError as exc:
            errors.append(_("line {line}: {error}").format(line=line, error=exc))
            continue
        if row.phone in seen:
            errors.append(
                _("line {line}: {phone} is already on line {first}").format(
                    line=line, phone=row.phone, first=seen[row.phone]
                )
            )
            continue
        seen[row.phone] = line
        rows.append(row)
    return ImportResult(rows, errors)


def _is_header(cells: list[Any]) -> bool:
    names = {str(h or "").strip().lower() for h in cells}
    return bool(names & set(HEADERS["name"])) and bool(names & set(HEADERS["phone"]))


def _header_index(table: list[tuple[int, list[Any]]]) -> int | None:
    for i, (_line, cells) in enumerate(table[:HEADER_SEARCH_ROWS]):
        if _is_header(cells):
            return i
    return None


def _is_old_excel(p: Path) -> bool:
    with p.open("rb") as f:
        return f.read(8) == bytes.fromhex("D0CF11E0A1B11AE1")  # the OLE2 container of .xls


def _looks_like_text(p: Path) -> bool:
    with p.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"PK"):
        return False
    try:
        head.decode("utf-8-sig")
        return True
    except UnicodeDecodeError:
        try:
            head.decode("gb18030")
            return b"\x00" not in head
        except UnicodeDecodeError:
            return False


def _csv(p: Path) -> list[tuple[int, list[Any]]]:
    raw = p.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError("{path}: not UTF-8 or GBK text", path=p)
    reader = csv.reader(io.StringIO(text))
    out = []
    try:
        for row in reader:
            _check_cells(p, reader.line_num, row)
            out.append((reader.line_num, row))
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise InputError(
                "{path}: line {line_num}: a cell is longer than {MAX_CELL_CHARS} characters",
                path=p,
                line_num=reader.line_num,
                MAX_CELL_CHARS=MAX_CELL_CHARS,
            ) from None
        raise InputError(
            "{path}: line {line_num}: not valid CSV ({error})", path=p, line_num=reader.line_num, error=exc
        ) from None
    return out


def _check_cells(p: Path, line: int, row: list[Any]) -> None:
    if len(row) > MAX_COLUMNS:
        raise InputError(
            "{path}: line {line} has {row_count} columns; a roster has at most {MAX_COLUMNS}",
            path=p,
            line=line,
            row_count=len(row),
            MAX_COLUMNS=MAX_COLUMNS,
        )
    for cell in row:
        if cell is not None and len(str(cell)) > MAX_CELL_CHARS:
            raise InputError(
                "{path}: line {line}: a cell is longer than {MAX_CELL_CHARS} characters",
                path=p,
                line=line,
                MAX_CELL_CHARS=MAX_CELL_CHARS,
            )
    if line > MAX_ROWS:
        raise InputError("{path}: more than {MAX_ROWS} rows; split the roster", path=p, MAX_ROWS=MAX_ROWS)


def _check_zip(p: Path) -> None:
    """Refuse a zip bomb before openpyxl unpacks anything."""
    import zipfile

    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError):
        raise InputError(
            "{path}: not an Excel .xlsx file (a damaged file, or another format renamed)", path=p
        ) from None
    total = sum(i.file_size for i in infos)
    if total > MAX_UNZIPPED_BYTES or any(i.file_size > MAX_ZIP_RATIO * max(i.compress_size, 1024) for i in infos):
        raise InputError(
            "{path}: this Excel file unpacks to {total} MB; refused as unsafe", path=p, total=total // 1024 // 1024
        )


def _xlsx(p: Path, sheet: str | None = None) -> list[tuple[int, list[Any]]]:
    import openpyxl

    _check_zip(p)
    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InputError("{path}: cannot read this Excel file ({name})", path=p, name=type(exc).__name__) from None
    try:
        if sheet is not None:
            if sheet not in wb.sheetnames:
                raise InputError(
                    "{path}: no sheet {sheet!r}; its sheets are {sheetnames}",
                    path=p,
                    sheet=sheet,
                    sheetnames=", ".join(wb.sheetnames),
                )
            return _sheet_rows(p, wb[sheet])
        first: list[tuple[int, list[Any]]] | None = None
        for ws in wb.worksheets:
            rows = _sheet_rows(p, ws)
            if first is None:
                first = rows
            if _header_index(rows) is not None:
                return rows
        return first or []
    finally:
        wb.close()


def _sheet_rows(p: Path, ws: Any) -> list[tuple[int, list[Any]]]:
    declared_rows, declared_cols = ws.max_row or 0, ws.max_column or 0
    if declared_rows > MAX_ROWS or declared_cols > 16 * MAX_COLUMNS:
        raise InputError(
            "{path}: the sheet claims {declared_rows} rows and {declared_cols} columns; a "
            "roster has at most {MAX_ROWS} rows (delete the stray cells far below or to the "
            "right)",
            path=p,
            declared_rows=declared_rows,
            declared_cols=declared_cols,
            MAX_ROWS=MAX_ROWS,
        )
    out = []
    # Columns are bounded up front: a single cell at XFD1048576 must not make every row 16,384 wide.
    for i, row in enumerate(ws.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1):
        cells = list(row)
        _check_cells(p, i, cells)
        if any(c is not None and str(c).strip() for c in cells):
            out.append((i, cells))
    return out


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
        raise InputError(
            "{path}: the header row needs columns {missing} (e.g. 姓名, 手机); found {names}",
            path=p,
            missing=" and ".join(missing),
            names=names,
        )
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
    if isinstance(phone_cell, str) and re.fullmatch(r"\s*\d(\.\d+)?[eE]\+?\d+\s*", phone_cell):
        raise InputError(
            "the phone number {strip!r} was turned into a rounded number by Excel; set the "
            "phone column's format to Text in Excel, type the numbers again, and save",
            strip=phone_cell.strip(),
        )
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
        raise InputError("joining date {value!r}: use YYYY-MM-DD", value=value)
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        raise InputError("joining date {value!r} does not exist", value=value) from None


TEMPLATE_HEADERS = ["姓名", "手机", "组织", "角色", "入党日期"]
TEMPLATE_EXAMPLE = ["张三", "13800138000", "大渡口区/八桥镇/一村党支部", "支部书记,村干部", "2001-07-01"]


def _phone_text(phone: str) -> str:
    """As an office types it: 13800138000 for a Chinese mobile, +E.164 for others."""
    return phone[3:] if phone.startswith("+86") else phone


def write_xlsx(path: str | Path, rows: Iterable[list[Any]], headers: list[str], title: str) -> int:
    """A roster workbook: headers in row 1, phone numbers stored as text (Excel must not round
    them to 1.38001E+10). Returns the number of data rows."""
    import openpyxl
    from openpyxl.styles import Font

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    phone_col = headers.index("手机") + 1 if "手机" in headers else None
    n = 0
    for row in rows:
        ws.append(row)
        n += 1
        for cell in ws[n + 1]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # a name like =HYPERLINK(...) stays text: never a live formula
        if phone_col is not None:
            ws.cell(row=n + 1, column=phone_col).number_format = "@"
    if phone_col is not None:
        ws.cell(row=1, column=phone_col).number_format = "@"
    for col, width in zip("ABCDE", (10, 14, 34, 20, 12), strict=False):
        ws.column_dimensions[col].width = width
    from smsd.export import open_private

    with open_private(path, "wb") as f:
        wb.save(f)
    return n


def write_template(path: str | Path) -> None:
    """A blank roster with the expected headers and one example row to overwrite."""
    write_xlsx(path, [TEMPLATE_EXAMPLE], TEMPLATE_HEADERS, "花名册")


def member_rows(members: Iterable[Any]) -> tuple[list[str], list[list[Any]]]:
    """The roster as `members import` reads it back unchanged: headers (the template's, then
    every extra column in first-seen order) and one row per member."""
    people = list(members)
    extras: list[str] = []
    for m in people:
        for k in m.extra:
            if k not in extras:
                extras.append(k)
    headers = TEMPLATE_HEADERS + extras
    rows = [
        [
            m.name,
            _phone_text(m.phone),
            m.org or "",
            ",".join(sorted(m.tag_list)),
            m.joined or "",
            *(str(m.extra.get(k, "")) for k in extras),
        ]
        for m in people
    ]
    return headers, rows
