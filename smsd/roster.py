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
from smsd.orgpath import org_path
from smsd.phone import normalise
from smsd.store.records import MemberRow

HEADERS = {
    "name": ("name", "姓名", "名字", "党员姓名"),
    "phone": ("phone", "mobile", "手机", "手机号", "手机号码", "电话", "联系电话", "联系方式", "移动电话"),
    "org": (
        "org", "org_unit", "组织", "党组织", "所在党组织", "所属党组织", "党组织名称", "单位", "所在单位",
        "所在支部", "所在党支部", "党支部", "支部", "支部名称", "所属支部", "所属党支部", "党支部名称",
    ),
    "tags": ("tags", "roles", "groups", "role", "group", "角色", "身份", "职务", "分组", "类别"),
    "joined": ("joined", "join_date", "入党日期", "入党时间", "入党年月日", "入党年月"),
}  # fmt: skip
# The org path in separate columns, as most offices keep it: township, then village or community
# (the branch is the org column). Joined into one path: 八桥镇/一村/一村党支部.
LEVELS = {
    "county": ("区县", "县区", "区（县）", "县（区）", "县", "区"),
    "township": ("乡镇", "乡镇（街道）", "乡镇(街道)", "乡镇/街道", "镇街", "镇（街道）", "街道", "镇", "乡"),
    "village": ("村（社区）", "村(社区)", "村/社区", "村居", "村", "社区", "村社区"),
}
# Lines under the table that are not members: totals, signatures, notes.
FOOTER = re.compile(r"^\s*(合\s*计|总\s*计|小\s*计|共计|制表|填表|审核|负责人|联系人|备注|说明|注[:：]|单位盖章)")
TAG_SPLIT = re.compile(r"[,，;；、/|\s]+")
# Limits on untrusted files: a roster is a few thousand short rows.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_CELL_CHARS = 1000
MAX_ROWS = 200_000
MAX_COLUMNS = 100
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # an .xlsx is a zip: its parts, unpacked, stay under this
MAX_ZIP_RATIO = 200  # and no part unpacks to more than this many times its packed size


@dataclass
class ImportResult:
    rows: list[MemberRow]
    errors: list[str]
    warnings: list[str] = field(default_factory=list)  # imported all the same, but the admin should know


HEADER_SEARCH_ROWS = 10  # a title, a date line or merged cells may sit above the headers


def read(path: str | Path, sheet: str | None = None, under: str | None = None) -> ImportResult:
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
    warnings: list[str] = []
    if "org" not in columns and not any(k in columns for k in LEVELS):
        seen_headers = ", ".join(str(h).strip() for h in header if h is not None and str(h).strip())
        warnings.append(
            _(
                "no org column found (such as 组织, 所在党支部 or 乡镇/村 columns): the members are imported "
                "without an org unit; the headers are {headers}"
            ).format(headers=seen_headers)
        )
    seen: dict[str, int] = {}
    for line, cells in table[at + 1 :]:
        if not any(str(c).strip() for c in cells if c is not None):
            continue
        lead = str(_cell(cells, columns["name"]) or "").strip()
        if FOOTER.match(lead) and not str(_cell(cells, columns["phone"]) or "").strip():
            continue  # 合计 40人, 制表人：..., notes under the table
        if _is_template_example(cells, columns):
            warnings.append(
                _("line {line}: the template's example row (张三, 13800138000) is still there: skipped").format(
                    line=line
                )
            )
            continue
        try:
            row = _row(line, cells, columns, header, warnings)
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
    if under:
        prefix = org_path(under)
        for r in rows:
            if r.org and r.org != prefix and not r.org.startswith(prefix + "/"):
                r.org = f"{prefix}/{r.org}"
    if not rows and not errors:
        raise InputError(
            "{path}: the sheet has headers (line {line}) but no members under them", path=p, line=header_line
        )
    return ImportResult(rows, errors, warnings)


def _is_template_example(cells: list[Any], columns: dict[str, int]) -> bool:
    """The example row of `smsd members template`, left as it was written."""
    name, phone, org, tags = TEMPLATE_EXAMPLE[:4]
    levels = [str(_cell(cells, columns.get(k)) or "").strip() for k in ("county", "township", "village")]
    written = org_path("/".join([*levels, str(_cell(cells, columns.get("org")) or "")]))
    return (
        str(_cell(cells, columns["name"]) or "").strip() == name
        and _phone_digits(_cell(cells, columns["phone"])) == phone
        and written in (org, org_path("/".join(LEVEL_EXAMPLE[2:5])))
        and sorted(t for t in TAG_SPLIT.split(str(_cell(cells, columns.get("tags")) or "")) if t)
        == sorted(TAG_SPLIT.split(tags))
    )


def _phone_digits(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"\D", "", str(value or ""))


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
            return _sheet_rows(p, wb[sheet], _merged_ranges(p, sheet))
        first: list[tuple[int, list[Any]]] | None = None
        for ws in wb.worksheets:
            rows = _sheet_rows(p, ws, _merged_ranges(p, ws.title))
            if first is None:
                first = rows
            if _header_index(rows) is not None:
                return rows
        return first or []
    finally:
        wb.close()


def _merged_ranges(p: Path, title: str) -> list[tuple[int, int, int, int]]:
    """The sheet's merged cells as (first row, first column, last row, last column), 1-based.

    openpyxl's read-only mode (kept for memory: a roster may be large) does not read them, so
    they come from the sheet's XML: workbook.xml names the sheet, its relationship the part."""
    import posixpath
    import zipfile
    from xml.etree import ElementTree

    from openpyxl.utils.cell import range_boundaries

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    try:
        with zipfile.ZipFile(p) as z:
            book = ElementTree.fromstring(z.read("xl/workbook.xml"))
            rid = next((s.get(rel) for s in book.iter(main + "sheet") if s.get("name") == title), None)
            rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
            target = next((r.get("Target", "") for r in rels if r.get("Id") == rid), "")
            part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            out = []
            with z.open(part) as f:
                for _event, el in ElementTree.iterparse(f):
                    if el.tag == main + "mergeCell" and el.get("ref"):
                        c1, r1, c2, r2 = range_boundaries(el.get("ref", ""))
                        if r1 and r2 and c1 and c2:
                            out.append((r1, c1, r2, c2))
                    elif el.tag == main + "row":
                        el.clear()  # keep memory flat over a long sheet
            return out
    except (KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError, OSError):
        return []


def _fill_merged(rows: dict[int, list[Any]], merged: list[tuple[int, int, int, int]]) -> None:
    """Every cell of a merge takes its value (所在支部 merged down over a branch's rows)."""
    for r1, c1, r2, c2 in merged:
        if c1 > MAX_COLUMNS or r2 - r1 > MAX_ROWS:
            continue
        top = rows.get(r1)
        value = top[c1 - 1] if top is not None and c1 - 1 < len(top) else None
        if value is None:
            continue
        for r in range(r1, r2 + 1):
            cells = rows.setdefault(r, [])
            for c in range(c1, min(c2, MAX_COLUMNS) + 1):
                while len(cells) < c:
                    cells.append(None)
                if cells[c - 1] is None:
                    cells[c - 1] = value


def _sheet_rows(p: Path, ws: Any, merged: list[tuple[int, int, int, int]] | None = None) -> list[tuple[int, list[Any]]]:
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
    every: dict[int, list[Any]] = {}
    # Columns are bounded up front: a single cell at XFD1048576 must not make every row 16,384 wide.
    for i, row in enumerate(ws.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1):
        cells = list(row)
        _check_cells(p, i, cells)
        every[i] = cells
    if merged:
        _fill_merged(every, merged)
    return [(i, every[i]) for i in sorted(every) if any(c is not None and str(c).strip() for c in every[i])]


def _header_name(h: Any) -> str:
    """A header as written, without the spaces, line breaks and width differences of a typed one."""
    import unicodedata

    text = unicodedata.normalize("NFKC", str(h or "")).strip().lower()
    return re.sub(r"\s+", "", text).replace("(", "（").replace(")", "）")


def _columns(header: list[Any], p: Path) -> dict[str, int]:
    names = [_header_name(h) for h in header]
    columns: dict[str, int] = {}
    for key, aliases in (*HEADERS.items(), *LEVELS.items()):
        wanted = {_header_name(a) for a in aliases}
        for i, n in enumerate(names):
            if n in wanted and i not in columns.values():
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


def _refuse_control(cells: list[Any], header: list[Any]) -> None:
    """A NUL, a line break (Alt+Enter in Excel) or another control character in a cell is refused
    with its column: it would break a message, a table or an export later."""
    for i, c in enumerate(cells):
        if isinstance(c, str) and any(unicodedata_category(ch) == "Cc" for ch in c.strip()):
            column = str(_cell(header, i) or i + 1).strip()
            raise InputError(
                "the cell under {column} contains a control character (a line break or NUL); remove it",
                column=column,
            )


def unicodedata_category(ch: str) -> str:
    import unicodedata

    return unicodedata.category(ch)


def _row(
    line: int, cells: list[Any], columns: dict[str, int], header: list[Any], warnings: list[str] | None = None
) -> MemberRow:
    _refuse_control(cells, header)
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
    levels = [str(_cell(cells, columns.get(k)) or "").strip() for k in ("county", "township", "village")]
    org = org_path("/".join([*levels, str(_cell(cells, columns.get("org")) or "")]))
    tags = [t for t in TAG_SPLIT.split(str(_cell(cells, columns.get("tags")) or "").strip()) if t]
    raw_joined = _cell(cells, columns.get("joined"))
    try:
        joined = parse_date(raw_joined)
    except InputError as exc:  # the member is imported without it, never dropped for it
        joined = None
        if warnings is not None:
            warnings.append(
                _("line {line}: {error}; {name} is imported without a joining date").format(
                    line=line, error=exc, name=name
                )
            )
    if joined is not None and len(joined) == 7 and warnings is not None:
        warnings.append(
            _(
                "line {line}: joining date {value} has no day: kept as {joined}; {name} gets no anniversary "
                "greeting until the day is filled in"
            ).format(line=line, value=raw_joined, joined=joined, name=name)
        )
    used = set(columns.values())
    extras = {
        str(h).strip(): str(c).strip()
        for i, (h, c) in enumerate(zip(header, cells, strict=False))
        if i not in used and h and c not in (None, "")
    }
    return MemberRow(line, name, phone, org, tags, joined, extras)


def parse_date(value: Any) -> str | None:
    """'2001-07-01', '2001/7/1', '2001年7月1日', '2001.07.01', '20010701' or an Excel date ->
    'YYYY-MM-DD'; a month alone ('2001.07', '2001-07', '2001年07月', '200107') -> 'YYYY-MM'."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 20010701 typed into a number cell
    text = str(value).strip()
    m = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text) or re.fullmatch(
        r"(\d{4})(\d{2})(\d{2})", text
    )
    month = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?", text) or re.fullmatch(r"(\d{4})(\d{2})", text)
    try:
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        if month:
            return date(int(month.group(1)), int(month.group(2)), 1).isoformat()[:7]
    except ValueError:
        raise InputError("joining date {value!r} does not exist", value=value) from None
    raise InputError("joining date {value!r}: use YYYY-MM-DD", value=value)


TEMPLATE_HEADERS = ["姓名", "手机", "组织", "角色", "入党日期"]
TEMPLATE_EXAMPLE = ["张三", "13800138000", "大渡口区/八桥镇/一村党支部", "支部书记,村干部", "2001-07-01"]


def _phone_text(phone: str) -> str:
    """As an office types it: 13800138000 for a Chinese mobile, +E.164 for others."""
    return phone[3:] if phone.startswith("+86") else phone


def write_xlsx(
    path: str | Path,
    rows: Iterable[list[Any]],
    headers: list[str],
    title: str,
    more: tuple[tuple[str, list[str], list[list[Any]]], ...] = (),
) -> int:
    """A roster workbook: headers in row 1, phone numbers stored as text (Excel must not round
    them to 1.38001E+10); `more` sheets after it (title, headers, rows). Returns the number of
    data rows of the first sheet."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    n = _fill_sheet(ws, title, headers, rows)
    for sheet_title, sheet_headers, sheet_rows in more:
        _fill_sheet(wb.create_sheet(sheet_title), sheet_title, sheet_headers, sheet_rows)
    from smsd.export import open_private

    with open_private(path, "wb") as f:
        wb.save(f)
    return n


def _fill_sheet(ws: Any, title: str, headers: list[str], rows: Iterable[list[Any]]) -> int:
    from openpyxl.styles import Font

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
    for col, width in zip("ABCDEFG", (10, 14, 34, 20, 12, 20, 12), strict=False):
        ws.column_dimensions[col].width = width
    return n


LEVEL_HEADERS = ["姓名", "手机", "乡镇（街道）", "村（社区）", "所在党支部", "角色", "入党日期"]
LEVEL_EXAMPLE = ["张三", "13800138000", "八桥镇", "一村", "一村党支部", "支部书记,村干部", "2001-07-01"]


def write_template(path: str | Path) -> None:
    """A blank roster with the expected headers and one example row to overwrite; a second sheet
    shows the other form, the org levels in their own columns (import it with --sheet)."""
    write_xlsx(
        path, [TEMPLATE_EXAMPLE], TEMPLATE_HEADERS, "花名册", more=(("分列填写", LEVEL_HEADERS, [LEVEL_EXAMPLE]),)
    )


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
