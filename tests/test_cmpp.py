"""The worker over CMPP against the `smsd ismg` emulator, with a real store: a long message
joined at the ISMG, reports (also 2.0-sized on a 3.0 link, and before their SUBMIT_RESP), flow
control, a wrong account setup, MO exactly once across a lost DELIVER_RESP and a crash, the
ISMG's TERMINATE, a silent ACTIVE_TEST, the config's checks, and a client from PyPI."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsd.cmpp import codec
from smsd.config import SendingConfig, load, modem_config
from smsd.errors import ConfigError
from smsd.ismg.server import Account, Ismg
from smsd.store import Store
from smsd.transport.cmpp import CmppTransport
from smsd.worker import Worker
from tests.conftest import wait_for
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows

TO = "+8613800138000"
LONG = "党员政治生日快乐，请按时参加支部主题党日活动。" * 7  # 161 characters: three UCS-2 parts
SP, SECRET, CODE, SERVICE, SRC = "901234", "pw-a", "10690001", "MZB0010101", "1069000101"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["3.0", "2.0"])
def version(request) -> int:
    return codec.VERSIONS[request.param]


@pytest.fixture
def ismg():
    with Ismg(port=0, accounts=[Account(SP, SECRET, CODE, SERVICE)], receipt_delay_ms=10) as server:
        yield server


def transport(server: Ismg, name: str = "c1", **kw) -> CmppTransport:
    kw = {"response_timeout_s": 3.0, "connect_timeout_s": 2.0, "service_id": SERVICE, "src_id": SRC, **kw}
    return CmppTransport(name, "127.0.0.1", server.port, sp_id=SP, shared_secret=kw.pop("secret", SECRET), **kw)


@pytest.fixture
def world(tmp_path, ismg):
    clock = Clock()
    made: list[Worker] = []

    def worker(pause_s: float = 0.2, **kw) -> Worker:
        cfg = modem_config(
            "c1",
            {
                "kind": "cmpp",
                "price_fen": 4,
                "pause_s": pause_s,
                "host": "127.0.0.1",
                "cmpp_port": ismg.port,
                "sp_id": SP,
                "shared_secret": SECRET,
                "service_id": SERVICE,
                "src_id": SRC,
            },
        )
        w = Worker(
            cfg,
            "",
            str(tmp_path / "smsd.db"),
            SendingConfig(retry_backoff_s=1),
            clock=clock,
            idle_wait_s=0.0,
            transport=transport(ismg, **kw),
        )
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


def inbox_texts(w: Worker) -> list[str]:
    return [r.text for r in w.store.inbox.recent(100)]


def test_a_long_message_arrives_joined_with_the_office_numbers_and_its_reports_mark_it_delivered(world, ismg, version):
    make, clock = world
    w = make(version=version)
    mid = w.store.outbox.enqueue(TO, LONG, now=clock.now)
    for i in range(9):
        w.store.outbox.enqueue(f"+86139001380{i:02d}", f"通知{i}：明天上午9点开会", now=clock.now)
    drive(w, lambda: states(w) == {"delivered": 10})
    parts = [s for s in ismg.submitted if s["to"] == TO.lstrip("+")]
    assert [(p["pk_total"], p["pk_number"], p["msg_fmt"]) for p in parts] == [(3, 1, 8), (3, 2, 8), (3, 3, 8)]
    assert {(s["src_id"], s["service_id"], s["registered_delivery"]) for s in ismg.submitted} == {(SRC, SERVICE, 1)}
    whole = [m for m in ismg.messages if m["to"] == TO.lstrip("+")]
    assert [m["text"] for m in whole] == [LONG]  # one concatenated text at the far side
    assert {s["version"] for s in ismg.submitted} == {f"{version >> 4}.{version & 0xF}"}
    assert sql_one(w.store, "SELECT COUNT(*) AS n, SUM(price_fen) AS fen FROM ledger") == {"n": 12, "fen": 12 * 4}
    msg = w.store.outbox.message(mid)
    assert msg.resends == 0 and msg.attempts == 0 and msg.possible_duplicate == 0
    refs = {r["provider_ref"] for r in sql_rows(w.store, "SELECT provider_ref FROM outbox_parts")}
    assert refs == {s["msg_id"] for s in ismg.submitted}  # the ISMG's Msg_Ids, all 64 bits kept


def test_flow_control_slows_down_and_sends_everything_without_counting_attempts(world, ismg, version):
    make, clock = world
    w = make(version=version)
    ismg.fault("status", [8, codec.FLOW_CONTROL])
    for i in range(12):
        w.store.outbox.enqueue(f"+86138001381{i:02d}", f"消息{i}", now=clock.now, srr=False)
    drive(w, lambda: states(w) == {"sent": 12})
    assert len(ismg.submitted) == 12
    assert sql_one(w.store, "SELECT MAX(attempts) AS a FROM outbox")["a"] == 0
    assert w.transport.counters["busy"] == 8


def test_the_emulator_rate_limit_answers_result_8_and_everything_still_goes(tmp_path):
    with Ismg(port=0, accounts=[Account(SP, SECRET, CODE, SERVICE)], rate=20) as server:
        t = transport(server)
        assert t.ensure_ready()
        from smsd.transport.base import Outgoing

        msgs = [(Outgoing(i, f"+86138{i:08d}", f"限速{i}", i, False, None), 1) for i in range(16)]
        results = t.submit_many(msgs) + t.submit_many(msgs)
        assert all(isinstance(r, str) for r in results), results
        assert t.counters["busy"] > 0 and len(server.submitted) == 32
        t.close()


@pytest.mark.parametrize(
    ("result", "key"), [(codec.SERVICE_ID, "service_id"), (codec.SRC_ID, "src_id"), (codec.MSG_SRC, "sp_id")]
)
def test_a_wrong_account_setup_pauses_the_link_with_the_key_to_check_and_keeps_messages_queued(
    world, ismg, result, key
):
    make, clock = world
    w = make()
    ismg.fault("status", [1000, result])
    ids = [w.store.outbox.enqueue(f"+86138001382{i:02d}", f"消息{i}", now=clock.now, srr=False) for i in range(3)]
    drive(w, lambda: w.pause_reason != "")
    assert f"Result {result}" in w.pause_reason and key in w.pause_reason
    health = w.store.health.modems()[0]
    assert health.state == "paused" and f"Result {result}" in health.last_error
    assert all(w.store.outbox.message(i).state == "queued" for i in ids)
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM ledger")["n"] == 0
    ismg.fault("status", [0, 0])  # the carrier corrected the account
    drive(w, lambda: states(w) == {"sent": 3})


def test_a_bad_number_fails_at_once_and_the_rest_of_the_window_goes(world, ismg):
    make, clock = world
    w = make()
    ismg.fault("status", [1, codec.DEST_TERMINAL])
    bad = w.store.outbox.enqueue(TO, "第一条", now=clock.now, srr=False)
    good = [w.store.outbox.enqueue(f"+86138001383{i:02d}", "其余", now=clock.now, srr=False) for i in range(4)]
    drive(w, lambda: states(w) == {"failed": 1, "sent": 4})
    assert "Result 13" in w.store.outbox.message(bad).last_error
    assert all(w.store.outbox.message(i).state == "sent" for i in good)


def test_a_two_point_zero_sized_report_on_a_three_point_zero_link_is_matched(world, ismg):
    make, clock = world
    w = make(version=codec.V30)
    ismg.fault("short_report", 1)
    mid = w.store.outbox.enqueue(TO, "短报告", now=clock.now)
    drive(w, lambda: w.store.outbox.message(mid).state == "delivered")
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM status_reports WHERE message_id = ?", (mid,))["n"] == 1


def test_a_report_before_its_submit_resp_is_matched(world, ismg):
    make, clock = world
    w = make()
    ismg.fault("report_first", 1)
    mid = w.store.outbox.enqueue(TO, "先到的报告", now=clock.now)
    drive(w, lambda: w.store.outbox.message(mid).state == "delivered")
    assert [e["kind"] for e in ismg.events if e["what"] == "deliver"] == ["report"]


def test_a_failed_report_keeps_the_message_failed(world, ismg):
    make, clock = world
    w = make()
    ismg.fault("receipt_stat", "UNDELIV")
    mid = w.store.outbox.enqueue(TO, "对方关机", now=clock.now)
    drive(w, lambda: w.store.outbox.message(mid).state == "failed")
    assert sql_one(w.store, "SELECT status, outcome FROM status_reports") == {"status": 0x41, "outcome": "failed"}


def test_a_lost_deliver_resp_does_not_store_an_mo_twice(world, ismg, version):
    make, _clock = world
    w = make(version=version)
    ismg.fault("lose_ack", 1)  # the ISMG never hears our DELIVER_RESP, and delivers it again
    ismg.deliver("+8613900000001", "收到", to=SRC)
    drive(w, lambda: ismg.status()["pending"][SP] == 0)
    assert inbox_texts(w) == ["收到"]
    assert [e["lost"] for e in ismg.events if e["what"] == "acked"] == [True, False]
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM events WHERE event = 'duplicate_pdu'")["n"] == 1


def test_mo_committed_then_crash_before_the_deliver_resp_is_stored_once(world, ismg):
    make, clock = world
    w = make()
    assert w.transport.ensure_ready()
    send = w.transport._send

    def die_before_deliver_resp(sock, data):
        if data[4:8] == (codec.DELIVER | codec.RESP).to_bytes(4, "big"):
            raise KeyboardInterrupt  # stands for kill -9 after the commit, before DELIVER_RESP
        return send(sock, data)

    w.transport._send = die_before_deliver_resp  # type: ignore[method-assign]
    ismg.deliver("+8613900000001", "TP 2", to=SRC)
    with pytest.raises(KeyboardInterrupt):
        drive(w, lambda: False, timeout=10)
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox")["n"] == 1  # committed
    assert ismg.status()["pending"][SP] == 1  # not acknowledged
    w.transport.close()  # the process died: its connection with it
    w.transport._send = send  # type: ignore[method-assign]
    drive(w, lambda: ismg.status()["pending"][SP] == 0)  # redelivered, recognised, acknowledged
    assert sql_one(w.store, "SELECT sender, text FROM inbox") == {"sender": "+8613900000001", "text": "TP 2"}
    clock.now += timedelta(minutes=11)  # the member votes again, later: a new message (a new Msg_Id)
    ismg.deliver("+8613900000001", "TP 2", to=SRC)
    drive(w, lambda: sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox")["n"] == 2)


def test_a_long_mo_and_a_gbk_mo_are_read(world, ismg):
    make, _clock = world
    w = make()
    reply = "同意。" + "我支部全体党员将按时参加主题党日活动，" * 5
    ismg.deliver("+8613900000001", reply, to=SRC)
    ismg.deliver("+8613900000002", "投票 3", to=SRC, fmt=codec.FMT_GB)
    drive(w, lambda: len(inbox_texts(w)) == 2 and not w.store.inbox.pending_parts())
    assert sorted(inbox_texts(w)) == sorted([reply, "投票 3"])


def test_the_ismg_ending_the_session_reconnects_and_sending_goes_on(world, ismg):
    make, clock = world
    w = make()
    first = w.store.outbox.enqueue(TO, "之前", now=clock.now, srr=False)
    drive(w, lambda: states(w) == {"sent": 1})
    ismg.fault("terminate")
    wait_for(lambda: not w.transport.health().ready)
    assert "TERMINATE" in w.transport.health().last_error
    second = w.store.outbox.enqueue(TO, "之后", now=clock.now, srr=False)
    drive(w, lambda: w.store.outbox.message(second).state == "sent")
    assert w.store.outbox.message(first).resends == 0
    assert len([e for e in ismg.events if e["what"] == "connect"]) == 2


def test_the_ismg_probe_is_answered_and_a_silent_active_test_drops_the_link(world, ismg):
    make, _clock = world
    w = make(active_test_s=0.05, response_timeout_s=0.1)
    assert w.transport.ensure_ready()
    wait_for(lambda: (w.transport.tick(), w.transport._probes == 1)[1])  # idle: the first probe
    wait_for(lambda: w.transport._probed == 0.0)  # answered
    ismg.fault("silent_active_test", 1)
    wait_for(lambda: (w.transport.tick(), not w.transport.health().ready)[1], timeout=10)
    assert "ACTIVE_TEST" in w.transport.health().last_error


def test_no_answer_is_in_doubt_and_the_resend_is_flagged(world, ismg):
    make, clock = world
    w = make(response_timeout_s=0.3)
    ismg.fault("no_response", 1)
    mid = w.store.outbox.enqueue(TO, "没有回音", now=clock.now, srr=False)
    drive(w, lambda: sql_one(w.store, "SELECT COUNT(*) AS n FROM submits WHERE state = 'in_doubt'")["n"] == 1)
    clock.now += timedelta(seconds=120)  # past the grace for a late answer
    drive(w, lambda: w.store.outbox.message(mid).state == "sent")
    msg = w.store.outbox.message(mid)
    assert msg.possible_duplicate == 1 and msg.resends == 1
    assert len(ismg.submitted) == 2  # the ISMG did get it twice: that is why it is flagged


def test_a_duplicate_or_late_answer_sends_nothing_twice(world, ismg):
    make, clock = world
    w = make(response_timeout_s=0.5)
    ismg.fault("duplicate_response", 2)
    ids = [w.store.outbox.enqueue(f"+86138001385{i:02d}", "重复应答", now=clock.now, srr=False) for i in range(4)]
    drive(w, lambda: states(w) == {"sent": 4})
    assert len(ismg.submitted) == 4
    ismg.fault("late_response", [1, 1500])  # answered after the timeout: in doubt, and then flagged
    late = w.store.outbox.enqueue(TO, "迟到的应答", now=clock.now, srr=False)
    drive(w, lambda: sql_one(w.store, "SELECT COUNT(*) AS n FROM submits WHERE state = 'in_doubt'")["n"] == 1)
    clock.now += timedelta(seconds=120)
    drive(w, lambda: w.store.outbox.message(late).state == "sent")
    assert w.store.outbox.message(late).possible_duplicate == 1
    assert all(w.store.outbox.message(i).possible_duplicate == 0 for i in ids)


def test_a_drop_mid_window_leaves_nothing_unflagged(world, ismg):
    make, clock = world
    w = make()
    ismg.fault("drop_after", 3)
    ids = [w.store.outbox.enqueue(f"+86138001386{i:02d}", f"窗口{i}", now=clock.now, srr=False) for i in range(8)]
    in_doubt = "SELECT COUNT(*) AS n FROM submits WHERE state = 'in_doubt'"
    drive(w, lambda: sql_one(w.store, in_doubt)["n"] >= 1 and "sending" not in states(w))
    assert len(ismg.submitted) == 3 and states(w).get("sent") == 2  # two answered before the link dropped
    clock.now += timedelta(seconds=120)
    drive(w, lambda: states(w) == {"sent": 8})
    sent_twice = {s["to"] for s in ismg.submitted if [t["to"] for t in ismg.submitted].count(s["to"]) > 1}
    for i in ids:
        msg = w.store.outbox.message(i)
        if msg.to_number.lstrip("+") in sent_twice:
            assert msg.possible_duplicate == 1, msg


def test_a_wrong_secret_says_so_and_never_reaches_the_log(ismg, caplog):
    caplog.set_level(logging.DEBUG)
    bad = transport(ismg, secret="hunter2-secret")
    assert not bad.ensure_ready()
    assert "Status 3" in bad.health().last_error and "shared_secret" in bad.health().last_error
    assert "hunter2-secret" not in caplog.text and "hunter2-secret" not in bad.where
    bad.close()


def test_the_signature_is_counted_and_written_by_whoever_the_setting_says(world, ismg):
    text = "请于本周五前提交党费收缴情况" + "。" * 53  # 67 characters: one part alone, two with the signature
    make, clock = world
    for by_ismg, shown in ((True, text), (False, "【某县委组织部】" + text)):
        w = make(signature="【某县委组织部】", signed_by_ismg=by_ismg)
        before = len(ismg.messages)
        mid = w.store.outbox.enqueue(TO, text, now=clock.now, srr=False)
        drive(w, lambda w=w, mid=mid: w.store.outbox.message(mid).state == "sent")
        assert [m["text"] for m in ismg.messages[before:]] == [shown]
        assert w.store.outbox.message(mid).segments == 2  # the carrier counts the signature: so does the ledger
        assert sql_one(w.store, "SELECT COUNT(*) AS n FROM ledger WHERE message_id = ?", (mid,))["n"] == 2
        w.transport.close()


def _raw_submit(version: int, **change) -> bytes:
    fields = {
        "msg_src": SP,
        "service_id": SERVICE,
        "src_id": SRC,
        "dest_terminal_ids": ("8613800138000",),
        "content": "你好".encode("utf-16-be"),
        **change,
    }
    return codec.pack_submit(9, codec.Submit(**fields), version)


@pytest.mark.parametrize(
    ("frame", "result"),
    [
        (lambda v: _raw_submit(v), codec.OK),
        (lambda v: _raw_submit(v, src_id="1065000101"), codec.SRC_ID),  # not under the account's service code
        (lambda v: _raw_submit(v, msg_src="901235"), codec.MSG_SRC),
        (lambda v: _raw_submit(v, service_id="OTHER"), codec.SERVICE_ID),
        (lambda v: _raw_submit(v, dest_terminal_ids=("1380013800x",)), codec.DEST_TERMINAL),
        (lambda v: _raw_submit(v, content=b"\x00\x41" * 71), codec.TOO_LONG),  # 142 octets of UCS-2
        (lambda v: _raw_submit(v, pk_total=2, pk_number=3), codec.STRUCTURE),
        (lambda v: _raw_submit(v, fee_type="09"), codec.FEE_CODE),
        (lambda v: _raw_submit(v)[:-5], codec.LENGTH),  # cut short: the header's length is wrong
        (lambda v: _fix_length(_raw_submit(v).replace(b"\x01" + b"8613800138000", b"\x00" + b"8613800138000")), 1),
    ],
    ids=["ok", "src_id", "msg_src", "service_id", "number", "too_long", "pk", "fee", "truncated", "no_recipients"],
)
def test_the_emulator_validates_submits_as_an_ismg_does(ismg, version, frame, result):
    import socket

    with socket.create_connection(("127.0.0.1", ismg.port), timeout=5) as sock:
        sock.sendall(codec.pack_connect(1, SP, SECRET, version, codec.timestamp(datetime.now(UTC))))
        _head = sock.recv(12)
        sock.recv(64)
        data = frame(version)
        if result == codec.LENGTH:  # a body shorter than its layout, in a frame whose length is right
            data = codec.frame(codec.SUBMIT, 9, data[12:])
        sock.sendall(data)
        head = sock.recv(12)
        length, command, sequence = codec.read_header(head)
        resp = codec.unpack_resp(sock.recv(length - 12))
    assert (command, sequence, resp.result) == (codec.SUBMIT | codec.RESP, 9, result)
    assert len(ismg.submitted) == (1 if result == codec.OK else 0)  # a refused submit is never logged as sent


def _fix_length(data: bytes) -> bytes:
    return codec.frame(codec.SUBMIT, 9, data[12:])


def test_doctor_says_whether_the_ismg_can_be_reached(ismg):
    from smsd.transport.cmpp import KIND

    table = {
        "kind": "cmpp",
        "host": "127.0.0.1",
        "cmpp_port": ismg.port,
        "sp_id": SP,
        "shared_secret": SECRET,
        "service_id": SERVICE,
        "src_id": SRC,
    }
    [(what, ok, detail)] = KIND.doctor(modem_config("carrier", table))
    assert ok and str(ismg.port) in detail
    ismg.stop()
    [(what, ok, detail)] = KIND.doctor(modem_config("carrier", table))
    assert not ok and "whitelist" in detail


def config_with(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[daemon]\ndatabase = "x.db"\n[modems.carrier]\nkind = "cmpp"\n{table}\n')
    return path


def test_config_cmpp_needs_its_account_and_checks_its_numbers(tmp_path):
    with pytest.raises(ConfigError) as err:
        load(config_with(tmp_path, 'host = "10.1.1.1"'))
    assert "sp_id" in str(err.value) and "shared_secret" in str(err.value) and "\n" not in str(err.value)
    base = 'host = "10.1.1.1"\nsp_id = "901234"\nshared_secret = "s"\nservice_id = "MZB"\n'
    with pytest.raises(ConfigError, match="src_id"):
        load(config_with(tmp_path, base + 'src_id = "12345"'))
    with pytest.raises(ConfigError, match="cmpp_window"):
        load(config_with(tmp_path, base + 'src_id = "1069000101"\ncmpp_window = 32'))
    with pytest.raises(ConfigError, match="smpp"):
        load(config_with(tmp_path, base + 'src_id = "1069000101"\nsystem_id = "x"'))
    cfg = load(config_with(tmp_path, base + 'src_id = "1069000101"\ncmpp_version = "2.0"'))
    assert cfg.modems[0].kind == "cmpp" and cfg.modems[0].settings.cmpp_version == "2.0"


def test_cmppy_from_pypi_connects_to_the_emulator_and_submits(ismg):
    """An independent client (cmppy 0.3, a CMPP 3.0 submit-only client from PyPI) against `smsd ismg`."""
    script = f"""
import cmppy
from cmppy.request import SubmitReq
client = cmppy.Cmppy("127.0.0.1", {ismg.port}, "{SP}", "{SECRET}")
res = client.request(SubmitReq("{SP}", "党员大会明天召开", src_id="{SRC}", service_id="{SERVICE}",
                                 dest_terminal_id=["8613800138000"], feecode="000000"))
print("RESULT", res.result, res.msg_id)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    _, result, msg_id = line.split()
    assert result == "0"
    assert [(s["to"], s["text"], int(s["msg_id"], 16)) for s in ismg.submitted] == [
        ("8613800138000", "党员大会明天召开", int(msg_id))
    ]
    assert [e["status"] for e in ismg.events if e["what"] == "connect"] == [0]


def test_the_ismg_command_runs_and_takes_an_mo(tmp_path):
    """`smsd ismg` as an admin runs it, and `smsd ismg text` delivers to a connected client."""
    directory = tmp_path / "ismg"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smsd",
            "ismg",
            "--port",
            "0",
            "--dir",
            str(directory),
            "--account",
            f"{SP}:{SECRET}:{CODE}:{SERVICE}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        port = int(first.rsplit(":", 1)[1])
        wait_for(lambda: (directory / "control.sock").exists())
        t = CmppTransport("c1", "127.0.0.1", port, sp_id=SP, shared_secret=SECRET, service_id=SERVICE, src_id=SRC)
        assert t.ensure_ready()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "smsd",
                "ismg",
                "text",
                "--dir",
                str(directory),
                "--from",
                "+8613900000001",
                "--to",
                SRC,
                "TP 2",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, out.stderr
        wait_for(lambda: t.messages_waiting())
        t.close()
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "smsd",
                "ismg",
                "text",
                "--dir",
                str(directory),
                "--from",
                "+8613900000001",
                "--to",
                "10650000",
                "TP 2",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert bad.returncode == 1 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
