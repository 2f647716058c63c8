"""Importing the roster from Excel and CSV: all or nothing, line numbers, updates by phone."""

from __future__ import annotations

import json
from datetime import datetime

import openpyxl
import pytest
from click.testing import CliRunner

from smsd.cli import main
from smsd.store import Store
from tests.conftest import write_config

TOWNS = ["大渡口区/八桥镇", "大渡口区/跳磴镇", "大渡口区/春晖路街道"]
ROLES = ["支部书记", "村官", "党员", "干部"]


def make_xlsx(path, n: int, bad_rows: dict[int, tuple] | None = None) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["姓名", "手机", "组织", "角色", "入党日期", "备注"])
    for i in range(n):
        town = TOWNS[i % 3]
        row = (
            f"党员{i}",
            f"138{i:08d}",
            f"{town}/第{i % 20}村党支部",
            ROLES[i % 4] + ("，村官" if i % 7 == 0 else ""),
            datetime(1980 + i % 40, 1 + i % 12, 1 + i % 28),
            f"备注{i}",
        )
        if bad_rows and i in bad_rows:
            row = bad_rows[i]
        ws.append(row)
    wb.save(path)


@pytest.fixture
def env(tmp_path):
    config = write_config(tmp_path, {"m1": "emulator"})
    return tmp_path, config


def run(config, *args):
    return CliRunner().invoke(main, [*args, "--config", str(config)])


def count(tmp_path) -> int:
    with Store(tmp_path / "smsd.db") as s:
        return len(s.members.select())


def test_five_thousand_row_xlsx_imports(env):
    tmp_path, config = env
    make_xlsx(tmp_path / "roster.xlsx", 5000)
    result = run(config, "members", "import", str(tmp_path / "roster.xlsx"))
    assert result.exit_code == 0, result.output
    assert "imported 5000 members (5000 new, 0 updated, 0 unchanged, 0 skipped)" in result.output
    assert count(tmp_path) == 5000
    with Store(tmp_path / "smsd.db") as s:
        m = s.members.get("13800000007")
        assert m.name == "党员7" and m.org == "大渡口区/跳磴镇/第7村党支部"
        assert set(m.tag_list) == {"干部", "村官"} and m.joined == "1987-08-08"
        assert m.extra == {"备注": "备注7"}


def test_three_bad_rows_are_refused_with_line_numbers_then_skipped_on_request(env):
    tmp_path, config = env
    bad = {
        4: ("党员4", "12345", "大渡口区/八桥镇", "党员", "2001-07-01", ""),
        9: ("", "13900000009", "大渡口区/八桥镇", "党员", "2001-07-01", ""),
        15: ("党员15", "13900000015", "大渡口区/八桥镇", "党员", "2001-13-45", ""),
    }
    make_xlsx(tmp_path / "roster.xlsx", 30, bad)
    result = run(config, "members", "import", str(tmp_path / "roster.xlsx"))
    assert result.exit_code == 1
    assert "line 6:" in result.stderr and "line 11:" in result.stderr
    assert "2 bad row(s); nothing imported" in result.stderr
    assert count(tmp_path) == 0
    result = run(config, "members", "import", str(tmp_path / "roster.xlsx"), "--skip-invalid")
    assert result.exit_code == 0 and "28 new" in result.output and "2 skipped" in result.output
    # a date that cannot be read never drops the member: imported without it, with a warning
    assert "line 17:" in result.stderr and "without a joining date" in result.stderr
    assert count(tmp_path) == 28


def test_gbk_csv_with_chinese_headers_and_reimport_updates(env):
    tmp_path, config = env
    csv = "姓名,手机号,党组织,身份,入党时间\n张三,138 0013 8000,大渡口区/八桥镇/一村党支部,支部书记,2001年7月1日\n"
    (tmp_path / "r.csv").write_bytes(csv.encode("gbk"))
    assert run(config, "members", "import", str(tmp_path / "r.csv")).exit_code == 0
    csv2 = "姓名,手机号,党组织,身份,入党时间\n张三丰,+8613800138000,大渡口区/跳磴镇,干部,2001/7/1\n"
    (tmp_path / "r2.csv").write_text(csv2, encoding="utf-8")
    result = run(config, "members", "import", str(tmp_path / "r2.csv"))
    assert "0 new, 1 updated" in result.output
    with Store(tmp_path / "smsd.db") as s:
        [m] = s.members.select()
        assert (m.name, m.org, m.tags, m.joined) == ("张三丰", "大渡口区/跳磴镇", "干部", "2001-07-01")


def test_duplicate_phone_in_one_file_is_a_bad_row(env):
    tmp_path, config = env
    (tmp_path / "d.csv").write_text("name,phone\nA,13800138000\nB,13800138000\n")
    result = run(config, "members", "import", str(tmp_path / "d.csv"))
    assert result.exit_code == 1 and "line 3:" in result.stderr and "already on line 2" in result.stderr


def test_missing_columns_and_missing_file(env):
    tmp_path, config = env
    (tmp_path / "h.csv").write_text("who,where\nA,B\n")
    out = run(config, "members", "import", str(tmp_path / "h.csv"))
    assert "no header row with a name and a phone column" in out.stderr
    assert "no such file" in run(config, "members", "import", str(tmp_path / "none.xlsx")).stderr


def test_list_by_org_subtree_and_group_show_remove(env):
    tmp_path, config = env
    make_xlsx(tmp_path / "roster.xlsx", 60)
    run(config, "members", "import", str(tmp_path / "roster.xlsx"))
    rows = json.loads(run(config, "members", "list", "--org", "大渡口区/八桥镇", "--json").output)
    assert len(rows) == 20 and all(r["org"].startswith("大渡口区/八桥镇/") for r in rows)
    assert all("****" in r["phone"] for r in rows)
    rows = json.loads(run(config, "members", "list", "--group", "村官", "--json").output)
    assert {r["id"] for r in rows} == {i + 1 for i in range(60) if i % 4 == 1 or i % 7 == 0}
    both = json.loads(
        run(config, "members", "list", "--org", "大渡口区/八桥镇", "--group", "支部书记", "--json").output
    )
    assert {r["id"] for r in both} == {i + 1 for i in range(60) if i % 3 == 0 and i % 4 == 0}
    shown = run(config, "members", "show", "13800000001")
    assert "党员1" in shown.output and "Opted out: no" in shown.output and "备注: 备注1" in shown.output
    assert run(config, "members", "remove", "13800000001").exit_code == 0
    assert run(config, "members", "show", "13800000001").exit_code == 1
