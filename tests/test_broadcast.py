"""Broadcasts: the dry run is what the real run queues; templates; opt-out; campaigns."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from smsd import pdu
from smsd.cli import main
from smsd.store import Store
from tests.conftest import write_config
from tests.sql import rows as sql_rows
from tests.test_roster import make_xlsx


@pytest.fixture
def env(tmp_path):
    config = write_config(tmp_path, {"m1": "emulator", "m2": "emulator"})
    make_xlsx(tmp_path / "roster.xlsx", 300)
    assert (
        CliRunner()
        .invoke(main, ["members", "import", str(tmp_path / "roster.xlsx"), "--config", str(config)])
        .exit_code
        == 0
    )
    return tmp_path, config


def run(config, *args, input=None):
    return CliRunner().invoke(main, [*args, "--config", str(config)], input=input)


SELECT = ["--org", "大渡口区/八桥镇", "--group", "支部书记"]
TEXT = (
    "${name}同志：请于周五下午三点到${org}参加支部书记会议，会议讨论年度工作总结和明年计划，"
    "请准时参加。联系人：组织部王老师，电话六八八。"
)


def test_dry_run_shows_exactly_what_the_real_run_queues(env):
    tmp_path, config = env
    dry = run(config, "broadcast", *SELECT, "--text", TEXT, "--dry-run", "--json", "--unmask")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.output)
    real = run(config, "broadcast", *SELECT, "--text", TEXT, "--yes", "--json", "--unmask")
    assert real.exit_code == 0, real.output
    cid = json.loads(real.output)["campaign"]
    with Store(tmp_path / "smsd.db") as s:
        queued = sql_rows(s, "SELECT to_number, text, segments FROM outbox WHERE campaign_id = ? ORDER BY id", (cid,))
    assert [(r["phone"], r["text"], r["segments"]) for r in plan["list"]] == [
        (q["to_number"], q["text"], q["segments"]) for q in queued
    ]
    assert plan["recipients"] == 25  # i % 3 == 0 and i % 4 == 0 for i < 300
    assert plan["total_segments"] == sum(pdu.segments(q["text"]) for q in queued)
    assert plan["cost_fen"] == plan["total_segments"] * 6
    assert plan["segments_per_message"]["min"] == 1 and plan["segments_per_message"]["max"] == 2
    assert plan["cost_yuan"] == f"{plan['cost_fen'] / 100:.2f}"


def test_human_summary_and_confirmation(env):
    _, config = env
    out = run(config, "broadcast", *SELECT, "--text", "会议通知", "--dry-run")
    assert "recipients: 25" in out.output and "cost: 1.50 yuan" in out.output and "done by about" in out.output
    refused = run(config, "broadcast", *SELECT, "--text", "会议通知")
    assert refused.exit_code == 1 and "add --yes" in refused.stderr


def test_opted_out_members_are_skipped_unless_urgent(env):
    tmp_path, config = env
    with Store(tmp_path / "smsd.db") as s:
        s.members.set_opt_out(s.members.get("13800000000").id, True, "test")
    plan = json.loads(run(config, "broadcast", *SELECT, "--text", "x", "--dry-run", "--json").output)
    assert plan["recipients"] == 24 and plan["skipped_opted_out"] == 1
    urgent = json.loads(run(config, "broadcast", *SELECT, "--text", "x", "--urgent", "--dry-run", "--json").output)
    assert urgent["recipients"] == 25


def test_templates_list_preview_and_strict_rendering(env):
    _, config = env
    listing = run(config, "templates", "list")
    for name in ("anniversary", "meeting_notice", "poll_invitation", "general_notice"):
        assert name in listing.output
    preview = run(config, "templates", "preview", "anniversary", "--member", "13800000005")
    assert preview.exit_code == 0, preview.output
    assert "党员5同志：今天是您入党" in preview.output and "UCS2" in preview.output and "segment" in preview.output
    missing = run(config, "broadcast", *SELECT, "--template", "meeting_notice", "--var", "time=周五", "--dry-run")
    assert missing.exit_code == 1 and "needs ${place}, ${topic}" in missing.stderr
    unknown = run(config, "broadcast", *SELECT, "--template", "nope", "--dry-run")
    assert "no template 'nope'" in unknown.stderr


def test_numbers_file_and_bad_selection(env):
    tmp_path, config = env
    (tmp_path / "n.txt").write_text("13800000001\n# comment\n+8613912345678\n")
    plan = json.loads(
        run(
            config, "broadcast", "--numbers", str(tmp_path / "n.txt"), "--text", "hi", "--dry-run", "--json", "--unmask"
        ).output
    )
    assert [r["phone"] for r in plan["list"]] == ["+8613800000001", "+8613912345678"]
    assert [r["name"] for r in plan["list"]] == ["党员1", ""]
    named = run(config, "broadcast", "--numbers", str(tmp_path / "n.txt"), "--text", "${name}好", "--dry-run")
    assert "139****5678 (not a member)" in named.stderr
    assert "choose recipients" in run(config, "broadcast", "--text", "x", "--dry-run").stderr
    assert "no org unit" in run(config, "broadcast", "--org", "火星", "--text", "x", "--dry-run").stderr


def test_campaign_pause_resume_cancel(env):
    tmp_path, config = env
    cid = json.loads(run(config, "broadcast", *SELECT, "--text", "x", "--yes", "--json").output)["campaign"]
    with Store(tmp_path / "smsd.db") as s:
        first = s.claims.claim_next("m1")
        assert first.campaign_id == cid
        assert run(config, "campaign", "pause", str(cid)).exit_code == 0
        assert s.claims.claim_next("m1") is None
        assert "cannot pause" in run(config, "campaign", "pause", str(cid)).stderr
        assert run(config, "campaign", "resume", str(cid)).exit_code == 0
        second = s.claims.claim_next("m2")
        assert second.campaign_id == cid
        s.submits.part_submitting(second.id, 1, "m2")
        s.submits.part_sent(second.id, 1, ref=1, price_fen=6, modem="m2")
        assert run(config, "campaign", "cancel", str(cid)).exit_code == 0
        assert s.events("campaign", cid)[-1].detail == "23 queued messages cancelled"
        states = {
            r["state"]: r["n"]
            for r in sql_rows(s, "SELECT state, COUNT(*) AS n FROM outbox WHERE campaign_id = ? GROUP BY state", (cid,))
        }
        assert states == {"sending": 1, "sent": 1, "cancelled": 23}
    status = json.loads(run(config, "campaign", "status", str(cid), "--json").output)
    assert status["state"] == "cancelled" and status["finished"] == 24 and status["cost_fen"] == 6
    text = run(config, "campaign", "status", str(cid)).output
    assert "[#-----------------------------] 1/25" in text  # the bar shows what was sent, not the cancelled
