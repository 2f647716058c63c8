"""Rosters as offices keep them (issue 17): a title above the headers, merged cells, a notes sheet
first, --sheet, `members template` and `members export` round trips, `org tree`, and the files
Excel users really send (.xls, a CSV named .xlsx, phones rounded to 1.36001E+10)."""

from __future__ import annotations

import json

import openpyxl
import pytest
from click.testing import CliRunner

from smsd.cli import main
from smsd.store import Store


@pytest.fixture
def config(config_file):
    return config_file  # the shared config file (tests/conftest.py)


def run(config, *args):
    return CliRunner().invoke(main, [*args, "--config", str(config)])


def office_workbook(path, n: int = 6):
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "填表说明"
    notes.append(["请按花名册格式填写，手机号请填写11位。"])
    ws = wb.create_sheet("党员花名册")
    ws.append(["八桥镇党员花名册"])
    ws.merge_cells("A1:F1")
    ws.append(["填报单位：八桥镇党委", None, None, "填报日期：2026年11月"])
    ws.merge_cells("A2:C2")
    ws.append(["序号", "姓名", "手机号码", "所在党组织", "职务", "入党时间"])
    for i in range(n):
        ws.append([i + 1, f"党员{i}", f"1380013{i:04d}", f"大渡口区/八桥镇/{'一' if i % 2 else '二'}村党支部",
                   "支部书记" if i == 0 else "党员", f"{2000 + i % 20}-07-01"])  # fmt: skip
    wb.save(path)


def test_a_roster_with_a_title_merged_cells_and_a_notes_sheet_imports_without_flags(tmp_path, config):
    office_workbook(tmp_path / "花名册.xlsx")
    out = run(config, "members", "import", str(tmp_path / "花名册.xlsx"))
    assert out.exit_code == 0, out.output
    assert "imported 6 members (6 new" in out.output
    with Store(tmp_path / "smsd.db") as store:
        m = store.members.get("13800130000")
        assert (m.name, m.org, m.tag_list) == ("党员0", "大渡口区/八桥镇/二村党支部", ["支部书记"])
        assert m.joined == "2000-07-01"
        assert m.extra == {"序号": "1"}


def test_sheet_picks_one_and_an_unknown_sheet_names_the_others(tmp_path, config):
    office_workbook(tmp_path / "r.xlsx")
    assert run(config, "members", "import", str(tmp_path / "r.xlsx"), "--sheet", "党员花名册").exit_code == 0
    out = run(config, "members", "import", str(tmp_path / "r.xlsx"), "--sheet", "Sheet9")
    assert out.exit_code == 1 and "no sheet 'Sheet9'" in out.output and "填表说明, 党员花名册" in out.output
    out = run(config, "members", "import", str(tmp_path / "r.xlsx"), "--sheet", "填表说明")
    assert out.exit_code == 1 and "no header row" in out.output


def test_template_fill_import_round_trips(tmp_path, config):
    path = tmp_path / "模板.xlsx"
    out = CliRunner().invoke(main, ["members", "template", str(path)])
    assert out.exit_code == 0 and "smsd members import" in out.output
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    assert [c.value for c in ws[1]] == ["姓名", "手机", "组织", "角色", "入党日期"]
    assert ws.cell(row=2, column=2).number_format == "@"  # phones stay text in Excel
    ws.delete_rows(2)
    ws.append(["李四", "13900139000", "大渡口区/春晖路街道", "村干部", "1999-10-01"])
    wb.save(path)
    out = run(config, "members", "import", str(path))
    assert out.exit_code == 0 and "1 new" in out.output, out.output
    with Store(tmp_path / "smsd.db") as store:
        assert store.members.get("13900139000").org == "大渡口区/春晖路街道"


def test_export_then_import_changes_nothing(tmp_path, config):
    office_workbook(tmp_path / "r.xlsx", n=30)
    assert run(config, "members", "import", str(tmp_path / "r.xlsx")).exit_code == 0
    with Store(tmp_path / "smsd.db") as store:
        before = [m.as_dict() for m in store.members.select()]
    out = run(config, "members", "export", str(tmp_path / "export.xlsx"))
    assert out.exit_code == 0 and "wrote 30 member(s)" in out.output
    out = run(config, "members", "import", str(tmp_path / "export.xlsx"))
    assert out.exit_code == 0 and "(0 new, 0 updated, 30 unchanged, 0 skipped)" in out.output, out.output
    with Store(tmp_path / "smsd.db") as store:
        assert [m.as_dict() for m in store.members.select()] == before


def test_org_tree_counts_each_unit_and_its_subtree(tmp_path, config):
    office_workbook(tmp_path / "r.xlsx", n=6)
    run(config, "members", "import", str(tmp_path / "r.xlsx"))
    out = run(config, "org", "tree")
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[0] == "大渡口区  6 member(s)" and "  八桥镇  6 member(s)" in lines
    assert "    一村党支部  3 member(s)" in lines and "    二村党支部  3 member(s)" in lines
    data = json.loads(run(config, "org", "tree", "--json").output)
    assert {"path": "大渡口区/八桥镇/一村党支部", "members": 3, "subtree": 3} in data


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("old.xls", bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 600, "save it as .xlsx"),
        ("renamed.xlsx", bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 600, "save it as .xlsx"),
        ("csv.xlsx", "姓名,手机\n张三,13800138000\n".encode(), "a CSV (text) file named .xlsx"),
        ("sci.csv", "姓名,手机\n张三,1.38001E+10\n".encode(), "turned into a rounded number by Excel"),
        ("gbk.csv", "姓名,手机\n张三,1.38E+10\n".encode("gbk"), "Text in Excel"),
    ],
)
def test_files_excel_users_send_get_a_clear_error(tmp_path, config, name, content, expected):
    (tmp_path / name).write_bytes(content)
    out = run(config, "members", "import", str(tmp_path / name))
    assert out.exit_code == 1 and expected in out.output and "Traceback" not in out.output
    assert len([line for line in out.output.splitlines() if line.startswith("Error")]) == 1
