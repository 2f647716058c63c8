"""End to end through the emulator and the daemon: 200 voters, an auto-responder, receipts."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from smsd.cli import main
from smsd.sim.modem import ModemOptions
from smsd.store import Store
from tests.conftest import wait_for, write_config
from tests.sql import rows as sql_rows
from tests.test_roster import make_xlsx

SPELLINGS = ["TP {o}", "ＴＰ　{o}", "tp{o}", "投票，{o}", "投票{o}", "Tp {o} 张三", "{o}", "tp：{o}"]


@pytest.fixture
def world(tmp_path, make_emulator, daemon):
    emu = make_emulator(ModemOptions("m1"), ModemOptions("m2"))
    config = write_config(tmp_path, {n: str(m.link) for n, m in emu.modems.items()})
    make_xlsx(tmp_path / "roster.xlsx", 200)
    runner = CliRunner()

    def cli(*args):
        result = runner.invoke(main, [*args, "--config", str(config)])
        assert result.exit_code == 0, result.output + (result.stderr or "")
        return result.output

    cli("members", "import", str(tmp_path / "roster.xlsx"))
    d = daemon(config)
    store = Store(tmp_path / "smsd.db")
    yield emu, cli, store
    store.close()
    d.terminate()


def sent_to(emu) -> Counter:
    out: Counter = Counter()
    for m in emu.modems.values():
        if m.sent_log.exists():
            out.update(json.loads(x)["to"] for x in m.sent_log.read_text().splitlines())
    return out


def settle(store, inbound: int) -> None:
    """Every inbound SMS stored and handled, and every reply sent."""
    wait_for(lambda: len(store.inbox.recent(100000)) >= inbound, timeout=60, interval=0.05)
    wait_for(lambda: not store.inbox.new(1), timeout=60, interval=0.05)
    wait_for(
        lambda: store.outbox.queue_depth().queued + store.outbox.queue_depth().sending == 0,
        timeout=60,
        interval=0.05,
    )


def test_two_hundred_voters_counted_exactly_and_answered_once(world):
    emu, cli, store = world
    cli(
        "poll",
        "create",
        "--question",
        "是否同意年度计划？",
        "--option",
        "赞成",
        "--option",
        "反对",
        "--option",
        "弃权",
        "--all",
        "--closes",
        (datetime.now() + timedelta(days=300)).strftime("%Y-%m-%d 00:00"),
    )
    rng = random.Random(6)
    expected: Counter = Counter()
    sent_by: Counter = Counter()
    deliveries = 0
    members = [f"+86138{i:08d}" for i in range(200)]
    for i, number in enumerate(members[:180]):
        option = rng.randint(1, 3)
        expected[option] += 1
        for _ in range(2 if i % 9 == 0 else 1):  # some vote twice (the first vote counts)
            text = rng.choice(SPELLINGS).format(o=option)
            emu[("m1", "m2")[i % 2]].deliver(number, text)
            sent_by[number] += 1
            deliveries += 1
    strangers = [f"+86159{i:08d}" for i in range(10)]
    for number in strangers:
        emu["m1"].deliver(number, "TP 1")
        deliveries += 1
    settle(store, deliveries)
    cli("poll", "close", "1")
    for number in members[180:190]:  # too late
        emu["m2"].deliver(number, "TP 2")
        sent_by[number] += 1
        deliveries += 1
    settle(store, deliveries)
    results = json.loads(cli("poll", "results", "1", "--json"))
    assert {o["option"]: o["votes"] for o in results["options"]} == {k: expected.get(k, 0) for k in (1, 2, 3)}
    assert results["votes"] == 180 and results["audience"] == 200
    replies = sent_to(emu)
    for number, n in sent_by.items():
        assert replies[number] == n, f"{number} sent {n} SMS and got {replies[number]} replies"
    assert all(replies[s] == 0 for s in strangers)
    late = sql_rows(store, "SELECT text FROM outbox WHERE to_number = ? AND created_by = 'dispatcher'", (members[185],))
    assert late and late[0]["text"].startswith("投票“是否同意年度计划？”已结束")


def test_an_auto_responder_is_stopped_within_the_loop_limit(world):
    emu, cli, store = world
    robot = "+8613800000042"
    for m in emu.modems.values():
        m.auto_reply[robot] = "【自动回复】您好，我正在开会，稍后联系您。"
    cli("send", robot, "请于周五参加支部书记会议。")
    wait_for(lambda: store.senders.is_flagged(robot), timeout=30, interval=0.05)
    settle(store, 4)
    assert sent_to(emu)[robot] == 4  # the notice and three replies; the fourth auto-reply got none
    assert len(sql_rows(store, "SELECT id FROM inbox WHERE sender LIKE ?", ("%13800000042",))) == 4
    assert "138****0042  " in cli("inbox", "--flagged") and "the same text 4 times" in cli("inbox", "--flagged")


def test_meeting_notice_receipts_and_reminders(world, tmp_path):
    """Issue 6, acceptance 5: 50 recipients, 30 confirm in varied spellings, exactly 20 reminders."""
    emu, cli, store = world
    numbers = [f"+86138{i:08d}" for i in range(0, 100, 2)]
    (tmp_path / "fifty.txt").write_text("\n".join(numbers) + "\n")
    variables = ["--var", "time=周五下午三点", "--var", "place=镇党委会议室", "--var", "topic=支部书记会议"]
    out = json.loads(
        cli(
            "broadcast",
            "--numbers",
            str(tmp_path / "fifty.txt"),
            "--template",
            "meeting_notice",
            *variables,
            "--confirm",
            "--yes",
            "--json",
            "--unmask",
        )
    )
    cid = out["campaign"]
    assert out["recipients"] == 50
    settle(store, 0)
    spellings = ["QR", "确认", "收到", "1", "ｑｒ", "确认！张三", "回执", "Qr 收到了"]
    for i, number in enumerate(numbers[:30]):
        emu[("m1", "m2")[i % 2]].deliver(number, spellings[i % len(spellings)])
    settle(store, 30)
    receipts = json.loads(cli("campaign", "receipts", str(cid), "--json", "--unmask"))
    assert {r["phone"] for r in receipts["confirmed"]} == set(numbers[:30])
    assert {r["phone"] for r in receipts["pending"]} == set(numbers[30:])
    before = sent_to(emu)
    assert "20 reminder(s) queued" in cli("campaign", "remind", str(cid))
    settle(store, 30)
    after = sent_to(emu)
    reminded = {n: after[n] - before.get(n, 0) for n in after if after[n] > before.get(n, 0)}
    assert reminded == {n: 1 for n in numbers[30:]}
