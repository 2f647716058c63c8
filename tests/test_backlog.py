"""A held backlog costs nothing per claim: the plans use the partial indexes, and a SIM's
usage is counted exactly at the window's edges (an injected clock at :59/:00 and midnight)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smsd.clock import LOCAL, ts
from smsd.pacing import Pacing
from smsd.store import Store
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows

A = "+8613800138000"


def plan_of(store: Store, sql: str, params: object) -> str:
    return " | ".join(r["detail"] for r in sql_rows(store, "EXPLAIN QUERY PLAN " + sql, params))


def claim_sql(quiet: bool, bulk_ok: bool = True) -> str:
    # the claim's own text, as claim_next runs it (read from the source, so the test follows a change)
    import inspect

    from smsd.store import claims

    src = inspect.getsource(claims.Claims._next_due)
    body = src[
        src.index('f"""SELECT o.* FROM outbox o') + 4 : src.index('ORDER BY o.priority DESC, o.id LIMIT :limit"""')
    ]
    body = body.replace(
        '{"outbox_claim_quiet" if quiet else "outbox_claim"}', "outbox_claim_quiet" if quiet else "outbox_claim"
    )
    body = body.replace('{" AND o.quiet_ok = 1" if quiet else ""}', " AND o.quiet_ok = 1" if quiet else "")
    body = body.replace(
        '{"" if bulk_ok else "AND o.campaign_id IS NULL"}', "" if bulk_ok else "AND o.campaign_id IS NULL"
    )
    return body + "ORDER BY o.priority DESC, o.id LIMIT :limit"


def test_the_claim_walks_a_partial_index_that_leaves_held_work_out(store):
    params = {"now": ts(datetime.now(UTC)), "modem": "m1", "repin": ts(datetime.now(UTC)), "limit": 10}
    assert "outbox_claim " in plan_of(store, claim_sql(False), params) + " "
    assert "outbox_claim_quiet" in plan_of(store, claim_sql(True), params)
    assert "outbox_claim " in plan_of(store, claim_sql(False, bulk_ok=False), params) + " "


def test_next_due_and_usage_are_index_seeks(store):
    plan = plan_of(
        store,
        "SELECT (SELECT MIN(not_before) FROM outbox INDEXED BY outbox_not_before "
        "WHERE state = 'queued' AND not_before > :at) AS nb, "
        "(SELECT MIN(retry_at) FROM outbox INDEXED BY outbox_retry_at WHERE state = 'queued' AND retry_at > :at) AS ra",
        {"at": "2026"},
    )
    assert "outbox_not_before" in plan and "outbox_retry_at" in plan
    plan = plan_of(
        store,
        "SELECT id FROM outbox INDEXED BY outbox_expiry WHERE state = 'queued' "
        "AND expires_at IS NOT NULL AND expires_at <= ?",
        ("2026",),
    )
    assert "outbox_expiry" in plan  # housekeeping's expiry is a seek too
    plan = plan_of(
        store,
        "SELECT sent_at, modem_seq FROM outbox_parts INDEXED BY outbox_parts_modem_sent "
        "WHERE modem = ? AND sent_at > ? AND modem_seq IS NOT NULL "
        "ORDER BY sent_at, modem_seq LIMIT 1",
        ("m1", "2026"),
    )
    assert "outbox_parts_modem_sent" in plan


def test_a_delivery_report_is_matched_by_a_seek_on_its_reference(store):
    """A receipt once walked every part its transport sent in three days (the planner chose the
    (modem, sent_at) index for the ORDER BY): over SMPP, thousands of receipts a minute."""
    import inspect

    from smsd.store import reports

    src = inspect.getsource(reports.Reports._candidates)
    sql = src[src.index('"""SELECT p.message_id') + 3 : src.index('ORDER BY p.sent_at DESC LIMIT 20"""')]
    plan = plan_of(store, sql + "ORDER BY p.sent_at DESC LIMIT 20", ("m1", "abc", "2026"))
    assert "outbox_parts_report" in plan and "outbox_parts_modem_sent" not in plan


def test_a_held_quiet_backlog_is_not_claimed_but_an_urgent_one_is(store):
    night = datetime(2026, 11, 28, 23, 0, tzinfo=LOCAL)
    for i in range(300):
        store.outbox.enqueue(f"+86138000{i:05d}", "通知", now=night)
    urgent = store.outbox.enqueue(A, "紧急", priority=9, quiet_ok=True, now=night)
    pacing = Pacing()
    assert store.claims.claim_next("m1", now=night, pacing=pacing).id == urgent
    assert store.claims.claim_next("m1", now=night, pacing=pacing) is None
    assert store.claims.claim_next("m1", now=night + timedelta(hours=9), pacing=pacing) is not None


def _send(store: Store, when: datetime, n: int = 1, modem: str = "m1") -> None:
    for _ in range(n):
        mid = store.outbox.enqueue(A, "x", now=when)
        msg = store.claims.claim_next(modem, now=when)
        assert msg is not None and msg.id == mid
        store.submits.part_sent(mid, 1, ref=1, price_fen=10, modem=modem, now=when)


@pytest.mark.parametrize(
    "edge",
    [
        datetime(2026, 11, 28, 10, 59, 59, tzinfo=LOCAL),
        datetime(2026, 11, 28, 11, 0, 0, tzinfo=LOCAL),
        datetime(2026, 11, 28, 23, 59, 59, tzinfo=LOCAL),
        datetime(2026, 11, 29, 0, 0, 0, tzinfo=LOCAL),
    ],
    ids=["hh:59", "hh:00", "23:59:59", "midnight"],
)
def test_usage_counts_exactly_at_the_edges_of_the_hour_and_the_local_day(store, edge):
    """Time walks forward: a part every 7 minutes, a burst at the edge, another modem's parts;
    at each probe (a second either side of the edge, and of the edge an hour on) the O(1) count
    equals a COUNT(*) over the window."""
    pacing = Pacing(quiet=None)
    sends = [(edge - timedelta(hours=2) + timedelta(minutes=7 * i), 1, "m1") for i in range(27)]
    sends += [(edge, 3, "m1"), (edge + timedelta(minutes=1), 2, "m2")]
    probes = [
        edge + d for d in (timedelta(0), timedelta(hours=1)) for d2 in (-1, 0, 1) for d in [d + timedelta(seconds=d2)]
    ]
    timeline = sorted([(t, 0, n, m) for t, n, m in sends] + [(t, 1, 0, "") for t in probes])
    for t, is_probe, n, modem in timeline:
        if not is_probe:
            _send(store, t, n, modem)
            continue
        in_hour, in_day, oldest = store.claims.usage("m1", pacing, t)
        hour = sql_one(
            store,
            "SELECT COUNT(*) AS n, MIN(sent_at) AS o FROM outbox_parts WHERE modem = 'm1' AND sent_at > ?",
            (ts(t - timedelta(hours=1)),),
        )
        day = sql_one(
            store,
            "SELECT COUNT(*) AS n FROM outbox_parts WHERE modem = 'm1' AND sent_at >= ?",
            (ts(pacing.day_start(t)),),
        )
        assert (in_hour, in_day, oldest) == (hour["n"], day["n"], hour["o"]), t


def test_pausing_a_campaign_takes_its_messages_out_of_the_claim_and_resume_puts_them_back(store):
    from smsd import broadcast
    from smsd.config import load
    from tests.conftest import write_config

    cfg = load(write_config(store.path.parent, {"m1": "emulator"}))
    numbers = store.path.parent / "n.txt"
    numbers.write_text("\n".join(f"1380000{i:04d}" for i in range(50)))
    plan = broadcast.plan(store, cfg, numbers_file=str(numbers), text="会议通知")
    cid = broadcast.queue(store, plan, name="t")
    store.campaigns.set_state(cid, "pause")
    assert sql_one(store, "SELECT COUNT(*) AS n FROM outbox WHERE held = 1")["n"] == 50
    assert store.claims.claim_next("m1") is None
    other = store.outbox.enqueue(A, "单条")
    assert store.claims.claim_next("m1").id == other
    store.campaigns.set_state(cid, "resume")
    assert sql_one(store, "SELECT COUNT(*) AS n FROM outbox WHERE held = 1")["n"] == 0
    assert store.claims.claim_next("m1").campaign_id == cid


def test_a_second_campaign_waits_for_the_first_and_its_eta_matches_the_drain(tmp_path):
    """Two 5,000-message campaigns, queued one after the other on two SIMs with the default caps
    and quiet hours: the second's ETA counts the first, agrees with a drain under an injected
    clock (the real claim, caps and quiet hours) within an hour, and nothing expires unsent."""
    from smsd import broadcast
    from smsd.config import load
    from smsd.roster import MemberRow

    (tmp_path / "config.toml").write_text(
        '[daemon]\ndatabase = "smsd.db"\n[anniversary]\nenabled = false\n'
        '[modems.m1]\nport = "emulator"\n[modems.m2]\nport = "emulator"\n'
    )
    cfg = load(tmp_path / "config.toml")
    start = datetime(2026, 11, 30, 9, 0, tzinfo=LOCAL)  # a Monday morning
    with Store(cfg.database) as store:
        store.members.upsert([MemberRow(i, f"党员{i}", f"+86138{i:08d}", "大渡口区", [], None) for i in range(5000)])
        first = broadcast.plan(store, cfg, everyone=True, text="第一次通知：周五开会。", now=start)
        broadcast.queue(store, first, name="first", now=start)
        second = broadcast.plan(store, cfg, everyone=True, text="第二次通知：周六学习。", now=start)
        cid2 = broadcast.queue(store, second, name="second", now=start)
        assert second.ahead_segments == 5000 and first.eta is not None and second.eta is not None
        assert second.eta > first.eta + timedelta(days=2)  # 10,000 segments at 1,600 a day, not 5,000
        status_eta = broadcast.campaign_eta(store, cfg, cid2, start)  # what `smsd campaign status` shows
        assert status_eta is not None and abs((status_eta - second.eta).total_seconds()) <= 60

        store.conn.execute("PRAGMA synchronous=OFF")  # six simulated days of sends: logic, not durability
        modems = {m.name: cfg.pacing(m) for m in cfg.modems}
        step = timedelta(seconds=cfg.sending.seconds_per_segment)
        t, last_sent, expired = start, None, 0
        while True:
            sent_any = False
            for name, pacing in modems.items():
                msg = store.claims.claim_next(name, now=t, pacing=pacing)
                if msg is None:
                    continue
                store.submits.part_sent(msg.id, 1, ref=1, price_fen=6, modem=name, now=t)
                sent_any = True
                if msg.campaign_id == cid2:
                    last_sent = t
            expired += store.claims.expire_due(t)
            if sent_any:
                t += step
                continue
            if not store.outbox.queue_depth().queued:
                break
            waits = [store.claims.held_until(n, p, t) for n, p in modems.items()]
            t = min(w for w in waits if w is not None)
        assert expired == 0
        assert last_sent is not None and abs((last_sent - second.eta).total_seconds()) <= 3600, (last_sent, second.eta)
        assert store.campaigns.get(cid2).state == "running"  # finish_done marks it done in the daemon
