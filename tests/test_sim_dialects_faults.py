"""Each dialect and each fault of the emulator, as seen on the serial line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import serial

from smsd import pdu
from smsd.sim.modem import ModemOptions
from tests.conftest import wait_for


def _submit(p, text="hello", to="+8613800138000"):
    [part] = pdu.encode_submit(to, text)
    assert p.at(f"AT+CMGS={part.tpdu_length}").endswith(b"> ")
    return p.at(part.hex.encode() + b"\x1a")


# ------------------------------------------------------------------ dialects


def test_generic_profile_baseline(make_emulator, probe_for):
    p = probe_for(make_emulator(profile="generic"))
    assert p.at("AT+FOO") == b"\r\nERROR\r\n"
    assert b"AT+CMGS" in p.at("AT+CLAC")


def test_huawei_says_command_not_support_counts_from_zero_and_is_noisy(make_emulator, probe_for):
    emu = make_emulator(profile="huawei")
    p = probe_for(emu)
    assert p.at("AT+FOO") == b"\r\nCOMMAND NOT SUPPORT\r\n"
    emu["m1"].deliver("+8613800000001", "x")
    assert re.search(rb"\+CMGL: 0,0,,", p.at("AT+CMGL=4"))
    emu["m1"].fault("noise", 3)
    assert p.read_until(b"^SRVST:2\r\n").count(b"^") == 3


def test_huawei_boot_lines_on_plug(make_emulator):
    emu = make_emulator(profile="huawei")
    s = serial.Serial(str(emu["m1"].link), timeout=0.5)
    s.write(b"AT\r")
    data = s.read_until(b"OK\r\n")
    assert data.index(b"^BOOT:") < data.index(b"^MODE:5,4") < data.index(b"OK")
    s.close()


def test_wavecom_cpin_without_ok_and_busy_after_start(make_emulator, probe_for):
    p = probe_for(make_emulator(profile="wavecom"))
    p.at("AT+CMEE=1")
    assert p.at("AT+CPMS?") == b"\r\n+CME ERROR: 515\r\n"
    assert p.at("AT+CPMS?") == b"\r\n+CME ERROR: 515\r\n"
    assert b'+CPMS: "SM"' in p.at("AT+CPMS?")
    p.port.write(b"AT+CPIN?\r")
    assert p.read_until(b"+CPIN: READY\r\n") == b"\r\n+CPIN: READY\r\n"
    assert p.quiet(0.3) == b""  # and no OK follows
    assert b"BM" in p.at("AT+CPMS=?")


def test_simcom_has_no_clac_and_rejects_cnmi_2_1_0_2(make_emulator, probe_for):
    p = probe_for(make_emulator(profile="simcom"))
    p.at("AT+CMEE=1")
    assert p.at("AT+CLAC") == b"\r\n+CME ERROR: 100\r\n"
    assert p.at("AT+CNMI=2,1,0,2,0") == b"\r\n+CMS ERROR: 303\r\n"
    assert p.at("AT+CNMI=2,1,0,1,0") == b"\r\nOK\r\n"
    assert p.at("AT+CGMI") == b"\r\nSIMCOM_Ltd\r\n\r\nOK\r\n"


def test_quectel_identity_and_boot_urcs(make_emulator):
    emu = make_emulator(profile="quectel")
    s = serial.Serial(str(emu["m1"].link), timeout=0.5)
    s.write(b"ATE0\r")
    assert b"+QIND: SMS DONE" in s.read_until(b"OK\r\n")
    s.write(b"AT+CGMM\r")
    assert s.read_until(b"OK\r\n") == b"\r\nEC25\r\n\r\nOK\r\n"
    s.close()


def test_unknown_profile_is_refused():
    from smsd.sim.modem import EmulatedModem

    with pytest.raises(ValueError, match="unknown modem profile"):
        EmulatedModem(Path("/tmp"), ModemOptions(profile="nokia"))


# ------------------------------------------------------------------ faults


def test_unplug_closes_the_line_and_replug_brings_a_fresh_modem(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    emu["m1"].deliver("+8613800000001", "kept on the SIM")
    emu["m1"].fault("unplug")
    assert not emu["m1"].link.exists()
    with pytest.raises(serial.SerialException):
        for _ in range(50):
            p.port.write(b"AT\r")
            p.port.read(10)
    emu["m1"].fault("replug")
    q = probe_for(emu, echo_off=False)
    assert q.at("AT") == b"AT\r\r\nOK\r\n"  # echo back on: the modem restarted
    q.at("ATE0")
    assert b"kept on the SIM" not in q.at("AT+CMGL=4")  # PDU hex, but the slot is there
    assert re.search(rb"\+CMGL: 1,", q.at("AT+CMGL=4"))


def test_hang_answers_nothing_then_everything_in_order(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    emu["m1"].fault("hang", 0.5)
    p.port.write(b"AT+CSQ\rAT+CGMI\r")
    assert p.quiet(0.3) == b""
    assert p.read_until(b"SMSD\r\n\r\nOK\r\n", timeout=3) == b"\r\n+CSQ: 23,99\r\n\r\nOK\r\n\r\nSMSD\r\n\r\nOK\r\n"


def test_cms_error_burst_then_success(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CMEE=1")
    emu["m1"].fault("cms", [2, 500])
    assert _submit(p) == b"\r\n+CMS ERROR: 500\r\n"
    assert _submit(p) == b"\r\n+CMS ERROR: 500\r\n"
    assert b"+CMGS: 1" in _submit(p)
    assert len(emu["m1"].sent_log.read_text().splitlines()) == 1


def test_sim_full_holds_inbound_in_the_network_until_room(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CNMI=2,1,0,2,0")
    emu["m1"].fault("sim_full", True)
    emu["m1"].deliver("+8613800000001", "waiting")
    assert p.quiet(0.2) == b""
    assert b"+CMGL" not in p.at("AT+CMGL=4")
    emu["m1"].fault("sim_full", False)
    assert p.read_until(b'+CMTI: "SM",1\r\n')


def test_registration_lost_refuses_submits_with_331(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CMEE=1")
    emu["m1"].fault("registration", False)
    assert p.at("AT+CREG?") == b"\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    assert _submit(p) == b"\r\n+CMS ERROR: 331\r\n"
    emu["m1"].fault("registration", True)
    assert b"+CMGS:" in _submit(p)


def test_noise_burst_generic(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    emu["m1"].fault("noise", 2)
    assert p.read_until(b"+CREG: 1\r\n\r\n+CREG: 1\r\n")


def test_garbage_puts_non_utf8_bytes_on_the_line(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    emu["m1"].fault("garbage")
    line = p.read_until(b")\r\n")
    with pytest.raises(UnicodeDecodeError):
        line.decode("utf-8")
    assert p.at("AT") == b"\r\nOK\r\n"


def test_cmti_inside_another_commands_answer(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CNMI=2,1,0,2,0")
    emu["m1"].deliver("+8613800000001", "x", placement="answer")
    assert p.quiet(0.1) == b""
    assert p.at("AT+CSQ") == b'\r\n+CSQ: 23,99\r\n+CMTI: "SM",1\r\n\r\nOK\r\n'


def test_cmti_right_after_the_prompt(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CNMI=2,1,0,2,0")
    emu["m1"].deliver("+8613800000001", "x", placement="prompt")
    [part] = pdu.encode_submit("+8613800138000", "hi")
    p.port.write(f"AT+CMGS={part.tpdu_length}\r".encode())
    assert p.read_until(b'+CMTI: "SM",1\r\n') == b'\r\n> \r\n+CMTI: "SM",1\r\n'
    assert b"+CMGS: 1" in p.at(part.hex.encode() + b"\x1a")


def test_late_prompt(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    emu["m1"].fault("prompt_delay_ms", 400)
    p.port.write(b"AT+CMGS=20\r")
    assert p.quiet(0.2) == b""
    assert p.read_until(b"> ", timeout=3) == b"\r\n> "


def test_busy_fault_answers_cme_14(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CMEE=1")
    emu["m1"].fault("busy", [1, 14])
    assert p.at("AT+CSCA?") == b"\r\n+CME ERROR: 14\r\n"
    assert b"+CSCA:" in p.at("AT+CSCA?")


def test_slow_modem_answers_every_command_late(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    emu["m1"].fault("command_delay_ms", 300)
    p.port.write(b"AT\r")
    assert p.quiet(0.15) == b""
    assert p.read_until(b"OK\r\n", timeout=3)


def test_send_delay_is_applied_to_submits(make_emulator, probe_for):
    emu = make_emulator(ModemOptions("m1", send_delay_ms=300))
    p = probe_for(emu)
    [part] = pdu.encode_submit("+8613800138000", "slow")
    p.at(f"AT+CMGS={part.tpdu_length}")
    p.port.write(part.hex.encode() + b"\x1a")
    assert p.quiet(0.15) == b""
    assert b"+CMGS: 1" in p.read_until(b"OK\r\n", timeout=3)
    rec = json.loads(emu["m1"].sent_log.read_text())
    assert rec["t_end"] - rec["t_start"] >= 0.3


def test_unknown_fault_is_refused(make_emulator):
    emu = make_emulator()
    with pytest.raises(ValueError, match="unknown fault"):
        emu["m1"].fault("explode")
    assert wait_for(lambda: emu["m1"].plugged)
