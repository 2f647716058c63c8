"""The worker over SMPP against the `smsd smsc` emulator, with a real store: the window, receipts,
busy and account refusals, MO exactly once across a crash, caps across a window, and the config."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsd.config import ModemConfig, SendingConfig, load
from smsd.errors import ConfigError
from smsd.pacing import Pacing
from smsd.smsc.server import Account, Smsc
from smsd.store import Store
from smsd.transport.smpp import SmppTransport
from smsd.worker import Worker
from tests.conftest import wait_for

TO = "+8613800138000"
LONG = "党员政治生日快乐，请按时参加支部主题党日活动。" * 7  # 154 characters: three UCS-2 parts


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def smsc():
    with Smsc(port=0, accounts=[Account("county_a", "pw-a", "1069000101")], receipt_delay_ms=10) as server:
        yield server


@pytest.fixture
def world(tmp_path, smsc):
    clock = Clock()
    made: list[Worker] = []

    def worker(pacing: Pacing | None = None, window: int = 10, **kw) -> Worker:
        cfg = ModemConfig(name="s1", kind="smpp", price_fen=4, pause_s=0.2, window=window)
        t = SmppTransport(
            "s1",
            "127.0.0.1",
            smsc.port,
            system_id="county_a",
            password="pw-a",
            source_addr="1069000101",
            window=window,
            response_timeout_s=kw.pop("response_timeout_s", 3.0),
            **kw,
        )
        w = Worker(
            cfg, "", str(tmp_path / "smsd.db"), SendingConfig(retry_backoff_s=1), clock=clock, idle_wait_s=0.0,
            transport=t, pacing=pacing,
        )  # fmt: skip
        w.store = Store(tmp_path / "smsd.db")
        made.append(w)
        return w

    yield worker, clock
    for w in made:
        w.transport.close()
        w.store.close()


def drive(w: Worker, until, timeout: float = 20.0) -> None:
    wait_for(lambda: (w.loop(), until())[1], timeout=timeout)


def states(w: Worker) -> dict[str, int]:
    return {r["state"]: r["n"] for r in w.store.rows("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")}


def test_a_window_sends_everything_once_with_the_county_number_and_receipts_mark_it_delivered(world, smsc):
    make, clock = world
    w = make()
    ids = [
        w.store.outbox.enqueue(f"+86139001380{i:02d}", f"通知{i}：明天上午9点开会", now=clock.now) for i in range(25)
    ]
    ids.append(w.store.outbox.enqueue(TO, LONG, now=clock.now))
    drive(w, lambda: states(w) == {"delivered": 26})
    assert len(smsc.submitted) == 25 + 3  # one submit per segment, nothing twice
    assert {s["from"] for s in smsc.submitted} == {"1069000101"}
    long_parts = sorted((s for s in smsc.submitted if s["to"] == TO.lstrip("+")), key=lambda s: s["udh"]["seq"])
    assert "".join(s["text"] for s in long_parts) == LONG
    assert {s["udh"]["total"] for s in long_parts} == {3} and len({s["udh"]["ref"] for s in long_parts}) == 1
    assert w.store.one("SELECT COUNT(*) AS n, SUM(price_fen) AS fen FROM ledger") == {"n": 28, "fen": 28 * 4}
    msg = w.store.outbox.message(ids[-1])
    assert msg.resends == 0 and msg.attempts == 0 and msg.possible_duplicate == 0


def test_throttling_slows_down_and_sends_everything_without_counting_attempts(world, smsc):
    make, clock = world
    w = make()
    smsc.fault("throttle", 6)
    smsc.fault("queue_full", 3)
    for i in range(12):
        w.store.outbox.enqueue(f"+86138001381{i:02d}", f"消息{i}", now=clock.now, srr=False)
    drive(w, lambda: states(w) == {"sent": 12})
    assert len(smsc.submitted) == 12
    assert w.store.one("SELECT MAX(attempts) AS a FROM outbox")["a"] == 0
    assert w.transport.counters["busy"] == 9


def test_over_quota_pauses_the_transport_keeps_messages_queued_and_they_go_when_lifted(world, smsc):
    make, clock = world
    w = make()
    smsc.fault("status", [1000, 0x08])  # Jasmin's answer to an exhausted quota: ESME_RSYSERR
    ids = [w.store.outbox.enqueue(f"+86138001382{i:02d}", f"消息{i}", now=clock.now, srr=False) for i in range(5)]
    drive(w, lambda: w.pause_reason != "")
    assert "ESME_RSYSERR" in w.pause_reason and "quota" in w.pause_reason
    health = w.store.health.modems()[0]
    assert health["state"] == "paused" and "ESME_RSYSERR" in health["last_error"]
    assert all(w.store.outbox.message(i).state == "queued" for i in ids)
    assert w.store.one("SELECT COUNT(*) AS n FROM ledger")["n"] == 0
    smsc.fault("status", [0, 0])  # the city raised the quota
    drive(w, lambda: states(w) == {"sent": 5})
    assert w.store.one("SELECT MAX(attempts) AS a FROM outbox")["a"] == 0


def test_a_bad_number_fails_at_once_and_the_rest_of_the_window_goes(world, smsc):
    make, clock = world
    w = make()
    smsc.fault("status", [1, "0x0B"])
    bad = w.store.outbox.enqueue(TO, "第一条", now=clock.now, srr=False)
    good = [w.store.outbox.enqueue(f"+86138001383{i:02d}", "其余", now=clock.now, srr=False) for i in range(4)]
    drive(w, lambda: states(w) == {"failed": 1, "sent": 4})
    msg = w.store.outbox.message(bad)
    assert "ESME_RINVDSTADR" in msg.last_error
    assert all(w.store.outbox.message(i).state == "sent" for i in good)


def test_no_answer_is_in_doubt_and_the_resend_is_flagged(world, smsc):
    make, clock = world
    w = make(response_timeout_s=0.3)
    smsc.fault("no_response", 1)
    mid = w.store.outbox.enqueue(TO, "没有回音", now=clock.now, srr=False)
    drive(w, lambda: w.store.outbox.message(mid).state == "queued" and w.store.outbox.message(mid).attempts == 0
          and w.store.one("SELECT COUNT(*) AS n FROM submits WHERE state = 'in_doubt'")["n"] == 1)  # fmt: skip
    clock.now += timedelta(seconds=120)  # past the grace for a late answer
    drive(w, lambda: w.store.outbox.message(mid).state == "sent")
    msg = w.store.outbox.message(mid)
    assert msg.possible_duplicate == 1 and msg.resends == 1
    assert len(smsc.submitted) == 2  # the SMSC did get it twice: that is why it is flagged


def test_mo_committed_then_crash_before_the_ack_is_stored_once(world, smsc, tmp_path):
    make, clock = world
    w = make()
    assert w.transport.ensure_ready()
    answer = w.transport._answer

    def die_before_deliver_sm_resp(client, command, sequence, status=0):
        if command == "deliver_sm_resp":
            raise KeyboardInterrupt  # stands for kill -9 after the commit, before deliver_sm_resp
        return answer(client, command, sequence, status)

    w.transport._answer = die_before_deliver_sm_resp  # type: ignore[method-assign]
    smsc.deliver("+8613900000001", "TP 2", to="1069000101")
    with pytest.raises(KeyboardInterrupt):
        drive(w, lambda: False, timeout=10)
    assert w.store.one("SELECT COUNT(*) AS n FROM inbox")["n"] == 1  # committed
    assert smsc.status()["pending"]["county_a"] == 1  # not acknowledged
    w.transport.close()  # the process died: its connection with it
    w.transport._answer = answer  # type: ignore[method-assign]
    drive(w, lambda: smsc.status()["pending"]["county_a"] == 0)  # redelivered, recognised, acknowledged
    assert w.store.one("SELECT COUNT(*) AS n FROM inbox")["n"] == 1
    assert w.store.one("SELECT COUNT(*) AS n FROM events WHERE event = 'duplicate_pdu'")["n"] == 1
    row = w.store.one("SELECT sender, text FROM inbox")
    assert row == {"sender": "+8613900000001", "text": "TP 2"}
    smsc.deliver("+8613900000001", "TP 2", to="1069000101")  # the member votes again, later: a new message
    drive(w, lambda: w.store.one("SELECT COUNT(*) AS n FROM inbox")["n"] == 2)


def test_a_failed_batch_commits_nothing_and_acknowledges_nothing(world, smsc):
    make, clock = world
    w = make()
    assert w.transport.ensure_ready()
    save = w.store.inbox.save
    calls = []

    def second_fails(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return save(*args, **kw)

    w.store.inbox.save = second_fails  # type: ignore[method-assign]
    for i in range(3):
        smsc.deliver(f"+861390000000{i}", f"TP {i + 1}", to="1069000101")
    wait_for(lambda: len(w.transport._inbound) == 3)
    assert w.transport.receive() == 0
    assert w.store.one("SELECT COUNT(*) AS n FROM inbox")["n"] == 0  # the batch rolled back whole
    assert smsc.status()["pending"]["county_a"] == 3
    w.store.inbox.save = save  # type: ignore[method-assign]
    drive(w, lambda: smsc.status()["pending"]["county_a"] == 0)
    assert w.store.one("SELECT COUNT(*) AS n FROM inbox")["n"] == 3


def test_caps_hold_across_a_window(world, smsc):
    make, clock = world
    w = make(pacing=Pacing(quiet=None, hourly_cap=7, daily_cap=1000))
    for i in range(20):
        w.store.outbox.enqueue(f"+86138001384{i:02d}", "限额", now=clock.now, srr=False)
    for _ in range(30):
        w.loop()
    assert states(w) == {"sent": 7, "queued": 13}
    assert len(smsc.submitted) == 7


def test_the_password_never_reaches_the_log(world, smsc, caplog):
    make, clock = world
    caplog.set_level(logging.DEBUG)
    bad = SmppTransport("s2", "127.0.0.1", smsc.port, system_id="county_a", password="hunter2-secret",
                        source_addr="1069000101")  # fmt: skip
    assert not bad.ensure_ready()
    assert "ESME_RINVPASWD" in bad.health().last_error and "wrong password" in bad.health().last_error
    assert "hunter2-secret" not in caplog.text and "hunter2-secret" not in bad.port
    bad.close()


def config_with(tmp_path: Path, table: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(f'[daemon]\ndatabase = "smsd.db"\n\n[modems.city]\n{table}\n', encoding="utf-8")
    return p


def test_config_smpp_needs_its_address_account_and_number(tmp_path):
    with pytest.raises(ConfigError) as err:
        load(config_with(tmp_path, 'kind = "smpp"\nhost = "127.0.0.1"'))
    assert "system_id" in str(err.value) and "source_addr" in str(err.value) and "[modems.city]" in str(err.value)
    cfg = load(config_with(tmp_path, 'kind = "smpp"\nhost = "127.0.0.1"\nsystem_id = "a"\nsource_addr = "106901"'))
    m = cfg.modems[0]
    assert m.kind == "smpp" and m.smpp_port == 2775 and m.window == 10
    assert m.hourly_cap >= 10_000  # an SMSC account is not a SIM: the city sets its quota


def test_config_refuses_a_password_smpp_cannot_carry(tmp_path):
    table = 'kind = "smpp"\nhost = "127.0.0.1"\nsystem_id = "a"\nsource_addr = "106901"\npassword = "longer-than-8"'
    with pytest.raises(ConfigError) as err:
        load(config_with(tmp_path, table))
    assert "password" in str(err.value) and "at most 8" in str(err.value)
    assert "longer-than-8" not in str(err.value)


def test_doctor_says_whether_the_smsc_can_be_reached(tmp_path, smsc):
    from smsd import admin

    reachable = f'kind = "smpp"\nhost = "127.0.0.1"\nsmpp_port = {smsc.port}\nsystem_id = "a"\nsource_addr = "106901"'
    check = next(c for c in admin.doctor(load(config_with(tmp_path, reachable))) if c.name == "modem city")
    assert check.ok and f"127.0.0.1:{smsc.port} reachable" in check.detail
    smsc.fault("down", 1)
    smsc.stop()
    check = next(c for c in admin.doctor(load(config_with(tmp_path, reachable))) if c.name == "modem city")
    assert not check.ok and "cannot reach SMSC" in check.detail


def test_an_unacknowledged_mo_counts_as_a_redelivery_only_for_a_while(tmp_path):
    """A deliver_sm has no id of its own: its key is its content. After a crash that the SMSC
    never follows with a redelivery, the member's identical message days later is a new one."""
    from smsd.transport.base import Received

    with Store(tmp_path / "smsd.db") as store:
        t0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
        item = Received("smpp:8613900000001:106:0:0:5152", "+8613900000001", "QR", "QR", None, t0,
                        redelivery_window_s=6 * 3600)  # fmt: skip
        assert store.inbox.save("s1", item, t0)[1] is False  # stored; the crash comes before the ack
        assert store.inbox.save("s1", item, t0 + timedelta(minutes=5))[1] is True  # the redelivery
        assert store.inbox.save("s1", item, t0 + timedelta(days=2))[1] is False  # a new "QR", two days on
        assert store.one("SELECT COUNT(*) AS n FROM inbox")["n"] == 2


def test_stopping_ends_a_throttled_wait_at_once(world, smsc):
    """SIGTERM while the SMSC keeps answering ESME_RTHROTTLED: the worker stops within a second,
    the message goes back to the queue unsent (not failed, not counted)."""
    import threading
    import time

    make, clock = world
    w = make()
    smsc.fault("throttle", 10_000)
    mid = w.store.outbox.enqueue(TO, "限流", now=clock.now, srr=False)
    stopped = threading.Event()

    def stop_soon():
        wait_for(lambda: w.transport.counters["busy"] >= 3)
        w.stop()
        stopped.set()

    threading.Thread(target=stop_soon, daemon=True).start()
    t0 = time.monotonic()
    w.loop()  # returns once the stop ends the busy wait
    assert stopped.is_set() and time.monotonic() - t0 < 5
    msg = w.store.outbox.message(mid)
    assert msg.state in ("queued", "sending") and msg.attempts == 0


def test_transmitter_and_receiver_links_carry_submits_and_deliveries_apart(smsc):
    from smsd.transport.base import Outgoing

    class Sink:
        got: list = []

        def received(self, item):
            self.got.append(item.text)

        def report(self, item):
            self.got.append(("report", item.outcome))

        def late_accept(self, item):
            pass

        def removed(self, key):
            pass

    t = SmppTransport("s1", "127.0.0.1", smsc.port, system_id="county_a", password="pw-a", source_addr="1069000101",
                      bind="transmitter+receiver")  # fmt: skip
    sink = Sink()
    t.attach(sink)
    try:
        assert t.ensure_ready()
        assert sorted(s["mode"] for s in smsc.status()["sessions"]) == ["rx", "tx"]
        assert t.submit(Outgoing(1, TO, "分开的两条链路", 1, True, None), 1)
        smsc.deliver("+8613900000001", "TP 1", to="1069000101")
        wait_for(lambda: (t.receive(), len(sink.got) >= 2)[1])
        assert "TP 1" in sink.got and ("report", "delivered") in sink.got
        wait_for(lambda: smsc.status()["pending"]["county_a"] == 0)  # acknowledged on the receiver link
    finally:
        t.close()
