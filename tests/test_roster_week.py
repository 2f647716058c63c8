"""Rosters as most offices keep them (issue 22): the branch merged down over its rows, the org
column under other usual names or in level columns, joining dates as typed, totals and
signatures under the table, the template's example row left in, control characters, short org
names. Every workbook is built here the way the offices' files are laid out."""

from __future__ import annotations

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


def members(tmp_path) -> dict[str, tuple]:
    with Store(tmp_path / "smsd.db") as store:
        return {m.name: (m.org, m.joined) for m in store.members.select()}


def test_a_branch_merged_down_over_its_rows_gives_every_row_its_branch(tmp_path, config):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["序号", "姓名", "手机号码", "所在支部", "职务"])
    for i in range(40):
        ws.append([i + 1, f"党员{i}", f"1380013{i:04d}", None, "党员"])
    for start, branch in (
        (2, "大渡口区/八桥镇/一村党支部"),
        (12, "大渡口区/八桥镇/二村党支部"),
        (22, "大渡口区/八桥镇/机关党支部"),
    ):
        end = start + 9 if start < 22 else 41
        ws.cell(row=start, column=4, value=branch)
        ws.merge_cells(start_row=start, start_column=4, end_row=end, end_column=4)
    wb.save(tmp_path / "merged.xlsx")
    out = run(config, "members", "import", str(tmp_path / "merged.xlsx"))
    assert out.exit_code == 0, out.output
    got = members(tmp_path)
    assert len(got) == 40 and all(org for org, _ in got.values())
    assert got["党员10"][0] == "大渡口区/八桥镇/二村党支部" and got["党员39"][0] == "大渡口区/八桥镇/机关党支部"


@pytest.mark.parametrize("header", ["所在党支部", "党支部", "支部名称", "所属支部", "所属党组织", "所 在 支 部"])
def test_the_org_column_under_its_usual_names(tmp_path, config, header):
    (tmp_path / "r.csv").write_text(f"姓名,手机,{header}\n张三,13800138001,大渡口区/八桥镇/一村党支部\n", "utf-8")
    out = run(config, "members", "import", str(tmp_path / "r.csv"))
    assert out.exit_code == 0, out.output
    assert members(tmp_path) == {"张三": ("大渡口区/八桥镇/一村党支部", None)}


def test_no_org_column_is_said_with_the_headers_seen(tmp_path, config):
    (tmp_path / "r.csv").write_text("姓名,手机,部门名\n张三,13800138001,一村\n", "utf-8")
    out = run(config, "members", "import", str(tmp_path / "r.csv"))
    assert out.exit_code == 0 and "no org column" in out.stderr and "部门名" in out.stderr, out.stderr


def test_org_levels_in_their_own_columns_join_into_the_path(tmp_path, config):
    rows = (
        "姓名,手机,乡镇（街道）,村（社区）,所在党支部\n"
        "张三,13800138001,八桥镇,一村,一村党支部\n"
        "李四,13800138002,八桥镇,,机关党支部\n"
        "王五,13800138003,跳磴镇／二村,,二村党支部\n"
        "赵六,13800138004,大渡口区\\春晖路街道,,春晖路党支部\n"
    )
    (tmp_path / "r.csv").write_text(rows, "utf-8")
    out = run(config, "members", "import", str(tmp_path / "r.csv"), "--under", "大渡口区")
    assert out.exit_code == 0, out.output
    assert members(tmp_path) == {
        "张三": ("大渡口区/八桥镇/一村/一村党支部", None),
        "李四": ("大渡口区/八桥镇/机关党支部", None),
        "王五": ("大渡口区/跳磴镇/二村/二村党支部", None),
        "赵六": ("大渡口区/春晖路街道/春晖路党支部", None),
    }


def test_the_template_shows_both_forms_and_its_untouched_example_is_passed_over(tmp_path, config):
    assert CliRunner().invoke(main, ["members", "template", str(tmp_path / "t.xlsx")]).exit_code == 0
    wb = openpyxl.load_workbook(tmp_path / "t.xlsx")
    assert wb.sheetnames == ["花名册", "分列填写"]
    assert [c.value for c in wb["分列填写"][1]][2:5] == ["乡镇（街道）", "村（社区）", "所在党支部"]
    ws = wb["花名册"]
    ws.append(["李四", "13800138002", "大渡口区/八桥镇", "党员", "2002-07-01"])
    wb.save(tmp_path / "t.xlsx")
    out = run(config, "members", "import", str(tmp_path / "t.xlsx"))
    assert out.exit_code == 0, out.output
    assert "example row" in out.stderr and set(members(tmp_path)) == {"李四"}


@pytest.mark.parametrize(
    "typed, stored",
    [("2001.07", "2001-07"), ("2001-07", "2001-07"), ("2001年07月", "2001-07"), ("20010701", "2001-07-01"),
     ("2001.7.1", "2001-07-01"), ("2001年7月1日", "2001-07-01")],
)  # fmt: skip
def test_joining_dates_as_offices_type_them(tmp_path, config, typed, stored):
    (tmp_path / "r.csv").write_text(f"姓名,手机,组织,入党日期\n张三,13800138001,大渡口区,{typed}\n", "utf-8")
    out = run(config, "members", "import", str(tmp_path / "r.csv"))
    assert out.exit_code == 0, out.output
    assert members(tmp_path)["张三"][1] == stored
    assert ("no day" in out.stderr) == (len(stored) == 7)


def test_a_date_that_cannot_be_read_never_drops_the_member(tmp_path, config):
    (tmp_path / "r.csv").write_text("姓名,手机,组织,入党日期\n张三,13800138001,大渡口区,七一那天\n", "utf-8")
    for flags in ((), ("--skip-invalid",)):
        out = run(config, "members", "import", str(tmp_path / "r.csv"), *flags)
        assert out.exit_code == 0 and "without a joining date" in out.stderr, out.output
        assert members(tmp_path) == {"张三": ("大渡口区", None)}


def test_totals_and_signatures_under_the_table_are_not_members(tmp_path, config):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["姓名", "手机", "组织"])
    ws.append(["张三", "13800138001", "大渡口区/八桥镇"])
    ws.append(["李四", "13800138002", "大渡口区/八桥镇"])
    ws.append(["合计 2人", None, None])
    ws.append(["制表人：王五", None, "审核人：赵六"])
    ws.append(["填表日期：2026年11月30日"])
    wb.save(tmp_path / "r.xlsx")
    out = run(config, "members", "import", str(tmp_path / "r.xlsx"))
    assert out.exit_code == 0 and "2 new" in out.output and "0 skipped" in out.output, out.output


def test_a_sheet_with_headers_only_says_it_has_no_members(tmp_path, config):
    (tmp_path / "r.csv").write_text("姓名,手机,组织\n", "utf-8")
    out = run(config, "members", "import", str(tmp_path / "r.csv"))
    assert out.exit_code == 1 and "no members" in out.output


def test_control_characters_are_refused_with_the_line(tmp_path, config):
    wb = openpyxl.Workbook()  # a line break typed with Alt+Enter in a name cell
    ws = wb.active
    ws.append(["姓名", "手机", "组织"])
    ws.append(["李四", "13800138002", "大渡口区"])
    ws.append(["张三\n（退休）", "13800138001", "大渡口区"])
    wb.save(tmp_path / "r.xlsx")
    (tmp_path / "r.csv").write_bytes(
        "姓名,手机,组织\n李四,13800138002,大渡口区\n张\x00三,13800138001,大渡口区\n".encode()
    )
    for name in ("r.xlsx", "r.csv"):
        out = run(config, "members", "import", str(tmp_path / name))
        assert out.exit_code == 1 and "line 3" in out.stderr and "control character" in out.stderr, out.output
        assert members(tmp_path) == {}


def test_a_short_org_name_finds_the_unit_or_suggests_it_and_an_empty_unit_can_go(tmp_path, config):
    rows = "姓名,手机,组织\n张三,13800138001,大渡口区/八桥镇/一村党支部\n李四,13800138002,大渡口区/跳磴镇\n"
    (tmp_path / "r.csv").write_text(rows, "utf-8")
    assert run(config, "members", "import", str(tmp_path / "r.csv")).exit_code == 0
    found = run(config, "members", "list", "--org", "八桥镇", "--json")
    assert found.exit_code == 0 and "张三" in found.output and "李四" not in found.output
    missing = run(config, "members", "list", "--org", "八桥")
    assert missing.exit_code == 1 and "did you mean" in missing.output and "大渡口区/八桥镇" in missing.output
    dry = run(config, "broadcast", "--org", "一村党支部", "--text", "开会", "--dry-run")
    assert dry.exit_code == 0, dry.output
    refused = run(config, "org", "remove", "八桥镇")
    assert refused.exit_code == 1 and "1 member" in refused.output
    assert run(config, "members", "remove", "13800138002").exit_code == 0
    gone = run(config, "org", "remove", "跳磴镇")
    assert gone.exit_code == 0, gone.output
    with Store(tmp_path / "smsd.db") as store:
        assert not store.members.org_exists("大渡口区/跳磴镇") and store.members.org_exists("大渡口区/八桥镇")


def test_a_broadcast_that_cannot_be_made_for_one_member_names_that_member(tmp_path, config):
    rows = "姓名,手机,组织,职务说明\n张三,13800138001,大渡口区,书记\n李四,13800138002,大渡口区,\n"
    (tmp_path / "r.csv").write_text(rows, "utf-8")
    assert run(config, "members", "import", str(tmp_path / "r.csv")).exit_code == 0
    out = run(config, "broadcast", "--org", "大渡口区", "--text", "${name}${职务说明}同志：开会", "--dry-run")
    assert out.exit_code == 1 and "李四" in out.output and "138****8002" in out.output, out.output
