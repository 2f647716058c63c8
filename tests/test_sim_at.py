"""The emulator speaks AT like a modem: framing, commands, storage, prompts."""

from __future__ import annotations

import json
import re

import pytest

from smsd import pdu
from smsd.sim.modem import ModemOptions


def test_echo_is_on_after_power_up_and_ate0_turns_it_off(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu, echo_off=False)
    assert p.at("AT") == b"AT\r\r\nOK\r\n"
    assert p.at("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert p.at("AT") == b"\r\nOK\r\n"


@pytest.mark.parametrize(
    "command, expected",
    [
        ("AT+CGMI", b"\r\nSMSD\r\n\r\nOK\r\n"),
        ("AT+CGMM", b"\r\nSMSD-EMU-1\r\n\r\nOK\r\n"),
        ("AT+CGSN", b"\r\n356938035643809\r\n\r\nOK\r\n"),
        ("AT+CIMI", b"\r\n460001234567890\r\n\r\nOK\r\n"),
        ("AT+CSQ", b"\r\n+CSQ: 23,99\r\n\r\nOK\r\n"),
        ("AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n"),
        ("AT+CREG?", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"),
        ("AT+COPS?", b'\r\n+COPS: 0,0,"CHINA MOBILE"\r\n\r\nOK\r\n'),
        ("AT+CSCA?", b'\r\n+CSCA: "+8613800100500",145\r\n\r\nOK\r\n'),
        ("AT+CMGF=0", b"\r\nOK\r\n"),
        ("AT+CMGF=1", b"\r\nERROR\r\n"),
        ("AT+CSMS=1", b"\r\n+CSMS: 1,1,1\r\n\r\nOK\r\n"),
        ("AT+CPMS=?", b'\r\n+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")\r\n\r\nOK\r\n'),
        ('AT+CPMS="ME","ME","ME"', b"\r\n+CPMS: 0,50,0,50,0,50\r\n\r\nOK\r\n"),
        ("AT+CNMI=2,1,0,2,0", b"\r\nOK\r\n"),
        ("AT+CFUN?", b"\r\n+CFUN: 1\r\n\r\nOK\r\n"),
        ("ATZ", b"\r\nOK\r\n"),
        ("AT&F", b"\r\nOK\r\n"),
        ("AT+MODE=2", b"\r\nERROR\r\n"),
        ("AT+NOSUCH", b"\r\nERROR\r\n"),
        ("hello", b"\r\nERROR\r\n"),
        ("AT+CGMI;+CGMM", b"\r\nSMSD\r\nSMSD-EMU-1\r\n\r\nOK\r\n"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_command_answers(make_emulator, probe_for, command, expected):
    p = probe_for(make_emulator())
    assert p.at(command) == expected


def test_ati_and_clac(make_emulator, probe_for):
    p = probe_for(make_emulator())
    assert b"SMSD-EMU-1" in p.at("ATI")
    clac = p.at("AT+CLAC")
    assert b"AT+CMGS" in clac and clac.endswith(b"OK\r\n")


def test_cmee_levels_change_error_format(make_emulator, probe_for):
    p = probe_for(make_emulator())
    assert p.at("AT+CMGR=999") == b"\r\nERROR\r\n"
    p.at("AT+CMEE=1")
    assert p.at("AT+CMGR=999") == b"\r\n+CMS ERROR: 321\r\n"
    p.at("AT+CMEE=2")
    assert p.at("AT+CMGR=999") == b"\r\n+CMS ERROR: invalid memory index\r\n"


def test_pin_locks_sms_commands_until_entered(make_emulator, probe_for):
    p = probe_for(make_emulator(pin="1234"))
    p.at("AT+CMEE=1")
    assert b"+CPIN: SIM PIN" in p.at("AT+CPIN?")
    assert p.at("AT+CPMS?") == b"\r\n+CME ERROR: 11\r\n"
    assert p.at('AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    assert p.at('AT+CPIN="1234"') == b"\r\nOK\r\n"
    assert b"+CPMS:" in p.at("AT+CPMS?")


def test_cmgs_prompt_submit_and_sent_log(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    [part] = pdu.encode_submit("+8613800138000", "你好，测试", srr=True)
    assert p.at(f"AT+CMGS={part.tpdu_length}").endswith(b"\r\n> ")
    answer = p.at(part.hex.encode() + b"\x1a")
    assert re.fullmatch(rb"\r\n\+CMGS: 1\r\n\r\nOK\r\n", answer)
    [record] = [json.loads(x) for x in emu["m1"].sent_log.read_text().splitlines()]
    assert record["to"] == "+8613800138000" and record["text"] == "你好，测试"
    assert record["dcs"] == 8 and record["srr"] is True and record["mr"] == 1


def test_escape_cancels_the_prompt_and_nothing_is_sent(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    assert p.at("AT+CMGS=20").endswith(b"> ")
    assert p.at(b"0011\x1b").endswith(b"OK\r\n")
    assert not emu["m1"].sent_log.exists()
    assert p.at("AT") == b"\r\nOK\r\n"


def test_wrong_length_or_bad_pdu_is_cms_304(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CMEE=1")
    [part] = pdu.encode_submit("+8613800138000", "hi")
    p.at(f"AT+CMGS={part.tpdu_length + 1}")
    assert p.at(part.hex.encode() + b"\x1a") == b"\r\n+CMS ERROR: 304\r\n"
    p.at("AT+CMGS=10")
    assert p.at(b"ZZZZ\x1a") == b"\r\n+CMS ERROR: 304\r\n"
    assert not emu["m1"].sent_log.exists()


def test_inbound_is_stored_announced_read_and_deleted(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CNMI=2,1,0,2,0")
    assert emu["m1"].deliver("+8613800000001", "ＴＰ　２") == 1
    assert p.read_until(b'+CMTI: "SM",1\r\n') == b'\r\n+CMTI: "SM",1\r\n'
    listing = p.at("AT+CMGL=4")
    m = re.search(rb"\+CMGL: 1,0,,(\d+)\r\n([0-9A-F]+)\r\n", listing)
    assert m, listing
    msg = pdu.decode(m.group(2).decode())
    assert msg.sender == "+8613800000001" and msg.text == "ＴＰ　２"
    assert b"+CMGR: 1,," in p.at("AT+CMGR=1")  # now read
    assert p.at("AT+CMGD=1,0") == b"\r\nOK\r\n"
    assert p.at("AT+CMGR=1") == b"\r\nOK\r\n"
    # the timeline benches read: arrived, then taken off the SIM by the client's +CMGD (once)
    assert [e for _, e, _ in emu["m1"].timeline] == ["arrived", "taken"]
    assert p.at("AT+CMGD=1,0") == b"\r\nOK\r\n"  # nothing left there: not taken twice
    assert [e for _, e, _ in emu["m1"].timeline] == ["arrived", "taken"]


def test_long_inbound_uses_concatenation_with_16_bit_reference(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CNMI=2,1,0,2,0")
    text = "党员政治生日快乐" * 12
    assert emu["m1"].deliver("+8613800000001", text, ref=0x1234, ref_bits=16) == 2
    p.read_until(b'+CMTI: "SM",2\r\n')
    parts = [pdu.decode(x.decode()) for x in re.findall(rb"\r\n([0-9A-F]{20,})\r\n", p.at("AT+CMGL=4"))]
    assert [(c.concat.ref, c.concat.bits, c.concat.seq) for c in parts] == [(0x1234, 16, 1), (0x1234, 16, 2)]
    assert pdu.clean_text("".join(x.raw_text for x in parts)) == text


def test_alphanumeric_sender(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    emu["m1"].deliver("CMCC", "您的话费余额为12.34元")
    m = re.search(rb"\r\n([0-9A-F]{20,})\r\n", p.at("AT+CMGR=1"))
    assert pdu.decode(m.group(1).decode()).sender == "CMCC"


def test_cmt_direct_delivery_needs_cnma_when_csms_is_1(make_emulator, probe_for):
    emu = make_emulator(ModemOptions("m1", cnma_timeout_s=0.3))
    p = probe_for(emu)
    p.at("AT+CSMS=1")
    p.at("AT+CMEE=1")
    p.at("AT+CNMI=2,2,0,1,0")
    emu["m1"].deliver("+8613800000001", "hello")
    first = p.read_until(re.compile(rb"\+CMT: ,(\d+)\r\n([0-9A-F]+)\r\n"))
    assert pdu.decode(re.search(rb"\r\n([0-9A-F]+)\r\n$", first).group(1).decode()).text == "hello"
    # No +CNMA: the network redelivers the same message.
    again = p.read_until(re.compile(rb"\+CMT: ,(\d+)\r\n([0-9A-F]+)\r\n"), timeout=5)
    assert again.strip().split(b"\r\n")[-1] == first.strip().split(b"\r\n")[-1]
    assert p.at("AT+CNMA") == b"\r\nOK\r\n"
    assert p.at("AT+CNMA") == b"\r\n+CMS ERROR: 340\r\n"


def test_status_report_stored_in_sr_and_announced_with_cdsi(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CNMI=2,1,0,2,0")
    [part] = pdu.encode_submit("+8613800138000", "report me", srr=True)
    p.at(f"AT+CMGS={part.tpdu_length}")
    p.at(part.hex.encode() + b"\x1a")
    p.read_until(b'+CDSI: "SR",1\r\n')
    p.at('AT+CPMS="SR"')
    m = re.search(rb"\r\n([0-9A-F]{20,})\r\n", p.at("AT+CMGR=1"))
    report = pdu.decode(m.group(1).decode())
    assert isinstance(report, pdu.StatusReport)
    assert (report.mr, report.recipient, report.outcome) == (1, "+8613800138000", "delivered")


def test_status_report_direct_with_cds(make_emulator, probe_for):
    emu = make_emulator(ModemOptions("m1", status_report_status=0x41))
    p = probe_for(emu)
    p.at("AT+CNMI=2,1,0,1,0")
    [part] = pdu.encode_submit("+8613800138000", "x", srr=True)
    p.at(f"AT+CMGS={part.tpdu_length}")
    p.at(part.hex.encode() + b"\x1a")
    line = p.read_until(re.compile(rb"\+CDS: \d+\r\n[0-9A-F]+\r\n"))
    report = pdu.decode(line.strip().split(b"\r\n")[-1].decode())
    assert report.outcome == "failed"


def test_creg_urc_and_cusd_balance(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    p.at("AT+CREG=1")
    emu["m1"].fault("registration", False)
    assert p.read_until(b"+CREG: 0\r\n")
    emu["m1"].fault("registration", True)
    assert p.read_until(b"+CREG: 1\r\n")
    assert p.at('AT+CUSD=1,"*100#",15') == b"\r\nOK\r\n"
    assert b"Balance" in p.read_until(re.compile(rb'\+CUSD: 0,"[^"]*",15\r\n'))


def test_cmgd_delete_flags(make_emulator, probe_for):
    emu = make_emulator()
    p = probe_for(emu)
    for i in range(3):
        emu["m1"].deliver("+8613800000001", f"m{i}")
    p.at("AT+CMGR=1")  # 1 becomes read
    p.at("AT+CMGD=1,1")  # delete read ones
    assert len(re.findall(rb"\+CMGL:", p.at("AT+CMGL=4"))) == 2
    p.at("AT+CMGD=1,4")
    assert re.findall(rb"\+CMGL:", p.at("AT+CMGL=4")) == []
