"""The store on a real SQLite file: state machine, leases, crash recovery, inbox, reports."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from smsd import pdu
from smsd.errors import InputError, StoreError
from smsd.store import Store
from smsd.transport.gsm import received_from_pdu
from tests.sql import one as sql_one

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
CST = timezone(timedelta(hours=8))
TO = "+8613800138000"


def test_wal_and_schema(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"outbox", "outbox_parts", "inbox", "inbox_parts", "events", "modems", "counters", "status_reports"} <= set(
        store.table_names()
    )


def test_enqueue_plans_parts_and_logs_an_event(store):
    mid = store.outbox.enqueue(TO, "党员" * 40, now=T0)
    msg = store.outbox.message(mid)
    assert (msg.state, msg.segments, msg.encoding) == ("queued", 2, "ucs2")
    assert [p.seq for p in store.outbox.parts(mid)] == [1, 2]
    [ev] = store.events("outbox", mid)
    assert ev.event == "queued" and "138****8000" in ev.detail and TO not in ev.detail


def test_dedup_key_makes_enqueue_idempotent(store):
    a = store.outbox.enqueue(TO, "x", dedup_key="anniversary:7:2026", now=T0)
    b = store.outbox.enqueue(TO, "x", dedup_key="anniversary:7:2026", now=T0)
    assert a == b and len(store.outbox.messages()) == 1


def test_claim_order_priority_schedule_and_lease(store):
    low = store.outbox.enqueue(TO, "low", priority=1, now=T0)
    later = store.outbox.enqueue(TO, "later", priority=9, not_before=T0 + timedelta(hours=1), now=T0)
    high = store.outbox.enqueue(TO, "high", priority=9, now=T0)
    assert store.claims.claim_next("m1", now=T0).id == high
    assert store.claims.claim_next("m2", now=T0).id == low
    assert store.claims.claim_next("m1", now=T0) is None
    assert store.claims.claim_next("m1", now=T0 + timedelta(hours=1)).id == later
    claimed = store.outbox.message(high)
    assert claimed.state == "sending" and claimed.lease_owner == "m1"
    assert claimed.attempts == 0  # attempts count the network's refusals only


def test_concurrent_claims_never_take_the_same_message(tmp_path):
    path = tmp_path / "smsd.db"
    with Store(path) as s:
        for i in range(200):
            s.outbox.enqueue(TO, f"m{i}", now=T0)
    taken: list[int] = []
    lock = threading.Lock()

    def worker(name):
        with Store(path) as s:
            while (m := s.claims.claim_next(name, now=T0)) is not None:
                with lock:
                    taken.append(m.id)

    threads = [threading.Thread(target=worker, args=(f"m{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == list(range(1, 201))


def test_parts_sent_then_delivered_by_reports(store):
    mid = store.outbox.enqueue(TO, "党员" * 40, now=T0)
    m = store.claims.claim_next("m1", now=T0)
    for seq, mr in ((1, 10), (2, 11)):
        store.submits.part_submitting(mid, seq, "m1", T0)
        done = store.submits.part_sent(mid, seq, ref=mr, price_fen=6, modem="m1", now=T0)
    assert done and store.outbox.message(mid).state == "sent"
    assert m.concat_ref is not None
    assert store.reports.apply_report("m1", 10, "13800138000", 0, "delivered", now=T0) == (mid, 1)
    assert store.outbox.message(mid).state == "sent"
    assert store.reports.apply_report("m1", 11, TO, 0, "delivered", now=T0) == (mid, 2)
    assert store.outbox.message(mid).state == "delivered"
    assert store.reports.apply_report("m1", 99, TO, 0, "delivered", now=T0) is None  # unmatched, but kept
    assert sql_one(store, "SELECT COUNT(*) AS n FROM status_reports")["n"] == 3


def test_failed_report_fails_the_message(store):
    mid = store.outbox.enqueue(TO, "x", now=T0)
    store.claims.claim_next("m1", now=T0)
    store.submits.part_submitting(mid, 1, "m1", T0)
    store.submits.part_sent(mid, 1, ref=5, price_fen=6, modem="m1", now=T0)
    store.reports.apply_report("m1", 5, TO, 0x41, "failed", now=T0)
    assert store.outbox.message(mid).state == "failed"


def test_report_matches_the_right_recipient_and_modem(store):
    a = store.outbox.enqueue("+8613800000001", "a", now=T0)
    b = store.outbox.enqueue("+8613800000002", "b", now=T0)
    for mid, modem in ((a, "m1"), (b, "m2")):
        store.claims.claim_next(modem, now=T0)
        store.submits.part_submitting(mid, 1, modem, T0)
        store.submits.part_sent(mid, 1, ref=7, price_fen=6, modem=modem, now=T0)
    assert store.reports.apply_report("m2", 7, "+8613800000002", 0, "delivered", now=T0) == (b, 1)
    assert store.outbox.message(a).state == "sent"


def test_transient_failure_backs_off_then_fails_after_max_attempts(store):
    mid = store.outbox.enqueue(TO, "x", max_attempts=2, now=T0)
    store.claims.claim_next("m1", now=T0)
    state = store.submits.submit_refused(
        mid, error="+CMS ERROR: 500", permanent=False, backoff_s=30, modem="m1", now=T0
    )
    assert state == "queued" and store.claims.claim_next("m1", now=T0 + timedelta(seconds=29)) is None
    assert store.claims.claim_next("m1", now=T0 + timedelta(seconds=30)).id == mid
    state = store.submits.submit_refused(
        mid, error="+CMS ERROR: 500", permanent=False, backoff_s=30, modem="m1", now=T0
    )
    assert state == "failed" and store.outbox.message(mid).last_error == "+CMS ERROR: 500"


def test_permanent_failure_fails_at_once(store):
    mid = store.outbox.enqueue(TO, "x", now=T0)
    store.claims.claim_next("m1", now=T0)
    assert (
        store.submits.submit_refused(mid, error="+CMS ERROR: 21", permanent=True, backoff_s=30, modem="m1", now=T0)
        == "failed"
    )


def test_crash_in_flight_is_resent_and_flagged(store):
    """The documented in-flight case: 'submitting' at start-up -> queued again, possible duplicate."""
    mid = store.outbox.enqueue(TO, "党员" * 40, now=T0)
    store.claims.claim_next("m1", now=T0)
    store.submits.part_submitting(mid, 1, "m1", T0)
    store.submits.part_sent(mid, 1, ref=1, price_fen=6, modem="m1", now=T0)
    store.submits.part_submitting(mid, 2, "m1", T0)
    # kill -9 here
    assert store.submits.recover(now=T0) == 1
    msg = store.outbox.message(mid)
    assert msg.state == "queued" and msg.possible_duplicate == 1
    assert [p.state for p in store.outbox.parts(mid)] == ["sent", "pending"]
    assert [e.event for e in store.events("outbox", mid)][-2:] == ["possible_duplicate", "recovered"]
    again = store.claims.claim_next("m1", now=T0)
    assert again.concat_ref == msg.concat_ref  # same modem, same reference: the handset can join


def test_crash_between_parts_is_not_a_duplicate(store):
    mid = store.outbox.enqueue(TO, "党员" * 40, now=T0)
    store.claims.claim_next("m1", now=T0)
    store.submits.part_submitting(mid, 1, "m1", T0)
    store.submits.part_sent(mid, 1, ref=1, price_fen=6, modem="m1", now=T0)
    store.submits.recover(now=T0)
    assert store.outbox.message(mid).possible_duplicate == 0


def test_half_sent_message_stays_with_its_modem_then_moves_whole(store):
    mid = store.outbox.enqueue(TO, "党员" * 40, now=T0)
    store.claims.claim_next("m1", now=T0)
    store.submits.part_submitting(mid, 1, "m1", T0)
    store.submits.part_sent(mid, 1, ref=1, price_fen=6, modem="m1", now=T0)
    store.submits.release(mid, "modem m1 down", now=T0)
    assert store.claims.claim_next("m2", now=T0 + timedelta(minutes=5), repin_after_s=3600) is None
    moved = store.claims.claim_next("m2", now=T0 + timedelta(hours=2), repin_after_s=3600)
    assert moved.id == mid and moved.modem == "m2" and moved.possible_duplicate == 1
    assert [p.state for p in store.outbox.parts(mid)] == [
        "submitting",
        "pending",
    ]  # all again; the claim marks part 1


def test_unsent_message_moves_to_any_modem(store):
    mid = store.outbox.enqueue(TO, "x", now=T0)
    store.claims.claim_next("m1", now=T0)
    store.submits.release(mid, "modem m1 down", now=T0)
    assert store.claims.claim_next("m2", now=T0).id == mid
    assert store.outbox.message(mid).attempts == 0  # neither the claim nor the release is a refusal


def test_concat_reference_counter_is_per_modem_and_survives_reopen(tmp_path):
    path = tmp_path / "smsd.db"
    refs = []
    for _ in range(3):
        with Store(path) as s:
            mid = s.outbox.enqueue(TO, "党员" * 40, now=T0)
            refs.append(s.claims.claim_next("m1", now=T0).concat_ref)
            s.submits.release(mid, "test", now=T0)
            s.outbox.cancel(mid, "test", now=T0)
    assert refs == [1, 2, 3]


def test_expiry_cancel_and_retry(store):
    a = store.outbox.enqueue(TO, "a", expires_at=T0 + timedelta(hours=1), now=T0)
    b = store.outbox.enqueue(TO, "b", now=T0)
    assert store.claims.expire_due(T0 + timedelta(hours=2)) == 1 and store.outbox.message(a).state == "expired"
    store.outbox.cancel(b, "cli", now=T0)
    with pytest.raises(InputError, match="only queued"):
        store.outbox.cancel(b, "cli", now=T0)
    store.outbox.retry(a, "cli", now=T0)
    assert store.outbox.message(a).state == "queued"
    with pytest.raises(InputError, match="no message with id 999"):
        store.outbox.cancel(999, "cli")


def test_event_log_is_append_only(store):
    store.outbox.enqueue(TO, "x", now=T0)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM events")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE events SET detail = ''")


def _deliver(text, ref=0, bits=8, sender="+8613800000001"):
    return [
        (h, received_from_pdu(h))
        for h in pdu.encode_deliver(sender, text, datetime(2026, 11, 27, 10, tzinfo=CST), ref=ref, ref_bits=bits)
    ]


def test_inbound_single_part_and_duplicate_pdu(store):
    [(h, d)] = _deliver("TP 2")
    inbox_id, dup = store.inbox.save("m1", d, now=T0)
    assert inbox_id and not dup
    assert store.inbox.save("m1", d, now=T0) == (None, True)  # read again after a crash
    store.inbox.mark_deleted_from_sim("m1", h)
    assert store.inbox.save("m1", d, now=T0)[0] is not None  # the SIM copy is gone: a new identical SMS
    store.inbox.mark_deleted_from_sim("m1", h)
    assert store.inbox.save("m2", d, now=T0)[0] is not None  # another SIM got the same bytes
    assert [r.text for r in store.inbox.recent()] == ["TP 2", "TP 2", "TP 2"]


def test_inbound_concat_joined_in_any_order(store):
    parts = _deliver("党员政治生日快乐😀" * 20, ref=0x1234, bits=16)
    assert len(parts) == 4
    results = [store.inbox.save("m1", d, now=T0) for h, d in reversed(parts)]
    assert [r[0] is None for r in results] == [True, True, True, False]
    [msg] = store.inbox.recent()
    assert msg.text == "党员政治生日快乐😀" * 20 and msg.parts == 4 and not msg.incomplete


def test_incomplete_concat_is_released_after_a_while(store):
    parts = _deliver("第一部分" * 30, ref=7)
    store.inbox.save("m1", parts[0][1], now=T0)
    assert store.inbox.release_incomplete(3600, now=T0 + timedelta(minutes=10)) == 0
    assert store.inbox.release_incomplete(3600, now=T0 + timedelta(hours=2)) == 1
    [msg] = store.inbox.recent()
    assert msg.incomplete == 1 and msg.text.startswith("第一部分")


def test_undecodable_pdu_is_kept_raw(store):
    inbox_id, _ = store.inbox.save("m1", received_from_pdu("0891683108100005F0040D9168"), now=T0)
    row = store.inbox.recent()[0]
    assert row.id == inbox_id and row.undecodable == 1 and "[undecodable PDU" in row.text


@pytest.mark.parametrize("case", ["parent is a file", "not a database"])
def test_unusable_database_is_a_store_error(tmp_path, case):
    if case == "parent is a file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "smsd.db"
    else:
        path = tmp_path / "smsd.db"
        path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        Store(path)


def test_the_store_hands_out_frozen_records_not_rows(store):
    import dataclasses

    from smsd.store import InboundMessage, OutboundMessage, Part

    mid = store.outbox.enqueue("+8613800138000", "你好")
    msg = store.outbox.message(mid)
    assert isinstance(msg, OutboundMessage) and msg.state == "queued" and msg.to_number == "+8613800138000"
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.state = "sent"  # type: ignore[misc]
    assert store.outbox.message(mid).state == "queued"
    [part] = store.outbox.parts(mid)
    assert isinstance(part, Part) and (part.message_id, part.seq, part.total) == (mid, 1, 1)
    assert msg.as_dict()["id"] == mid and set(msg.as_dict()) >= {"to_number", "text", "state", "segments"}
    inbox_id, _ = store.inbox.save("m1", _deliver("TP 1")[0][1], now=T0)
    assert all(isinstance(m, InboundMessage) for m in store.inbox.recent()) and store.inbox.recent()[0].id == inbox_id


def test_a_ucs2_part_with_a_lone_surrogate_is_stored_not_left_on_the_sim(store):
    """Found by the fuzz test: 0xDF95 alone is not UTF-8; the message is kept with U+FFFD."""
    pdu_hex = "0891683108100005F0040D91683108000000F10008621172010000000CDF957968003200205F204E09"
    inbox_id, duplicate = store.inbox.save("m1", received_from_pdu(pdu_hex), now=T0)
    assert inbox_id is not None and not duplicate
    assert store.inbox.recent()[0].text.startswith("\ufffd")


def test_the_queue_options_type_names_exactly_what_enqueue_takes():
    """QueueOptions types enqueue's keywords (mypy refuses a misspelt one); it must not drift from
    the options the insert really takes."""
    import inspect

    from smsd.store import QueueOptions
    from smsd.store.outbox import Outbox

    taken = {
        name
        for name, p in inspect.signature(Outbox._insert_message).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert set(QueueOptions.__annotations__) == taken
    with pytest.raises(TypeError):
        Outbox._insert_message(None, "+8613800138000", "x", "cli", None, priorty=9)  # type: ignore[arg-type]


def test_a_message_keeps_its_template_and_variables_beside_the_text(store):
    """A template-based provider sends the filed template's code and parameters, not the text."""
    mid = store.outbox.enqueue(TO, "张三同志，祝您政治生日快乐！", template="anniversary", variables={"name": "张三"})
    msg = store.outbox.message(mid)
    assert (msg.template, msg.template_variables) == ("anniversary", {"name": "张三"})
    plain = store.outbox.message(store.outbox.enqueue(TO, "明天开会"))
    assert (plain.template, plain.template_variables) == (None, {})


def test_a_store_belongs_to_the_thread_that_opened_it(tmp_path):
    """Two threads on one connection share its read snapshot (one is told a row it just wrote
    is not there): a Store used from a second thread raises instead of reading stale rows."""
    store = Store(tmp_path / "one.db")
    seen: list[BaseException] = []

    def other() -> None:
        try:
            store.outbox.queue_depth()
        except sqlite3.ProgrammingError as exc:
            seen.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    store.close()
    assert len(seen) == 1 and "thread" in str(seen[0])
