"""The daemon (a real subprocess) sending over SMPP to `smsd smsc`: a send, status, receipts,
a member's keyword answered over the same bind, and kill -9 while 300 messages drain."""

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
from smsd.roster import MemberRow
from smsd.smsc.server import Account, Smsc
from smsd.store import Store
from tests.conftest import assert_ledger_books, wait_for, write_config
from tests.sql import one as sql_one

NUMBER = "1069000101"


def cli(*args: str, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smsd", *args, "--config", str(config)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def smsc(tmp_path):
    with Smsc(port=0, accounts=[Account("county_a", "s3cretpw", NUMBER)], receipt_delay_ms=20) as server:
        yield server


def smpp_config(tmp_path: Path, smsc: Smsc, sections: dict | None = None, **extra) -> Path:
    keys = {"host": "127.0.0.1", "smpp_port": smsc.port, "system_id": "county_a", "password": "s3cretpw",
            "source_addr": NUMBER, "price_fen": 4, "pause_s": 1.0, **extra}  # fmt: skip
    return write_config(tmp_path, {}, smpp={"city": keys}, **(sections or {}))


def test_send_status_receipt_and_a_keyword_answered_over_smpp(tmp_path, smsc, daemon):
    config = smpp_config(tmp_path, smsc)
    d = daemon(config)
    out = cli("send", "+8613800138000", "明天上午九点开会", config=config)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: json.loads(cli("outbox", "--json", config=config).stdout)[0]["state"] == "delivered", timeout=30)
    assert [(s["from"], s["to"], s["text"]) for s in smsc.submitted] == [(NUMBER, "8613800138000", "明天上午九点开会")]
    status = cli("status", "--json", config=config)
    assert status.returncode == 0, status.stderr
    modems = json.loads(status.stdout)["modems"]
    assert modems[0]["name"] == "city" and modems[0]["state"] == "ready"
    assert "smpp://county_a@127.0.0.1" in modems[0]["port"]
    smsc.deliver("+8613900000001", "帮助", to=NUMBER)
    wait_for(lambda: any(s["to"] == "8613900000001" for s in smsc.submitted), timeout=30)
    with Store(tmp_path / "smsd.db") as store:
        assert [r.sender for r in store.inbox.recent(10)] == ["+8613900000001"]
    assert d.terminate() == 0
    assert "s3cretpw" not in (tmp_path / "daemon.log").read_text()


@pytest.mark.parametrize("reports", [True, False], ids=["receipts", "no-receipts"])
def test_sigkill_while_draining_300_over_smpp_with_mo_loses_nothing(tmp_path, smsc, daemon, reports):
    """kill -9 while 300 drain in a window of 10 and members' SMS arrive mid-window: nothing lost,
    every second copy flagged, every vote once; the ledger books every submit the SMSC accepted,
    with receipts on and off (issue 22: in-doubt submits were not booked without a receipt)."""
    kills_wanted = max(10, int(os.environ.get("SMSD_KILLS", "10")))
    config = smpp_config(tmp_path, smsc, {"sending": {"status_reports": reports}}, window=10)
    expected = {}
    voters = [f"+86139{i:08d}" for i in range(4 * kills_wanted)]
    with Store(tmp_path / "smsd.db") as store:
        for i in range(300):
            to = f"+86138{i:08d}"
            text = f"backlog {i}" if i % 5 else f"长消息 {i} " + "党员政治生日快乐" * 10
            expected[store.outbox.enqueue(to, text)] = (to, text)
        store.members.upsert([MemberRow(i, f"voter{i}", v, "大渡口区", [], None) for i, v in enumerate(voters)])
        pid = store.polls.create(
            "同意吗？", ["同意", "不同意", "弃权"], [m.id for m in store.members.select()],
            opens=utcnow() - timedelta(minutes=1), closes=utcnow() + timedelta(days=1),
            policy="first", announce=False, audience={}, actor="test",
        )  # fmt: skip
    rng = random.Random(20261128)
    kills, votes = 0, Counter()
    smsc.response_delay_ms = 2  # a little time per submit, so kills land mid-window
    while kills < kills_wanted:
        d = daemon(config)
        for voter in voters[4 * kills : 4 * kills + 4]:
            option = rng.randint(1, 3)
            smsc.deliver(voter, rng.choice(["TP {}", "投票，{}", "ｔｐ{}"]).format(option), to=NUMBER)
            votes[option] += 1
        target = len(smsc.submitted) + rng.randint(1, 25)
        wait_for(
            lambda d=d, t=target: len(smsc.submitted) >= t or d.proc.poll() is not None, timeout=30, interval=0.001
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
            try:
                wait_for(lambda: stored() >= len(smsc.submitted), timeout=60)
            except AssertionError:
                raise AssertionError(
                    f"{stored()} receipts stored, {len(smsc.submitted)} submits; {smsc.status()}"
                ) from None
        wait_for(lambda: smsc.status()["pending"]["county_a"] == 0, timeout=30)  # every deliver_sm acknowledged
        assert_ledger_books(store, len(smsc.submitted), reports=reports, slack=kills * 10)
        assert d.terminate() == 0
        rows = {r.id: r for r in store.outbox.messages(limit=100000)}
        received = Counter(r.sender for r in store.inbox.recent(100000))
        results = {o.option: o.votes for o in store.polls.results(pid).options}
    counts = Counter((s["to"], s["text"], (s["udh"] or {}).get("seq")) for s in smsc.submitted)
    duplicates = 0
    for mid, (to, _text) in expected.items():
        row = rows[mid]
        assert row.state in ("sent", "delivered"), (mid, row.state, row.last_error)
        assert row.attempts == 0, f"message {mid}: crash resends counted as refusals"
        parts = [c for (t, _body, _seq), c in counts.items() if t == to.lstrip("+")]
        assert parts, f"message {mid} never reached the SMSC"
        if any(c > 1 for c in parts):
            duplicates += 1
            assert row.possible_duplicate == 1, f"message {mid} was sent twice without the flag"
    assert duplicates <= kills * 10  # at most one window in flight per kill
    assert received == Counter(voters)  # every MO stored exactly once
    assert results == {k: votes.get(k, 0) for k in (1, 2, 3)}  # every vote counted exactly once
    assert {t for (t, _b, _s) in counts if "+" + t in voters} == {v.lstrip("+") for v in voters}  # all answered
    # every second copy flagged: the replies to voters too (first in the window after each restart)
    by_text = {(r.to_number.lstrip("+"), r.text): r for r in rows.values()}
    twice = {k[:2] for k, c in counts.items() if c > 1}
    assert all(by_text[k].possible_duplicate == 1 for k in twice), [
        k for k in twice if not by_text[k].possible_duplicate
    ]
    print(
        f"\n{kills} kills over SMPP, {len(twice)} messages sent more than once, all flagged, {len(voters)} votes once"
    )
