"""The daemon (a real subprocess) on a carrier's CMPP link to `smsd ismg`: a send with its
reports, `smsd status`, a member's TP 2 to the office's extension counted in the poll and
answered over CMPP, and kill -9 thirty times while 1,000 messages drain with members' SMS
arriving (reports on and off)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from smsd.clock import utcnow
from smsd.ismg.server import Account, Ismg
from smsd.roster import MemberRow
from smsd.store import Store
from tests.conftest import assert_ledger_books, wait_for, write_config
from tests.sql import one as sql_one

SP, SECRET, CODE, SERVICE = "901234", "s3cret-cmpp", "10690001", "MZB0010101"
SRC = CODE + "01"  # the county's extension under the office's service code


def cli(*args: str, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smsd", *args, "--config", str(config)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def ismg():
    with Ismg(port=0, accounts=[Account(SP, SECRET, CODE, SERVICE)], receipt_delay_ms=20) as server:
        yield server


def cmpp_config(tmp_path: Path, ismg: Ismg, sections: dict | None = None, **extra) -> Path:
    keys = {
        "host": "127.0.0.1",
        "cmpp_port": ismg.port,
        "sp_id": SP,
        "shared_secret": SECRET,
        "service_id": SERVICE,
        "src_id": SRC,
        "price_fen": 4,
        "pause_s": 1.0,
        **extra,
    }
    return write_config(tmp_path, {}, cmpp={"carrier": keys}, **(sections or {}))


def test_a_long_send_its_reports_status_and_a_vote_to_the_extension_answered_over_cmpp(tmp_path, ismg, daemon):
    config = cmpp_config(tmp_path, ismg)
    with Store(tmp_path / "smsd.db") as store:
        store.members.upsert([MemberRow(1, "张三", "+8613900000001", "大渡口区", [], None)])
        pid = store.polls.create(
            "同意吗？",
            ["同意", "不同意", "弃权"],
            [m.id for m in store.members.select()],
            opens=utcnow() - timedelta(minutes=1),
            closes=utcnow() + timedelta(days=1),
            policy="first",
            announce=False,
            audience={},
            actor="test",
        )
    d = daemon(config)
    text = "党员政治生日快乐，请按时参加支部主题党日活动。" * 7  # three UCS-2 parts
    out = cli("send", "+8613800138000", text, config=config)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: json.loads(cli("outbox", "--json", config=config).stdout)[0]["state"] == "delivered", timeout=30)
    assert [(m["src_id"], m["service_id"], m["registered_delivery"], m["text"]) for m in ismg.messages] == [
        (SRC, SERVICE, 1, text)
    ]
    status = cli("status", "--json", config=config)
    assert status.returncode == 0, status.stderr
    modem = json.loads(status.stdout)["modems"][0]
    assert modem["name"] == "carrier" and modem["state"] == "ready"
    assert f"cmpp://{SP}@127.0.0.1" in modem["port"]
    ismg.deliver("+8613900000001", "TP 2", to=SRC)  # the member replies to the number the notice came from
    wait_for(lambda: any(s["to"] == "8613900000001" for s in ismg.submitted), timeout=30)
    with Store(tmp_path / "smsd.db") as store:
        assert [(r.sender, r.text) for r in store.inbox.recent(10)] == [("+8613900000001", "TP 2")]
        assert {o.option: o.votes for o in store.polls.results(pid).options} == {1: 0, 2: 1, 3: 0}
    reply = next(s for s in ismg.submitted if s["to"] == "8613900000001")
    assert reply["src_id"] == SRC and "不同意" in "".join(
        m["text"] for m in ismg.messages if m["to"] == "8613900000001"
    )
    assert d.terminate() == 0
    assert SECRET not in (tmp_path / "daemon.log").read_text()


@pytest.mark.parametrize("reports", [True, False], ids=["receipts", "no-receipts"])
def test_sigkill_30_times_while_draining_1000_over_cmpp_with_mo_loses_nothing(tmp_path, ismg, daemon, reports):
    """kill -9 thirty times while 1,000 drain in a window of 16 and members' SMS arrive: nothing
    lost, every second copy flagged, every MO stored once and every vote counted once; the
    ledger books every SUBMIT the ISMG accepted, with reports on and off."""
    kills_wanted = max(30, int(os.environ.get("SMSD_KILLS", "30")))
    config = cmpp_config(tmp_path, ismg, {"sending": {"status_reports": reports}}, cmpp_window=16)
    expected = {}
    voters = [f"+86139{i:08d}" for i in range(2 * kills_wanted)]
    with Store(tmp_path / "smsd.db") as store:
        for i in range(1000):
            to = f"+86138{i:08d}"
            text = f"backlog {i}" if i % 5 else f"长消息 {i} " + "党员政治生日快乐" * 10
            expected[store.outbox.enqueue(to, text)] = (to, text)
        store.members.upsert([MemberRow(i, f"voter{i}", v, "大渡口区", [], None) for i, v in enumerate(voters)])
        pid = store.polls.create(
            "同意吗？",
            ["同意", "不同意", "弃权"],
            [m.id for m in store.members.select()],
            opens=utcnow() - timedelta(minutes=1),
            closes=utcnow() + timedelta(days=1),
            policy="first",
            announce=False,
            audience={},
            actor="test",
        )
    rng = random.Random(20261201)
    kills, votes = 0, Counter()
    while kills < kills_wanted:
        d = daemon(config)
        for voter in voters[2 * kills : 2 * kills + 2]:
            option = rng.randint(1, 3)
            ismg.deliver(voter, rng.choice(["TP {}", "投票，{}", "ｔｐ{}"]).format(option), to=SRC)
            votes[option] += 1
        target = len(ismg.submitted) + rng.randint(1, 40)
        wait_for(
            lambda d=d, t=target: len(ismg.submitted) >= t or d.proc.poll() is not None, timeout=30, interval=0.001
        )
        d.kill()
        kills += 1
    d = daemon(config)
    with Store(tmp_path / "smsd.db") as store:
        wait_for(lambda: len(store.inbox.recent(100000)) >= len(voters) and not store.inbox.new(1), timeout=60)
        wait_for(
            lambda: store.outbox.queue_depth().queued + store.outbox.queue_depth().sending == 0,
            timeout=120,
        )
        stored = lambda: sql_one(store, "SELECT COUNT(*) AS n FROM status_reports")["n"]  # noqa: E731
        if reports:
            wait_for(lambda: stored() >= len(ismg.submitted), timeout=60)
        wait_for(lambda: ismg.status()["pending"][SP] == 0, timeout=30)  # every DELIVER acknowledged
        assert_ledger_books(store, len(ismg.submitted), reports=reports, slack=kills * 16)
        assert d.terminate() == 0
        rows = {r.id: r for r in store.outbox.messages(limit=100000)}
        received = Counter(r.sender for r in store.inbox.recent(100000))
        results = {o.option: o.votes for o in store.polls.results(pid).options}
    counts = Counter((s["to"], s["text"], (s["udh"] or {}).get("seq")) for s in ismg.submitted)
    duplicates = 0
    for mid, (to, _text) in expected.items():
        row = rows[mid]
        assert row.state in ("sent", "delivered"), (mid, row.state, row.last_error)
        assert row.attempts == 0, f"message {mid}: crash resends counted as refusals"
        parts = [c for (t, _body, _seq), c in counts.items() if t == to.lstrip("+")]
        assert parts, f"message {mid} never reached the ISMG"
        if any(c > 1 for c in parts):
            duplicates += 1
            assert row.possible_duplicate == 1, f"message {mid} was sent twice without the flag"
    assert duplicates <= kills * 16  # at most one window in flight per kill
    assert received == Counter(voters)  # every MO stored exactly once
    assert results == {k: votes.get(k, 0) for k in (1, 2, 3)}  # every vote counted exactly once
    assert {t for (t, _b, _s) in counts if "+" + t in voters} == {v.lstrip("+") for v in voters}  # all answered
    by_text = {(r.to_number.lstrip("+"), r.text): r for r in rows.values()}
    twice = {k[:2] for k, c in counts.items() if c > 1}
    assert all(by_text[k].possible_duplicate == 1 for k in twice if k in by_text)
    print(f"\n{kills} kills over CMPP, {len(twice)} messages sent more than once, all flagged, {len(voters)} MO once")
