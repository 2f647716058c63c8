"""The worker's policies on the in-memory transport, at unit speed and with an injected clock:
the in-doubt rule, the transport-level pause, refusals counted as attempts, inbound persisted
before acknowledgement. (The GSM side of the same rules runs over the pty in test_send_edges.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smsd.store import Store
from smsd.transport.memory import Provider
from smsd.worker import Worker
from tests.conftest import Clock
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows

TO = "+8613800138000"


@pytest.fixture
def world(memory_workers):
    """Workers on one in-memory provider, with one clock (tests/conftest.py's memory_workers)."""
    clock, provider = Clock(), Provider()

    def worker(name: str = "m1") -> Worker:
        return memory_workers(name, clock=clock, provider=provider, send_timeout_s=60.0)

    return worker, clock, provider


def run(workers: list[Worker], steps: int = 20) -> None:
    for _ in range(steps):
        for w in workers:
            w.loop()


def test_a_late_answer_is_recorded_and_nothing_is_resent(world):
    make, clock, provider = world
    w = make()
    w.transport.script("in_doubt_late")
    mid = w.store.outbox.enqueue(TO, "late", now=clock.now)
    run([w])
    msg = w.store.outbox.message(mid)
    assert msg.state in ("sent", "delivered") and msg.resends == 0 and msg.possible_duplicate == 0
    assert len(provider.sent) == 1 and sql_one(w.store, "SELECT COUNT(*) AS n FROM ledger")["n"] == 1


def test_no_answer_twice_resends_once_then_fails(world):
    make, clock, provider = world
    w = make()
    w.transport.script("in_doubt", "in_doubt", "accept")
    mid = w.store.outbox.enqueue(TO, "hung", now=clock.now, srr=False)
    run([w])
    assert w.store.outbox.message(mid).state == "queued"  # waiting one send_timeout_s for a late answer
    clock.now += timedelta(seconds=61)
    run([w])
    msg = w.store.outbox.message(mid)
    assert msg.state == "failed" and msg.resends == 1 and msg.attempts == 0
    assert len(provider.sent) == 2  # never a third time


def test_a_transport_refusal_pauses_it_and_another_sends_uncharged(world):
    make, clock, provider = world
    w1, w2 = make("m1"), make("m2")
    w1.transport.script(*["refuse_transport"] * 5)
    ids = [w1.store.outbox.enqueue(f"+86138000000{i:02d}", f"n{i}", now=clock.now) for i in range(3)]
    run([w1, w2])
    assert all(w1.store.outbox.message(i).state in ("sent", "delivered") for i in ids)
    assert all(w1.store.outbox.message(i).attempts == 0 for i in ids)
    [m1] = [m for m in w1.store.health.modems() if m.name == "m1"]
    assert m1.state == "paused" and "refused (transport)" in m1.last_error


def test_transient_refusals_count_and_permanent_fails_at_once(world):
    make, clock, _ = world
    w = make()
    w.transport.script("refuse_transient", "refuse_permanent")
    mid = w.store.outbox.enqueue(TO, "x", now=clock.now)
    run([w])
    clock.now += timedelta(seconds=2)
    run([w])
    msg = w.store.outbox.message(mid)
    assert msg.state == "failed" and msg.attempts == 2


def test_inbound_is_committed_before_the_provider_forgets_it(world):
    make, clock, provider = world
    w = make()
    w.transport.deliver("+8613900000001", "TP 2")
    run([w], 2)
    assert [m.text for m in w.store.inbox.recent()] == ["TP 2"]
    assert not provider.inbound


def test_inbound_is_answered_on_the_dispatcher_thread_and_a_slow_one_holds_sends_at_most_briefly(world):
    """One dispatcher thread answers for every transport: the worker only asks and waits up to
    REPLY_WAIT_S, so a slow handler cannot stall a modem's sends for longer than that."""
    import threading

    from smsd import worker as worker_module
    from smsd.answers import Answers

    make, clock, provider = world
    w = make()
    w.answers = answers = Answers()
    handled_on: list[str] = []
    release = threading.Event()

    def dispatcher() -> None:  # a stand-in for the daemon's thread, with a handler that hangs
        upto = 0
        while upto == 0:
            answers.wait_request(5.0)
            upto = answers.pending()
        handled_on.append(threading.current_thread().name)
        release.wait(10)
        answers.finished(upto)

    t = threading.Thread(target=dispatcher, name="dispatcher")
    t.start()
    try:
        w.transport.deliver("+8613900000001", "TP 1")
        mid = w.store.outbox.enqueue(TO, "broadcast part", now=clock.now)
        waited = threading.Event()
        original = answers.wait_done

        def timed_wait(ticket: int, timeout: float) -> bool:
            assert timeout == worker_module.REPLY_WAIT_S
            done = original(ticket, timeout)
            waited.set()
            return done

        answers.wait_done = timed_wait  # type: ignore[method-assign]
        w.loop()  # receives, asks, waits at most REPLY_WAIT_S for the hung handler, then sends
        assert waited.is_set() and handled_on == ["dispatcher"]
        assert w.store.outbox.message(mid).state in ("sent", "delivered")
    finally:
        release.set()
        t.join(10)


def ledger(store) -> list[tuple[int, int]]:
    return [
        (r["certain"], r["price_fen"]) for r in sql_rows(store, "SELECT certain, price_fen FROM ledger ORDER BY id")
    ]


def test_a_submit_in_doubt_is_booked_as_such_and_never_under_billed(world):
    """Issue 22: with no report to settle it, a submit without an answer is what the SIM most
    likely paid: it is booked (in doubt), and the flagged resend the network accepted too."""
    make, clock, provider = world
    w = make()
    w.transport.script("in_doubt", "accept")
    mid = w.store.outbox.enqueue(TO, "hung once", now=clock.now, srr=False)
    run([w])
    assert ledger(w.store) == [(0, 6)]  # booked at once, marked in doubt
    clock.now += timedelta(seconds=61)
    run([w])
    assert w.store.outbox.message(mid).state == "sent" and len(provider.sent) == 2
    assert ledger(w.store) == [(0, 6), (1, 6)]  # both copies: the network most likely has both
    totals = w.store.ledger.cost_report("month").total
    assert (totals.segments, totals.fen, totals.doubt_segments, totals.doubt_fen) == (2, 12, 1, 6)


def test_a_report_makes_the_doubt_certain_without_a_second_row(world):
    make, clock, provider = world
    w = make()
    w.transport.script("in_doubt", "accept")
    mid = w.store.outbox.enqueue(TO, "hung, then reported", now=clock.now)
    w.loop()  # the submit falls in doubt: booked as such
    assert ledger(w.store) == [(0, 6)]
    run([w])  # the network's report for it arrives: it had it
    assert ledger(w.store) == [(1, 6)]  # the same row, now certain; no resend, no second row
    assert w.store.outbox.message(mid).state == "delivered" and len(provider.sent) == 1


def test_an_accepted_submit_that_cannot_be_recorded_is_held_never_resent(world):
    """Issue 22: a worker that crashed while booking an accepted submit left the message
    'sending', and it was sent again (unrecorded) at every restart. Now it holds the answer,
    stops sending with the reason in its status, and books it when the database lets it."""
    make, clock, provider = world
    w = make()
    first = w.store.outbox.enqueue(TO, "accepted", now=clock.now, srr=False)
    second = w.store.outbox.enqueue(TO, "must wait", now=clock.now, srr=False)
    w.store.conn.execute(
        "CREATE TRIGGER refuse_sent BEFORE UPDATE OF state ON outbox_parts WHEN NEW.state = 'sent' "
        "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    w.store.conn.commit()
    run([w], steps=5)
    assert [m.text for m in provider.sent] == ["accepted"]  # sent once, not again, and nothing else
    assert "could not be recorded" in w.pause_reason and "disk I/O error" in w.pause_reason
    assert w.store.outbox.message(second).state == "queued"
    w.store.conn.execute("DROP TRIGGER refuse_sent")
    w.store.conn.commit()
    w._paused_until = 0.0  # the pause's wait is over (the clock of the pause is monotonic time)
    run([w], steps=5)
    assert w.store.outbox.message(first).state == "sent" and w.pause_reason == ""
    assert [m.text for m in provider.sent] == ["accepted", "must wait"]
    assert ledger(w.store) == [(1, 6), (1, 6)]


def test_a_part_in_flight_at_every_stop_is_not_sent_at_every_start(tmp_path):
    """A daemon that dies on one message (or cannot record it) again and again must not send
    it at every start: the tenth stop with the same part in flight fails it, flagged."""
    from smsd.policy import MAX_RESTART_DOUBTS

    with Store(tmp_path / "smsd.db") as store:
        mid = store.outbox.enqueue(TO, "每次启动都在发送中", now=datetime(2026, 11, 28, tzinfo=UTC))
        for stop in range(1, MAX_RESTART_DOUBTS + 1):
            claimed = store.claims.claim_next("m1", prices=(6, 0))
            assert claimed is not None and claimed.id == mid, stop
            store.submits.recover()
        msg = store.outbox.message(mid)
        assert msg.state == "failed" and msg.possible_duplicate == 1 and f"{MAX_RESTART_DOUBTS} times" in msg.last_error
        assert store.claims.claim_next("m1") is None
        assert sql_one(store, "SELECT COUNT(*) AS n FROM ledger WHERE certain = 0")["n"] == MAX_RESTART_DOUBTS


def test_a_transport_is_handed_the_template_and_variables_with_the_text(world):
    """A provider that sends filed template codes (a CMPP or cloud template) fits as one module."""
    make, _, provider = world
    w = make()
    w.store.outbox.enqueue("+8613800138000", "李四同志，生日快乐", template="anniversary", variables={"name": "李四"})
    w.store.outbox.enqueue("+8613800138001", "明天开会")
    run([w])
    sent = {s.to: s for s in provider.sent}
    assert (sent["+8613800138000"].template, sent["+8613800138000"].variables) == ("anniversary", (("name", "李四"),))
    assert (sent["+8613800138001"].template, sent["+8613800138001"].variables) == (None, ())


def test_a_round_whose_transaction_fails_holds_its_accepted_part_and_sends_nothing_twice(world):
    """The booking of a round and the marking of the next part are one transaction: when it
    fails whole (here: the next part cannot be marked), the accepted part is held, never sent
    again, and recorded when the database lets it; the message's second part then goes once."""
    make, clock, provider = world
    w = make()
    mid = w.store.outbox.enqueue(TO, "党员政治生日快乐" * 10, now=clock.now, srr=False)  # two parts
    w.store.conn.execute(
        "CREATE TRIGGER refuse_mark BEFORE UPDATE OF state ON outbox_parts WHEN NEW.state = 'submitting' "
        "AND NEW.seq = 2 BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    w.store.conn.commit()
    run([w], steps=5)
    assert [(s.seq, s.total) for s in provider.sent] == [(1, 2)]  # part 1 once; part 2 not yet
    assert "could not be recorded" in w.pause_reason
    w.store.conn.execute("DROP TRIGGER refuse_mark")
    w.store.conn.commit()
    w._paused_until = 0.0  # the pause's wait is over (the clock of the pause is monotonic time)
    run([w], steps=10)
    assert [(s.seq, s.total) for s in provider.sent] == [(1, 2), (2, 2)]  # each part exactly once
    msg = w.store.outbox.message(mid)
    assert msg.state == "sent" and msg.possible_duplicate == 0 and w.pause_reason == ""
    assert ledger(w.store) == [(1, 6), (1, 6)]
