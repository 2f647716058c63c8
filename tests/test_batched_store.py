"""The batched verbs write what their one-at-a-time forms write (issue 27): a window's claims
(claim_many), its accepted parts (parts_sent) and a burst of delivery reports (apply_reports)
leave the database exactly as the same calls one by one would, on random queues under random
caps, reserves and broadcasts. A difference anywhere (a claim the caps forbid, a part booked to
the wrong message, a report settling the wrong part) fails here."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smsd.pacing import Pacing
from smsd.store import Store
from tests.sql import rows as sql_rows

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: not quiet
TABLES = ("outbox", "outbox_parts", "submits", "ledger", "status_reports", "counters")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "smsd.db"
    with Store(path) as store:
        sql_rows(
            store,
            "INSERT INTO campaigns (name, text, created_by, created_at, updated_at) "
            "VALUES ('c', 'x', 'test', 'now', 'now') RETURNING id",
        )
    return path


def text_of(segments: int, chinese: bool) -> str:
    return ("通" * (70 if segments == 1 else 67 * segments - 3)) if chinese else ("a" * (153 * segments - 10))


def fill(path: Path, queue: list[tuple[int, bool, int, bool]]) -> None:
    with Store(path) as store:
        for i, (segments, broadcast, priority, chinese) in enumerate(queue):
            store.outbox.enqueue(
                f"+86138{i:08d}",
                text_of(segments, chinese),
                priority=priority,
                campaign_id=1 if broadcast else None,
                now=NOW - timedelta(minutes=5),
            )


def dump(store: Store) -> dict[str, list[tuple]]:
    """Every row of the tables the verbs write, and the events as a set (their order within one
    transaction is the only thing allowed to differ)."""
    out = {t: [tuple(r.values()) for r in sql_rows(store, f"SELECT * FROM {t} ORDER BY rowid")] for t in TABLES}
    out["events"] = sorted(
        tuple(r.values()) for r in sql_rows(store, "SELECT at, entity, entity_id, event, detail, actor FROM events")
    )
    return out


def copies(template: Path, tmp: Path) -> tuple[Path, Path]:
    a, b = tmp / "a.db", tmp / "b.db"
    for p in (a, b):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{p}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(template, p)
    return a, b


QUEUES = st.lists(
    st.tuples(st.integers(1, 3), st.booleans(), st.sampled_from([3, 5, 9]), st.booleans()), min_size=0, max_size=14
)
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW
@example(queue=[(2, False, 5, False), (1, True, 5, False), (1, False, 5, False)], cap=10, used=6, reserved=1, limit=3)
@given(
    queue=QUEUES,
    cap=st.integers(1, 30),
    used=st.integers(0, 12),
    reserved=st.integers(0, 6),
    limit=st.integers(1, 10),
)
def test_claim_many_claims_what_claim_next_would_one_by_one(template, tmp_path, queue, cap, used, reserved, limit):
    a, b = copies(template, tmp_path)
    pacing = Pacing(quiet=None, hourly_cap=cap, daily_cap=cap * 3)
    for path in (a, b):
        fill(path, [(1, False, 9, False)] * used + queue)
        with Store(path) as store:  # the hour's usage: the first messages already sent
            for _ in range(min(used, cap)):
                m = store.claims.claim_next("m1", now=NOW - timedelta(minutes=1))
                assert m is not None
                store.submits.parts_sent([(m.id, 1, f"r{m.id}", 6)], modem="m1", now=NOW - timedelta(minutes=1))
    with Store(a) as store:
        many = [c.message.id for c in store.claims.claim_many("m1", limit, now=NOW, pacing=pacing, reserved=reserved)]
        batched = dump(store)
    with Store(b) as store:
        one, held = [], reserved
        while len(one) < limit:
            m = store.claims.claim_next("m1", now=NOW, pacing=pacing, reserved=held)
            if m is None:
                break
            one.append(m.id)
            held += m.segments
        single = dump(store)
    assert many == one
    assert batched == single


@SLOW
@given(
    queue=QUEUES.filter(bool), refs=st.lists(st.one_of(st.none(), st.text("0123456789abcdef", min_size=1, max_size=8)))
)
def test_parts_sent_books_what_part_sent_would_one_by_one(template, tmp_path, queue, refs):
    a, b = copies(template, tmp_path)
    for path in (a, b):
        fill(path, queue)
    booked = []
    for path in (a, b):
        with Store(path) as store:
            claims = store.claims.claim_many("m1", 10, now=NOW)
            items = [
                (c.message.id, c.todo[0], refs[i % len(refs)] if refs else f"x{i}", 5 + i % 3)
                for i, c in enumerate(claims)
            ]
            if path == a:
                done = store.submits.parts_sent(items, modem="m1", now=NOW)
            else:
                done = [
                    mid
                    for mid, seq, ref, price in items
                    if store.submits.part_sent(mid, seq, ref=ref, price_fen=price, modem="m1", now=NOW)
                ]
            booked.append((sorted(done), dump(store)))
    assert booked[0] == booked[1]
    assert sorted(booked[0][0]) == sorted(mid for mid, _seq, _ref, _price in items if queue[mid - 1][0] == 1)


@SLOW
@example(queue=[(1, False, 3, False)], reports=[(0, "delivered", True), (0, "failed", True)])  # one message twice
@example(queue=[(2, True, 3, True), (1, False, 9, False)], reports=[(0, "delivered", True), (1, "failed", True)])
@given(
    queue=QUEUES.filter(bool),
    reports=st.lists(
        st.tuples(st.integers(0, 6), st.sampled_from(["delivered", "failed", "pending"]), st.booleans()),
        max_size=12,
    ),
)
def test_apply_reports_settles_what_apply_report_would_one_by_one(template, tmp_path, queue, reports):
    a, b = copies(template, tmp_path)
    results = []
    for path in (a, b):
        fill(path, queue)
        with Store(path) as store:
            for c in store.claims.claim_many("m1", 20, now=NOW):
                for seq in c.todo:  # every part sent, reference r<id>-<seq>
                    if seq != c.todo[0]:
                        store.submits.part_submitting(c.message.id, seq, "m1", NOW, 6)
                    store.submits.part_sent(
                        c.message.id, seq, ref=f"r{c.message.id}-{seq}", price_fen=6, modem="m1", now=NOW
                    )
            burst = [
                # a report for a part that exists (or one that does not: k beyond the queue), from
                # its number or a wrong one
                (f"r{k + 1}-1", f"+86138{k:08d}" if right else "+8613999999999", 0, outcome, None, ())
                for k, outcome, right in reports
            ]
            if path == a:
                matched = store.reports.apply_reports("m1", burst, now=NOW + timedelta(seconds=5))
            else:
                matched = [
                    store.reports.apply_report("m1", ref, to, status, outcome, now=NOW + timedelta(seconds=5))
                    for ref, to, status, outcome, _discharge, _alternatives in burst
                ]
            results.append((matched, dump(store)))
    assert results[0] == results[1]
