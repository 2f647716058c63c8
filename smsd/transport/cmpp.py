"""A carrier's ISMG over CMPP 3.0 or 2.0 (China Mobile's enterprise SMS link) as a transport.

One long connection, the SP as client (CMPP 3.0 section 7). CONNECT authenticates with the MD5
of the SP_Id, the shared secret and a timestamp; the ISMG's answer is checked tolerantly (its
authenticator is computed with a 4- or a 1-octet Status by different gateways: a mismatch is
logged, not fatal). A reader thread takes every message off the socket: SUBMIT_RESPs go to the
submit waiting for them, DELIVERs (members' messages and status reports) wait in a queue until
the worker hands them to the sink, and their DELIVER_RESP is sent only after the sink committed
(persist, then acknowledge: an ISMG delivers an unacknowledged DELIVER again after a reconnect,
and the store recognises it by its key: the DELIVER's own Msg_Id and its content).

Answers to a SUBMIT (its Result):
- 0: accepted; the Msg_Id is the part's reference, matched by the status report.
- 8 (flow control): the ISMG is over the account's rate. The same part goes again after a
  growing wait (nothing was sent, nothing is counted); still refused after ``busy_give_up_s``:
  the transport pauses, the message stays queued.
- 7, 10, 11, 5, 9, 12 (wrong Service_Id, Src_Id, Msg_src, fee fields): the account's setup is
  wrong and every message would be refused alike: the transport pauses with the reason (and the
  key to check) in `smsd status`; the message is not failed.
- 13, 6, 4, 1 (bad number, too long, length, structure): the message fails at once.
- anything else: a transient refusal (retried later, counted).
- no answer in time, or the connection drops after the part left: in doubt (a resend is flagged).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smsd.cmpp import codec
from smsd.i18n import _
from smsd.notes import N_
from smsd.settings import ModemConfig, between, opt, seconds, tcp_port
from smsd.transport.base import (
    Concatenation,
    DeliveryReport,
    Health,
    InDoubt,
    Kind,
    NotSent,
    Outcome,
    Outgoing,
    ProviderRef,
    Received,
    Refused,
    Result,
    Transport,
)
from smsd.transport.slowdown import SlowDown

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
REDELIVERY_S = 6 * 3600.0  # an ISMG redelivers an unacknowledged DELIVER within minutes of the next CONNECT
REDELIVERY_AFTER_ACK_S = 600.0  # a DELIVER_RESP lost on the way brings the same DELIVER again
ACTIVE_TEST_TRIES = 3  # CMPP's N: an idle link whose probes go unanswered this often is dropped
ACCOUNT_KEYS = {  # the Result of a wrong account setup, and the key of [modems.NAME] to check
    codec.SERVICE_ID: "service_id",
    codec.SRC_ID: "src_id",
    codec.MSG_SRC: "sp_id",
    codec.FEE_CODE: "fee_type, fee_code",
    codec.NOT_OUR_FEE_NUMBER: "fee_user_type",
    codec.FEE_TERMINAL: "fee_user_type",
}


class CmppTransport(Transport):
    kind = "cmpp"

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        sp_id: str,
        shared_secret: str,
        service_id: str,
        src_id: str,
        version: int = codec.V30,
        window: int = 16,
        active_test_s: float = 30.0,
        response_timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        busy_give_up_s: float = 30.0,
        fee_user_type: int = 2,
        fee_type: str = "01",
        fee_code: str = "000000",
        signature: str = "",
        signed_by_ismg: bool = True,
    ) -> None:
        super().__init__(name)
        self.host, self.tcp_port = host, port
        self.sp_id, self.shared_secret = sp_id, shared_secret
        self.service_id, self.src_id = service_id, src_id
        self.version = version
        self.window = max(1, min(16, window))
        self.active_test_s = active_test_s
        self.response_timeout_s = response_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.busy_give_up_s = busy_give_up_s
        self.fee_user_type, self.fee_type, self.fee_code = fee_user_type, fee_type, fee_code
        self.signature, self.signed_by_ismg = signature, signed_by_ismg
        self._sock: socket.socket | None = None
        self._bound = False
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._responses: dict[int, codec.Resp] = {}
        self._inbound: deque[tuple[int, codec.Deliver, socket.socket]] = deque()  # (sequence, deliver, its link)
        self._reader: threading.Thread | None = None
        self._sequence = 0
        self._next_connect = 0.0
        self._backoff = 1.0
        self._seen = 0.0  # when the ISMG last sent anything
        self._probed = 0.0  # when we sent ACTIVE_TEST (0: not waiting)
        self._probes = 0
        self._slow = SlowDown(name, self.interrupted, 0.04, busy_give_up_s)
        self.last_error = ""
        self._down_reason = ""
        self.counters: dict[str, int] = {"submitted": 0, "refused": 0, "busy": 0, "received": 0, "receipts": 0}

    # ------------------------------------------------------------ connection

    def _next_sequence(self) -> int:
        with self._send_lock:
            self._sequence = self._sequence % 0x7FFFFFFF + 1
            return self._sequence

    @property
    def _ismg(self) -> str:
        return _("ISMG {host}:{port}").format(host=self.host, port=self.tcp_port)

    def ensure_ready(self) -> bool:
        if self._bound:
            return True
        if time.monotonic() < self._next_connect:
            return False
        self.close()
        try:
            self._connect()
        except Exception as exc:  # refused, closed, an odd answer: say why, wait and try again
            reason = self._connect_error(exc)
            self.last_error = reason
            self._next_connect = time.monotonic() + self._backoff
            log.warning("cmpp.connect_failed transport=%s error=%s retry_in=%.0fs", self.name, reason, self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
            self.close()
            return False
        self._backoff = 1.0
        self.last_error = ""
        log.info(
            "cmpp.connected transport=%s host=%s port=%s sp_id=%s", self.name, self.host, self.tcp_port, self.sp_id
        )
        return True

    def _connect_error(self, exc: Exception) -> str:
        if isinstance(exc, _Refused):
            what = {
                2: _("unknown SP_Id: check sp_id"),
                3: _("authentication failed: check shared_secret (and this box's clock)"),
                4: _('version not supported: try cmpp_version = "2.0"'),
            }.get(exc.status, _("refused"))
            return _("{where}: CONNECT {what} (Status {status})").format(where=self._ismg, what=what, status=exc.status)
        if isinstance(exc, OSError):
            return _("{where}: cannot connect ({error})").format(
                where=self._ismg, error=exc.strerror or exc or _("connection refused")
            )
        return _("{where}: CONNECT failed ({error})").format(where=self._ismg, error=exc)

    def _connect(self) -> None:
        sock = socket.create_connection((self.host, self.tcp_port), timeout=self.connect_timeout_s)
        self._sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a window is many small messages in a row
        ts = codec.timestamp(datetime.now(UTC))
        sequence = self._next_sequence()
        sock.sendall(codec.pack_connect(sequence, self.sp_id, self.shared_secret, self.version, ts))
        command, _seq, body = _read(sock)
        if command != codec.CONNECT | codec.RESP:
            raise codec.CmppError(f"answered CONNECT with command 0x{command:08X}")
        resp = codec.unpack_connect_resp(body)
        if resp.status != 0:
            raise _Refused(resp.status)
        source = codec.authenticator(self.sp_id, self.shared_secret, ts)
        if resp.authenticator not in codec.ismg_authenticators(0, source, self.shared_secret):
            log.warning(
                "cmpp.ismg_authenticator_mismatch transport=%s (accepted: many ISMGs fill it otherwise)", self.name
            )
        if resp.version and resp.version < self.version:
            log.warning(
                "cmpp.version transport=%s ismg_version=%x configured=%x", self.name, resp.version, self.version
            )
        sock.settimeout(None)  # the reader blocks; close() shuts the socket to end it
        with self._cond:
            self._responses.clear()
            self._inbound.clear()
            self._bound = True
            self._down_reason = ""
        self._seen, self._probed, self._probes = time.monotonic(), 0.0, 0
        self._reader = threading.Thread(target=self._read_loop, args=(sock,), name=f"cmpp-{self.name}", daemon=True)
        self._reader.start()

    def retry_in(self) -> float:
        return 0.0 if self._bound else max(0.0, self._next_connect - time.monotonic())

    def close(self) -> None:
        sock, self._sock = self._sock, None
        was_bound = self._bound
        with self._cond:
            self._bound = False
            self._cond.notify_all()
        if sock is not None:
            if was_bound:  # tell the ISMG the session ends (it may close before answering)
                with contextlib.suppress(OSError):
                    sock.sendall(codec.frame(codec.TERMINATE, self._next_sequence()))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        reader, self._reader = self._reader, None
        if reader is not None and reader is not threading.current_thread():
            reader.join(2.0)

    def _down(self, sock: socket.socket, reason: str) -> None:
        with self._cond:
            if sock is not self._sock:
                return
            self._bound = False
            self._down_reason = reason
            self.last_error = reason
            self._cond.notify_all()
        self.wake.set()
        log.warning("cmpp.link_down transport=%s error=%s", self.name, reason)

    # ------------------------------------------------------------ the reader thread

    def _read_loop(self, sock: socket.socket) -> None:
        while True:
            try:
                command, sequence, body = _read(sock)
            except OSError:
                self._down(sock, _("{where} closed the connection").format(where=self._ismg))
                return
            except codec.CmppError as exc:  # a length no CMPP message has: the stream is lost
                self._down(sock, _("{where} sent an unreadable message ({error})").format(where=self._ismg, error=exc))
                return
            self._seen = time.monotonic()
            if command == codec.SUBMIT | codec.RESP:
                try:
                    resp = codec.unpack_resp(body)
                except codec.CmppError:
                    log.warning("cmpp.bad_submit_resp transport=%s body=%s", self.name, body.hex())
                    continue
                with self._cond:
                    self._responses[sequence] = resp
                    self._cond.notify_all()
            elif command == codec.DELIVER:
                with self._cond:
                    self._inbound.append((sequence, self._deliver(body), sock))
                self.wake.set()
            elif command == codec.ACTIVE_TEST:
                self._send(sock, codec.frame(codec.ACTIVE_TEST | codec.RESP, sequence, b"\x00"))
            elif command == codec.ACTIVE_TEST | codec.RESP:
                self._probed, self._probes = 0.0, 0
            elif command == codec.TERMINATE:
                self._send(sock, codec.frame(codec.TERMINATE | codec.RESP, sequence))
                self._down(sock, _("{where} ended the session (TERMINATE)").format(where=self._ismg))
                return
            elif command != codec.TERMINATE | codec.RESP:
                log.info("cmpp.unhandled transport=%s command=0x%08X", self.name, command)

    def _deliver(self, body: bytes) -> codec.Deliver:
        try:
            return codec.unpack_deliver(body, self.version)
        except codec.CmppError as exc:  # kept (and acknowledged) as an unreadable message, never lost
            msg_id = int.from_bytes(body[:8], "big") if len(body) >= 8 else 0  # its answer names it
            return codec.Deliver(msg_id, "", "", body, link_id=f"unreadable: {exc}", registered_delivery=0xFF)

    def _send(self, sock: socket.socket, data: bytes) -> bool:
        try:
            with self._send_lock:
                sock.sendall(data)
            return True
        except OSError:
            self._down(sock, _("{where}: the connection dropped while writing").format(where=self._ismg))
            return False

    # ------------------------------------------------------------ submitting

    def submit(self, message: Outgoing, seq: int) -> ProviderRef | None:
        result = self.submit_many([(message, seq)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def submit_many(self, items: Sequence[tuple[Outgoing, int]]) -> list[Result]:
        """Send the parts in one window; the ones refused for flow control again after a growing wait
        (from 40 ms: SMSGate pauses 40 ms on Result 8)."""

        def give_up(waited: float) -> Refused:
            return Refused(
                _("ISMG over the account's rate for {seconds}s (Result 8); the transport pauses").format(
                    seconds=round(waited)
                ),
                "transport",
                code=codec.FLOW_CONTROL,
            )

        return self._slow.send(items, self._round, give_up, (codec.FLOW_CONTROL,))

    def segments(self, text: str) -> int | None:
        """With a signature, the carrier's count: the text with 【…】 at its start."""
        return len(codec.encode(text, 0, self.signature)) if self.signature else None

    def parts(self, message: Outgoing) -> list[codec.Part]:
        return codec.encode(message.text, message.concat_ref, self.signature, self.signed_by_ismg)

    def _submit(self, message: Outgoing, part: codec.Part) -> codec.Submit:
        return codec.Submit(
            msg_src=self.sp_id,
            service_id=self.service_id,
            src_id=self.src_id,
            dest_terminal_ids=(message.to.lstrip("+"),),
            content=part.content,
            msg_fmt=part.msg_fmt,
            tp_udhi=part.tp_udhi,
            pk_total=part.total,
            pk_number=part.number,
            registered_delivery=1 if message.status_report else 0,
            fee_user_type=self.fee_user_type,
            fee_type=self.fee_type,
            fee_code=self.fee_code,
            valid_time=_valid_time(message.validity_minutes),
        )

    def _round(self, items: Sequence[tuple[Outgoing, int]], todo: list[int], results: list[Result | None]) -> list[int]:
        sock = self._sock
        if not self._bound or sock is None:
            for i in todo:
                results[i] = NotSent(
                    _("{name}: not connected to the ISMG ({why})").format(
                        name=self.name, why=self._down_reason or _("connecting")
                    )
                )
            return []
        sequences: dict[int, int] = {}
        planned: dict[int, list[codec.Part]] = {}
        for n, i in enumerate(todo):
            message, seq = items[i]
            parts = planned.setdefault(message.id, self.parts(message))
            if not 1 <= seq <= len(parts):
                results[i] = Refused(f"part {seq} of {len(parts)} does not exist", "permanent")
                continue
            sequence = self._next_sequence()
            try:
                data = codec.pack_submit(sequence, self._submit(message, parts[seq - 1]), self.version)
            except codec.CmppError as exc:  # a field this account's values cannot carry
                results[i] = Refused(_("cannot be sent over CMPP: {error}").format(error=exc), "permanent")
                continue
            if not self._send(sock, data):
                for j in todo[n:]:
                    results[j] = NotSent(
                        _("{name}: the connection dropped before the part left").format(name=self.name)
                    )
                break
            sequences[i] = sequence
        deadline = time.monotonic() + self.response_timeout_s
        with self._cond:
            while True:
                waiting = [i for i, s in sequences.items() if s not in self._responses]
                if not waiting or not self._bound or self._sock is not sock:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            answers = {i: self._responses.pop(s, None) for i, s in sequences.items()}
        busy: list[int] = []
        for i, resp in answers.items():
            if resp is None:
                gone = not self._bound or self._sock is not sock
                why = (
                    _("the connection dropped")
                    if gone
                    else _("no answer within {seconds}s").format(seconds=round(self.response_timeout_s))
                )
                results[i] = InDoubt(
                    _("{name}: {why} after the part left").format(name=self.name, why=why),
                    "gone" if gone else "timeout",
                    False,
                )
                continue
            if resp.result == codec.OK:
                results[i] = codec.msg_ref(resp.msg_id)
                self.counters["submitted"] += 1
                continue
            if resp.result == codec.FLOW_CONTROL:
                self.counters["busy"] += 1
                busy.append(i)
                continue
            self.counters["refused"] += 1
            results[i] = self._refusal(resp.result)
        if any(isinstance(r, InDoubt) for r in results) and self._bound and self._sock is sock:
            self._down(sock, _("{where} stopped answering submits").format(where=self._ismg))
        return busy

    def _refusal(self, result: int) -> Refused:
        name = _(codec.result_name(result))
        if result in codec.ACCOUNT:
            return Refused(
                _("ISMG refused the account's setup: {name} (Result {result}); check {key} in [modems.{modem}]").format(
                    name=name, result=result, key=ACCOUNT_KEYS.get(result, "sp_id"), modem=self.name
                ),
                "transport",
                code=result,
            )
        if result in codec.PERMANENT:
            return Refused(
                _("ISMG refused the message: {name} (Result {result})").format(name=name, result=result),
                "permanent",
                code=result,
            )
        return Refused(
            _("ISMG refused the message for now: {name} (Result {result})").format(name=name, result=result),
            "transient",
            code=result,
        )

    # ------------------------------------------------------------ receiving

    def receive(self) -> int:
        """Commit what arrived in batches (one durable commit for up to 200 DELIVERs), then
        acknowledge each with its DELIVER_RESP: persist, then acknowledge."""
        assert self.sink is not None
        handled = 0
        while True:
            with self._cond:
                batch = [self._inbound[i] for i in range(min(len(self._inbound), 200))]
            if not batch:
                return handled
            items = [(sequence, d, link, *self._item(d)) for sequence, d, link in batch]
            try:
                with self.sink.batch():
                    for _seq, _d, _link, _key, item in items:
                        if isinstance(item, DeliveryReport):
                            self.sink.report(item)
                        else:
                            self.sink.received(item)
            except Exception:  # not committed: not acknowledged either; tried again on the next pass
                log.exception("cmpp.store_failed transport=%s", self.name)
                return handled
            with self._cond:
                for entry in batch:
                    if self._inbound and self._inbound[0] is entry:
                        self._inbound.popleft()
            taken: list[str] = []
            for sequence, d, link, key, item in items:
                report = isinstance(item, DeliveryReport)
                self.counters["receipts" if report else "received"] += 1
                ack = codec.pack_resp(codec.DELIVER, sequence, d.msg_id, codec.OK, self.version)
                acked = link is self._sock and self._send(link, ack)
                if acked and not report:
                    taken.append(key)
            if taken:
                with self.sink.batch():
                    for key in taken:
                        self.sink.removed(key)
            handled += len(items)

    def messages_waiting(self) -> bool:
        with self._cond:
            return any(d.registered_delivery != 1 for _s, d, _l in self._inbound)

    def _item(self, d: codec.Deliver) -> tuple[str, Received | DeliveryReport]:
        """A DELIVER as a report or a member's message; key: what the ISMG sends again on a
        redelivery (its Msg_Id, the numbers, the content), never the same for a second message."""
        digest = hashlib.sha256(d.content).hexdigest()[:32]
        key = f"cmpp:{d.msg_id}:{d.src_terminal_id}:{d.dest_id}:{d.msg_fmt}:{d.tp_udhi}:{digest}"
        if d.registered_delivery == 0xFF:
            return key, Received(key, None, "", "", None, None, f"unreadable DELIVER ({d.link_id}): {d.content.hex()}")
        if d.registered_delivery == 1:
            try:
                r = codec.unpack_report(d.content)
            except codec.CmppError as exc:
                return key, Received(key, None, "", "", None, None, f"unreadable status report: {exc}")
            outcome: Outcome = (
                "delivered" if r.outcome == "delivered" else "pending" if r.outcome == "pending" else "failed"
            )
            if outcome == "failed":
                log.info("cmpp.report_failed transport=%s msg_id=%s stat=%s", self.name, r.msg_id, r.stat)
            recipient = r.dest_terminal_id or d.src_terminal_id
            return key, DeliveryReport(codec.msg_ref(r.msg_id), _number(recipient), r.status, outcome, r.done)
        sender = _number(d.src_terminal_id)
        if not d.src_terminal_id:
            return key, Received(key, None, "", "", None, None, "DELIVER without a Src_terminal_Id")
        try:
            t = codec.decode(d.msg_fmt, d.tp_udhi, d.content)
        except codec.CmppError as exc:
            return key, Received(key, None, "", "", None, None, f"undecodable DELIVER: {exc}")
        concat = Concatenation(t.ref, t.total, t.seq) if t.ref is not None and t.total and t.seq else None
        return key, Received(
            key,
            sender,
            t.text,
            t.text,
            concat,
            datetime.now(UTC),
            redelivery_window_s=REDELIVERY_S,
            redelivery_after_ack_s=REDELIVERY_AFTER_ACK_S,
        )

    # ------------------------------------------------------------ upkeep

    def tick(self) -> None:
        """ACTIVE_TEST on an idle link; unanswered ACTIVE_TEST_TRIES times in a row: the link is down."""
        sock = self._sock
        if not self._bound or sock is None:
            return
        now = time.monotonic()
        if self._probed and self._seen < self._probed:  # a probe is out: wait for it, then try again
            if now - self._probed <= self.response_timeout_s:
                return
            if self._probes >= ACTIVE_TEST_TRIES:
                self._down(sock, _("{where} did not answer ACTIVE_TEST").format(where=self._ismg))
                return
            self._probe(sock, now)
            return
        if now - max(self._seen, self._probed) >= self.active_test_s:
            self._probes = 0
            self._probe(sock, now)

    def _probe(self, sock: socket.socket, now: float) -> None:
        self._probed = now
        self._probes += 1
        self._send(sock, codec.frame(codec.ACTIVE_TEST, self._next_sequence()))

    def next_tick_in(self) -> float:
        if not self._bound:
            return 3600.0
        now = time.monotonic()
        if self._probed and self._seen < self._probed:
            return max(0.0, self._probed + self.response_timeout_s - now)
        return max(0.0, max(self._seen, self._probed) + self.active_test_s - now)

    def health(self) -> Health:
        return Health(
            ready=self._bound,
            registered=self._bound,
            operator=f"{self.host}:{self.tcp_port}",
            model=f"CMPP {self.version >> 4}.{self.version & 0xF}",
            last_error=self.last_error,
            counters=dict(self.counters),
        )

    def note_error(self, text: str) -> None:
        self.last_error = text

    @property
    def where(self) -> str:
        """Where it sends, for `smsd status` (the secret never appears)."""
        return f"cmpp://{self.sp_id}@{self.host}:{self.tcp_port}"


class _Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _read(sock: socket.socket) -> tuple[int, int, bytes]:
    head = _recv_exact(sock, codec.HEADER.size)
    length, command, sequence = codec.read_header(head)
    return command, sequence, _recv_exact(sock, length - codec.HEADER.size)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            raise ConnectionError("the connection was closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _number(terminal: str) -> str:
    """A terminal id as the store keeps numbers: 8613800138000 and 13800138000 are +8613800138000."""
    digits = terminal.lstrip("+")
    if digits.isdigit() and len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    if digits.isdigit() and digits.startswith("86") and len(digits) == 13:
        return "+" + digits
    return terminal


def _valid_time(minutes: int | None) -> str:
    """ValId_Time in the SMPP 3.3 relative form CMPP takes (YYMMDDhhmmsstnnR); empty: the ISMG's default."""
    if not minutes:
        return ""
    days, rem = divmod(min(minutes, 99 * 1440), 1440)
    hours, mins = divmod(rem, 60)
    return f"0000{days:02d}{hours:02d}{mins:02d}000R"


HOURLY_CAP = 100_000  # the account's default caps: the ISMG enforces the contract's (Result 8 beyond its rate)
DAILY_CAP = 1_000_000


@dataclass(frozen=True)
class CmppSettings:
    """The keys of a [modems.NAME] table with kind = "cmpp"."""

    host: str = opt("", "CMPP: the ISMG's address the carrier gave (often on a private line or VPN).")
    cmpp_port: int = opt(7890, "CMPP: the ISMG's TCP port (7890: the long-connection port).", tcp_port)
    sp_id: str = opt("", 'CMPP: the SP\'s enterprise code (企业代码), six digits, e.g. "901234".')
    shared_secret: str = opt(
        "", "CMPP: the shared secret for CONNECT (never logged; keep this file readable by smsd only)."
    )
    service_id: str = opt(
        "", 'CMPP: the Service_Id (业务代码) the carrier assigned with the account, e.g. "MZB0010101".'
    )
    src_id: str = opt(
        "",
        "CMPP: the number members see and reply to: the 106... service code, plus this office's extension, "
        'e.g. "1069000101" (at most 20 digits).',
    )
    cmpp_version: str = opt("3.0", 'CMPP: "3.0", or "2.0" for an older ISMG.', choices=("3.0", "2.0"))
    cmpp_window: int = opt(
        16, "CMPP: submits in flight before waiting for their answers (CMPP's W, 1 to 16).", between(1, 16)
    )
    active_test_s: float = opt(
        30.0, "CMPP: an idle link is checked with ACTIVE_TEST this often (NAT and firewalls drop quiet links).", seconds
    )
    fee_user_type: int = opt(2, "CMPP: who pays: 2 the SP (the office; the default), 0 the member.", between(0, 3))
    fee_type: str = opt(
        "01", 'CMPP: FeeType: "01" free to the member (the default), "02" per message.', choices=("01", "02", "03")
    )
    fee_code: str = opt("000000", "CMPP: FeeCode, the member's fee in fen as six digits (000000: free).")
    signature: str = opt(
        "",
        'CMPP: the carrier\'s filed signature, e.g. "【某某县委组织部】". Parts and cost are counted with it '
        "at the start of each message.",
    )
    signature_by: str = opt(
        "ismg",
        'CMPP: who writes the signature: "ismg" (the carrier\'s gateway adds the filed one) or "smsd" (smsd '
        "writes it at the start of each message).",
        choices=("ismg", "smsd"),
    )


class CmppKind(Kind):
    name = "cmpp"
    settings = CmppSettings
    defaults = {"hourly_cap": HOURLY_CAP, "daily_cap": DAILY_CAP, "price_fen": 4}  # the contract's, not a SIM's

    @staticmethod
    def _s(modem: ModemConfig) -> CmppSettings:
        assert isinstance(modem.settings, CmppSettings)
        return modem.settings

    def check(self, modem: ModemConfig) -> list[tuple[str, dict[str, Any]]]:
        s = self._s(modem)
        missing = [k for k in ("host", "sp_id", "shared_secret", "service_id", "src_id") if not getattr(s, k)]
        if missing:
            return [
                (
                    N_(
                        '{path}: [modems.{name}] (kind = "cmpp") needs {missing} (e.g. host = "10.1.1.1", '
                        'sp_id = "901234", shared_secret = "...", service_id = "MZB0010101", src_id = "1069000101")'
                    ),
                    {"missing": ", ".join(missing)},
                )
            ]
        if not (s.sp_id.isdigit() and len(s.sp_id) <= 6):
            return [
                (
                    N_("{path}: sp_id in [modems.{name}] must be the SP's code of up to six digits, not {value!r}"),
                    {"value": s.sp_id},
                )
            ]
        if not (s.src_id.isdigit() and s.src_id.startswith("106") and len(s.src_id) <= 20):
            return [
                (
                    N_(
                        "{path}: src_id in [modems.{name}] must be the 106... service code and extension "
                        "(digits, at most 20), not {value!r}"
                    ),
                    {"value": s.src_id},
                )
            ]
        if len(s.service_id.encode()) > 10:
            return [(N_("{path}: service_id in [modems.{name}] may be at most 10 characters (CMPP)"), {})]
        if not (s.fee_code.isdigit() and len(s.fee_code) <= 6):
            return [(N_("{path}: fee_code in [modems.{name}] must be up to six digits (the fee in fen)"), {})]
        return []

    def where(self, modem: ModemConfig) -> str:
        s = self._s(modem)
        return f"cmpp://{s.sp_id}@{s.host}:{s.cmpp_port}"

    def build(self, modem: ModemConfig, device: str | None = None) -> Transport:
        s = self._s(modem)
        return CmppTransport(
            modem.name,
            s.host,
            s.cmpp_port,
            sp_id=s.sp_id,
            shared_secret=s.shared_secret,
            service_id=s.service_id,
            src_id=s.src_id,
            version=codec.VERSIONS[s.cmpp_version],
            window=s.cmpp_window,
            active_test_s=s.active_test_s,
            response_timeout_s=modem.command_timeout_s * 2,
            connect_timeout_s=modem.command_timeout_s,
            fee_user_type=s.fee_user_type,
            fee_type=s.fee_type,
            fee_code=s.fee_code,
            signature=s.signature,
            signed_by_ismg=s.signature_by == "ismg",
        )

    def warnings(self, modem: ModemConfig) -> list[str]:
        s = self._s(modem)
        if s.signature and not (s.signature.startswith("【") and s.signature.endswith("】")):
            return [
                _("modem {name}: the signature should be written 【…】, as filed with the carrier").format(
                    name=modem.name
                )
            ]
        return []

    def doctor(self, modem: ModemConfig) -> list[tuple[str, bool, str]]:
        """Can this box open a connection to the ISMG (the CONNECT is the daemon's)?"""
        s = self._s(modem)
        what = _("modem {name}").format(name=modem.name)
        try:
            with socket.create_connection((s.host, s.cmpp_port), timeout=3):
                detail = _("ISMG {host}:{port} reachable (smsd status shows whether CONNECT succeeds)")
                return [(what, True, detail.format(host=s.host, port=s.cmpp_port))]
        except OSError as exc:
            detail = _("cannot reach ISMG {host}:{port} ({error}); is the line up, is this box's IP whitelisted?")
            return [(what, False, detail.format(host=s.host, port=s.cmpp_port, error=exc.strerror or exc))]


KIND = CmppKind()

__all__ = ["KIND", "CmppSettings", "CmppTransport"]
