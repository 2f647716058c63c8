"""The driver against the emulator: every dialect, every loss path, every fault."""

from __future__ import annotations

import dataclasses
import json

import pytest

from smsd.errors import CmsError, ModemError, ModemGone, ModemTimeout
from smsd.modem import cms
from smsd.sim import dialects
from smsd.sim.modem import ModemOptions
from tests.conftest import wait_for


def sent(emu, name="m1"):
    log = emu[name].sent_log
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


def drain(driver, rec, want: int, timeout: float = 5.0) -> None:
    """Let the driver handle URCs until the recorder holds `want` PDUs."""

    def step():
        driver.handle_events()
        return len(rec.inbound) >= want

    wait_for(step, timeout)


@pytest.mark.parametrize("profile", sorted(dialects.PROFILES))
def test_every_dialect_initialises_sends_and_receives(make_emulator, driver_for, profile):
    emu = make_emulator(ModemOptions("m1", profile=profile))
    emu["m1"].deliver("+8613800000001", "waiting before start")
    d, rec = driver_for(emu)
    d.connect()
    assert d.ready and d.health.model == dialects.PROFILES[profile].model
    assert rec.texts() == ["waiting before start"]  # the start-up sweep found it
    mrs = d.send(d.encode("+8613800138000", "党员政治生日快乐" * 10, ref=9, srr=True, validity_minutes=1440))
    assert len(mrs) == 2 and mrs[0] != mrs[1]
    assert "".join(r["text"] for r in sent(emu)) == "党员政治生日快乐" * 10
    emu["m1"].deliver("+8613800000002", "TP 2")
    drain(d, rec, 2)
    assert rec.texts()[1] == "TP 2"
    wait_for(lambda: (d.handle_events(), len(rec.reports) == 2)[1])
    assert {r.mr for r in rec.reports} == set(mrs)
    assert sum(m.used for m in emu["m1"].memories.values()) == 0  # nothing left behind


def test_sim_pin_from_config_and_clear_error_without_it(make_emulator, driver_for):
    emu = make_emulator(pin="1234")
    d, _ = driver_for(emu)
    with pytest.raises(ModemError, match=r"needs a PIN: set pin in \[modems.m1\]"):
        d.connect()
    emu["m1"].fault("replug")  # not unplugged: no-op; the SIM is still locked
    d2, _ = driver_for(emu, pin="0000")
    with pytest.raises(ModemError, match="refused the PIN"):
        d2.connect()
    d3, _ = driver_for(emu, pin="1234")
    d3.connect()
    assert d3.ready


def test_busy_sim_is_retried_with_a_bound(make_emulator, driver_for):
    emu = make_emulator()
    emu["m1"].fault("busy", [3, 515])
    d, _ = driver_for(emu)
    d.connect()
    assert d.ready
    emu["m1"].fault("unplug")
    emu["m1"].fault("replug")
    emu["m1"].fault("busy", [1000, 14])
    d2, _ = driver_for(emu, busy_retries=3)
    with pytest.raises(ModemError, match="stayed busy"):
        d2.connect()


# ------------------------------------------------------------------ the loss paths of python-gsmmodem (§2.6)


def test_loss_1_store_fails_then_nothing_is_deleted(make_emulator, driver_for):
    """§2.6.1: the library deleted before calling back. We delete only what was stored."""
    emu = make_emulator()
    emu["m1"].deliver("+8613800000001", "first")
    emu["m1"].deliver("+8613800000001", "second")
    d, rec = driver_for(emu)
    rec.refuse = 1
    d.connect()
    assert rec.texts() == ["second"]
    assert emu["m1"].memory("SM").used == 1  # "first" is still on the SIM
    d.sweep()
    assert sorted(rec.texts()) == ["first", "second"]
    assert sum(rec.counts().values()) == 2 and emu["m1"].memory("SM").used == 0


def test_loss_2_corrupt_pdu_keeps_indexes_and_is_kept_raw(make_emulator, driver_for, probe_for):
    """§2.6.2: a bad PDU shifted indexes and 'delete all' lost new arrivals."""
    emu = make_emulator()
    emu["m1"].deliver("+8613800000001", "one")
    emu["m1"].deliver_pdu("0891683108100005F0040D9168")  # truncated
    emu["m1"].deliver("+8613800000001", "three")
    d, rec = driver_for(emu)
    d.connect()
    assert rec.texts() == ["one", "three"]
    [bad] = [i for i in rec.inbound if i.message is None]
    assert bad.pdu == "0891683108100005F0040D9168" and "too short" in bad.error
    assert emu["m1"].memory("SM").used == 0


def test_loss_3_cmti_inside_another_answer_is_not_swallowed(make_emulator, driver_for):
    emu = make_emulator()
    d, rec = driver_for(emu)
    d.connect()
    emu["m1"].deliver("+8613800000001", "hidden in an answer", placement="answer")
    d.refresh_health()  # AT+CSQ carries the +CMTI inside its answer
    assert d.health.signal == 23
    drain(d, rec, 1)
    assert rec.texts() == ["hidden in an answer"]


def test_loss_4_two_cmti_in_one_burst(make_emulator, driver_for):
    emu = make_emulator()
    d, rec = driver_for(emu)
    d.connect()
    emu["m1"].deliver("+8613800000001", "a", placement="answer")
    emu["m1"].deliver("+8613800000001", "b", placement="answer")
    d.ping()
    drain(d, rec, 2)
    assert sorted(rec.texts()) == ["a", "b"]


def test_loss_5_status_reports_split_across_reads_and_stored_reports(make_emulator, driver_for):
    emu = make_emulator(ModemOptions("m1", profile="simcom", urc_split_ms=150))  # +CDS direct
    d, rec = driver_for(emu)
    d.connect()
    assert d.cnmi == "2,1,0,1,0"
    mrs = d.send(d.encode("+8613800138000", "report please", ref=1, srr=True, validity_minutes=None))
    wait_for(lambda: (d.handle_events(), rec.reports)[1])
    [report] = rec.reports
    assert (report.mr, report.recipient, report.outcome) == (mrs[0], "+8613800138000", "delivered")
    emu2 = make_emulator(ModemOptions("m1"))  # +CDSI: stored in SR, read, then deleted
    d2, rec2 = driver_for(emu2)
    d2.connect()
    d2.send(d2.encode("+8613800138000", "x", ref=1, srr=True, validity_minutes=None))
    wait_for(lambda: (d2.handle_events(), rec2.reports)[1])
    assert emu2["m1"].memory("SR").used == 0


def test_loss_6_cmt_direct_delivery_is_acknowledged_after_storing(make_emulator, driver_for, monkeypatch):
    direct_only = dataclasses.replace(
        dialects.GENERIC, name="direct-only", cnmi_ranges=((2,), (0, 2), (0,), (0, 1), (0,))
    )
    monkeypatch.setitem(dialects.PROFILES, "direct-only", direct_only)
    emu = make_emulator(ModemOptions("m1", profile="direct-only", cnma_timeout_s=0.5))
    d, rec = driver_for(emu)
    rec.refuse = 1  # the first +CMT cannot be stored: no ack, so the network redelivers it
    d.connect()
    assert d.cnmi == "2,2,0,1,0" and d.ack_needed
    emu["m1"].deliver("+8613800000001", "direct")
    wait_for(lambda: (d.handle_events(), rec.texts())[1], timeout=8)
    assert rec.texts() == ["direct"]
    assert emu["m1"].awaiting_ack == [] and emu["m1"].network == []


def test_loss_7_a_callback_is_mandatory():
    from smsd.modem.driver import ModemDriver

    with pytest.raises(TypeError):
        ModemDriver("m1", "/dev/null")  # type: ignore[call-arg]


def test_loss_8_cmti_after_prompt_does_not_corrupt_the_pdu(make_emulator, driver_for):
    emu = make_emulator()
    d, rec = driver_for(emu)
    d.connect()
    for i in range(30):
        emu["m1"].deliver("+8613800000001", f"in {i}", placement="prompt")
        d.send(d.encode("+8613800138000", f"out {i}", ref=i, srr=False, validity_minutes=None))
        d.handle_events()
    assert [r["text"] for r in sent(emu)] == [f"out {i}" for i in range(30)]
    assert sorted(rec.texts()) == sorted(f"in {i}" for i in range(30))
    assert emu["m1"].memory("ME").used == 0


def test_reading_the_same_pdu_twice_is_visible_to_the_store(make_emulator, driver_for):
    """After a crash between store and delete the PDU is read again: same bytes, so the
    store can recognise it (its dedup key is the PDU)."""
    emu = make_emulator()
    emu["m1"].deliver("+8613800000001", "twice")
    d, rec = driver_for(emu)
    d.connect()
    first = rec.inbound[0].pdu
    emu["m1"].deliver_pdu(first)
    d.sweep()
    assert [i.pdu for i in rec.inbound] == [first, first]


# ------------------------------------------------------------------ faults


def test_unplug_and_replug_recover_by_themselves(make_emulator, driver_for):
    emu = make_emulator()
    d, rec = driver_for(emu, max_backoff=0.2)
    d.connect()
    emu["m1"].fault("unplug")
    with pytest.raises(ModemGone):
        d.send(d.encode("+8613800138000", "lost?", ref=1, srr=False, validity_minutes=None))
    assert not d.ensure_connected()
    emu["m1"].deliver("+8613800000001", "arrived while unplugged")
    emu["m1"].fault("replug")
    wait_for(d.ensure_connected, timeout=10)
    assert rec.texts() == ["arrived while unplugged"]
    d.send(d.encode("+8613800138000", "after replug", ref=2, srr=False, validity_minutes=None))
    assert [r["text"] for r in sent(emu)] == ["after replug"]


def test_hang_times_out_then_late_answers_are_discarded(make_emulator, driver_for):
    emu = make_emulator()
    d, _ = driver_for(emu, command_timeout=0.5)
    d.connect()
    emu["m1"].fault("hang", 1.5)
    with pytest.raises(ModemTimeout):
        d._cmd("AT+CSQ")
    wait_for(lambda: d._optional("AT+CGMI") == ["SMSD"], timeout=10)
    assert d._cmd("AT+COPS?") == ['+COPS: 0,0,"CHINA MOBILE"']  # its own answer, not a late one


def test_late_prompt_is_cancelled_and_the_retry_sends_once(make_emulator, driver_for):
    emu = make_emulator(ModemOptions("m1", prompt_delay_ms=1500))
    d, _ = driver_for(emu)
    d.connect()
    part = d.encode("+8613800138000", "exactly once", ref=3, srr=False, validity_minutes=None)[0]
    with pytest.raises(ModemTimeout):
        d.channel.submit(part.tpdu_length, part.hex, prompt_timeout=0.5)
    emu["m1"].fault("prompt_delay_ms", 0)
    wait_for(lambda: d._optional("AT") == [], timeout=10)
    d.send_part(part)
    assert [r["text"] for r in sent(emu)] == ["exactly once"]


def test_cms_error_bursts_say_which_parts_were_accepted(make_emulator, driver_for):
    emu = make_emulator()
    d, _ = driver_for(emu)
    d.connect()
    parts = d.encode("+8613800138000", "第一部分" * 30, ref=4, srr=False, validity_minutes=None)
    assert len(parts) == 2
    d.send_part(parts[0])
    emu["m1"].fault("cms", [2, 500])
    with pytest.raises(CmsError) as err:
        d.send(parts[1:])
    assert err.value.code == 500 and err.value.accepted_parts == 0
    assert not cms.classify(500).permanent
    with pytest.raises(CmsError):
        d.send_part(parts[1])
    d.send_part(parts[1])  # the burst is over: only the missing part is resent
    assert [(r["part"], r["ref"]) for r in sent(emu)] == [(1, 4), (2, 4)]
    emu["m1"].fault("cms", [1, 21])
    with pytest.raises(CmsError) as err:
        d.send_part(parts[0])
    assert cms.classify(err.value.code).permanent


def test_noise_and_non_utf8_bytes_do_not_disturb_answers(make_emulator, driver_for):
    emu = make_emulator(ModemOptions("m1", profile="huawei"))
    d, rec = driver_for(emu)
    d.connect()
    for _ in range(20):
        emu["m1"].fault("noise", 5)
        emu["m1"].fault("garbage")
        assert d._cmd("AT+CGMM") == ["E1752"]
    emu["m1"].deliver("+8613800000001", "still heard")
    drain(d, rec, 1)
    assert rec.texts() == ["still heard"]
    assert d.channel.alive


def test_modem_restart_is_noticed_and_reinitialised(make_emulator, driver_for):
    emu = make_emulator(ModemOptions("m1", profile="simcom"))
    d, rec = driver_for(emu)
    d.connect()
    emu["m1"].fault("unplug")
    # Wait until the driver noticed the unplug: on a busy machine its reader may not have seen the
    # EIO yet, and ensure_connected() would then report the old, dead channel as ready.
    wait_for(lambda: not d.ready, timeout=10)
    emu["m1"].fault("replug")
    wait_for(lambda: d.ensure_connected() and d.ready, timeout=10)
    emu["m1"].deliver("+8613800000001", "after restart")
    drain(d, rec, 1)
    assert rec.texts() == ["after restart"]


def test_missing_device_is_a_clear_error(tmp_path, driver_for, make_emulator):
    from smsd.modem.driver import ModemDriver

    d = ModemDriver("m9", str(tmp_path / "nope"), on_inbound=print, on_report=print)
    with pytest.raises(ModemGone, match=r"cannot open .*nope: No such file or directory"):
        d.connect()
    assert d.health.state == "down" and "No such file" in d.health.last_error
