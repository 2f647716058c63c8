"""One contract, every transport (as huey runs one storage suite over each storage).

Each case drives a transport through its interface only: submit and references, refusals of
each kind, disconnect and reconnect, inbound exactly once across a failure between commit and
acknowledgement, and delivery reports that name the reference the submit returned. The memory
transport runs in-process; the GSM transport runs over a pty against the emulator; the SMPP
transport binds over TCP to the `smsd smsc` emulator; the CMPP transport (3.0 and 2.0) connects
over TCP to the `smsd ismg` emulator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from smsd.cmpp import codec as cmpp_codec
from smsd.ismg.server import Account as IsmgAccount
from smsd.ismg.server import Ismg
from smsd.sim.modem import ModemOptions
from smsd.smsc.server import Account, Smsc
from smsd.transport.base import DeliveryReport, InDoubt, LateAccept, NotSent, Outgoing, Received, Refused, Transport
from smsd.transport.cmpp import CmppTransport
from smsd.transport.gsm import GsmTransport
from smsd.transport.memory import MemoryTransport
from smsd.transport.registry import KINDS
from smsd.transport.smpp import SmppTransport
from tests.conftest import wait_for

TO = "+8613800138000"


@dataclass
class Recorder:
    """A sink that commits nothing but remembers; fail_next makes the next commit fail."""

    received: list[Received] = field(default_factory=list)
    reports: list[DeliveryReport] = field(default_factory=list)
    late: list[LateAccept] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    fail_next: int = 0
    crash_after_next: int = 0

    def received_(self, item: Received) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise OSError("disk full (simulated)")
        self.received.append(item)
        if self.crash_after_next:  # committed, then the process dies before the acknowledgement
            self.crash_after_next -= 1
            raise Crash()


class Crash(BaseException):
    """Stands for kill -9: nothing after it runs (not an Exception, so no handler catches it)."""


class Sink:
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # each call below is its own commit

    def received(self, item: Received) -> None:
        self.rec.received_(item)

    def report(self, item: DeliveryReport) -> None:
        self.rec.reports.append(item)

    def late_accept(self, item: LateAccept) -> None:
        self.rec.late.append(item)

    def removed(self, key: str) -> None:
        self.rec.removed.append(key)


class Harness:
    """One kind's side of the contract: its transport, and how a test provokes its far side
    (a refusal, a dropped link, an inbound SMS). Each kind subclasses it; SIDES lists them."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport
        self.rec = Recorder()
        transport.attach(Sink(self.rec))

    def refuse_next(self, kind: str) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    def restore(self) -> None:
        raise NotImplementedError

    def deliver(self, sender: str, text: str) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.t.close()

    def until(self, predicate, timeout: float = 10.0) -> None:
        wait_for(lambda: (self.t.ensure_ready() and self.t.receive(), predicate())[1], timeout=timeout)


class MemorySide(Harness):
    def __init__(self, **_: object) -> None:
        self.memory = MemoryTransport("m1")
        super().__init__(self.memory)

    def refuse_next(self, kind: str) -> None:
        self.memory.script(f"refuse_{kind}")

    def drop(self) -> None:
        self.memory.disconnect()

    def restore(self) -> None:
        self.memory.reconnect()

    def deliver(self, sender: str, text: str) -> None:
        self.memory.deliver(sender, text)


class GsmSide(Harness):
    """A GSM modem over a pty, against the emulator."""

    def __init__(self, make_emulator, **_: object) -> None:
        self.emu = make_emulator(ModemOptions("m1"))
        super().__init__(GsmTransport("m1", str(self.emu["m1"].link), command_timeout=2.0, send_timeout=5.0))

    def refuse_next(self, kind: str) -> None:
        self.emu["m1"].fault("cms", [1, {"permanent": 21, "transient": 500, "transport": 10}[kind]])

    def drop(self) -> None:
        self.emu["m1"].fault("unplug")

    def restore(self) -> None:
        self.emu["m1"].fault("replug")

    def deliver(self, sender: str, text: str) -> None:
        self.emu["m1"].deliver(sender, text)


class SmppSide(Harness):
    """An SMPP link over TCP to the `smsd smsc` emulator (one transceiver, or a bound pair)."""

    bind = "transceiver"

    def __init__(self, **_: object) -> None:
        self.smsc = Smsc(port=0, accounts=[Account("county_a", "pw-a", "1069000101")], receipt_delay_ms=20)
        self.smsc.start()
        super().__init__(smpp_transport(self.smsc, bind=self.bind))

    def refuse_next(self, kind: str) -> None:  # bad number / try later / over quota (Jasmin's answer)
        self.smsc.fault("status", [1, {"permanent": 0x0B, "transient": 0x45, "transport": 0x08}[kind]])

    def drop(self) -> None:
        self.smsc.fault("down", 1)

    def restore(self) -> None:
        self.smsc.fault("down", 0)

    def deliver(self, sender: str, text: str) -> None:
        self.smsc.deliver(sender, text)

    def stop(self) -> None:
        super().stop()
        self.smsc.stop()


class SmppPairSide(SmppSide):
    bind = "transmitter+receiver"


class CmppSide(Harness):
    """A CMPP link over TCP to the `smsd ismg` emulator (3.0, or 2.0 below)."""

    version = cmpp_codec.V30

    def __init__(self, **_: object) -> None:
        self.ismg = Ismg(
            port=0, accounts=[IsmgAccount("901234", "pw-a", "10690001", "MZB0010101")], receipt_delay_ms=20
        )
        self.ismg.start()
        super().__init__(cmpp_transport(self.ismg, version=self.version))

    def refuse_next(self, kind: str) -> None:  # bad number / a vendor's "try later" / wrong Service_Id
        self.ismg.fault("status", [1, {"permanent": 13, "transient": 100, "transport": 7}[kind]])

    def drop(self) -> None:
        self.ismg.fault("down", 1)

    def restore(self) -> None:
        self.ismg.fault("down", 0)

    def deliver(self, sender: str, text: str) -> None:
        self.ismg.deliver(sender, text, to="1069000101")

    def stop(self) -> None:
        super().stop()
        self.ismg.stop()


class Cmpp20Side(CmppSide):
    version = cmpp_codec.V20


# Adding a transport adds its side here: every case below then runs against it.
SIDES: dict[str, type[Harness]] = {
    "memory": MemorySide,
    "gsm": GsmSide,
    "smpp": SmppSide,
    "smpp-pair": SmppPairSide,
    "cmpp": CmppSide,
    "cmpp-2.0": Cmpp20Side,
}


def test_every_registered_kind_has_a_side_in_the_contract():
    assert set(KINDS) <= {name.split("-")[0] for name in SIDES}


def smpp_transport(server: Smsc, **kw) -> SmppTransport:
    kw = {"response_timeout_s": 3.0, "connect_timeout_s": 2.0, **kw}
    return SmppTransport("s1", "127.0.0.1", server.port, system_id="county_a", password="pw-a",
                         source_addr="1069000101", **kw)  # fmt: skip


def cmpp_transport(server: Ismg, **kw) -> CmppTransport:
    kw = {"response_timeout_s": 3.0, "connect_timeout_s": 2.0, **kw}
    return CmppTransport(
        "c1",
        "127.0.0.1",
        server.port,
        sp_id="901234",
        shared_secret="pw-a",
        service_id="MZB0010101",
        src_id="1069000101",
        **kw,
    )


@pytest.fixture(params=list(SIDES))
def h(request, make_emulator) -> Iterator[Harness]:
    harness = SIDES[request.param](make_emulator=make_emulator)
    assert harness.t.ensure_ready()
    yield harness
    harness.stop()


def message(mid: int, text: str = "你好，测试") -> Outgoing:
    return Outgoing(mid, TO, text, concat_ref=mid % 256, status_report=True, validity_minutes=None)


def test_submit_returns_a_reference_per_part_and_reports_name_it(h):
    long = message(1, "党员政治生日快乐" * 10)  # two parts
    refs = [h.t.submit(long, 1), h.t.submit(long, 2)]
    assert all(isinstance(r, int | str) for r in refs) and refs[0] != refs[1]
    h.until(lambda: len(h.rec.reports) >= 2)
    assert {r.provider_ref for r in h.rec.reports} == set(refs)
    assert all(r.recipient.endswith("13800138000") and r.outcome == "delivered" for r in h.rec.reports)


@pytest.mark.parametrize("kind", ["permanent", "transient", "transport"])
def test_each_kind_of_refusal_is_typed(h, kind):
    h.refuse_next(kind)
    with pytest.raises(Refused) as err:
        h.t.submit(message(2), 1)
    assert err.value.kind == kind and err.value.reason
    assert h.t.submit(message(3), 1) is not None  # the next one goes


def test_a_dropped_transport_says_so_and_comes_back(h):
    h.drop()
    with pytest.raises((NotSent, InDoubt)):
        h.t.submit(message(4), 1)
    h.t.close()
    assert not h.t.ensure_ready()
    h.restore()
    wait_for(h.t.ensure_ready, timeout=15)
    assert h.t.submit(message(5), 1) is not None


def test_inbound_is_delivered_again_after_a_failed_commit_then_exactly_once(h):
    h.rec.fail_next = 1
    h.deliver("+8613900000001", "TP 2")
    h.until(lambda: len(h.rec.received) == 1)
    assert [r.text for r in h.rec.received] == ["TP 2"]
    key = h.rec.received[0].key
    assert h.rec.removed == [key]  # acknowledged only after the commit
    for _ in range(3):
        h.t.receive()
    assert len(h.rec.received) == 1  # never again once committed and acknowledged


def test_a_crash_between_commit_and_acknowledgement_gives_the_same_key_again(h):
    """kill -9 after the commit: the provider still has it and hands it over again, with the key
    the store recognises (so it is stored once: tests/test_smpp.py checks that with a real store)."""
    h.rec.crash_after_next = 1
    h.deliver("+8613900000002", "TP 3")
    with pytest.raises(Crash):
        wait_for(lambda: (h.t.ensure_ready() and h.t.receive(), False)[1], timeout=10)
    h.t.close()  # the process is gone: its connection or port with it
    h.until(lambda: len(h.rec.received) == 2, timeout=20)
    first, again = h.rec.received
    assert first.key == again.key and again.text == "TP 3"
    assert h.rec.removed == [first.key]  # acknowledged once, after the second commit
    for _ in range(3):
        h.t.receive()
    assert len(h.rec.received) == 2


def test_a_window_of_parts_gets_one_result_each_in_order(h):
    msgs = [message(20 + i, f"第{i}条通知") for i in range(5)]
    h.refuse_next("permanent")
    results = h.t.submit_many([(m, 1) for m in msgs])
    assert len(results) == 5
    assert isinstance(results[0], Refused) and results[0].kind == "permanent"
    assert all(r is not None and not isinstance(r, Exception) for r in results[1:])
    assert len(set(results[1:])) == 4


def test_health_says_ready_and_down(h):
    assert h.t.health().ready
    h.drop()
    with pytest.raises((NotSent, InDoubt)):
        h.t.submit(message(6), 1)
    h.t.close()
    health = h.t.health()
    assert not health.ready
    h.restore()
