"""A GSM modem as a transport: the AT driver, the PDU codec and the +CMS ERROR table behind it.

Everything about AT and PDUs stays here and below (``smsd/modem/``, ``smsd/pdu.py``): the
worker sees parts, references and typed outcomes. Received PDUs reach the sink through the
driver, which deletes a message from the SIM only after the sink returned (persist, then
delete: the acknowledgement of a GSM modem).
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smsd import pdu
from smsd.errors import CmsError, ModemError, ModemGone, ModemTimeout, PduError
from smsd.i18n import _
from smsd.modem import cms
from smsd.modem.driver import Inbound, ModemDriver
from smsd.notes import N_
from smsd.settings import ModemConfig, between, opt, seconds
from smsd.transport.base import (
    Concatenation,
    DeliveryReport,
    Health,
    InDoubt,
    Kind,
    LateAccept,
    NotSent,
    Outcome,
    Outgoing,
    Received,
    RefusalKind,
    Refused,
    Transport,
)

HEALTH_EVERY_S = 600.0
SWEEP_EVERY_S = 600.0


def received_from_pdu(pdu_hex: str, error: str | None = None) -> Received:
    """An SMS-DELIVER PDU as the store keeps it (undecodable: sender None, the error kept)."""
    try:
        d = pdu.decode(pdu_hex) if error is None else None
    except PduError as exc:
        d, error = None, str(exc)
    if not isinstance(d, pdu.Deliver):
        return Received(pdu_hex, None, "", "", None, None, error or "not an SMS-DELIVER")
    c = d.concat
    concat = Concatenation(c.ref, c.total, c.seq) if c else None
    return Received(pdu_hex, d.sender, d.text, d.raw_text, concat, d.scts)


class GsmTransport(Transport):
    kind = "gsm"

    def __init__(
        self,
        name: str,
        port: str,
        *,
        pin: str | None = None,
        smsc: str | None = None,
        baudrate: int = 115200,
        command_timeout: float = 5.0,
        send_timeout: float = 60.0,
        liveness_s: float = 55.0,
    ) -> None:
        super().__init__(name)
        self.liveness_s = liveness_s
        self.driver = ModemDriver(
            name,
            port,
            on_inbound=self._inbound,
            on_report=self._report,
            wake=self.wake.set,
            on_deleted=self._deleted,
            on_late_submit=self._late,
            pin=pin,
            smsc=smsc,
            baudrate=baudrate,
            command_timeout=command_timeout,
            send_timeout=send_timeout,
        )
        self.port = port
        self._encoded: tuple[int, str, list[pdu.SubmitPdu]] | None = None
        self._sweep_due = False  # the sink failed on something: it stayed on the SIM, read it again
        self._last_health = self._last_sweep = time.monotonic()

    @property
    def where(self) -> str:
        return self.port

    # ------------------------------------------------------------ the sink, through the driver

    def _inbound(self, item: Inbound) -> None:
        assert self.sink is not None
        if item.message is None:
            received = Received(item.pdu, None, "", "", None, None, item.error)
        else:
            d = item.message
            concat = Concatenation(d.concat.ref, d.concat.total, d.concat.seq) if d.concat else None
            received = Received(item.pdu, d.sender, d.text, d.raw_text, concat, d.scts)
        try:
            self.sink.received(received)
        except Exception:
            self._sweep_due = True  # not committed, so not deleted: the next receive() reads it again
            raise

    def _report(self, modem: str, report: pdu.StatusReport) -> None:
        assert self.sink is not None
        outcomes: dict[str, Outcome] = {"delivered": "delivered", "pending": "pending", "failed": "failed"}
        outcome = outcomes[report.outcome]
        self.sink.report(DeliveryReport(report.mr, report.recipient, report.status, outcome, report.discharge))

    def _deleted(self, modem: str, pdu_hex: str) -> None:
        assert self.sink is not None
        self.sink.removed(pdu_hex)

    def _late(self, modem: str, mr: int | None) -> None:
        assert self.sink is not None
        self.sink.late_accept(LateAccept(mr))

    # ------------------------------------------------------------ connection

    def ensure_ready(self) -> bool:
        if self.driver.ready and not self.driver.needs_init:
            return True
        if self.driver.ensure_connected():
            self._last_health = self._last_sweep = time.monotonic()
            return True
        return False

    def retry_in(self) -> float:
        return self.driver.retry_in()

    @property
    def restarted(self) -> bool:
        return self.driver.needs_init

    def close(self) -> None:
        self.driver.close()

    # ------------------------------------------------------------ sending

    def submit(self, message: Outgoing, seq: int) -> int | None:
        if self._encoded is None or self._encoded[:2] != (message.id, message.text):
            validity = message.validity_minutes
            parts = self.driver.encode(message.to, message.text, message.concat_ref, message.status_report, validity)
            self._encoded = (message.id, message.text, parts)
        parts = self._encoded[2]
        if not 1 <= seq <= len(parts):
            raise Refused(f"part {seq} of a message encoded as {len(parts)} parts", "permanent")
        try:
            return self.driver.send_part(parts[seq - 1])
        except CmsError as exc:
            info = cms.classify(exc.code)
            kind: RefusalKind = "transport" if info.modem else ("permanent" if info.permanent else "transient")
            raise Refused(f"+CMS ERROR: {exc.code} ({info.meaning})", kind, exc.code, network=exc.code == 331) from None
        except ModemTimeout as exc:
            if exc.maybe_sent:
                raise InDoubt(str(exc), "timeout", usable=self.driver.in_sync) from None
            raise NotSent(str(exc)) from None
        except ModemGone as exc:
            if exc.maybe_sent:
                raise InDoubt(str(exc), "gone", usable=False) from None
            raise NotSent(str(exc)) from None
        except ModemError as exc:
            raise NotSent(str(exc)) from None

    # ------------------------------------------------------------ receiving and upkeep

    def messages_waiting(self) -> bool:
        """A member's SMS announced (+CMTI, +CMT) and not yet read: the worker reads it before it claims."""
        events = self.driver.events
        with events.mutex:
            return any(line.startswith(("+CMTI", "+CMT:")) for line, _pdu in events.queue)

    def receive(self) -> int:
        try:
            handled = self.driver.handle_events()
            if self._sweep_due:
                self._sweep_due = False
                handled += self.driver.sweep()
            return handled
        except ModemError as exc:
            raise NotSent(str(exc)) from None

    def tick(self) -> None:
        now = time.monotonic()
        channel = self.driver.channel
        try:
            if now - self._last_sweep >= SWEEP_EVERY_S:
                self._last_sweep = now
                self.driver.sweep()
            if now - self._last_health >= HEALTH_EVERY_S:
                self._last_health = now
                self.driver.refresh_health()
            elif channel is not None and now - channel.last_rx >= self.liveness_s:
                self.driver.ping()
        except ModemError as exc:
            raise NotSent(str(exc)) from None

    def next_tick_in(self) -> float:
        channel = self.driver.channel
        if channel is None:
            return self.liveness_s
        return max(0.05, self.liveness_s - (time.monotonic() - channel.last_rx))

    def health(self) -> Health:
        h = self.driver.health
        last_error = h.last_error
        if not self.driver.ready and not last_error:  # never "down" without the reason
            channel = self.driver.channel
            last_error = (channel.gone_reason if channel else "") or f"{self.port} is not connected"
            h.last_error = last_error
        return Health(
            ready=self.driver.ready,
            registered=h.registered,
            signal=h.signal,
            operator=h.operator,
            model=h.model,
            imei=h.imei,
            imsi=h.imsi,
            storage_used=h.storage_used,
            storage_total=h.storage_total,
            last_error=last_error,
            counters=dict(h.counters),
        )

    def note_error(self, text: str) -> None:
        """The worker's reason for a pause or a loss, shown until the modem is ready again."""
        self.driver.health.last_error = text


EMULATOR_PORT = "emulator"  # port = "emulator": a modem of the built-in emulator, started by the daemon


@dataclass(frozen=True)
class GsmSettings:
    """The keys of a [modems.NAME] table with kind = "gsm"."""

    port: str = opt("", 'Serial device (/dev/serial/by-id/..., /dev/ttyUSB0, a pty) or "emulator".')
    pin: str = opt("", "SIM PIN, if the SIM asks for one (never retried: 3 wrong tries lock it).")
    smsc: str = opt("", "SMS centre number; empty uses the one stored on the SIM.")
    baudrate: int = opt(115200, "Serial speed.", between(300, 4_000_000))
    liveness_s: float = opt(
        55.0,
        "An idle modem is asked for its storage use this often (also proves it is "
        "alive: a dead one is noticed within this time).",
        seconds,
    )


class GsmKind(Kind):
    name = "gsm"
    settings = GsmSettings
    sim = True

    @staticmethod
    def _s(modem: ModemConfig) -> GsmSettings:
        assert isinstance(modem.settings, GsmSettings)
        return modem.settings

    def check(self, modem: ModemConfig) -> list[tuple[str, dict[str, Any]]]:
        if not self._s(modem).port:
            return [(N_('{path}: [modems.{name}] needs port = "/dev/ttyUSB0" (or "emulator")'), {})]
        return []

    def device(self, modem: ModemConfig) -> str | None:
        port = self._s(modem).port
        return None if port == EMULATOR_PORT else port

    def emulated(self, modem: ModemConfig) -> bool:
        return self._s(modem).port == EMULATOR_PORT

    def where(self, modem: ModemConfig) -> str:
        return self._s(modem).port

    def build(self, modem: ModemConfig, device: str | None = None) -> Transport:
        s = self._s(modem)
        return GsmTransport(
            modem.name,
            device or s.port,
            pin=s.pin or None,
            smsc=s.smsc or None,
            baudrate=s.baudrate,
            command_timeout=modem.command_timeout_s,
            send_timeout=modem.send_timeout_s,
            liveness_s=s.liveness_s,
        )

    def missing(self, modem: ModemConfig) -> str | None:
        port = self.device(modem)
        if port and not os.path.exists(port):
            return _("port {port} of [modems.{name}] does not exist (plugged in? see /dev/serial/by-id/)").format(
                port=port, name=modem.name
            )
        return None

    def warnings(self, modem: ModemConfig) -> list[str]:
        out = []
        port = self.device(modem)
        if port and os.path.exists(port) and not os.access(port, os.R_OK | os.W_OK):
            out.append(
                _("[modems.{name}] {port} cannot be opened by this user (add it to the dialout group)").format(
                    name=modem.name, port=port
                )
            )
        return out

    def doctor(self, modem: ModemConfig) -> list[tuple[str, bool, str]]:
        port = self.device(modem)
        if port is None:
            return []
        what = _("modem {name}").format(name=modem.name)
        p = Path(port)
        if not p.exists():
            return [(what, False, _("{port} does not exist (plugged in? see /dev/serial/by-id/)").format(port=port))]
        if not os.access(p, os.R_OK | os.W_OK):
            return [
                (what, False, _("no permission to open {port} (add the user to the dialout group)").format(port=port))
            ]
        holder = _holder(p)
        if holder:
            return [
                (
                    what,
                    False,
                    _("{port} is held by {holder}; stop it or install systemd/99-smsd-modems.rules").format(
                        port=port, holder=holder
                    ),
                )
            ]
        is_char = stat.S_ISCHR(p.stat().st_mode)
        present = (
            _("{port} present").format(port=port) if is_char else _("{port} present (not a tty?)").format(port=port)
        )
        return [(what, True, present), _sim_state(modem.name, port, self._s(modem).baudrate)]


def _sim_state(name: str, port: str, baudrate: int) -> tuple[str, bool, str]:
    """Ask the modem itself (only when nothing else holds the port) whether its SIM is ready."""
    from smsd.modem.driver import sim_state

    label = _("SIM in {name}").format(name=name)
    try:
        state = sim_state(port, baudrate)
    except ModemError as exc:
        return label, False, _("the modem does not answer: {error}").format(error=exc)
    if state == "READY":
        return label, True, _("ready (no PIN needed, or PIN entered)")
    if state == "SIM PIN":
        hint = _("set pin in [modems.{name}] of config.toml").format(name=name)
    else:
        hint = _("unlock it in a phone")
    return label, False, f"{state}: {hint}"


def _holder(device: Path) -> str:
    """The process that holds a serial device open ("" when none)."""
    target = str(device.resolve())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target and int(pid) != os.getpid():
                    return Path(f"/proc/{pid}/comm").read_text().strip() + f" (pid {pid})"
        except OSError:
            continue
    return ""


KIND = GsmKind()
