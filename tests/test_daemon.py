"""The daemon as a real subprocess: the README's first command, kill -9, unplug, SIGTERM."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from smsd.sim.modem import ModemOptions
from smsd.store import Store
from tests.conftest import assert_ledger_books, wait_for, write_config
from tests.sql import one as sql_one

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smsd", *args, "--config", str(config)], capture_output=True, text=True, timeout=60
    )


def submits(emu) -> int:
    return sum(m.stats["submits"] for m in emu.modems.values())


def done(store: Store) -> int:
    depth = store.outbox.queue_depth().nonzero()
    return depth.get("sent", 0) + depth.get("delivered", 0)


def sent_texts(emu) -> Counter:
    out: Counter = Counter()
    for m in emu.modems.values():
        if m.sent_log.exists():
            for line in m.sent_log.read_text().splitlines():
                r = json.loads(line)
                out[(r["to"], r["text"], r["part"])] += 1
    return out


def test_shipped_config_runs_on_the_emulator_and_delivers(tmp_path, daemon):
    """Acceptance 1: the README's `make run` config, a send from another terminal, sent then delivered."""
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    config = tmp_path / "config.toml"
    d = daemon(config)
    out = cli("send", "+8613800138000", "你好，测试", config=config)
    # the shipped config speaks Chinese to the office: [daemon] language = "zh_CN"
    assert out.returncode == 0 and "短信 1 已排队" in out.stdout, (out.stdout, out.stderr)

    def state():
        rows = json.loads(cli("outbox", "--json", config=config).stdout)
        return rows[0]["state"]

    wait_for(lambda: state() == "sent", timeout=30, interval=0.2)
    log = (tmp_path / "run" / "sim" / "m1.sent.jsonl", tmp_path / "run" / "sim" / "m2.sent.jsonl")
    records = [json.loads(x) for p in log if p.exists() for x in p.read_text().splitlines()]
    assert [(r["to"], r["text"]) for r in records] == [("+8613800138000", "你好，测试")]
    wait_for(lambda: state() == "delivered", timeout=30, interval=0.2)
    assert "READY=1" in "".join(d.messages)
    assert d.terminate() == 0


@pytest.mark.parametrize("reports", [True, False], ids=["reports", "no-reports"])
def test_sigkill_while_draining_a_backlog_loses_nothing(tmp_path, make_emulator, daemon, reports):
    """Issue 4 acceptance 3 and issue 8's fault suite: kill -9 at random moments while 300
    messages drain on 2 modems and members vote by SMS; nothing lost, votes counted exactly,
    every resend is the documented in-flight case. SMSD_KILLS sets the number of kills (>= 10)."""
    from datetime import timedelta

    from smsd.clock import utcnow
    from smsd.roster import MemberRow

    kills_wanted = max(10, int(os.environ.get("SMSD_KILLS", "10")))
    emu = make_emulator(ModemOptions("m1", send_delay_ms=15), ModemOptions("m2", send_delay_ms=15))
    config = write_config(
        tmp_path, {n: str(m.link) for n, m in emu.modems.items()}, sending={"status_reports": reports}
    )
    expected = {}
    voters = [f"+86139{i:08d}" for i in range(4 * kills_wanted)]
    with Store(tmp_path / "smsd.db") as store:
        for i in range(300):
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
    rng = random.Random(20261127)
    kills, votes = 0, Counter()
    while kills < kills_wanted:
        d = daemon(config)
        for voter in voters[4 * kills : 4 * kills + 4]:
            option = rng.randint(1, 3)
            emu[rng.choice(["m1", "m2"])].deliver(voter, rng.choice(["TP {}", "投票，{}", "ｔｐ{}"]).format(option))
            votes[option] += 1
        # Kill at a random point: after a random number (1-12) of further submits reached the network.
        target = submits(emu) + rng.randint(1, 12)
        wait_for(
            lambda d=d, target=target: submits(emu) >= target or d.proc.poll() is not None, timeout=30, interval=0.001
        )
        d.kill()
        kills += 1
    d = daemon(config)
    with Store(tmp_path / "smsd.db") as store:
        wait_for(
            lambda: len(store.inbox.recent(100000)) >= len(voters) and not store.inbox.new(1), timeout=60, interval=0.2
        )
        wait_for(
            lambda: store.outbox.queue_depth().queued + store.outbox.queue_depth().sending == 0,
            timeout=120,
            interval=0.2,
        )
        # With reports, every accepted submit asked for one: once all are in, every submit a crash
        # left in doubt is settled. Without, the doubts stay booked as such.
        if reports:
            wait_for(
                lambda: sql_one(store, "SELECT COUNT(*) AS n FROM status_reports")["n"] >= submits(emu), timeout=60
            )
        assert_ledger_books(store, submits(emu), reports=reports, slack=kills * 2)
        assert d.terminate() == 0
        assert store.integrity_ok()
        rows = {r.id: r for r in store.outbox.messages(limit=100000)}
        received = Counter(r.sender for r in store.inbox.recent(100000))
        results = {o.option: o.votes for o in store.polls.results(pid).options}
    counts = sent_texts(emu)
    duplicates = 0
    for mid, (to, _text) in expected.items():
        row = rows[mid]
        assert row.state in ("sent", "delivered"), (mid, row.state, row.last_error)
        assert row.attempts == 0, f"message {mid}: crash resends counted as refusals"
        parts = [c for (t, body, part), c in counts.items() if t == to]
        assert parts and all(c >= 1 for c in parts), f"message {mid} never reached the network"
        if any(c > 1 for c in parts):
            duplicates += 1
            assert row.possible_duplicate == 1, f"message {mid} was sent twice without the flag"
    assert duplicates <= kills * 2
    assert received == Counter(voters)  # every inbound SMS stored exactly once
    assert results == {k: votes.get(k, 0) for k in (1, 2, 3)}  # every vote counted exactly once
    replies = Counter(t for (t, body, part) in counts if t in voters)
    assert set(replies) == set(voters)  # every voter was answered
    # every second copy flagged: the replies to voters too (first in line after each restart)
    by_text = {(r.to_number, r.text): r for r in rows.values()}
    twice = {k[:2] for k, c in counts.items() if c > 1}
    assert all(by_text[k].possible_duplicate == 1 for k in twice), [
        k for k in twice if not by_text[k].possible_duplicate
    ]
    print(f"\n{kills} kills, {len(twice)} messages sent more than once, all flagged, {len(voters)} votes counted once")


def test_unplugging_one_modem_leaves_the_other_sending(tmp_path, make_emulator, daemon):
    """Acceptance 4."""
    emu = make_emulator(ModemOptions("m1", send_delay_ms=20), ModemOptions("m2", send_delay_ms=20))
    config = write_config(tmp_path, {n: str(m.link) for n, m in emu.modems.items()})
    with Store(tmp_path / "smsd.db") as store:
        ids = [store.outbox.enqueue(f"+86139{i:08d}", f"unplug test {i}") for i in range(200)]
        d = daemon(config)
        wait_for(lambda: done(store) >= 20, timeout=30)
        emu["m1"].fault("unplug")
        before = len(emu["m2"].sent_log.read_text().splitlines())
        wait_for(lambda: len(emu["m2"].sent_log.read_text().splitlines()) >= before + 30, timeout=30)
        wait_for(lambda: any(m.name == "m1" and m.state == "down" for m in store.health.modems()), timeout=10)
        m1_before = len(emu["m1"].sent_log.read_text().splitlines())
        emu["m1"].fault("replug")
        wait_for(
            lambda: (
                len(emu["m1"].sent_log.read_text().splitlines()) > m1_before or store.outbox.queue_depth().queued == 0
            ),
            timeout=30,
        )
        wait_for(
            lambda: store.outbox.queue_depth().queued + store.outbox.queue_depth().sending == 0,
            timeout=60,
        )
        assert d.terminate() == 0
        states = Counter(store.outbox.message(i).state for i in ids)
    assert sum(states.values()) == 200 and set(states) <= {"sent", "delivered"}
    counts = sent_texts(emu)
    assert sum(counts.values()) >= 200
    assert len({t for (_, t, _) in counts}) == 200
    assert len(emu["m1"].sent_log.read_text().splitlines()) > m1_before  # m1 sent again after replug


def test_sigterm_finishes_the_submit_in_flight(tmp_path, make_emulator, daemon):
    emu = make_emulator(ModemOptions("m1", send_delay_ms=800))
    config = write_config(tmp_path, {"m1": str(emu["m1"].link)})
    with Store(tmp_path / "smsd.db") as store:
        for i in range(5):
            store.outbox.enqueue(f"+86137{i:08d}", f"graceful {i}")
        d = daemon(config)
        wait_for(lambda: store.outbox.queue_depth().sending == 1, timeout=10)
        assert d.terminate() == 0
        depth = store.outbox.queue_depth().nonzero()
        assert depth.get("sending", 0) == 0 and done(store) >= 1
        assert not any(m.possible_duplicate for m in store.outbox.messages())
        assert sum(sent_texts(emu).values()) == done(store)


def test_broadcast_survives_a_restart_and_pauses_on_a_running_daemon(tmp_path, make_emulator, daemon):
    """Issue 5, acceptance 4: restart halfway without duplicates; pause/resume on a running campaign."""
    from click.testing import CliRunner

    from smsd.cli import main
    from tests.test_roster import make_xlsx

    emu = make_emulator(ModemOptions("m1", send_delay_ms=20), ModemOptions("m2", send_delay_ms=20))
    config = write_config(tmp_path, {n: str(m.link) for n, m in emu.modems.items()})
    make_xlsx(tmp_path / "roster.xlsx", 150)
    runner = CliRunner()
    assert (
        runner.invoke(main, ["members", "import", str(tmp_path / "roster.xlsx"), "--config", str(config)]).exit_code
        == 0
    )
    out = runner.invoke(
        main,
        ["broadcast", "--all", "--text", "${name}同志：年终总结会议通知。", "--yes", "--json", "--config", str(config)],
    )
    cid = json.loads(out.output)["campaign"]

    def finished(store):
        return sum(n for s, n in store.campaigns.progress(cid).states.nonzero().items() if s in ("sent", "delivered"))

    with Store(tmp_path / "smsd.db") as store:
        d = daemon(config)
        wait_for(lambda: finished(store) >= 50, timeout=30)
        assert d.terminate() == 0  # the box reboots halfway
        halfway = finished(store)
        assert halfway < 150
        d = daemon(config)
        wait_for(lambda: finished(store) > halfway, timeout=30)
        assert runner.invoke(main, ["campaign", "pause", str(cid), "--config", str(config)]).exit_code == 0
        wait_for(lambda: store.campaigns.progress(cid).states.sending == 0, timeout=10)
        paused_at = finished(store)
        probe = store.outbox.enqueue("+8613999999999", "still running while the campaign is paused", quiet_ok=True)
        wait_for(lambda: store.outbox.message(probe).state in ("sent", "delivered"), timeout=10)
        assert finished(store) == paused_at < 150
        assert runner.invoke(main, ["campaign", "resume", str(cid), "--config", str(config)]).exit_code == 0
        wait_for(lambda: finished(store) == 150, timeout=60)
        assert d.terminate() == 0
        assert not any(m.possible_duplicate for m in store.outbox.messages(limit=1000))
    counts = sent_texts(emu)
    campaign_sends = {k: v for k, v in counts.items() if "年终总结" in k[1]}
    assert len(campaign_sends) == 150 and set(campaign_sends.values()) == {1}  # everyone once, nobody twice
