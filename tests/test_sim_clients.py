"""Independent, real AT clients accept the emulator: gammu (C) and python-gsmmodem."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from smsd.sim.modem import ModemOptions
from tests.conftest import wait_for

CHINESE_100 = (
    "中华人民共和国各族人民同心同德艰苦奋斗建设富强民主文明和谐美丽的社会主义现代化强国实现中华民族伟大复兴" * 2
)
CHINESE_100 = CHINESE_100[:100]


def _need_gammu() -> str:
    path = shutil.which("gammu")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("gammu is not installed; `make test` installs it with apt-get")
    pytest.skip("gammu is not installed (apt-get install gammu); CI installs it")


@pytest.fixture
def sim_process(tmp_path: Path):
    """`smsd sim --modems 2 --dir D` as a real subprocess, stopped with SIGTERM."""
    directory = tmp_path / "sim"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smsd",
            "sim",
            "--modems",
            "2",
            "--dir",
            str(directory),
            "--send-delay-ms",
            "0",
            "--command-delay-ms",
            "0",
            "--status-report-delay-ms",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = proc.stdout.readline()
    assert first.startswith("m1 ") and first.strip().endswith("m1"), first
    yield directory
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)  # reads the rest and closes both pipes (an unclosed one warns at GC, in another test)
    assert proc.returncode == 0
    assert not (directory / "m1").exists()


def test_gammu_identify_and_sendsms_two_part_unicode(sim_process: Path):
    gammu = _need_gammu()
    rc = sim_process / "gammurc"
    rc.write_text(f"[gammu]\ndevice = {sim_process / 'm1'}\nconnection = at115200\n")
    ident = subprocess.run([gammu, "-c", str(rc), "identify"], capture_output=True, text=True, timeout=60)
    assert ident.returncode == 0, ident.stderr
    assert "SMSD" in ident.stdout and "SMSD-EMU-1" in ident.stdout and "356938035643809" in ident.stdout
    sent = subprocess.run(
        [gammu, "-c", str(rc), "sendsms", "TEXT", "+8613800138000", "-unicode", "-len", "400", "-text", CHINESE_100],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    records = [json.loads(x) for x in (sim_process / "m1.sent.jsonl").read_text().splitlines()]
    assert [(r["part"], r["total"]) for r in records] == [(1, 2), (2, 2)]
    assert len({r["ref"] for r in records}) == 1 and records[0]["dcs"] == 8
    assert "".join(r["text"] for r in records) == CHINESE_100


def test_smsd_sim_text_and_status_subcommands(sim_process: Path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "smsd",
            "sim",
            "text",
            "--dir",
            str(sim_process),
            "--modem",
            "m2",
            "--from",
            "+8613800000001",
            "ＴＰ　２",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and "m2" in out.stdout, out.stderr
    status = subprocess.run(
        [sys.executable, "-m", "smsd", "sim", "status", "--dir", str(sim_process)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert json.loads(status.stdout)["m2"]["stored"]["SM"] == 1
    bad = subprocess.run(
        [sys.executable, "-m", "smsd", "sim", "text", "--dir", str(sim_process), "--modem", "m9", "--from", "1", "x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "no modem 'm9'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_python_gsmmodem_connects_sends_and_receives(make_emulator):
    from gsmmodem.modem import GsmModem

    # Reports come late: python-gsmmodem's report thread would otherwise write AT+CPMS into
    # its own pending AT+CMGS (the race in research/python-gsmmodem.md §2.6.8).
    emu = make_emulator(ModemOptions("m1", profile="quectel", status_report_delay_ms=600_000))
    received = []
    got = threading.Event()

    def on_sms(sms):
        received.append((sms.number, sms.text))
        got.set()

    modem = GsmModem(str(emu["m1"].link), 115200, smsReceivedCallbackFunc=on_sms)
    modem.connect()
    try:
        modem.sendSms("+8613800138000", "Hello from python-gsmmodem")
        modem.sendSms("+8613800138000", "党员" * 70)  # 140 characters: 3 UCS-2 parts
        emu["m1"].deliver("+8613800000001", "inbound via CMTI")
        assert got.wait(15)
    finally:
        modem.close()
    records = [json.loads(x) for x in emu["m1"].sent_log.read_text().splitlines()]
    assert records[0]["text"] == "Hello from python-gsmmodem" and records[0]["dcs"] == 0
    assert [r["part"] for r in records[1:]] == [1, 2, 3]
    assert "".join(r["text"] for r in records[1:]) == "党员" * 70
    assert received == [("+8613800000001", "inbound via CMTI")]
    wait_for(lambda: emu["m1"].memory("ME").used + emu["m1"].memory("SM").used == 0)
