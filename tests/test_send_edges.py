"""Issue 12: never doubled, never mis-billed, and what the modem says at the edges.

Each test drives a real worker (pyserial -> driver -> emulator over a pty) step by step with
its own store; waits are on the very condition asserted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from smsd import pdu
from smsd.config import SendingConfig, modem_config
from smsd.sim.modem import ModemOptions
from smsd.store import Store
from smsd.worker import Worker
from tests.conftest import wait_for
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows

TO = "+8613800138000"


def accepted(emu, name: str = "m1") -> list[dict]:
    """Every submit the emulated network accepted (its log is written before any answer)."""
    log = emu[name].sent_log
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def ledger_rows(store: Store) -> list[dict]:
    return sql_rows(store, "SELECT * FROM ledger ORDER BY id")


@pytest.fixture
def worker_on(tmp_path) -> Iterator:
    made: list[Worker] = []

    def make(emu, name: str = "m1", **modem_kw) -> Worker:
        modem_kw.setdefault("command_timeout_s", 2.0)
        cfg = modem_config(name, {"port": str(emu[name].link), **modem_kw})
        w = Worker(cfg, str(emu[name].link), str(tmp_path / "smsd.db"), SendingConfig(), idle_wait_s=0.01)
        w.store = Store(tmp_path / "smsd.db")
        made.append(w)
        return w

    yield make
    for w in made:
        w.transport.driver.close()
        assert w.store is not None
        w.store.close()


def step_until(workers: list[Worker], predicate, timeout: float = 20.0) -> None:
    def step():
        for w in workers:
            w.loop()
        return predicate()

    wait_for(step, timeout=timeout, interval=0)


# ------------------------------------------------------------------ never doubled (items 1, 2)


def test_a_late_cmgs_is_recorded_not_resent(make_emulator, worker_on):
    """The network answers after send_timeout_s (65 s vs 60 s, scaled down): the late +CMGS
    is recognised; the message is sent once, unflagged, and billed once."""
    emu = make_emulator(ModemOptions("m1", send_delay_ms=1600))
    w = worker_on(emu, send_timeout_s=1.0)
    mid = w.store.outbox.enqueue(TO, "congested network")
    step_until([w], lambda: w.store.outbox.message(mid).state in ("sent", "delivered"))
    msg = w.store.outbox.message(mid)
    assert len(accepted(emu)) == 1
    assert msg.attempts == 0 and msg.resends == 0 and msg.possible_duplicate == 0
    assert len(ledger_rows(w.store)) == 1
    assert [e.event for e in w.store.events("outbox", mid)].count("in_doubt_settled") == 1


def test_a_lost_answer_is_resent_once_flagged_and_every_accepted_submit_billed(make_emulator, worker_on):
    """The modem sends but its answer never comes: one resend, flagged; the status report of
    the first submit shows the network had it, so the ledger holds both (what the SIM paid)."""
    emu = make_emulator(ModemOptions("m1", status_report_delay_ms=7000))
    emu["m1"].fault("lose_answers", 1)
    w = worker_on(emu, send_timeout_s=1.0)
    mid = w.store.outbox.enqueue(TO, "answer lost")
    step_until([w], lambda: w.store.outbox.message(mid).state == "delivered" and len(ledger_rows(w.store)) == 2)
    msg = w.store.outbox.message(mid)
    assert len(accepted(emu)) == 2
    assert msg.possible_duplicate == 1 and msg.resends == 1 and msg.attempts == 0
    assert sorted(r["resend"] for r in ledger_rows(w.store)) == [0, 1]


def test_a_status_report_before_the_resend_settles_the_doubt(make_emulator, worker_on):
    """The answer was lost but the delivery report comes first: nothing is sent twice."""
    emu = make_emulator()
    emu["m1"].fault("lose_answers", 1)
    w = worker_on(emu, send_timeout_s=1.0)
    mid = w.store.outbox.enqueue(TO, "answer lost, report found")
    step_until([w], lambda: w.store.outbox.message(mid).state == "delivered")
    assert len(accepted(emu)) == 1 and len(ledger_rows(w.store)) == 1
    assert w.store.outbox.message(mid).possible_duplicate == 0


def test_two_submits_without_an_answer_fail_instead_of_a_third(make_emulator, worker_on):
    emu = make_emulator(ModemOptions("m1", status_report_delay_ms=60_000))
    emu["m1"].fault("lose_answers", 5)
    w = worker_on(emu, send_timeout_s=0.5)
    mid = w.store.outbox.enqueue(TO, "hung network")
    step_until([w], lambda: w.store.outbox.message(mid).state == "failed")
    msg = w.store.outbox.message(mid)
    assert len(accepted(emu)) == 2  # never a third time by itself
    assert msg.possible_duplicate == 1 and msg.resends == 1 and msg.attempts == 0
    assert "not sent a third time" in msg.last_error


def test_crash_resends_do_not_use_up_attempts(tmp_path):
    """Four crashes mid-submit, then one transient refusal: the message is still queued (a fifth
    crash with the same part in flight would fail it: see MAX_RESTART_DOUBTS)."""
    from smsd.policy import MAX_RESTART_DOUBTS

    store = Store(tmp_path / "smsd.db")
    mid = store.outbox.enqueue(TO, "x", max_attempts=2)
    for _ in range(MAX_RESTART_DOUBTS - 1):
        assert store.claims.claim_next("m1").id == mid
        store.submits.recover()  # what start-up does after a kill -9
    store.claims.claim_next("m1")
    state = store.submits.submit_refused(mid, error="+CMS ERROR: 500", permanent=False, backoff_s=0, modem="m1")
    msg = store.outbox.message(mid)
    assert state == "queued" and msg.attempts == 1 and msg.resends == MAX_RESTART_DOUBTS - 1
    store.close()


# ------------------------------------------------------------------ never mis-billed (items 3, 4)


def test_a_submit_answered_without_a_reference_is_recorded_as_unknown(make_emulator, worker_on):
    emu = make_emulator()
    emu["m1"].fault("no_mr", 1)
    w = worker_on(emu)
    mid = w.store.outbox.enqueue(TO, "no mr")
    step_until([w], lambda: w.store.outbox.message(mid).state == "sent")
    [part] = w.store.outbox.parts(mid)
    assert part.provider_ref is None and part.provider_ref_unknown == 1
    assert "no_reference" in [e.event for e in w.store.events("outbox", mid)]
    assert len(ledger_rows(w.store)) == 1


# ------------------------------------------------------------------ a SIM the network refuses (item 9)


@pytest.mark.parametrize("code", [8, 10, 50])
def test_a_barred_sim_pauses_its_modem_and_the_other_modem_sends(make_emulator, worker_on, code):
    emu = make_emulator(ModemOptions("m1"), ModemOptions("m2"))
    emu["m1"].fault("cms", [1000, code])
    w1, w2 = worker_on(emu, "m1"), worker_on(emu, "m2")
    step_until([w1], lambda: w1.transport.driver.ready)
    ids = [w1.store.outbox.enqueue(f"+86138000000{i:02d}", f"notice {i}") for i in range(6)]
    step_until([w1, w2], lambda: all(w1.store.outbox.message(i).state in ("sent", "delivered") for i in ids))
    assert all(w1.store.outbox.message(i).attempts == 0 for i in ids)
    [m1] = [m for m in w1.store.health.modems() if m.name == "m1"]
    assert m1.state == "paused" and f"+CMS ERROR: {code}" in m1.last_error
    assert {r["to"] for r in accepted(emu, "m2")} == {f"+86138000000{i:02d}" for i in range(6)}


# ------------------------------------------------------------------ what the modem says (items 12-14, 16)


def test_cmti_for_an_empty_slot_or_an_unused_memory_is_swept_not_a_lost_modem(make_emulator, worker_on):
    emu = make_emulator()
    w = worker_on(emu)
    step_until([w], lambda: w.transport.driver.ready)
    channel = w.transport.driver.channel
    emu["m1"].fault("line", '+CMTI: "SM",17')
    emu["m1"].fault("line", '+CMTI: "XX",3')
    emu["m1"].deliver("+8613800000001", "after the junk")
    step_until([w], lambda: w.store.inbox.recent(5) and w.store.inbox.recent(5)[0].text == "after the junk")
    assert w.transport.driver.channel is channel and w.transport.driver.ready  # never re-initialised


@pytest.mark.parametrize("junk", ["+CMT: ,20", "+CDS: 6"])
def test_a_two_line_urc_without_its_pdu_does_not_eat_the_next_line(make_emulator, worker_on, junk):
    emu = make_emulator(ModemOptions("m1", profile="huawei"))
    w = worker_on(emu)
    step_until([w], lambda: w.transport.driver.ready)
    emu["m1"].fault("line", f"{junk}\n^RSSI: 7")
    wait_for(lambda: w.transport.driver.health.signal == 7)
    emu["m1"].deliver("+8613800000001", "still heard")
    step_until([w], lambda: [m.text for m in w.store.inbox.recent(5)] == ["still heard"])
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox_parts")["n"] == 1


def test_sent_messages_and_drafts_on_the_sim_are_not_inbound(make_emulator, worker_on):
    emu = make_emulator()
    submit = pdu.encode_submit("+8613900000000", "a draft from the phone", 1, srr=False, validity_minutes=None)[0]
    sca = "00"  # no SMSC: the length octet of an empty address
    emu["m1"].fault("stored_outgoing", [3, sca + submit.hex[2:] if submit.hex.startswith("00") else submit.hex])
    emu["m1"].fault("stored_outgoing", [2, submit.hex])
    emu["m1"].deliver("+8613800000001", "a real one")
    w = worker_on(emu)
    step_until([w], lambda: [m.text for m in w.store.inbox.recent(5)] == ["a real one"])
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox_parts")["n"] == 1
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox WHERE undecodable = 1")["n"] == 0
    assert emu["m1"].memory("SM").used + emu["m1"].memory("ME").used == 2  # left on the SIM


def test_last_error_is_cleared_when_the_modem_is_ready_again(make_emulator, worker_on):
    emu = make_emulator()
    w = worker_on(emu)
    step_until([w], lambda: w.transport.driver.ready)
    emu["m1"].fault("unplug")
    step_until([w], lambda: next((m.state for m in w.store.health.modems()), None) == "down")
    assert w.store.health.modems()[0].last_error
    emu["m1"].fault("replug")
    step_until([w], lambda: w.store.health.modems()[0].state == "ready")
    assert w.store.health.modems()[0].last_error in ("", None)
