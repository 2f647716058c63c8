"""`smsd ismg`: a CMPP 3.0/2.0 ISMG (China Mobile's SMS gateway) for demos, tests and benches.

The CMPP twin of `smsd smsc`. It accepts CONNECTs from its accounts in either version (the MD5
authenticator checked, AuthenticatorISMG answered), validates every SUBMIT as an ISMG does
(field widths, DestUsr_tl, Msg_Length, Msg_src, Service_Id, the Src_Id's service code) and
answers it with a Msg_Id in the spec's layout, logs it decoded (and each long message joined,
once its last part is in), limits the rate (Result 8 beyond it), sends status reports after a
delay with a configurable mix of Stat values, delivers members' messages (MO) to the account
whose service code the number they sent to starts with, and keeps every DELIVER until its
DELIVER_RESP: one not acknowledged when the link dropped is delivered again at the next
CONNECT. Faults: see FAULTS.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smsd.cmpp import codec
from smsd.tcpserver import TcpServer, recv_exact, truthy

log = logging.getLogger(__name__)

FAULTS = {
    "status": "the next COUNT submits get Result CODE (8 flow control, 10 wrong Src_Id, 13 bad number, ...)",
    "no_response": "the next COUNT submits are taken (and logged) but never answered",
    "late_response": "the next COUNT submits are answered after MS milliseconds (COUNT MS)",
    "duplicate_response": "the next COUNT submits are answered twice",
    "drop_after": "close the connection after taking the next COUNT submits, before answering the last",
    "drop": "close every connection now",
    "down": "close every connection and refuse new ones (1), or come back (0)",
    "refuse_connect": "answer every CONNECT with Status CODE (3: authentication), or 0 to accept again",
    "silent_active_test": "leave ACTIVE_TEST unanswered (1) or answer it again (0)",
    "terminate": "send TERMINATE to every connection (the ISMG ends the session)",
    "probe": "send ACTIVE_TEST to every connection (the client must answer it)",
    "receipt_stat": "the Stat of the next reports (DELIVRD, UNDELIV, EXPIRED, MA:0001, ...)",
    "receipt_delay_ms": "time until a report is sent",
    "short_report": "the next COUNT reports are 2.0-sized (60 octets) on a 3.0 link",
    "report_first": "the next COUNT reports are sent before their SUBMIT_RESP",
    "lose_ack": "the next COUNT DELIVER_RESP are lost on the way: the DELIVER is sent again",
}


@dataclass
class Account:
    sp_id: str  # 企业代码, six digits
    secret: str
    service_code: str = "10690000"  # the 106... code: Src_Id must start with it; MO to numbers under it come here
    service_id: str = ""  # the Service_Id the account was given ("" accepts any)


@dataclass
class Pending:
    """A DELIVER waiting for its DELIVER_RESP (MO or report)."""

    id: int
    deliver: codec.Deliver
    kind: str
    sent_on: Session | None = None
    sequence: int | None = None


@dataclass
class Session:
    sock: socket.socket
    peer: str
    account: Account | None = None
    version: int = codec.V30
    lock: threading.Lock = field(default_factory=threading.Lock)
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    alive: bool = True

    def send(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)


class Ismg(TcpServer):
    """The server. ``start()`` listens on host:port (0: any free port, see ``.port``)."""

    name = "ismg"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 7890,
        accounts: list[Account] | None = None,
        *,
        log_path: str | Path | None = None,
        receipt_delay_ms: int = 1000,
        receipt_mix: dict[str, float] | None = None,
        rate: float = 0.0,
        gateway: int = 10001,
        seed: int = 0,
    ) -> None:
        super().__init__(host, port, log_path)
        self.accounts = {a.sp_id: a for a in (accounts or [Account("901234", "secret")])}
        self.receipt_delay_ms = receipt_delay_ms
        self.receipt_mix = dict(receipt_mix or {"DELIVRD": 1.0})
        self.rate = rate  # submits per second per account (0: no limit); beyond it Result 8
        self.gateway = gateway  # the ISMG's code in its Msg_Ids (ISMG_Id 0XYZ01 as a number)
        self._rng = random.Random(seed)
        self._faults: dict[str, Any] = {}
        self._pending = {a: [] for a in self.accounts}
        self._ids = itertools.count(1)
        self._msg_seq = itertools.count()
        self._buckets: dict[str, tuple[float, float]] = {}  # account: (tokens, when)
        self._parts: dict[tuple[str, str, int], dict[int, str]] = {}
        self.submitted: list[dict[str, Any]] = []  # every SUBMIT taken, one row per recipient (tests read it)
        self.messages: list[dict[str, Any]] = []  # every whole message (long ones joined)
        self.refuse_connect = 0
        self.silent_active_test = False
        self.receipt_stat = ""

    # ------------------------------------------------------------ life

    # ------------------------------------------------------------ control

    def fault(self, name: str, value: Any = None) -> None:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; one of {', '.join(sorted(FAULTS))}")
        values = list(value) if isinstance(value, list | tuple) else [value]
        if name == "drop":
            self._drop_all()
        elif name == "down":
            self.down = truthy(value)
            if self.down:
                self._drop_all()
        elif name == "refuse_connect":
            self.refuse_connect = int(value or 0)
        elif name == "silent_active_test":
            self.silent_active_test = truthy(value)
        elif name == "receipt_stat":
            self.receipt_stat = str(value or "").upper()
        elif name == "receipt_delay_ms":
            self.receipt_delay_ms = int(value)
        elif name in ("terminate", "probe"):
            command = codec.TERMINATE if name == "terminate" else codec.ACTIVE_TEST
            for s in self._live():
                with contextlib.suppress(OSError):
                    s.send(codec.frame(command, 0x7F000000 + next(s.seq)))
        elif name in ("status", "late_response"):
            count, extra = (values + [None])[:2]
            if extra is None:
                extra = count
                count = 1
            with self._lock:
                self._faults[name] = [int(count), int(str(extra), 0)]
        else:
            with self._lock:
                self._faults[name] = int(value if value is not None else 1)

    def deliver(self, sender: str, text: str, to: str = "", account: str = "", fmt: int = codec.FMT_UCS2) -> int:
        """A member's message to the account whose service code ``to`` starts with (or named,
        or the first); to may carry an extension. Returns how many parts it took."""
        acc = self._route(to, account)
        to = to or acc.service_code
        ref = next(self._ids) & 0xFF
        if fmt == codec.FMT_GB:
            parts = [codec.Part(codec.FMT_GB, 0, 1, 1, text.encode("gb18030"))]
        else:
            parts = codec.encode(text, ref)
        for p in parts:
            d = codec.Deliver(
                msg_id=self._new_msg_id(),
                dest_id=to,
                src_terminal_id=sender.lstrip("+"),
                content=p.content,
                service_id=acc.service_id,
                msg_fmt=p.msg_fmt,
                tp_udhi=p.tp_udhi,
            )
            self._queue(acc.sp_id, d, "mo")
        return len(parts)

    def _route(self, to: str, account: str) -> Account:
        if account:
            if account not in self.accounts:
                raise ValueError(f"no account {account!r}; accounts: {', '.join(self.accounts)}")
            return self.accounts[account]
        best = max(
            (a for a in self.accounts.values() if to and to.startswith(a.service_code)),
            key=lambda a: len(a.service_code),
            default=None,
        )
        if to and best is None:
            raise ValueError(f"no account has a service code that {to} starts with")
        return best or next(iter(self.accounts.values()))

    def handle(self, request: dict[str, Any]) -> Any:
        """One control request (the control socket's, or in-process)."""
        op = request.get("op")
        if op == "status":
            return self.status()
        if op == "text":
            fmt = {"ucs2": codec.FMT_UCS2, "gbk": codec.FMT_GB}[request.get("fmt", "ucs2")]
            return {
                "parts": self.deliver(
                    request["from"], request["text"], request.get("to", ""), request.get("account", ""), fmt
                )
            }
        if op == "fault":
            self.fault(request["name"], request.get("value"))
            return {}
        raise ValueError(f"unknown op {op!r}")

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "port": self.port,
                "sessions": [
                    {"peer": s.peer, "account": s.account.sp_id if s.account else None, "version": f"{s.version:x}"}
                    for s in self._sessions
                    if s.alive
                ],
                "submitted": len(self.submitted),
                "messages": len(self.messages),
                "pending": {k: len(v) for k, v in self._pending.items()},
                "faults": dict(self._faults),
            }

    # ------------------------------------------------------------ sessions

    def _session(self, sock: socket.socket, peer: str) -> Session:
        return Session(sock, peer)

    def _serve(self, s: Session) -> None:
        try:
            while s.alive:
                head = recv_exact(s.sock, codec.HEADER.size)
                if head is None:
                    break
                length, command, sequence = codec.read_header(head)
                body = recv_exact(s.sock, length - codec.HEADER.size) if length > codec.HEADER.size else b""
                if body is None:
                    break
                self._handle(s, command, sequence, body)
        except (OSError, ValueError) as exc:
            log.info("ismg.session_error peer=%s error=%s", s.peer, exc)
        finally:
            self._close(s, "connection ended")

    def _handle(self, s: Session, command: int, sequence: int, body: bytes) -> None:
        if command == codec.CONNECT:
            self._connect(s, sequence, body)
        elif s.account is None:  # nothing but CONNECT before a CONNECT succeeded
            self._close(s, f"command 0x{command:08X} before CONNECT")
        elif command == codec.SUBMIT:
            self._submit(s, sequence, body)
        elif command == codec.DELIVER | codec.RESP:
            try:
                resp = codec.unpack_resp(body)
            except codec.CmppError:
                return
            self._acked(s, sequence, resp.result)
        elif command == codec.ACTIVE_TEST:
            if not self.silent_active_test:
                s.send(codec.frame(codec.ACTIVE_TEST | codec.RESP, sequence, b"\x00"))
        elif command == codec.TERMINATE:
            s.send(codec.frame(codec.TERMINATE | codec.RESP, sequence))
            self._close(s, "terminate")
        elif command == codec.TERMINATE | codec.RESP:
            self._close(s, "terminated")
        elif command == codec.ACTIVE_TEST | codec.RESP:
            self._event("active_test_resp", s)
        else:
            self._event("unknown_command", s, command=f"0x{command:08X}")

    def _connect(self, s: Session, sequence: int, body: bytes) -> None:
        try:
            c = codec.unpack_connect(body)
        except codec.CmppError:
            s.send(codec.pack_connect_resp(sequence, 1, b"", "", codec.V30))
            self._close(s, "malformed CONNECT")
            return
        version = codec.V20 if c.version < codec.V30 else codec.V30
        acc = self.accounts.get(c.source_addr)
        status = 0
        if s.account is not None:
            status = 1
        elif c.version > codec.V30:
            status = 4
        elif acc is None:
            status = 2
        elif c.authenticator != codec.authenticator(acc.sp_id, acc.secret, c.timestamp):
            status = 3
        elif self.refuse_connect:
            status = self.refuse_connect
        s.version = version
        secret = acc.secret if acc else ""
        s.send(codec.pack_connect_resp(sequence, status, c.authenticator, secret, version))
        self._event("connect", s, account=c.source_addr, status=status, version=f"{c.version:x}")
        if status:
            self._close(s, f"CONNECT refused ({status})")
            return
        assert acc is not None
        with self._lock:
            s.account = acc
        self._flush(acc.sp_id)

    # ------------------------------------------------------------ SUBMIT

    def _take(self, name: str) -> Any:
        with self._lock:
            v = self._faults.get(name)
            if isinstance(v, list) and v[0] > 0:
                v[0] -= 1
                return v[1]
            if isinstance(v, int) and v > 0:
                self._faults[name] = v - 1
                return True
        return None

    def _count_down(self, name: str) -> bool:
        """True for the submit that brings a countdown fault to zero (drop_after COUNT)."""
        with self._lock:
            left = int(self._faults.get(name, 0))
            if not left:
                return False
            self._faults[name] = left - 1
            return left == 1

    def _new_msg_id(self, count: int = 1) -> int:
        """A Msg_Id in the spec's layout; count: ids for a group send, first + i each (3.0 附录1)."""
        now = datetime.now(codec.SHANGHAI)
        with self._lock:
            n = next(self._msg_seq)
            for _ in range(count - 1):
                next(self._msg_seq)
        return codec.MsgId(
            now.month, now.day, now.hour, now.minute, now.second, self.gateway & 0x3FFFFF, n & 0xFFFF
        ).pack()

    def _over_rate(self, account: str) -> bool:
        if self.rate <= 0:
            return False
        with self._lock:
            now = time.monotonic()
            tokens, then = self._buckets.get(account, (self.rate, now))
            tokens = min(self.rate, tokens + (now - then) * self.rate)
            if tokens < 1:
                self._buckets[account] = (tokens, now)
                return True
            self._buckets[account] = (tokens - 1, now)
            return False

    def _check(self, acc: Account, sub: codec.Submit) -> int:
        """The Result an ISMG gives this SUBMIT's fields (0: it goes)."""
        if sub.msg_src != acc.sp_id:
            return codec.MSG_SRC
        if acc.service_id and sub.service_id != acc.service_id:
            return codec.SERVICE_ID
        if not sub.src_id.startswith(acc.service_code) or not sub.src_id.isdigit() or len(sub.src_id) > 20:
            return codec.SRC_ID
        for d in sub.dest_terminal_ids:
            digits = d[1:] if d.startswith("+") else d
            if not digits.isdigit() or not 5 <= len(digits) <= 21:
                return codec.DEST_TERMINAL
        limit = 160 if sub.msg_fmt == codec.FMT_ASCII else 140
        if len(sub.content) > limit:
            return codec.TOO_LONG
        if not 1 <= sub.pk_number <= sub.pk_total:
            return codec.STRUCTURE
        if sub.tp_udhi & 1 and (not sub.content or sub.content[0] + 1 > len(sub.content)):
            return codec.STRUCTURE
        if sub.fee_type not in ("01", "02", "03", "04", "05") or not sub.fee_code.isdigit():
            return codec.FEE_CODE
        if sub.registered_delivery not in (0, 1, 2):
            return codec.STRUCTURE
        return codec.OK

    def _submit(self, s: Session, sequence: int, body: bytes) -> None:
        acc = s.account
        assert acc is not None
        try:
            sub = codec.unpack_submit(body, s.version)
            result = self._check(acc, sub)
        except codec.CmppError as exc:
            sub, result = None, exc.result
        if result == codec.OK:
            forced = self._take("status")
            if forced is not None:
                result = int(forced)
            elif self._over_rate(acc.sp_id):
                result = codec.FLOW_CONTROL
        if result or sub is None:
            s.send(codec.pack_resp(codec.SUBMIT, sequence, 0, result or codec.STRUCTURE, s.version))
            self._event("refused", s, result=result)
            return
        first = self._new_msg_id(len(sub.dest_terminal_ids))
        ids = [first + i for i in range(len(sub.dest_terminal_ids))]  # one per recipient, in order
        self._record(s, sub, ids)
        silent = self._take("no_response")
        drop = self._count_down("drop_after")
        late = self._take("late_response")
        reports_first = bool(sub.registered_delivery == 1 and self._take("report_first"))
        if sub.registered_delivery == 1:  # taken is taken: the report comes even if the answer is lost
            for mid, dest in zip(ids, sub.dest_terminal_ids, strict=True):
                item = ("report", mid, dest, sub.src_id, datetime.now(UTC))
                if reports_first:  # out before the answer: a client must match it all the same
                    self._report(acc.sp_id, item)
                else:
                    self._later(self.receipt_delay_ms / 1000, acc.sp_id, item)
        if silent:
            return
        if drop:
            self._close(s, "fault: dropped mid-window")
            return
        resp = codec.pack_resp(codec.SUBMIT, sequence, first, codec.OK, s.version)
        if late is not None:
            threading.Timer(late / 1000, self._send_quietly, (s, resp)).start()
            return
        s.send(resp)
        if self._take("duplicate_response"):
            s.send(resp)

    def _send_quietly(self, s: Session, data: bytes) -> None:
        with contextlib.suppress(OSError):
            s.send(data)

    def _record(self, s: Session, sub: codec.Submit, ids: list[int]) -> None:
        try:
            t = codec.decode(sub.msg_fmt, sub.tp_udhi, sub.content)
            text, error = t.text, None
            udh = {"ref": t.ref, "total": t.total, "seq": t.seq} if t.ref is not None else None
        except codec.CmppError as exc:
            text, error, udh = "", str(exc), None
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        rows = [
            {
                "at": at,
                "account": s.account.sp_id if s.account else None,
                "version": f"{s.version >> 4}.{s.version & 0xF}",
                "msg_id": codec.msg_ref(mid),
                "src_id": sub.src_id,
                "service_id": sub.service_id,
                "to": dest,
                "registered_delivery": sub.registered_delivery,
                "msg_fmt": sub.msg_fmt,
                "pk_total": sub.pk_total,
                "pk_number": sub.pk_number,
                "udh": udh,
                "text": text,
                "error": error,
            }
            for mid, dest in zip(ids, sub.dest_terminal_ids, strict=True)
        ]
        whole = []
        with self._lock:
            for row in rows:
                self.submitted.append(row)
                if self._log_file:
                    self._log_file.write(json.dumps(row, ensure_ascii=False) + "\n")
                if udh is None:
                    whole.append(row)
                    continue
                key = (str(row["to"]), str(row["src_id"]), int(udh["ref"] or 0))
                got = self._parts.setdefault(key, {})
                got[int(udh["seq"] or 0)] = text
                if len(got) == udh["total"]:
                    del self._parts[key]
                    whole.append({**row, "text": "".join(got[i] for i in sorted(got)), "udh": None})
            for row in whole:
                self.messages.append(row)
            if self._log_file:
                self._log_file.flush()

    # ------------------------------------------------------------ DELIVER (MO and reports)

    def _due(self, account: str, item: Any) -> None:
        self._report(account, item)

    def _stat(self) -> str:
        if self.receipt_stat:
            return self.receipt_stat
        stats, weights = zip(*self.receipt_mix.items(), strict=True)
        with self._lock:
            return str(self._rng.choices(stats, weights)[0])

    def _report(self, account: str, item: Any) -> None:
        _kind, mid, dest, src_id, submitted = item
        live = [s for s in self._live() if s.account and s.account.sp_id == account]
        version = live[0].version if live else codec.V30
        if version == codec.V30 and self._take("short_report"):
            version = codec.V20
        r = codec.Report(
            mid, self._stat()[:7], codec.report_time(submitted), codec.report_time(datetime.now(UTC)), dest, 0
        )
        d = codec.Deliver(
            msg_id=self._new_msg_id(),
            dest_id=src_id,
            src_terminal_id=dest,
            content=codec.pack_report(r, version),
            msg_fmt=0,
            registered_delivery=1,
        )
        self._queue(account, d, "report")

    def _queue(self, account: str, d: codec.Deliver, kind: str) -> None:
        with self._lock:
            self._pending[account].append(Pending(next(self._ids), d, kind))
        self._flush(account)

    def _flush(self, account: str) -> None:
        """Send each waiting DELIVER not yet on a live session to a session of the account."""
        with self._lock:
            live = [s for s in self._sessions if s.alive and s.account and s.account.sp_id == account]
            if not live:
                return
            s = live[0]
            todo = [p for p in self._pending[account] if p.sent_on is None]
            for p in todo:
                p.sent_on, p.sequence = s, next(s.seq)
        for p in todo:
            try:
                assert p.sequence is not None
                s.send(codec.pack_deliver(p.sequence, p.deliver, s.version))
                self._event("deliver", s, kind=p.kind, id=p.id)
            except OSError:
                self._close(s, "write failed")
                return

    def _acked(self, s: Session, sequence: int, result: int) -> None:
        with self._lock:
            if s.account is None:
                return
            items = self._pending[s.account.sp_id]
            hit = next((p for p in items if p.sent_on is s and p.sequence == sequence), None)
            if hit is None:
                return
            lost = self._faults.get("lose_ack", 0) > 0
            if lost:  # the answer never arrived here: delivered again, as after a timeout
                self._faults["lose_ack"] -= 1
                hit.sent_on, hit.sequence = None, None
            elif result == 0:
                items.remove(hit)
            else:
                hit.sent_on, hit.sequence = None, None
        self._event("acked", s, id=hit.id, kind=hit.kind, result=result, lost=lost)
        if lost:
            self._flush(s.account.sp_id)


def parse_account(spec: str) -> Account:
    """SP_ID:SECRET[:SERVICE_CODE[:SERVICE_ID]] as given on the command line."""
    parts = spec.split(":")
    if not 2 <= len(parts) <= 4 or not parts[0] or not parts[1]:
        raise ValueError(f"account {spec!r} must look like 901234:secret or 901234:secret:10690001:MZB0010101")
    code = parts[2] if len(parts) > 2 and parts[2] else "10690000"
    return Account(parts[0], parts[1], code, parts[3] if len(parts) > 3 else "")


__all__ = ["FAULTS", "Account", "Ismg", "parse_account"]
