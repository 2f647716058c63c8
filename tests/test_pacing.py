"""Pacing with an injected clock: quiet hours, per-SIM caps, two modems sharing; and the ETA."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from smsd.pacing import Pacing, eta
from smsd.store import Store
from tests.conftest import Clock, wait_for
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows

CST = timezone(timedelta(hours=8))


def step(workers, n=1):
    for _ in range(n):
        for w in workers:
            w.loop()


def sent_count(db, modem=None) -> int:
    with Store(db) as s:
        q = "SELECT COUNT(*) AS n FROM outbox_parts WHERE sent_at IS NOT NULL"
        return sql_one(s, q + (" AND modem = ?" if modem else ""), (modem,) if modem else ())["n"]


@pytest.fixture
def make_worker(memory_workers):
    """A worker on the in-memory transport: pacing is the worker's and the store's business."""
    return lambda name, clock, pacing: memory_workers(name, clock=clock, pacing=pacing, idle_wait_s=0.01)


def test_quiet_hours_hold_non_urgent_and_release_at_eight(tmp_path, make_worker):
    db = tmp_path / "smsd.db"
    clock = Clock(datetime(2026, 11, 27, 22, 0, tzinfo=CST))
    with Store(db) as s:
        held = [s.outbox.enqueue(f"+86138{i:08d}", f"notice {i}", now=clock()) for i in range(3)]
        urgent = s.outbox.enqueue("+8613900000000", "urgent", quiet_ok=True, now=clock())
    w = make_worker("m1", clock, Pacing(quiet=(time(21), time(8)), hourly_cap=100, daily_cap=1000))
    step([w], 10)
    with Store(db) as s:
        assert s.outbox.message(urgent).state in ("sent", "delivered")
        assert [s.outbox.message(i).state for i in held] == ["queued"] * 3
        assert s.claims.held_until("m1", w.pacing, clock()) == datetime(2026, 11, 28, 8, 0, tzinfo=CST)
    clock.now = datetime(2026, 11, 28, 7, 59, 59, tzinfo=CST)
    step([w], 5)
    assert sent_count(db) == 1
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=CST)
    step([w], 10)
    with Store(db) as s:
        assert all(s.outbox.message(i).state in ("sent", "delivered") for i in held)


def test_hourly_cap_is_never_exceeded_and_two_modems_share(tmp_path, make_worker):
    db = tmp_path / "smsd.db"
    clock = Clock(datetime(2026, 11, 27, 10, 0, tzinfo=CST))
    with Store(db) as s:
        for i in range(20):
            s.outbox.enqueue(f"+86138{i:08d}", f"capped {i}", now=clock())
    pacing = Pacing(quiet=None, hourly_cap=3, daily_cap=1000)
    workers = [make_worker(n, clock, pacing) for n in ("m1", "m2")]
    for minute in range(0, 150, 5):  # two and a half hours, five minutes a step
        clock.now = datetime(2026, 11, 27, 10, 0, tzinfo=CST) + timedelta(minutes=minute)
        step(workers, 3)
        with Store(db) as s:
            for m in ("m1", "m2"):
                times = [
                    row["sent_at"]
                    for row in sql_rows(
                        s,
                        "SELECT sent_at FROM outbox_parts WHERE modem = ? AND sent_at IS NOT NULL ORDER BY sent_at",
                        (m,),
                    )
                ]
                for i in range(len(times) - 3):  # any 4 consecutive sends span at least an hour
                    a = datetime.fromisoformat(times[i].replace("Z", "+00:00"))
                    b = datetime.fromisoformat(times[i + 3].replace("Z", "+00:00"))
                    assert b - a >= timedelta(hours=1), (m, times)
    assert sent_count(db, "m1") == 9 and sent_count(db, "m2") == 9  # 3 per hour per SIM, hours 10, 11, 12


def test_daily_cap(tmp_path, make_worker):
    db = tmp_path / "smsd.db"
    clock = Clock(datetime(2026, 11, 27, 9, 0, tzinfo=CST))
    with Store(db) as s:
        for i in range(10):
            s.outbox.enqueue(f"+86138{i:08d}", f"daily {i}", now=clock())
    w = make_worker("m1", clock, Pacing(quiet=None, hourly_cap=100, daily_cap=4))
    step([w], 10)
    assert sent_count(db) == 4
    clock.now = datetime(2026, 11, 27, 23, 59, tzinfo=CST)
    step([w], 3)
    assert sent_count(db) == 4
    clock.now = datetime(2026, 11, 28, 0, 0, 1, tzinfo=CST)
    step([w], 10)
    assert sent_count(db) == 8


def test_replies_jump_ahead_of_a_broadcast(tmp_path, make_worker):
    db = tmp_path / "smsd.db"
    clock = Clock(datetime(2026, 11, 27, 10, 0, tzinfo=CST))
    with Store(db) as s:
        for i in range(5):
            s.outbox.enqueue(f"+86138{i:08d}", f"broadcast {i}", priority=3, now=clock())
        reply = s.outbox.enqueue("+8613900000000", "您的投票已收到", priority=9, quiet_ok=True, now=clock())
    w = make_worker("m1", clock, Pacing(quiet=None))
    step([w], 1)
    wait_for(lambda: sent_count(db) >= 1)
    with Store(db) as s:
        assert s.outbox.message(reply).state in ("sent", "delivered")
        depth = s.outbox.queue_depth()  # no broadcast sent before it (the next may be claimed with its booking)
        assert depth.queued + depth.sending == 5 and depth.sent + depth.delivered == 1


def test_eta_accounts_for_caps_quiet_hours_and_modems():
    start = datetime(2026, 11, 27, 9, 0, tzinfo=CST)
    one = Pacing(quiet=(time(21), time(8)), hourly_cap=150, daily_cap=800)
    assert eta(0, [one], start, 4.0) == start
    in_an_hour = eta(135, [one], start, 4.0)  # a broadcast leaves a tenth of each cap to replies
    assert in_an_hour == start + timedelta(hours=1)
    five_k = eta(5000, [one], start, 4.0)
    assert five_k.astimezone(CST).date() == datetime(2026, 12, 3).date()  # 720 of 800 a day: day 7
    assert 8 <= five_k.astimezone(CST).hour < 21  # never finishes in quiet hours
    four = eta(5000, [one] * 4, start, 4.0)
    assert four < five_k
    slow = eta(100, [Pacing(quiet=None, hourly_cap=1000, daily_cap=10000)], start, 36.0)
    assert slow == start + timedelta(hours=1)  # 36 s a segment is the limit, not the cap
