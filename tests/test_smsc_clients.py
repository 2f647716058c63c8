"""`smsd smsc` against clients that are not ours: plain smpplib and Kannel's bearerbox; and the
emulator as a real subprocess driven through its CLI (MO, faults, status, the JSON log)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import smpplib.client
import smpplib.consts
import smpplib.gsm
from click.testing import CliRunner

from smsd.cli import main
from smsd.smsc.server import Account, Smsc
from tests import kannel
from tests.conftest import wait_for

CHINESE = "请各支部书记于明天上午九点到县委党校参加学习。" * 4  # two UCS-2 parts


def _need_kannel() -> None:
    if kannel.available():
        return
    if os.environ.get("CI"):
        pytest.fail("Kannel is not installed; `make test` installs it with apt-get")
    pytest.skip("Kannel is not installed (apt-get install kannel); CI installs it")


@pytest.fixture
def smsc(tmp_path):
    accounts = [Account("plain", "pw1", "1069000101"), Account("kannel", "pw2", "1069000102")]
    with Smsc(port=0, accounts=accounts, log_path=tmp_path / "submits.jsonl", receipt_delay_ms=10) as server:
        yield server


def test_plain_smpplib_sends_a_long_chinese_message_and_gets_receipts_and_an_mo(smsc, tmp_path):
    received = []
    client = smpplib.client.Client("127.0.0.1", smsc.port, allow_unknown_opt_params=True)
    client.set_message_received_handler(lambda pdu: received.append(pdu))
    client.set_message_sent_handler(lambda pdu: None)
    client.connect()
    try:
        client.bind_transceiver(system_id="plain", password="pw1")
        parts, coding, esm = smpplib.gsm.make_parts(CHINESE)
        for part in parts:
            client.send_message(
                source_addr="1069000101",
                destination_addr="8613800138000",
                dest_addr_ton=1,
                data_coding=coding,
                esm_class=esm,
                short_message=part,
                registered_delivery=True,
            )
            client.read_once()  # submit_sm_resp
        smsc.deliver("+8613900000001", "TP 2", to="1069000101")
        while len(received) < 3:  # two receipts, one MO; read_once blocks until a PDU arrives
            client.read_once()
    finally:
        client.unbind()
        client.disconnect()
    logged = [json.loads(line) for line in (tmp_path / "submits.jsonl").read_text().splitlines()]
    assert "".join(r["text"] for r in sorted(logged, key=lambda r: r["udh"]["seq"])) == CHINESE
    assert {r["from"] for r in logged} == {"1069000101"} and {r["account"] for r in logged} == {"plain"}
    receipts = [p for p in received if int(p.esm_class) & 0x04]
    assert {p.receipted_message_id.decode() for p in receipts} == {r["message_id"] for r in logged}
    mo = [p for p in received if not int(p.esm_class) & 0x04]
    assert len(mo) == 1 and mo[0].short_message == b"TP 2" and mo[0].source_addr == b"8613900000001"
    wait_for(lambda: smsc.status()["pending"]["plain"] == 0)  # all acknowledged by smpplib


def test_kannel_bearerbox_sends_through_the_emulator(smsc, tmp_path):
    _need_kannel()
    k = kannel.Kannel(tmp_path, smsc.port, "kannel", "pw2")
    k.start(lambda p, t: wait_for(p, timeout=t))
    try:
        wait_for(lambda: any(s["account"] == "kannel" for s in smsc.status()["sessions"]), timeout=30)
        assert "Accepted" in k.send("+8613800138001", "Meeting at 9, county school")
        assert "Accepted" in k.send("+8613800138002", CHINESE)
        wait_for(lambda: len(smsc.submitted) == 3, timeout=30)
    finally:
        k.stop()
    by_to = {}
    for s in smsc.submitted:
        by_to.setdefault(s["to"], []).append(s)
    assert [s["text"] for s in by_to["8613800138001"]] == ["Meeting at 9, county school"]
    chinese = sorted(by_to["8613800138002"], key=lambda s: s["udh"]["seq"])
    assert "".join(s["text"] for s in chinese) == CHINESE and chinese[0]["data_coding"] == 8
    assert {s["account"] for s in smsc.submitted} == {"kannel"}


def test_wrong_password_is_refused_with_the_smpp_status(smsc):
    client = smpplib.client.Client("127.0.0.1", smsc.port, allow_unknown_opt_params=True)
    client.connect()
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as err:
            client.bind_transceiver(system_id="plain", password="wrong")
        assert err.value.args[1] == smpplib.consts.SMPP_ESME_RINVPASWD
    finally:
        client.disconnect()


def test_the_smsc_command_runs_and_is_driven_through_its_cli(tmp_path):
    port = kannel.free_port()
    folder = tmp_path / "smsc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "smsd", "smsc", "--port", str(port), "--dir", str(folder),
         "--account", "county_a:pw:1069000101"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: (folder / "control.sock").exists() and kannel.listening(port), timeout=30)
        runner = CliRunner()
        r = runner.invoke(main, ["smsc", "fault", "--dir", str(folder), "throttle", "2"])
        assert r.exit_code == 0, r.output
        client = smpplib.client.Client("127.0.0.1", port, allow_unknown_opt_params=True)
        client.connect()
        client.bind_transceiver(system_id="county_a", password="pw")
        statuses = []
        client.set_message_sent_handler(lambda pdu: statuses.append(pdu.status))
        client.set_error_pdu_handler(lambda pdu: None)  # smpplib calls the sent handler for errors too
        for _ in range(3):
            client.send_message(source_addr="1069000101", destination_addr="8613800138000", short_message=b"hi")
            client.read_once()
        assert statuses == [0x58, 0x58, 0]  # throttled twice, then taken
        r = runner.invoke(main, ["smsc", "text", "--dir", str(folder), "--from", "+8613900000001",
                                 "--to", "1069000101", "TP 2"])  # fmt: skip
        assert r.exit_code == 0 and "1" in r.output
        got = []
        client.set_message_received_handler(lambda pdu: got.append(pdu))
        client.read_once()
        assert got[0].short_message == b"TP 2"
        client.unbind()
        client.disconnect()
        r = runner.invoke(main, ["smsc", "status", "--dir", str(folder)])
        status = json.loads(r.output)
        assert status["submitted"] == 1 and status["pending"] == {"county_a": 0}
        logged = (folder / "submits.jsonl").read_text().splitlines()
        assert len(logged) == 1 and json.loads(logged[0])["text"] == "hi"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err
    assert f"127.0.0.1:{port}" in out


def test_smsc_cli_errors_are_one_line(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["smsc", "status", "--dir", str(tmp_path / "nothing")])
    assert r.exit_code != 0 and "no SMSC emulator is running" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["smsc", "--account", "broken", "--dir", str(tmp_path)])
    assert r.exit_code == 2 and "county_a:secret" in r.output
    busy = kannel.free_port()
    with Smsc(port=busy):
        r = runner.invoke(main, ["smsc", "--port", str(busy), "--dir", str(tmp_path / "x")])
    assert r.exit_code == 1 and "cannot start the SMSC emulator" in r.output and Path(tmp_path / "x").exists() is False


def test_a_failed_start_leaves_the_callers_signals_as_they_were(tmp_path):
    """`smsd smsc` blocks SIGTERM for sigwait; a start that fails must unblock it again (a test
    process that ran it in-process once passed the blocked mask on to every daemon it started)."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    busy = kannel.free_port()
    with Smsc(port=busy):
        CliRunner().invoke(main, ["smsc", "--port", str(busy), "--dir", str(tmp_path / "x")])
    assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before
