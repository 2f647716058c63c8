"""The AT channel: one serial port, one command in flight, URCs recognised anywhere.

A reader thread works on bytes (a bad byte becomes U+FFFD, never an exception) and sorts
every line into: the echo of our command, a final result code, the `> ` prompt, an
unsolicited result code (URC, handed to ``on_urc`` with the PDU line of a two-line URC),
or an information line of the command in flight. After a timeout the channel sends ESC
and resynchronises, so a late answer is never handed to the next command.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import serial

from smsd.errors import CmeError, CmsError, CommandFailed, ModemGone, ModemTimeout

log = logging.getLogger(__name__)

ESC, CTRL_Z = b"\x1b", b"\x1a"
FINAL_OK = re.compile(r"^(OK|CONNECT)$")
FINAL_ERROR = re.compile(r"^(ERROR|COMMAND NOT SUPPORT|NO CARRIER|BUSY|NO ANSWER|NO DIALTONE|TOO MANY PARAMETERS)$")
FINAL_CME = re.compile(r"^\+CME ERROR: ?(.*)$")
FINAL_CMS = re.compile(r"^\+CMS ERROR: ?(.*)$")
TWO_LINE_URCS = ("+CMT:", "+CDS:")
# Bare-word URCs that are never an answer (SIMCom/Quectel boot chatter and call events).
BARE_URCS = {
    "RDY",
    "Call Ready",
    "SMS Ready",
    "RING",
    "NORMAL POWER DOWN",
    "UNDER-VOLTAGE WARNNING",
    "UNDER-VOLTAGE POWER DOWN",
    "OVER-VOLTAGE WARNNING",
    "PB DONE",
}
# Verbose (+CMEE=2) texts for the codes the driver acts on.
CME_WORDS = {
    "sim busy": 14,
    "sim pin required": 11,
    "sim not inserted": 10,
    "incorrect password": 16,
    "sim puk required": 12,
    "please wait, init or command processing in progress": 515,
}
CMS_WORDS = {
    "invalid memory index": 321,
    "memory full": 322,
    "no network service": 331,
    "invalid pdu mode parameter": 304,
    "operation not allowed": 302,
    "unknown error": 500,
    "smsc address unknown": 330,
    "network timeout": 332,
}


@dataclass
class _Pending:
    command: str
    name: str  # "+CMGL" for "AT+CMGL=4": information lines with this prefix are ours
    wants_prompt: bool = False
    lines: list[str] = field(default_factory=list)
    final: str | None = None
    prompt: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def command_name(command: str) -> str:
    m = re.match(r"^AT([+^$][A-Za-z0-9]+)", command, re.IGNORECASE)
    return m.group(1).upper() if m else ""


def _code(detail: str, words: dict[str, int]) -> int:
    detail = detail.strip()
    if detail.isdigit():
        return int(detail)
    return words.get(detail.lower(), -1)


class ATChannel:
    """Talks AT on one serial port. Thread-safe: one command at a time, callers queue."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        on_urc: Callable[[str, str | None], None] | None = None,
        trace: Callable[[str, str], None] | None = None,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.on_urc = on_urc or (lambda line, pdu: None)
        self.trace = trace
        self.serial: serial.Serial | None = None
        self._lock = threading.Lock()  # one command in flight
        self._state = threading.Lock()  # guards _pending / _stale between threads
        self._pending: _Pending | None = None
        self._stale = 0  # finals still owed by commands we gave up on
        self._two_line: str | None = None
        self._buf = b""
        self._reader: threading.Thread | None = None
        self._alive = False
        self.last_rx = time.monotonic()
        self.in_sync = True  # False after a timeout whose resynchronisation got no answer
        self.gone_reason = ""  # why the reader stopped: the device went away

    # ------------------------------------------------------------ open / close

    def open(self) -> None:
        try:
            self.serial = serial.Serial(
                self.port,
                self.baudrate,
                timeout=None,
                write_timeout=5,
                rtscts=False,
                dsrdtr=False,
                xonxoff=False,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ModemGone(f"cannot open {self.port}: {_reason(exc)}") from None
        self._alive = True
        self._buf = b""
        self._two_line = None
        with self._state:
            self._stale = 0
        self._reader = threading.Thread(target=self._read_loop, name=f"at-{self.port}", daemon=True)
        self._reader.start()

    def close(self) -> None:
        self._alive = False
        ser, self.serial = self.serial, None
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.cancel_read()
            if self._reader and self._reader is not threading.current_thread():
                self._reader.join(timeout=2)
            with contextlib.suppress(Exception):
                ser.close()
        self._fail_pending()

    @property
    def alive(self) -> bool:
        return self._alive and self.serial is not None

    # ------------------------------------------------------------ commands

    def command(self, command: str, timeout: float = 5.0) -> list[str]:
        """Send one command line; return its information lines or raise a typed error."""
        with self._lock:
            p = _Pending(command, command_name(command))
            self._send(p, command.encode("latin-1") + b"\r")
            return self._finish(p, timeout)

    def submit(self, length: int, pdu_hex: str, prompt_timeout: float = 10.0, timeout: float = 60.0) -> list[str]:
        """AT+CMGS=<length>, wait for `> `, write the PDU and ^Z; return the answer lines."""
        with self._lock:
            p = _Pending(f"AT+CMGS={length}", "+CMGS", wants_prompt=True)
            self._send(p, p.command.encode() + b"\r")
            if not p.done.wait(prompt_timeout):
                if not self.alive:
                    self._detach()
                    raise ModemGone(f"{self.port} went away waiting for the > prompt")
                self._give_up(p)
                raise ModemTimeout(f"no > prompt from {self.port} within {prompt_timeout:.0f}s")
            if p.final is not None:  # refused (or gone) before the prompt
                self._detach()
                return self._result(p)
            p.done.clear()
            try:
                self._write(pdu_hex.encode("ascii") + CTRL_Z)
                return self._finish(p, timeout)
            except (ModemTimeout, ModemGone) as exc:
                exc.maybe_sent = True  # the PDU may have reached the network
                raise

    def _send(self, p: _Pending, data: bytes) -> None:
        if not self.alive:
            raise ModemGone(f"{self.port} is not open")
        with self._state:
            self._pending = p
        self._write(data)

    def _write(self, data: bytes) -> None:
        ser = self.serial
        if ser is None:
            raise ModemGone(f"{self.port} is not open")
        if self.trace:
            self.trace(">", data.decode("latin-1"))
        try:
            ser.write(data)
        except serial.SerialTimeoutException:
            raise ModemTimeout(f"writing to {self.port} timed out (flow control?)") from None
        except (serial.SerialException, OSError) as exc:
            self._alive = False
            raise ModemGone(f"{self.port}: {_reason(exc)}") from None

    def _finish(self, p: _Pending, timeout: float) -> list[str]:
        if not p.done.wait(timeout) or p.final is None:
            if not self.alive:
                self._detach()
                raise ModemGone(f"{self.port} went away during {p.command}")
            self._give_up(p)
            raise ModemTimeout(f"{p.command} got no answer from {self.port} within {timeout:.0f}s", p.lines)
        self._detach()
        return self._result(p)

    def _detach(self) -> None:
        with self._state:
            self._pending = None

    def _result(self, p: _Pending) -> list[str]:
        final = p.final or ""
        if FINAL_OK.match(final):
            return p.lines
        m = FINAL_CMS.match(final)
        if m:
            raise CmsError(_code(m.group(1), CMS_WORDS), text=f"{p.command}: {final}")
        m = FINAL_CME.match(final)
        if m:
            raise CmeError(_code(m.group(1), CME_WORDS), text=f"{p.command}: {final}")
        if final == "__GONE__":
            raise ModemGone(f"{self.port} went away during {p.command}")
        raise CommandFailed(f"{p.command}: {final}")

    def _give_up(self, p: _Pending) -> None:
        """The modem owes us a final for p: cancel any prompt and resynchronise."""
        with self._state:
            self._pending = None
            self._stale += 1
        try:
            self.resync()
        except (ModemTimeout, ModemGone):
            self.in_sync = False
            log.warning("modem.resync_failed port=%s", self.port)

    def resync(self, attempts: int = 4, answer_timeout: float = 2.0) -> None:
        """Send AT until an OK arrives that answers it and nothing stale follows."""
        self._write(ESC)  # leave PDU input if a previous owner of the port was cut off mid-submit
        for attempt in range(attempts):
            self._wait_quiet(0.3, limit=answer_timeout)
            with self._state:
                if attempt > 0:
                    self._stale = 0  # the modem dropped what it owed; start afresh
            probe = _Pending("AT", "")
            with self._state:
                self._pending = probe
            self._write(b"AT\r")
            ok = probe.done.wait(answer_timeout) and probe.final is not None and FINAL_OK.match(probe.final)
            with self._state:
                self._pending = None
                if not ok:
                    self._stale += 1
            if ok:
                self._wait_quiet(0.1, limit=0.5)
                with self._state:
                    if self._stale == 0:
                        self.in_sync = True
                        return
        raise ModemTimeout(f"{self.port} does not answer AT")

    def _wait_quiet(self, quiet: float, limit: float) -> None:
        end = time.monotonic() + limit
        while time.monotonic() < end and time.monotonic() - self.last_rx < quiet:
            time.sleep(0.02)

    def _fail_pending(self) -> None:
        with self._state:
            p = self._pending
        if p is not None and p.final is None:
            p.final = "__GONE__"
            p.done.set()

    # ------------------------------------------------------------ reading

    def _read_loop(self) -> None:
        ser = self.serial
        while self._alive and ser is not None:
            try:
                data = ser.read(1)
                if ser.in_waiting:
                    data += ser.read(ser.in_waiting)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                if self._alive:
                    self.gone_reason = f"{self.port} went away: {_reason(exc)}"
                    log.warning("modem.gone port=%s reason=%s", self.port, _reason(exc))
                self._alive = False
                break
            if not data:
                continue  # cancel_read, or a spurious wake-up
            self.last_rx = time.monotonic()
            self._feed(data)
        self._fail_pending()

    def _feed(self, data: bytes) -> None:
        self._buf += data
        while True:
            self._buf = self._buf.lstrip(b"\r\n")
            if self._buf.startswith(b"> ") or self._buf == b">":
                if self._buf == b">":
                    return
                self._buf = self._buf[2:]
                self._on_prompt()
                continue
            cut = min((i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0), default=-1)
            if cut < 0:
                return
            raw, self._buf = self._buf[:cut], self._buf[cut + 1 :]
            line = raw.decode("utf-8", "replace").strip()
            if line:
                if self.trace:
                    self.trace("<", line)
                self._on_line(line)

    def _on_prompt(self) -> None:
        with self._state:
            p = self._pending
            if p is not None and p.wants_prompt:
                p.prompt = True
                p.done.set()

    def _on_line(self, line: str) -> None:
        if "\ufffd" in line:  # undecodable bytes: line noise, never an answer or a PDU
            log.info("modem.noise port=%s line=%r", self.port, line)
            return
        if self._two_line is not None:
            header, self._two_line = self._two_line, None
            if pdu_fits(header, line):
                self._urc(header, line)
                return
            # A +CMT/+CDS header without its PDU (junk, or cut off): the line is not consumed.
            log.warning("modem.urc_without_pdu port=%s header=%r next=%r", self.port, header, line[:40])
        with self._state:
            p = self._pending
            if p is not None and line == p.command:
                return  # echo (before ATE0 takes effect)
            if _is_final(line):
                if self._stale > 0:
                    self._stale -= 1
                    log.info("modem.late_answer port=%s line=%s", self.port, line)
                    return
                if p is not None:
                    p.final = line
                    p.done.set()
                return
            if not self._is_urc(line, p):
                if p is not None:
                    p.lines.append(line)
                else:
                    log.debug("modem.stray port=%s line=%r", self.port, line)
                return
        if line.startswith(TWO_LINE_URCS):
            self._two_line = line
            return
        self._urc(line, None)

    @staticmethod
    def _is_urc(line: str, p: _Pending | None) -> bool:
        if line in BARE_URCS:
            return True
        if line[:1] not in ("+", "^"):
            return p is None
        prefix = line.split(":", 1)[0].upper()
        if p is None:
            return True
        return prefix != p.name

    def _urc(self, line: str, pdu: str | None) -> None:
        try:
            self.on_urc(line, pdu)
        except Exception:
            log.exception("modem.urc_handler_failed port=%s", self.port)


def pdu_fits(header: str, line: str) -> bool:
    """Is line the PDU that a +CMT/+CDS header announced? Hex, and of the announced TPDU length
    (with or without the SMSC address in front)."""
    if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", line):
        return False
    m = re.search(r"(\d+)\s*$", header)
    if m is None:
        return False
    length, octets = int(m.group(1)), len(line) // 2
    smsc = int(line[:2], 16)
    return length > 0 and (octets == length or octets == length + 1 + smsc)


def _is_final(line: str) -> bool:
    return bool(FINAL_OK.match(line) or FINAL_ERROR.match(line) or FINAL_CME.match(line) or FINAL_CMS.match(line))


def _reason(exc: BaseException) -> str:
    """One line an admin can act on, from whatever pyserial or the OS raised."""
    code = getattr(exc, "errno", None)
    if code == errno.EACCES:
        return "permission denied (add the smsd user to the dialout group)"
    if "exclusively lock" in str(exc) or code == errno.EBUSY:
        return "the port is in use by another program (ModemManager? see `smsd doctor`)"
    if isinstance(code, int):
        return os.strerror(code)
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0]
