"""One emulated GSM modem on a pseudo-terminal: serial framing, network events, faults.

The slave side of the pty is published as a symlink (``DIR/<name>``); any program that
opens it talks to this modem as to hardware. One I/O thread owns the pty; other threads
(the control socket, tests) ask it for things through ``_call``.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import json
import logging
import os
import queue
import select
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from smsd import pdu
from smsd.errors import PduError
from smsd.sim import at
from smsd.sim.dialects import PROFILES, Profile
from smsd.sim.storage import Memory

log = logging.getLogger(__name__)

CTRL_Z, ESC = 0x1A, 0x1B
CST = timezone(timedelta(hours=8))


@dataclass
class ModemOptions:
    """Everything that makes one emulated modem differ from another."""

    name: str = "m1"
    profile: str = "generic"
    pin: str | None = None
    send_delay_ms: int = 0
    command_delay_ms: int = 0
    prompt_delay_ms: int = 0
    status_report_delay_ms: int = 0
    status_report_status: int = 0  # TP-ST: 0 delivered, 0x41 failed, ...
    cnma_timeout_s: float = 5.0  # unacknowledged +CMT is redelivered by the "network"
    smsc: str = "+8613800100500"
    imsi: str = "460001234567890"
    operator: str = "CHINA MOBILE"
    operator_numeric: str = "46000"
    rssi: int = 23
    urc_split_ms: int = 0  # write a two-line URC (+CMT/+CDS) as two writes this far apart


class EmulatedModem:
    """A modem: settings (what AT changes), SIM memories, a network, and fault knobs."""

    def __init__(self, directory: Path, options: ModemOptions) -> None:
        self.dir = Path(directory)
        self.options = options
        self.name = options.name
        if options.profile not in PROFILES:
            raise ValueError(f"unknown modem profile {options.profile!r}; one of {sorted(PROFILES)}")
        self.profile: Profile = PROFILES[options.profile]
        self.link = self.dir / self.name
        self.sent_log = self.dir / f"{self.name}.sent.jsonl"
        p = self.profile
        self.memories = {n: Memory(n, p.capacity.get(n, 30), p.index_base) for n in p.memories}
        self.smsc = options.smsc
        self.rssi = options.rssi
        self.registered = True
        self.mr = 0
        self.stats = {"commands": 0, "submits": 0, "busy_s": 0.0, "bytes_in": 0}
        self.timeline: list[tuple[float, str, str]] = []
        self.network: list[tuple[str, str]] = []  # (kind, pdu) waiting for room or coverage
        self.awaiting_ack: list[tuple[float, str, str]] = []
        self.urc_in_answer: list[str] = []
        self.urc_after_prompt: list[str] = []
        self.cms_errors: list[int] = []
        self.lose_answers = 0  # the next N submits reach the network but their answer is lost
        self.no_mr = 0  # the next N submits are answered OK without a +CMGS: <mr> line
        self.auto_reply: dict[str, str] = {}  # number -> text it answers every SMS with (an auto-responder)
        self.busy_left, self.busy_code = 0, 515
        self.hang_until = 0.0
        self.lock = threading.RLock()
        self._wlock = threading.Lock()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._calls: queue.Queue[tuple[Callable[[], Any], queue.Queue[tuple[bool, Any]]]] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        self._running = False
        self.master = self.slave = -1
        self.reset_settings()
        self.pin_ok = options.pin is None
        self._buf = bytearray()
        self._pdu_len: int | None = None
        self._boot_pending = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._open_pty()
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=f"sim-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        self._wake()
        if self._thread:
            self._thread.join(timeout=5)
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def plugged(self) -> bool:
        return self.master >= 0

    def reset_settings(self) -> None:
        """Power-on defaults: what ATZ restores and a replug starts from."""
        self.echo = True
        self.cmee = 0
        self.cscs = "IRA"
        self.csms = 0
        self.creg_n = 0
        self.cops_format = 0
        self.cnmi: tuple[int, ...] = (0, 0, 0, 0, 0)
        first = self.profile.memories[0]
        self.cpms = [first, first, first]

    def _open_pty(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        tmp = self.link.with_name(self.link.name + ".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self.slave))
        tmp.replace(self.link)
        self.busy_left, self.busy_code = self.profile.boot_busy, 515
        # pyserial flushes input on open, so start-up URCs come before the first answer.
        self._boot_pending = True

    def _close_pty(self) -> None:
        if self.master < 0:
            return
        try:
            if self.link.is_symlink():
                self.link.unlink()
        except OSError:
            pass
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self.slave = -1
        self._buf.clear()
        self._pdu_len = None

    # ------------------------------------------------------------ thread plumbing

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the I/O thread (it owns the fds) and return its result."""
        if threading.current_thread() is self._thread or not self._running:
            return fn()
        reply: queue.Queue[tuple[bool, Any]] = queue.Queue()
        self._calls.put((fn, reply))
        self._wake()
        ok, value = reply.get(timeout=30)
        if not ok:
            raise value
        return value

    def later(self, delay_s: float, fn: Callable[[], None]) -> None:
        with self.lock:
            self._seq += 1
            heapq.heappush(self._timers, (time.monotonic() + delay_s, self._seq, fn))
        self._wake()

    def _loop(self) -> None:
        while self._running:
            now = time.monotonic()
            timeout = None
            with self.lock:
                if self._timers:
                    timeout = max(0.0, self._timers[0][0] - now)
            fds = [self._wake_r]
            if self.master >= 0 and now >= self.hang_until:
                fds.append(self.master)
            elif now < self.hang_until:
                timeout = min(timeout if timeout is not None else 1e9, self.hang_until - now)
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except (OSError, ValueError):
                ready = []
            if self._wake_r in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            self._run_calls()
            self._run_timers()
            if self.master >= 0 and self.master in ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EIO):
                        log.warning("sim %s read: %s", self.name, exc)
                    data = b""
                if data:
                    self.stats["bytes_in"] += len(data)
                    self._feed(data)

    def _run_calls(self) -> None:
        while True:
            try:
                fn, reply = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                reply.put((True, fn()))
            except Exception as exc:  # handed back to the caller's thread
                reply.put((False, exc))

    def _run_timers(self) -> None:
        while True:
            with self.lock:
                if not self._timers or self._timers[0][0] > time.monotonic():
                    return
                _, _, fn = heapq.heappop(self._timers)
            try:
                fn()
            except Exception:
                log.exception("sim %s timer failed", self.name)

    # ------------------------------------------------------------ serial output

    def write(self, data: bytes) -> None:
        """Write to the line; waits (bounded) when nobody reads, drops after 2 s."""
        with self._wlock:
            if self.master < 0:
                return
            view = memoryview(data)
            deadline = time.monotonic() + 2.0
            while view:
                try:
                    n = os.write(self.master, view)
                    view = view[n:]
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        return
                    select.select([], [self.master], [], 0.1)
                except OSError:
                    return

    def _lines(self, lines: list[str]) -> None:
        if lines:
            self.write(("\r\n" + "\r\n".join(lines) + "\r\n").encode("utf-8", "replace"))

    def urc(self, line: str, follow: str | None = None) -> None:
        """An unsolicited result code (with the PDU line of +CMT/+CDS as follow)."""
        lines = [line] if follow is None else [line, follow]
        if follow is not None and self.options.urc_split_ms:
            self._lines([line])
            time.sleep(self.options.urc_split_ms / 1000)
            self._lines([follow])
            return
        if time.monotonic() < self.hang_until:
            self.later(self.hang_until - time.monotonic() + 0.001, lambda: self._lines(lines))
            return
        self._lines(lines)

    # ------------------------------------------------------------ serial input

    def _feed(self, data: bytes) -> None:
        self._buf += data
        while self._buf:
            if self._pdu_len is not None:
                if not self._take_pdu():
                    return
                continue
            cut = next((i for i, b in enumerate(self._buf) if b in (0x0D, 0x0A)), -1)
            if cut < 0:
                if len(self._buf) > 4096:  # garbage without a line end: drop it
                    self._buf.clear()
                return
            raw = bytes(self._buf[:cut])
            del self._buf[: cut + 1]
            line = raw.decode("latin-1").strip()
            line = "".join(ch for ch in line if ch >= " " or ch == "\t")
            if not line:
                continue
            if self.echo:
                self.write(raw + b"\r")
            self._command(line)

    def _take_pdu(self) -> bool:
        for i, b in enumerate(self._buf):
            if b in (CTRL_Z, ESC):
                body = bytes(self._buf[:i]).decode("latin-1").strip()
                del self._buf[: i + 1]
                if self.echo:
                    self.write(body.encode("latin-1") + bytes([b]))
                length, self._pdu_len = self._pdu_len, None
                if b == ESC:
                    self._final("OK")
                else:
                    self._submit(body, length or 0)
                return True
        return False

    def _command(self, line: str) -> None:
        self.stats["commands"] += 1
        if self._boot_pending:
            self._boot_pending = False
            self._lines(list(self.profile.boot_lines))
        if self.options.command_delay_ms:
            time.sleep(self.options.command_delay_ms / 1000)
        if line[:2].upper() != "AT":
            self._final("ERROR")
            return
        info: list[str] = []
        with self.lock:
            for name, op, arg in at.split_line(line):
                try:
                    info += self._execute(name, op, arg)
                except at.Prompt as p:
                    self._lines(info)
                    self._prompt(p.length)
                    return
                except at.NoFinal as nf:
                    self._lines(info + nf.lines)
                    return
                except at.Reply as r:
                    self._answer(info, self._error_text(r))
                    return
            self._answer(info, "OK")

    def _execute(self, name: str, op: str, arg: str) -> list[str]:
        handler = at.HANDLERS.get(name)
        if handler is None:
            raise at.Reply("UNSUPPORTED")
        if name in at.SIM_COMMANDS:
            if self.busy_left > 0:
                self.busy_left -= 1
                raise at.cme(self.busy_code)
            if not self.pin_ok:
                raise at.cme(11)
        try:
            return handler(self, op, arg)
        except (IndexError, ValueError, KeyError):  # a malformed argument (`AT+CSCA=`): ERROR, as a modem says
            raise at.Reply("ERROR") from None

    def _error_text(self, r: at.Reply) -> str:
        if r.kind == "UNSUPPORTED":
            return self.profile.unsupported
        if r.kind == "ERROR" or self.cmee == 0:
            return "ERROR"
        table = at.CME_TEXT if r.kind == "CME" else at.CMS_TEXT
        detail = str(r.code) if self.cmee == 1 else table.get(r.code, str(r.code))
        return f"+{r.kind} ERROR: {detail}"

    def _answer(self, info: list[str], final: str) -> None:
        """Information lines, any URC placed 'inside an answer', then the final result."""
        extra, self.urc_in_answer = self.urc_in_answer, []
        if info and extra:
            self._lines(info[:1] + extra + info[1:])
        else:
            self._lines(extra + info)
        self._final(final)

    def _final(self, text: str) -> None:
        self.write(f"\r\n{text}\r\n".encode())

    def _prompt(self, length: int) -> None:
        if self.options.prompt_delay_ms:
            time.sleep(self.options.prompt_delay_ms / 1000)
        self._pdu_len = length
        self.write(b"\r\n> ")
        extra, self.urc_after_prompt = self.urc_after_prompt, []
        self._lines(extra)

    # ------------------------------------------------------------ sending (the network side)

    def _submit(self, body: str, length: int) -> None:
        started = time.monotonic()
        if self.options.send_delay_ms:
            time.sleep(self.options.send_delay_ms / 1000)
        with self.lock:
            error = self._submit_error(body, length)
            if error:
                self._final(self._error_text(at.cms(error)))
                return
            sub = pdu.decode_submit(body)
            self.mr = (self.mr + 1) % 256
            mr = self.mr
            self.stats["submits"] += 1
            self.stats["busy_s"] += time.monotonic() - started
            self._log_sent(sub, mr, started)
            if sub.srr:
                self._schedule_report(mr, sub.to)
            answer = self.auto_reply.get(sub.to)
            if answer is not None and (sub.concat is None or sub.concat.seq == sub.concat.total):
                self.later(0.01, lambda: None if self.deliver(sub.to, answer) else None)
        if self.lose_answers > 0:
            self.lose_answers -= 1
            return
        if self.no_mr > 0:
            self.no_mr -= 1
            self._final("OK")
            return
        self._lines([f"+CMGS: {mr}"])
        self._final("OK")

    def _submit_error(self, body: str, length: int) -> int:
        if self.cms_errors:
            return self.cms_errors.pop(0)
        if not self.registered:
            return 331
        try:
            raw = bytes.fromhex(body)
            smsc_len = raw[0] + 1
            if len(raw) - smsc_len != length:
                return 304
            pdu.decode_submit(body)
        except (ValueError, IndexError, PduError):
            return 304
        return 0

    def _log_sent(self, sub: pdu.Submit, mr: int, started: float) -> None:
        c = sub.concat
        record = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "modem": self.name,
            "to": sub.to,
            "dcs": sub.dcs,
            "encoding": sub.encoding,
            "ref": c.ref if c else None,
            "ref_bits": c.bits if c else None,
            "part": c.seq if c else 1,
            "total": c.total if c else 1,
            "text": sub.text,
            "srr": sub.srr,
            "mr": mr,
            "t_start": started,
            "t_end": time.monotonic(),
        }
        with open(self.sent_log, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _schedule_report(self, mr: int, to: str) -> None:
        now = datetime.now(CST)
        report = pdu.encode_status_report(mr, to, now, now, self.options.status_report_status)
        self.later(self.options.status_report_delay_ms / 1000, lambda: self._arrive("status", report))

    # ------------------------------------------------------------ receiving (the network side)

    def deliver(
        self,
        sender: str,
        text: str,
        *,
        ref: int | None = None,
        ref_bits: int = 8,
        placement: str = "now",
        when: datetime | None = None,
    ) -> int:
        """An SMS arrives from the network; returns the number of PDUs it took."""
        when = when or datetime.now(CST).replace(microsecond=0)
        if ref is None:
            ref = int.from_bytes(os.urandom(2), "big") & (0xFF if ref_bits == 8 else 0xFFFF)
        pdus = pdu.encode_deliver(sender, text, when, ref=ref, ref_bits=ref_bits, smsc=self.smsc)

        def arrive() -> int:
            for p in pdus:
                self._arrive("deliver", p, placement)
            return len(pdus)

        return int(self._call(arrive))

    def deliver_pdu(self, pdu_hex: str, placement: str = "now") -> None:
        """Deliver a raw (possibly corrupt) PDU, as a broken network or phone might."""
        self._call(lambda: self._arrive("deliver", pdu_hex, placement))

    def _arrive(self, kind: str, pdu_hex: str, placement: str = "now") -> None:
        if kind == "deliver":
            self.note("arrived", pdu_hex[-16:])
        with self.lock:
            if not self.registered or not self.plugged:
                self.network.append((kind, pdu_hex))
                return
            mode, mt, _bm, ds, _bfr = self.cnmi
            direct = (kind == "deliver" and mt == 2) or (kind == "status" and ds == 1)
            if direct:
                length = (len(pdu_hex) // 2) - (int(pdu_hex[:2], 16) + 1)
                line = f"+CMT: ,{length}" if kind == "deliver" else f"+CDS: {length}"
                if self.csms == 1:
                    self.awaiting_ack.append((time.monotonic(), kind, pdu_hex))
                    self.later(self.options.cnma_timeout_s, self._ack_timeout)
                self._place(placement, line, pdu_hex)
                if self.csms != 1 and kind == "deliver":
                    self.note("taken", "+CMT without acknowledgement")  # handed over, nothing to wait for
                return
            if kind == "status" and ds == 0:
                return  # nobody asked for reports: the modem drops them
            memname = "SR" if kind == "status" and "SR" in self.memories else self.cpms[2]
            index = self.memory(memname).store(pdu_hex)
            if index is None:
                self.network.append((kind, pdu_hex))  # SIM full: the SMSC retries later
                return
            if mode != 0 and (mt in (1, 2, 3) if kind == "deliver" else ds == 2):
                name = "+CMTI" if kind == "deliver" else "+CDSI"
                self._place(placement, f'{name}: "{memname}",{index}')

    def _place(self, placement: str, line: str, follow: str | None = None) -> None:
        if placement == "answer":
            self.urc_in_answer += [line] + ([follow] if follow else [])
        elif placement == "prompt":
            self.urc_after_prompt += [line] + ([follow] if follow else [])
        else:
            self.urc(line, follow)

    def acknowledge(self) -> bool:
        if not self.awaiting_ack:
            return False
        self.awaiting_ack.pop(0)
        self.note("taken", "+CNMA")
        return True

    def note(self, event: str, detail: str = "") -> None:
        """The timeline benches read: when an SMS arrived from the network and when the client took
        it off the SIM (+CMGD of a stored message, or +CNMA of a pushed one), on the monotonic clock."""
        self.timeline.append((time.monotonic(), event, detail))

    def _ack_timeout(self) -> None:
        cutoff = time.monotonic() - self.options.cnma_timeout_s + 0.01
        with self.lock:
            late = [a for a in self.awaiting_ack if a[0] <= cutoff]
            self.awaiting_ack = [a for a in self.awaiting_ack if a[0] > cutoff]
            for _, kind, p in late:  # the network never got its ack: it tries again
                self.network.append((kind, p))
        if late:
            self.later(1.0, self.storage_freed)

    def storage_freed(self) -> None:
        """Room on the SIM or coverage came back: the network retries what it holds."""
        with self.lock:
            waiting, self.network = self.network, []
            for kind, p in waiting:
                self._arrive(kind, p)

    def memory(self, name: str) -> Memory:
        return self.memories[name]

    # ------------------------------------------------------------ faults

    def fault(self, name: str, value: Any = None) -> None:
        """Inject a named fault; see FAULTS for the names and their arguments."""
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; one of {', '.join(sorted(FAULTS))}")
        self._call(lambda: FAULTS[name](self, value))


def _unplug(m: EmulatedModem, _v: Any) -> None:
    m._close_pty()


def _replug(m: EmulatedModem, _v: Any) -> None:
    if not m.plugged:
        m.reset_settings()
        m.pin_ok = m.options.pin is None
        m._open_pty()
        m.storage_freed()


def _hang(m: EmulatedModem, seconds: Any) -> None:
    m.hang_until = time.monotonic() + float(seconds or 10)


def _cms(m: EmulatedModem, value: Any) -> None:
    count, code = value if isinstance(value, (list, tuple)) else (value or 1, 500)
    m.cms_errors = [int(code)] * int(count)


def _sim_full(m: EmulatedModem, on: Any) -> None:
    for mem in m.memories.values():
        mem.full_override = bool(on)
    if not on:
        m.storage_freed()


def _registration(m: EmulatedModem, on: Any) -> None:
    m.registered = bool(on)
    if m.creg_n:
        m.urc(f"+CREG: {1 if on else 0}" + (',"1A2B","00C3"' if m.creg_n == 2 and on else ""))
    if on:
        m.storage_freed()


def _noise(m: EmulatedModem, count: Any) -> None:
    lines = m.profile.noise
    for i in range(int(count or 5)):
        m.urc(lines[i % len(lines)])


def _garbage(m: EmulatedModem, _v: Any) -> None:
    m.write(b"\r\n\xff\xfe\x80\xc3(garbage \x9d)\r\n")


def _busy(m: EmulatedModem, value: Any) -> None:
    count, code = value if isinstance(value, (list, tuple)) else (value or 2, 515)
    m.busy_left, m.busy_code = int(count), int(code)


def _set_option(attr: str) -> Callable[[EmulatedModem, Any], None]:
    def setter(m: EmulatedModem, value: Any) -> None:
        setattr(m.options, attr, int(value or 0))

    return setter


def _signal(m: EmulatedModem, value: Any) -> None:
    m.rssi = int(value)


def _lose_answers(m: EmulatedModem, count: Any) -> None:
    m.lose_answers = int(count or 1)


def _no_mr(m: EmulatedModem, count: Any) -> None:
    m.no_mr = int(count or 1)


def _stored_outgoing(m: EmulatedModem, value: Any) -> None:
    """[stat, pdu_hex]: put a SIM's own sent message (3) or draft (2) in the first memory, as a phone does."""
    stat, pdu_hex = value
    m.memories[m.profile.memories[0]].store(str(pdu_hex), int(stat))


def _line(m: EmulatedModem, text: Any) -> None:
    """Write raw lines to the serial line as they are (junk URCs of odd firmware)."""
    m.write(("\r\n" + str(text).replace("\n", "\r\n") + "\r\n").encode("utf-8"))


FAULTS: dict[str, Callable[[EmulatedModem, Any], None]] = {
    "unplug": _unplug,
    "replug": _replug,
    "hang": _hang,  # seconds: answer nothing, then everything in order
    "cms": _cms,  # [count, code]: the next count AT+CMGS get +CMS ERROR: code
    "sim_full": _sim_full,  # true/false
    "registration": _registration,  # true/false: network registration regained/lost
    "noise": _noise,  # count: a burst of the dialect's unsolicited lines
    "garbage": _garbage,  # a line of non-UTF-8 bytes
    "busy": _busy,  # [count, code]: SIM commands answered +CME ERROR: 515 (or 14)
    "send_delay_ms": _set_option("send_delay_ms"),
    "command_delay_ms": _set_option("command_delay_ms"),
    "prompt_delay_ms": _set_option("prompt_delay_ms"),
    "status_report_status": _set_option("status_report_status"),
    "signal": _signal,
    "lose_answers": _lose_answers,  # count: submits reach the network, their +CMGS/OK never comes
    "no_mr": _no_mr,  # count: submits answered OK without the +CMGS: <mr> line
    "stored_outgoing": _stored_outgoing,  # [stat, pdu]: a sent message or draft stored on the SIM
    "line": _line,  # text: raw lines on the serial line
}
