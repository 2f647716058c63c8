"""The worker over SMPP against the `smsd smsc` emulator, with a real store: the window, receipts,
busy and account refusals, MO exactly once across a crash, caps across a window, and the config."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsd.config import SendingConfig, load, modem_config
from smsd.errors import ConfigError
from smsd.pacing import Pacing
from smsd.smsc.server import Account, Smsc
from smsd.store import Store
from smsd.transport.smpp import SmppTransport
from smsd.worker import Worker
from tests.conftest import wait_for
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows

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

    def worker(pacing: Pacing | None = None, window: int = 10, pause_s: float = 0.2, **kw) -> Worker:
        cfg = modem_config(
            "s1",
            {
                "kind": "smpp",
                "price_fen": 4,
                "pause_s": pause_s,
                "window": window,
                "host": "127.0.0.1",
                "system_id": "county_a",
                "password": "pw-a",
                "source_addr": "1069000101",
                "smpp_port": smsc.port,
            },
        )
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
    return {r["state"]: r["n"] for r in sql_rows(w.store, "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")}


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
    assert sql_one(w.store, "SELECT COUNT(*) AS n, SUM(price_fen) AS fen FROM ledger") == {"n": 28, "fen": 28 * 4}
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
    assert sql_one(w.store, "SELECT MAX(attempts) AS a FROM outbox")["a"] == 0
    assert w.transport.counters["busy"] == 9


def test_over_quota_pauses_the_transport_keeps_messages_queued_and_they_go_when_lifted(world, smsc):
    make, clock = world
    w = make()
    smsc.fault("status", [1000, 0x08])  # Jasmin's answer to an exhausted quota: ESME_RSYSERR
    ids = [w.store.outbox.enqueue(f"+86138001382{i:02d}", f"消息{i}", now=clock.now, srr=False) for i in range(5)]
    drive(w, lambda: w.pause_reason != "")
    assert "ESME_RSYSERR" in w.pause_reason and "quota" in w.pause_reason
    health = w.store.health.modems()[0]
    assert health.state == "paused" and "ESME_RSYSERR" in health.last_error
    assert all(w.store.outbox.message(i).state == "queued" for i in ids)
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM ledger")["n"] == 0
    smsc.fault("status", [0, 0])  # the city raised the quota
    drive(w, lambda: states(w) == {"sent": 5})
    assert sql_one(w.store, "SELECT MAX(attempts) AS a FROM outbox")["a"] == 0


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
          and sql_one(w.store, "SELECT COUNT(*) AS n FROM submits WHERE state = 'in_doubt'")["n"] == 1)  # fmt: skip
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
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox")["n"] == 1  # committed
    assert smsc.status()["pending"]["county_a"] == 1  # not acknowledged
    w.transport.close()  # the process died: its connection with it
    w.transport._answer = answer  # type: ignore[method-assign]
    drive(w, lambda: smsc.status()["pending"]["county_a"] == 0)  # redelivered, recognised, acknowledged
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox")["n"] == 1
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM events WHERE event = 'duplicate_pdu'")["n"] == 1
    row = sql_one(w.store, "SELECT sender, text FROM inbox")
    assert row == {"sender": "+8613900000001", "text": "TP 2"}
    # the member votes again, later (past the ten minutes in which an acknowledged deliver_sm may
    # still come again because its ack was lost): a new message
    clock.now += timedelta(minutes=11)
    smsc.deliver("+8613900000001", "TP 2", to="1069000101")
    drive(w, lambda: sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox")["n"] == 2)


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
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox")["n"] == 0  # the batch rolled back whole
    assert smsc.status()["pending"]["county_a"] == 3
    w.store.inbox.save = save  # type: ignore[method-assign]
    drive(w, lambda: smsc.status()["pending"]["county_a"] == 0)
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox")["n"] == 3


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
    assert "hunter2-secret" not in caplog.text and "hunter2-secret" not in bad.where
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
    assert m.kind == "smpp" and m.settings.smpp_port == 2775 and m.settings.window == 10
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
        assert sql_one(store, "SELECT COUNT(*) AS n FROM inbox")["n"] == 2


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

        def batch(self):
            return contextlib.nullcontext()

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


# ------------------------------------------------------------------ issue 22: the link as others run it

REPLY = ("同意，" + "我支部将按时完成学习任务并上报材料，" * 7)[:128]  # 256 octets in UCS-2


def inbox_texts(w: Worker) -> list[str]:
    return [r.text for r in w.store.inbox.recent(100)]


def test_a_long_reply_in_message_payload_is_read_and_a_second_one_is_not_a_duplicate(world, smsc):
    make, _clock = world
    w = make()
    assert len(REPLY) == 128
    smsc.deliver("+8613900000001", REPLY, carry="payload")
    smsc.deliver("+8613900000002", REPLY.replace("同意", "反对"), carry="payload")
    drive(w, lambda: len(inbox_texts(w)) == 2)
    assert sorted(inbox_texts(w)) == sorted([REPLY, REPLY.replace("同意", "反对")])


def test_sar_parts_are_joined_into_one_message(world, smsc):
    make, _clock = world
    w = make()
    smsc.deliver("+8613900000001", REPLY, carry="sar")
    drive(w, lambda: len(inbox_texts(w)) >= 1 and not w.store.inbox.pending_parts())
    assert inbox_texts(w) == [REPLY]


def test_an_mo_whose_ack_was_lost_is_stored_once(world, smsc):
    make, _clock = world
    w = make()
    smsc.fault("lose_ack", 1)  # the SMSC never hears our deliver_sm_resp, and delivers it again
    smsc.deliver("+8613900000001", "收到")
    drive(w, lambda: smsc.status()["pending"]["county_a"] == 0)
    assert inbox_texts(w) == ["收到"]
    assert [e for e in smsc.events if e["what"] == "acked"][0]["lost"] is True


@pytest.mark.parametrize("form", ["decimal", "hex"])
def test_receipts_naming_the_id_in_the_other_base_are_matched(world, smsc, form):
    make, _clock = world
    w = make()
    smsc.fault("receipt_id", form)
    ids = [w.store.outbox.enqueue(f"+86138000000{i:02d}", f"通知 {i}") for i in range(10)]
    drive(w, lambda: all(w.store.outbox.message(i).state == "delivered" for i in ids))


def test_an_smsc_that_reads_data_coding_0_as_latin1_gets_and_gives_ascii_text(tmp_path):
    with Smsc(
        port=0, accounts=[Account("county_a", "pw-a", "1069000101")], receipt_delay_ms=10, alphabet="latin1"
    ) as s:
        t = SmppTransport(
            "s1", "127.0.0.1", s.port, system_id="county_a", password="pw-a", source_addr="1069000101",
            alphabet="latin1",
        )  # fmt: skip
        account = {"host": "127.0.0.1", "system_id": "county_a", "password": "pw-a", "source_addr": "1069000101"}
        w = Worker(
            modem_config("s1", {"kind": "smpp", **account}), "", str(tmp_path / "smsd.db"), SendingConfig(),
            idle_wait_s=0.0, transport=t,
        )  # fmt: skip
        w.store = Store(tmp_path / "smsd.db")
        try:
            w.store.outbox.enqueue(TO, "me@home.cn, $5")
            s.deliver("+8613900000001", "me@home.cn, $5")
            drive(w, lambda: bool(s.submitted) and bool(inbox_texts(w)))
            assert s.submitted[0]["text"] == "me@home.cn, $5" and s.submitted[0]["hex"] == b"me@home.cn, $5".hex()
            assert inbox_texts(w) == ["me@home.cn, $5"]
        finally:
            t.close()
            w.store.close()


def test_a_member_sms_mid_window_leaves_no_part_sent_unmarked(world, smsc):
    """Issue 22: an MO in the middle of a window made the next round go out without being marked
    'submitting' (a crash then resent them unflagged). Every submit the SMSC took is in `submits`."""
    make, _clock = world
    w = make()
    ids = [w.store.outbox.enqueue(f"+86138000001{i:02d}", LONG) for i in range(10)]
    assert w.transport.ensure_ready()
    smsc.response_delay_ms = 5  # each round takes a little while: members' SMS land inside rounds
    transport_submit = w.transport.submit_many

    def submit_while_a_member_writes(items):
        results = transport_submit(items)
        n = len(smsc.submitted)
        smsc.deliver(f"+86139{n:08d}", "TP 1")  # arrives before this round is booked
        wait_for(w.transport.messages_waiting, timeout=10)
        return results

    w.transport.submit_many = submit_while_a_member_writes  # type: ignore[method-assign]
    drive(w, lambda: all(w.store.outbox.message(i).state in ("sent", "delivered") for i in ids))
    unmarked = sql_one(w.store, "SELECT COUNT(*) AS n FROM ledger WHERE submit_id IS NULL")["n"]
    assert unmarked == 0  # every part the SMSC accepted had its submit in flight, committed before it left
    submits = sql_one(w.store, "SELECT COUNT(*) AS n FROM submits WHERE state = 'accepted'")["n"]
    assert submits == len([x for x in smsc.submitted if x["to"].startswith("86138")]) == 30


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x07" + b"\x00\x01", 0x02),  # truncated
        (
            b"\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x08"  # length patched below
            + b"\x00"
            + b"\x01\x01"
            + b"123\x00"
            + b"\x01\x01"
            + b"\x00"
            + b"\x00\x00\x00"
            + b"\x00\x00"
            + b"\x00\x00\x00\x00\x05hello",
            0x0B,  # no destination
        ),
        (
            b"\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x09"
            + b"\x00"
            + b"\x01\x01"
            + b"123\x00"
            + b"\x01\x01"
            + b"456\x00"
            + b"\x00\x00\x00"
            + b"\x00\x00"
            + b"\x00\x00\x00\x00\xc8hi",
            0x01,  # sm_length beyond the PDU
        ),
    ],
    ids=["truncated", "no-destination", "short-message-cut"],
)
def test_smsc_emulator_answers_malformed_submits_as_an_smsc_does(smsc, raw, status):
    import socket
    import struct

    import smpplib.client

    if raw[:4] == b"\x00\x00\x00\x00":
        raw = struct.pack(">L", len(raw)) + raw[4:]
    c = smpplib.client.Client("127.0.0.1", smsc.port, allow_unknown_opt_params=True)
    c.connect()
    c.bind_transceiver(system_id="county_a", password="pw-a")
    try:
        c._socket.sendall(raw)
        c._socket.settimeout(5)
        head = c._socket.recv(16)
        length, command, got, _seq = struct.unpack(">LLLL", head)
        assert got == status and command in (0x80000000, 0x80000004), (hex(command), hex(got))
        assert smsc.submitted == []  # never taken, never logged as a message
    finally:
        with contextlib.suppress(OSError, socket.error):
            c.disconnect()


def test_a_paused_link_tries_again_when_asked_and_healed_trouble_stays_visible(world, smsc):
    """Issue 22: a raised city quota waited for the end of a doubling pause; now `smsd resume`
    ends it at once. A throttled burst leaves its trace on the row after it healed."""
    make, _clock = world
    w = make(pause_s=600.0)
    w.others = False  # the only transport of this box (the daemon tells each worker)
    smsc.fault("status", [1, 0x08])  # over quota (Jasmin's ESME_RSYSERR)
    mid = w.store.outbox.enqueue(TO, "配额提高后发送")
    drive(w, lambda: bool(w.pause_reason))
    assert "its messages wait" in w.pause_reason  # no other modems on this box
    assert w.store.outbox.message(mid).state == "queued"
    w.store.health.request_resume("s1", "test")
    drive(w, lambda: w.store.outbox.message(mid).state in ("sent", "delivered"), timeout=10)
    assert w.pause_reason == ""
    smsc.fault("throttle", 2)
    other = w.store.outbox.enqueue(TO, "限速")
    drive(w, lambda: w.store.outbox.message(other).state in ("sent", "delivered"))
    row = lambda: next(m for m in w.store.health.modems() if m.name == "s1")  # noqa: E731
    drive(w, lambda: "slow down" in (row().last_incident or ""))
    assert row().last_error in ("", None)  # healed: no current error, the trace stays
