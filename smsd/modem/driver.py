"""The modem driver: initialise any dialect, send PDUs, receive without loss, report health.

It is the only module (with the channel beneath it) that speaks AT. It owns no database:
inbound PDUs and status reports go to callbacks, and a stored message is deleted from
the modem only after its callback returned (persist, then delete; by index, never "all").
Methods are called from one thread (the modem's worker); URCs arrive on the channel's
reader thread and are queued for ``handle_events``.
"""

from __future__ import annotations

import logging
import queue
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from smsd import pdu
from smsd.errors import CmeError, CmsError, CommandFailed, ModemError, ModemGone, ModemTimeout, PduError
from smsd.modem.channel import ATChannel
from smsd.pdu import Deliver

log = logging.getLogger(__name__)

BUSY_CME = {14, 515}
BUSY_CMS = {314}
STORAGE_PREFERENCE = ("ME", "SM", "MT")
# Store-and-announce first (the SIM keeps the message until we delete it), then direct.
CNMI_CANDIDATES = ("2,1,0,2,0", "2,1,0,1,0", "1,1,0,2,0", "1,1,0,1,0", "2,1,0,0,0", "1,1,0,0,0", "2,2,0,1,0")


@dataclass
class Inbound:
    """One PDU read from a modem; message is None when it could not be decoded."""

    modem: str
    pdu: str
    message: Deliver | None
    error: str | None = None


@dataclass
class Health:
    state: str = "down"  # down | init | ready
    manufacturer: str = ""
    model: str = ""
    imei: str = ""
    imsi: str = ""
    operator: str = ""
    signal: int | None = None  # +CSQ rssi 0..31, None when unknown (99)
    registered: bool | None = None
    storage_used: int | None = None
    storage_total: int | None = None
    last_error: str = ""
    counters: dict[str, int] = field(default_factory=lambda: {"sent": 0, "received": 0, "reports": 0})


class ModemDriver:
    def __init__(
        self,
        name: str,
        port: str,
        *,
        on_inbound: Callable[[Inbound], None],
        on_report: Callable[[str, pdu.StatusReport], None],
        wake: Callable[[], None] | None = None,
        on_deleted: Callable[[str, str], None] | None = None,
        on_late_submit: Callable[[str, int | None], None] | None = None,
        pin: str | None = None,
        smsc: str | None = None,
        baudrate: int = 115200,
        command_timeout: float = 5.0,
        send_timeout: float = 60.0,
        busy_retries: int = 8,
        max_backoff: float = 60.0,
    ) -> None:
        self.name = name
        self.port = port
        self.on_inbound = on_inbound
        self.on_report = on_report
        self.wake = wake or (lambda: None)
        self.on_deleted = on_deleted or (lambda modem, pdu_hex: None)
        self.on_late_submit = on_late_submit or (lambda modem, mr: None)
        self.pin = pin
        self.smsc = smsc
        self.baudrate = baudrate
        self.command_timeout = command_timeout
        self.send_timeout = send_timeout
        self.busy_retries = busy_retries
        self.health = Health()
        self.channel: ATChannel | None = None
        self.events: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self.storage = "SM"
        self.cnmi = ""
        self.ack_needed = False
        self.needs_init = False
        self.sweep_memories: list[str] = []
        self.max_backoff = max_backoff
        self._backoff = 1.0
        self._next_attempt = 0.0

    # ------------------------------------------------------------ connection

    @property
    def ready(self) -> bool:
        return self.channel is not None and self.channel.alive and self.health.state == "ready"

    def connect(self) -> None:
        """Open the port, initialise the modem, and sweep what it already stores."""
        self.close()
        self.health.state = "init"
        self.channel = ATChannel(self.port, baudrate=self.baudrate, on_urc=self._on_urc)
        try:
            self.channel.open()
            self._initialise()
            self.health.state = "ready"
            self.health.last_error = ""  # ready again: yesterday's error is history (the log keeps it)
            self.needs_init = False
            self.sweep()
        except ModemError as exc:
            self.health.last_error = str(exc)
            self.close()
            raise

    def ensure_connected(self) -> bool:
        """(Re)connect when due, with backoff from 1 s to max_backoff; True when ready."""
        if self.ready and not self.needs_init:
            return True
        now = time.monotonic()
        if now < self._next_attempt:
            return False
        try:
            self.connect()
        except ModemError as exc:
            self._next_attempt = now + self._backoff
            log.warning("modem.down modem=%s retry_in=%.0fs reason=%s", self.name, self._backoff, exc)
            self._backoff = min(self._backoff * 2, self.max_backoff)
            return False
        self._backoff = 1.0
        return True

    def retry_in(self) -> float:
        """Seconds until the next connection attempt is due (0 when connected)."""
        return 0.0 if self.ready else max(0.0, self._next_attempt - time.monotonic())

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
        self.channel = None
        self.health.state = "down"

    def _cmd(self, command: str, timeout: float | None = None) -> list[str]:
        if self.channel is None or not self.channel.alive:
            self.health.state = "down"
            raise ModemGone(f"modem {self.name} ({self.port}) is not connected")
        try:
            return self.channel.command(command, timeout or self.command_timeout)
        except ModemGone:
            self.health.state = "down"
            raise

    def _retrying(self, command: str, timeout: float | None = None) -> list[str]:
        """A command that a booting or busy SIM may refuse for a while: bounded retries."""
        delay = 0.2
        for attempt in range(self.busy_retries + 1):
            try:
                return self._cmd(command, timeout)
            except (CmeError, CmsError) as exc:
                busy = exc.code in (BUSY_CME if isinstance(exc, CmeError) else BUSY_CMS)
                if not busy or attempt == self.busy_retries:
                    if busy:
                        raise ModemError(
                            f"modem {self.name} stayed busy (SIM not ready) after {attempt + 1} tries of "
                            f"{command}; check the SIM card, then restart"
                        ) from None
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 3.0)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ initialisation

    def _initialise(self) -> None:
        assert self.channel is not None
        self.channel.resync(attempts=6, answer_timeout=self.command_timeout)
        self._cmd("ATE0")
        self._cmd("AT+CMEE=1")
        self._unlock_sim()
        try:
            self._retrying("AT+CMGF=0")
        except (CommandFailed, CmsError, CmeError):
            raise ModemError(f"modem {self.name} does not support PDU mode (AT+CMGF=0 refused)") from None
        self._choose_storage()
        self._choose_cnmi()
        self._optional("AT+CREG=1")
        for cmd, attr in (("AT+CGMI", "manufacturer"), ("AT+CGMM", "model"), ("AT+CGSN", "imei"), ("AT+CIMI", "imsi")):
            lines = self._optional(cmd)
            if lines:
                setattr(self.health, attr, lines[0].split(":", 1)[-1].strip())
        self.refresh_health()
        log.info(
            "modem.ready modem=%s port=%s model=%s storage=%s cnmi=%s",
            self.name,
            self.port,
            self.health.model,
            self.storage,
            self.cnmi,
        )

    def _optional(self, command: str) -> list[str]:
        try:
            return self._cmd(command)
        except (CommandFailed, CmeError, CmsError):
            return []

    def _unlock_sim(self) -> None:
        try:
            lines = self._retrying("AT+CPIN?", timeout=min(self.command_timeout, 3.0))
        except ModemTimeout as exc:  # Wavecom answers +CPIN: READY without OK
            lines = exc.lines
        except CmeError as exc:
            if exc.code == 10:
                raise ModemError(f"modem {self.name}: no SIM card inserted") from None
            raise
        state = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("+CPIN:")), "")
        if state == "READY":
            return
        if state == "SIM PIN":
            if not self.pin:
                raise ModemError(
                    f"the SIM in modem {self.name} needs a PIN: set pin in [modems.{self.name}] of config.toml"
                )
            try:
                self._cmd(f'AT+CPIN="{self.pin}"')
            except CmeError:  # never retry: three wrong PINs lock the SIM
                raise ModemError(
                    f"the SIM in modem {self.name} refused the PIN in config.toml; fix it before "
                    "restarting (three wrong tries lock the SIM)"
                ) from None
            return
        raise ModemError(
            f"the SIM in modem {self.name} is locked ({state or 'unknown state'}); unlock it in a phone first"
        )

    def _choose_storage(self) -> None:
        lines = self._optional("AT+CPMS=?")
        groups = re.findall(r"\(([^)]*)\)", lines[0]) if lines else []
        offered = [re.findall(r'"(\w+)"', g) for g in groups]
        both = [m for m in STORAGE_PREFERENCE if offered and all(m in o for o in (offered[0], offered[-1]))]
        # Every memory we can read is swept: a message stored before we switched stays findable.
        self.sweep_memories = [m for m in (offered[0] if offered else []) if m not in ("BM",)]
        for mem in both or ["SM"]:
            try:
                self._retrying(f'AT+CPMS="{mem}","{mem}","{mem}"')
                self.storage = mem
                break
            except (CommandFailed, CmsError, CmeError):
                continue
        else:
            now = self._cmd("AT+CPMS?")
            m = re.search(r'"(\w+)"', now[0] if now else "")
            self.storage = m.group(1) if m else "SM"
        if self.storage not in self.sweep_memories:
            self.sweep_memories.insert(0, self.storage)

    def _choose_cnmi(self) -> None:
        for candidate in CNMI_CANDIDATES:
            try:
                self._cmd(f"AT+CNMI={candidate}")
                self.cnmi = candidate
                break
            except (CommandFailed, CmsError, CmeError):
                continue
        else:
            self.cnmi = ""
            log.warning(
                "modem.no_cnmi modem=%s: no new-message notifications; relying on the periodic sweep", self.name
            )
        fields = self.cnmi.split(",") if self.cnmi else []
        direct = len(fields) >= 4 and (fields[1] == "2" or fields[3] == "1")
        if direct:  # ask for phase 2+: an unacknowledged +CMT/+CDS is redelivered, not lost
            self._optional("AT+CSMS=1")
        lines = self._optional("AT+CSMS?")
        self.ack_needed = bool(lines) and lines[0].replace(" ", "").startswith("+CSMS:1")

    # ------------------------------------------------------------ health

    def refresh_health(self) -> Health:
        """Signal, registration, operator and storage use: 4 commands."""
        lines = self._optional("AT+CSQ")
        m = re.match(r"\+CSQ:\s*(\d+)", lines[0]) if lines else None
        self.health.signal = None if not m or int(m.group(1)) == 99 else int(m.group(1))
        lines = self._optional("AT+CREG?")
        m = re.match(r"\+CREG:\s*\d+,(\d+)", lines[0]) if lines else None
        self.health.registered = m is not None and m.group(1) in ("1", "5")
        lines = self._optional("AT+COPS?")
        m = re.search(r'"([^"]*)"', lines[0]) if lines else None
        self.health.operator = m.group(1) if m else ""
        lines = self._optional("AT+CPMS?")
        m = re.match(r'\+CPMS:\s*"\w+",(\d+),(\d+)', lines[0]) if lines else None
        if m:
            self.health.storage_used, self.health.storage_total = int(m.group(1)), int(m.group(2))
        return self.health

    def ping(self) -> None:
        """Liveness and storage use in one command (AT+CPMS?); raises when the modem is dead."""
        lines = self._optional("AT+CPMS?")
        m = re.match(r'\+CPMS:\s*"\w+",(\d+),(\d+)', lines[0]) if lines else None
        if m:
            self.health.storage_used, self.health.storage_total = int(m.group(1)), int(m.group(2))

    # ------------------------------------------------------------ sending

    def send_part(self, part: pdu.SubmitPdu) -> int | None:
        """Submit one PDU; return its TP-MR (None when the modem gave none).

        Raises CmsError, ModemTimeout, ModemGone."""
        if self.channel is None or not self.channel.alive:
            raise ModemGone(f"modem {self.name} is not connected")
        try:
            lines = self.channel.submit(part.tpdu_length, part.hex, timeout=self.send_timeout)
        except ModemGone:
            self.health.state = "down"
            raise
        m = next((re.match(r"\+CMGS:\s*(\d+)", ln) for ln in lines if ln.startswith("+CMGS:")), None)
        self.health.counters["sent"] += 1
        return int(m.group(1)) if m else None

    @property
    def in_sync(self) -> bool:
        """False when a command timed out and the modem never answered a probe since."""
        return self.channel is not None and self.channel.alive and self.channel.in_sync

    def send(self, parts: list[pdu.SubmitPdu]) -> list[int | None]:
        """Submit every part in order; a CmsError says how many were accepted."""
        mrs: list[int | None] = []
        for part in parts:
            try:
                mrs.append(self.send_part(part))
            except CmsError as exc:
                exc.accepted_parts = len(mrs)
                raise
        return mrs

    def encode(self, to: str, text: str, ref: int, srr: bool, validity_minutes: int | None) -> list[pdu.SubmitPdu]:
        return pdu.encode_submit(to, text, ref, srr=srr, validity_minutes=validity_minutes, smsc=self.smsc)

    # ------------------------------------------------------------ receiving

    def _on_urc(self, line: str, pdu_line: str | None) -> None:
        """Reader thread: queue what needs the worker, note what is only health."""
        if line.startswith(("+CMTI:", "+CDSI:", "+CMT:", "+CDS:", "+CMGS:")):
            # +CMGS here is the late answer of a submit we gave up waiting for: it was sent
            self.events.put((line, pdu_line))
            self.wake()
        elif line.startswith("+CREG:"):
            m = re.match(r"\+CREG:\s*(\d+)", line)
            self.health.registered = m is not None and m.group(1) in ("1", "5")
            self.wake()  # the worker records the change for `smsd status`
        elif line.startswith("^RSSI:"):
            value = int(re.sub(r"\D", "", line) or 99)
            self.health.signal = None if value == 99 else value
        elif line in ("RDY", "+CFUN: 1"):
            self.needs_init = True  # the modem restarted: settings (CNMI!) are gone
            self.wake()

    def handle_events(self) -> int:
        """Read, hand over and delete whatever URCs announced. Returns messages handled."""
        handled = 0
        while True:
            try:
                line, pdu_line = self.events.get_nowait()
            except queue.Empty:
                return handled
            m = re.match(r'\+(CMTI|CDSI):\s*"?(\w*)"?,\s*(\d+)', line)
            try:
                if line.startswith("+CMGS:"):
                    late = re.match(r"\+CMGS:\s*(\d+)", line)
                    log.warning("sms.late_answer modem=%s line=%s: the submit that timed out was sent", self.name, line)
                    self.on_late_submit(self.name, int(late.group(1)) if late else None)
                elif m:
                    handled += self._take_stored(m.group(2), int(m.group(3)))
                elif pdu_line is not None:
                    handled += self._take_direct(pdu_line)
            except ModemError:
                raise  # the worker reconnects; the sweep after connecting finds the message
            except Exception:  # the store refused it: it stays on the SIM for the next sweep
                log.exception("sms.store_failed modem=%s event=%s", self.name, line)

    def _take_direct(self, pdu_hex: str) -> int:
        """+CMT / +CDS: the PDU is only in this line; persist, then acknowledge."""
        self._hand_over(pdu_hex)
        if self.ack_needed:
            self._optional("AT+CNMA")
        self.on_deleted(self.name, pdu_hex)
        return 1

    def _take_stored(self, memory: str, index: int) -> int:
        """+CMTI / +CDSI: read the slot, persist, delete. An empty slot or a memory this modem does
        not use is not a lost modem: sweep what is stored and go on."""
        memory = memory or self.storage
        switched = memory != self.storage
        try:
            if switched:
                self._cmd(f'AT+CPMS="{memory}"')
            try:
                lines = self._cmd(f"AT+CMGR={index}")
                header = next((ln for ln in lines if ln.startswith("+CMGR")), "")
                pdus = [ln.strip() for ln in lines if not ln.startswith("+CMGR") and _is_hex(ln.strip())]
                if not pdus:
                    return 0  # already taken (by a sweep) and deleted
                if _stat(header) in OUTGOING_STATS:
                    log.info(
                        "sms.outgoing_on_sim modem=%s index=%s: a sent message or draft, left alone", self.name, index
                    )
                    return 0
                self._hand_over(pdus[0])
                self._cmd(f"AT+CMGD={index},0")
                self.on_deleted(self.name, pdus[0])
                return 1
            finally:
                if switched:
                    self._cmd(f'AT+CPMS="{self.storage}"')
        except (CmsError, CmeError, CommandFailed) as exc:
            log.warning(
                "sms.empty_slot modem=%s memory=%s index=%s error=%s: sweeping instead", self.name, memory, index, exc
            )
            return self.sweep()

    def _hand_over(self, pdu_hex: str) -> None:
        """Decode and give to the callbacks; raises if the callback did not store it."""
        try:
            decoded = pdu.decode(pdu_hex)
        except PduError as exc:
            log.warning("sms.corrupt_pdu modem=%s error=%s", self.name, exc)
            self.on_inbound(Inbound(self.name, pdu_hex, None, str(exc)))
            return
        if isinstance(decoded, pdu.StatusReport):
            self.health.counters["reports"] += 1
            self.on_report(self.name, decoded)
        else:
            self.health.counters["received"] += 1
            self.on_inbound(Inbound(self.name, pdu_hex, decoded))

    def sweep(self) -> int:
        """Safety net for lost notifications: list every stored message, persist, delete."""
        taken = 0
        for memory in self.sweep_memories or [self.storage]:
            try:
                taken += self._sweep_memory(memory)
            except (CmsError, CmeError, CommandFailed) as exc:  # a memory the modem will not list: skip it
                log.warning("sms.sweep_skipped modem=%s memory=%s error=%s", self.name, memory, exc)
        return taken

    def _sweep_memory(self, memory: str) -> int:
        taken = 0
        if memory != self.storage:
            self._cmd(f'AT+CPMS="{memory}"')
        try:
            lines = self._cmd("AT+CMGL=4", timeout=max(self.command_timeout, 30))
            for index, pdu_hex in _listing(lines):
                try:
                    self._hand_over(pdu_hex)
                except Exception:
                    log.exception("sms.store_failed modem=%s index=%s: left on the SIM", self.name, index)
                    continue
                self._cmd(f"AT+CMGD={index},0")
                self.on_deleted(self.name, pdu_hex)
                taken += 1
        finally:
            if memory != self.storage:
                self._cmd(f'AT+CPMS="{self.storage}"')
        return taken


def sim_state(port: str, baudrate: int = 115200) -> str:
    """Open a port nothing else holds and ask the SIM's state (+CPIN: READY, SIM PIN, ...)."""
    channel = ATChannel(port, baudrate=baudrate)
    try:
        channel.open()
        channel.resync(attempts=2, answer_timeout=2.0)
        try:
            lines = channel.command("AT+CPIN?", timeout=3.0)
        except ModemTimeout as exc:  # Wavecom: +CPIN: READY without OK
            lines = exc.lines
        return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("+CPIN:")), "unknown")
    finally:
        channel.close()


OUTGOING_STATS = {2, 3}  # stored unsent / stored sent: a SIM's drafts and sent box, not inbound SMS


def _is_hex(text: str) -> bool:
    return bool(re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", text))


def _stat(header: str) -> int | None:
    """The <stat> of a +CMGL: index,stat,... or +CMGR: stat,... header (None when absent)."""
    m = re.match(r"\+CMGL:\s*\d+\s*,\s*(\d+)", header) or re.match(r"\+CMGR:\s*(\d+)", header)
    return int(m.group(1)) if m else None


def _listing(lines: list[str]) -> list[tuple[int, str]]:
    """Pairs (index, pdu) of inbound messages from an AT+CMGL answer; tolerant of odd header lines.

    Stored sent messages and drafts (stat 2 and 3) are not inbound: they are left out."""
    out = []
    index: int | None = None
    skipped = 0
    for ln in lines:
        m = re.match(r"\+CMGL:\s*(\d+)", ln)
        if m:
            index = int(m.group(1))
            if _stat(ln) in OUTGOING_STATS:
                index, skipped = None, skipped + 1
        elif index is not None and _is_hex(ln.strip()):
            out.append((index, ln.strip()))
            index = None
    if skipped:
        log.info("sms.outgoing_on_sim count=%s: stored sent messages or drafts, left on the SIM", skipped)
    return out
