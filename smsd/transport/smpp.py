"""An SMSC (a carrier, or a city's Jasmin) over SMPP 3.4 as a transport, on smpplib.

One transceiver bind. A reader thread takes every PDU off the socket: responses go to the
submit that waits for them, ``deliver_sm`` (MO and delivery receipts) wait in a queue until the
worker hands them to the sink; ``deliver_sm_resp`` is sent only after the sink committed
(persist, then acknowledge: a crash in between gives a redelivery that the store recognises by
its key). Submits go out in a window (``submit_many``: up to ``window`` parts in flight).

Answers to a submit_sm:
- ``ESME_RTHROTTLED`` / ``ESME_RMSGQFUL``: the SMSC is busy. The same part is sent again after a
  growing wait (it was refused, so nothing was sent); still busy after ``busy_give_up_s``: the
  transport pauses, the message stays queued.
- an account refusal (``ESME_RSYSERR``, which Jasmin answers to an exhausted quota; bind
  errors): the transport pauses with the reason in `smsd status`; the message is not failed.
- a refusal of the message (``ESME_RINVDSTADR``, ...): it fails at once.
- anything else: a transient refusal (retried later, counted).
- no answer in time, or the connection drops after the part left: in doubt (a resend is flagged).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from smsd.i18n import _
from smsd.notes import N_
from smsd.settings import ModemConfig, between, opt, seconds, tcp_port
from smsd.smpp import codec
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
RESPONSES = {  # command_id and body of the responses this client sends
    "deliver_sm_resp": (0x80000005, b"\x00"),
    "enquire_link_resp": (0x80000015, b""),
    "unbind_resp": (0x80000006, b""),
}
# An SMSC delivers an unacknowledged deliver_sm again within minutes of the next bind; the same
# body later than this is a new message (a member's second "QR"), never taken for a redelivery.
REDELIVERY_S = 6 * 3600.0
# Acknowledged is not proof the SMSC heard it: a deliver_sm_resp lost on the way (the link
# dropped after it was written) brings the same deliver_sm again, seconds or minutes later.
REDELIVERY_AFTER_ACK_S = 600.0


class SmppTransport(Transport):
    kind = "smpp"

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        *,
        system_id: str,
        password: str,
        system_type: str = "",
        source_addr: str = "",
        window: int = 10,
        enquire_link_s: float = 30.0,
        response_timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        busy_give_up_s: float = 30.0,
        bind: str = "transceiver",
        alphabet: str = "gsm7",
    ) -> None:
        super().__init__(name)
        self.host, self.tcp_port = host, port
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.source_addr = source_addr
        self.alphabet = alphabet  # what data_coding 0 means at this SMSC, both ways
        self.window = max(1, window)
        self.enquire_link_s = enquire_link_s
        self.response_timeout_s = response_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.busy_give_up_s = busy_give_up_s
        self._client: Any = None  # the link that submits (the transceiver, or the transmitter)
        self._links: list[Any] = []  # every bound link: [transceiver] or [transmitter, receiver]
        self.bind_mode = bind
        self._bound = False
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._responses: dict[int, Any] = {}
        self._inbound: deque[tuple[Any, Any]] = deque()  # (deliver_sm, the link it came on)
        self._readers: list[threading.Thread] = []
        self._next_connect = 0.0
        self._backoff = 1.0
        self._seen: dict[int, float] = {}  # per link: when it last sent us anything
        self._probed: dict[int, float] = {}  # per link: when we sent enquire_link (0: not waiting)
        self._slow = SlowDown(name, self.interrupted, 0.05, busy_give_up_s)
        self.last_error = ""
        self._down_reason = ""
        self.counters: dict[str, int] = {"submitted": 0, "refused": 0, "busy": 0, "received": 0, "receipts": 0}

    # ------------------------------------------------------------ connection

    def ensure_ready(self) -> bool:
        if self._bound:
            return True
        now = time.monotonic()
        if now < self._next_connect:
            return False
        self.close()
        try:
            self._bind()
        except Exception as exc:  # a refused connection, a bind error, a broken answer: wait and try again
            reason = self._bind_error(exc)
            self.last_error = reason
            self._next_connect = time.monotonic() + self._backoff
            log.warning("smpp.bind_failed transport=%s error=%s retry_in=%.0fs", self.name, reason, self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
            self.close()
            return False
        self._backoff = 1.0
        self.last_error = ""
        log.info(
            "smpp.bound transport=%s host=%s port=%s system_id=%s", self.name, self.host, self.tcp_port, self.system_id
        )
        return True

    def _bind_error(self, exc: Exception) -> str:
        where = _("SMSC {host}:{port}").format(host=self.host, port=self.tcp_port)
        if isinstance(exc, smpplib.exceptions.PDUError) and len(exc.args) > 1:
            status = int(exc.args[1])
            what = {codec.RINVPASWD: _("wrong password"), codec.RINVSYSID: _("unknown system_id")}.get(
                status, _("refused")
            )
            return _("{where}: bind {what} ({status})").format(where=where, what=what, status=codec.status_name(status))
        if isinstance(exc, smpplib.exceptions.ConnectionError | OSError):
            return _("{where}: cannot connect ({error})").format(where=where, error=exc or _("connection refused"))
        return _("{where}: bind failed ({error})").format(where=where, error=f"{type(exc).__name__}: {exc}")

    def _open(self, mode: str) -> Any:
        """Connect and bind one link (transceiver, transmitter or receiver)."""
        client = smpplib.client.Client(
            self.host, self.tcp_port, timeout=self.connect_timeout_s, allow_unknown_opt_params=True
        )
        client.logger.setLevel(logging.WARNING)
        self._links.append(client)  # close() releases it even when the bind fails
        client.connect()
        getattr(client, f"bind_{mode}")(
            system_id=self.system_id,
            password=self.password,
            system_type=self.system_type,
            interface_version=0x34,
        )
        client._socket.settimeout(None)  # the reader blocks; close() shuts the socket to end it
        # a window is several small PDUs in a row: without this, Nagle holds each until the last is acknowledged
        client._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client

    def _bind(self) -> None:
        if self.bind_mode == "transceiver":
            self._client = self._open("transceiver")
        else:  # some SMSCs want two links: submits on one, deliveries on the other
            self._client = self._open("transmitter")
            self._open("receiver")
        with self._cond:
            self._responses.clear()
            self._inbound.clear()
            self._bound = True
            self._down_reason = ""
        now = time.monotonic()
        for link in self._links:
            self._seen[id(link)], self._probed[id(link)] = now, 0.0
            reader = threading.Thread(target=self._read, args=(link,), name=f"smpp-{self.name}", daemon=True)
            self._readers.append(reader)
            reader.start()

    def retry_in(self) -> float:
        return 0.0 if self._bound else max(0.0, self._next_connect - time.monotonic())

    def close(self) -> None:
        links, self._links, self._client = self._links, [], None
        with self._cond:
            self._bound = False
            self._cond.notify_all()
        for client in links:
            sock = client._socket
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
                client._socket = None
            client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED
        readers, self._readers = self._readers, []
        for reader in readers:
            if reader is not threading.current_thread():
                reader.join(2.0)

    def _down(self, client: Any, reason: str) -> None:
        """One link failed: the transport is down (the worker closes and binds every link again)."""
        with self._cond:
            if not any(link is client for link in self._links):
                return
            self._bound = False
            self._down_reason = reason
            self.last_error = reason
            self._cond.notify_all()
        self.wake.set()
        log.warning("smpp.link_down transport=%s error=%s", self.name, reason)

    # ------------------------------------------------------------ the reader thread

    def _read(self, client: Any) -> None:
        while True:
            try:
                pdu = client.read_pdu()
            except (smpplib.exceptions.ConnectionError, OSError):
                self._down(
                    client, _("SMSC {host}:{port} closed the connection").format(host=self.host, port=self.tcp_port)
                )
                return
            except Exception as exc:  # a PDU smpplib cannot parse: the stream is lost
                self._down(
                    client,
                    _("SMSC {host}:{port} sent an unreadable PDU ({error})").format(
                        host=self.host, port=self.tcp_port, error=type(exc).__name__
                    ),
                )
                return
            self._seen[id(client)] = time.monotonic()
            command = pdu.command
            if command in ("submit_sm_resp", "generic_nack"):
                with self._cond:
                    self._responses[pdu.sequence] = pdu
                    self._cond.notify_all()
            elif command == "deliver_sm":
                with self._cond:
                    self._inbound.append((pdu, client))
                self.wake.set()
            elif command == "enquire_link":
                self._answer(client, "enquire_link_resp", pdu.sequence)
            elif command == "unbind":
                self._answer(client, "unbind_resp", pdu.sequence)
                self._down(client, _("SMSC {host}:{port} unbound").format(host=self.host, port=self.tcp_port))
                return
            elif command not in ("enquire_link_resp", "unbind_resp"):
                log.info("smpp.unhandled transport=%s command=%s", self.name, command)

    def _answer(self, client: Any, command: str, sequence: int, status: int = 0) -> bool:
        """A response PDU: the header, and for deliver_sm_resp an empty message_id (SMPP 3.4
        4.6.2). Packed here: smpplib's generic encoder walks every optional field of the command
        for each PDU, and one is sent per receipt and per MO."""
        command_id, body = RESPONSES[command]
        data = struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body
        return self._send_bytes(client, data)

    def _send_bytes(self, client: Any, data: bytes) -> bool:
        try:
            with self._send_lock:
                client._socket.sendall(data)
            return True
        except (OSError, AttributeError):
            self._down(
                client,
                _("SMSC {host}:{port}: the connection dropped while writing").format(
                    host=self.host, port=self.tcp_port
                ),
            )
            return False

    def _write(self, client: Any, pdu: Any) -> bool:
        return self._send_bytes(client, pdu.generate())

    # ------------------------------------------------------------ submitting

    def submit(self, message: Outgoing, seq: int) -> ProviderRef | None:
        result = self.submit_many([(message, seq)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def submit_many(self, items: Sequence[tuple[Outgoing, int]]) -> list[Result]:
        """Send the parts in one window; the busy ones again after a growing wait."""

        def give_up(waited: float) -> Refused:
            return Refused(
                _("SMSC busy for {seconds}s ({status}); the transport pauses").format(
                    seconds=round(waited), status=self._busy_status
                ),
                "transport",
                code=self._busy_code,
            )

        return self._slow.send(items, self._round, give_up, codec.BUSY)

    _busy_status = ""
    _busy_code: int | None = None

    def _round(self, items: Sequence[tuple[Outgoing, int]], todo: list[int], results: list[Result | None]) -> list[int]:
        client = self._client
        sequences: dict[int, int] = {}
        for i, out in zip(todo, self._write_parts([items[i] for i in todo]), strict=True):
            if isinstance(out, int):
                sequences[i] = out
            else:
                results[i] = out
        deadline = time.monotonic() + self.response_timeout_s
        with self._cond:
            while True:
                waiting = [i for i, s in sequences.items() if s not in self._responses]
                if not waiting or not self._bound or self._client is not client:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            answers = {i: self._responses.pop(s, None) for i, s in sequences.items()}
        busy: list[int] = []
        for i, resp in answers.items():
            result = self._answered(resp, client)
            if isinstance(result, _Throttled):
                busy.append(i)
            else:
                results[i] = result
        self._down_if_silent(results, client)
        return busy

    def _write_parts(self, items: Sequence[tuple[Outgoing, int]]) -> list[int | Result]:
        """Write each part's submit_sm: its sequence number, or what became of it at once (not
        bound, no such part, the connection dropped before it left)."""
        client = self._client
        if not self._bound or client is None:
            why = self._down_reason or _("connecting")
            down = _("{name}: not bound to the SMSC ({why})").format(name=self.name, why=why)
            return [NotSent(down) for _item in items]
        out: list[int | Result] = []
        bodies: dict[int, list[codec.PartBody]] = {}
        for n, (message, seq) in enumerate(items):
            parts = bodies.get(message.id) or bodies.setdefault(
                message.id, codec.encode(message.text, message.concat_ref, self.alphabet)
            )
            if not 1 <= seq <= len(parts):
                out.append(Refused(f"part {seq} of {len(parts)} does not exist", "permanent"))
                continue
            sequence = client.next_sequence()
            if not self._send_bytes(client, codec.pack_submit_sm(sequence, self._submit(message, parts[seq - 1]))):
                dropped = _("{name}: the connection dropped before the part left").format(name=self.name)
                out += [NotSent(dropped) for _item in items[n:]]
                break
            out.append(sequence)
        return out

    def _answered(self, resp: Any, client: Any) -> Result | _Throttled:
        """What a submit_sm_resp (None: none came) says of its part: the reference, an outcome,
        or THROTTLED (the SMSC asks to slow down: the part goes again after a wait)."""
        if resp is None:
            gone = not self._bound or self._client is not client
            why = (
                _("the connection dropped")
                if gone
                else _("no answer within {seconds}s").format(seconds=round(self.response_timeout_s))
            )
            return InDoubt(
                _("{name}: {why} after the part left").format(name=self.name, why=why),
                "gone" if gone else "timeout",
                False,
            )
        status = int(resp.status or 0)
        if resp.command == "submit_sm_resp" and status == codec.ROK:
            mid = resp.message_id
            ref = mid.decode("ascii", "replace") if isinstance(mid, bytes) else str(mid or "")
            self.counters["submitted"] += 1
            return ref or None
        kind = codec.classify(status)
        name = codec.status_name(status)
        if kind == "busy":
            self.counters["busy"] += 1
            self._busy_status, self._busy_code = name, status
            return THROTTLED
        self.counters["refused"] += 1
        if kind == "permanent":
            return Refused(_("SMSC refused the message: {status}").format(status=name), "permanent", code=status)
        if kind == "account":
            return Refused(
                _("SMSC refused the account: {status} (over quota, out of credit or not allowed)").format(status=name),
                "transport",
                code=status,
            )
        return Refused(_("SMSC refused the message for now: {status}").format(status=name), "transient", code=status)

    def _down_if_silent(self, results: Sequence[Result | None], client: Any) -> None:
        if any(isinstance(r, InDoubt) for r in results) and self._bound and self._client is client:
            self._down(
                client, _("SMSC {host}:{port} stopped answering submits").format(host=self.host, port=self.tcp_port)
            )

    def _submit(self, message: Outgoing, body: codec.PartBody) -> codec.Submit:
        to = message.to
        source_numeric = self.source_addr.isdigit()
        return codec.Submit(
            source_addr=self.source_addr,
            source_ton=0 if source_numeric else 5,  # unknown, or alphanumeric
            source_npi=1 if source_numeric else 0,
            destination_addr=to.lstrip("+"),
            dest_ton=1 if to.startswith("+") else 0,  # international, or unknown
            dest_npi=1,
            body=body,
            registered_delivery=1 if message.status_report else 0,
            validity_period=_relative(message.validity_minutes),
        )

    # ------------------------------------------------------------ receiving

    def receive(self) -> int:
        """Commit what arrived in batches (one durable commit for up to 200 deliver_sm, when the
        sink offers batch()), then acknowledge each: persist, then acknowledge."""
        assert self.sink is not None
        handled = 0
        while True:
            with self._cond:
                pdus = [self._inbound[i] for i in range(min(len(self._inbound), 200))]
            if not pdus:
                return handled
            items = [(pdu, link, *self._item(pdu)) for pdu, link in pdus]
            try:
                with self._batch():
                    for _pdu, _link, _key, item in items:
                        if isinstance(item, DeliveryReport):
                            self.sink.report(item)
                        else:
                            self.sink.received(item)
            except Exception:  # not committed: not acknowledged either; tried again on the next pass
                log.exception("smpp.store_failed transport=%s", self.name)
                return handled
            with self._cond:
                for pdu in pdus:
                    if self._inbound and self._inbound[0] is pdu:
                        self._inbound.popleft()
            # Committed: now acknowledge, on the link it came on. An ack lost on the way gives a
            # redelivery, recognised by its key (the store keeps a key as a redelivery for
            # REDELIVERY_AFTER_ACK_S after the ack, REDELIVERY_S while it is not acknowledged).
            taken: list[str] = []
            for pdu, link, key, item in items:
                receipt = isinstance(item, DeliveryReport)
                self.counters["receipts" if receipt else "received"] += 1
                acked = any(x is link for x in self._links) and self._answer(link, "deliver_sm_resp", pdu.sequence)
                if acked and not receipt:
                    taken.append(key)
            if taken:
                with self._batch():
                    for key in taken:
                        self.sink.removed(key)
            handled += len(items)

    def messages_waiting(self) -> bool:
        with self._cond:
            return any(not _is_receipt(p) for p, _link in self._inbound)

    def _batch(self) -> contextlib.AbstractContextManager[None]:
        assert self.sink is not None
        return self.sink.batch()

    def _item(self, pdu: Any) -> tuple[str, Received | DeliveryReport]:
        """A deliver_sm as a receipt or an inbound message; key: its body, the same on redelivery.

        The text is in short_message, or in the message_payload TLV (any MO over 254 octets, a
        128-character Chinese reply among them); a long MO comes as UDH parts or with the sar_
        TLVs (reference, total, number)."""
        sender = _text(pdu.source_addr)
        short = pdu.short_message or b""
        payload = getattr(pdu, "message_payload", None)
        if not short and payload:
            short = payload if isinstance(payload, bytes) else str(payload).encode("latin-1")
        esm = int(pdu.esm_class or 0)
        sar = (
            getattr(pdu, "sar_msg_ref_num", None),
            getattr(pdu, "sar_total_segments", None),
            getattr(pdu, "sar_segment_seqnum", None),
        )
        # what the SMSC sends again on a redelivery (a new sequence number, the same message)
        key = f"smpp:{sender}:{_text(pdu.destination_addr)}:{esm}:{int(pdu.data_coding or 0)}:{short.hex()}"
        if None not in sar:
            key += f":sar{sar[0]}/{sar[1]}/{sar[2]}"
        if esm & 0x3C == codec.ESM_RECEIPT or getattr(pdu, "receipted_message_id", None):
            try:
                r = codec.receipt(
                    short.decode("latin-1"),
                    _text(getattr(pdu, "receipted_message_id", None)) or None,
                    getattr(pdu, "message_state", None),
                )
                outcome: Outcome = (
                    "delivered" if r.outcome == "delivered" else "pending" if r.outcome == "pending" else "failed"
                )
                return key, DeliveryReport(
                    r.message_id, sender, r.status, outcome, r.done, alternatives=codec.id_forms(r.message_id)
                )
            except ValueError as exc:
                return key, Received(key, None, "", "", None, None, f"unreadable receipt: {exc}")
        if not sender:
            return key, Received(key, None, "", "", None, None, "deliver_sm without a source address")
        number = "+" + sender if int(pdu.source_addr_ton or 0) == 1 and sender.isdigit() else sender
        try:
            d = codec.decode(int(pdu.data_coding or 0), esm, short, self.alphabet)
        except (ValueError, UnicodeDecodeError) as exc:
            return key, Received(key, None, "", "", None, None, f"undecodable deliver_sm: {exc}")
        concat = Concatenation(d.ref, d.total, d.seq) if d.ref is not None and d.total and d.seq else None
        ref, total, seq = sar
        if concat is None and ref is not None and total and seq and 1 <= int(seq) <= int(total) and int(total) > 1:
            concat = Concatenation(int(ref), int(total), int(seq))
        return key, Received(
            key,
            number,
            d.text,
            d.text,
            concat,
            datetime.now(UTC),
            redelivery_window_s=REDELIVERY_S,
            redelivery_after_ack_s=REDELIVERY_AFTER_ACK_S,
        )

    # ------------------------------------------------------------ upkeep

    def tick(self) -> None:
        """Keep each idle link alive with enquire_link; a link that does not answer in time is down."""
        if not self._bound:
            return
        now = time.monotonic()
        for link in list(self._links):
            seen, probed = self._seen.get(id(link), now), self._probed.get(id(link), 0.0)
            if probed and seen < probed and now - probed > self.response_timeout_s:
                self._down(
                    link,
                    _("SMSC {host}:{port} did not answer enquire_link").format(host=self.host, port=self.tcp_port),
                )
                return
            if now - max(seen, probed) >= self.enquire_link_s:
                self._probed[id(link)] = now
                self._write(link, smpplib.smpp.make_pdu("enquire_link", client=link))

    def next_tick_in(self) -> float:
        if not self._bound or not self._links:
            return 3600.0
        now = time.monotonic()
        due = []
        for link in self._links:
            seen, probed = self._seen.get(id(link), now), self._probed.get(id(link), 0.0)
            if probed and seen < probed:
                due.append(probed + self.response_timeout_s - now)
            else:
                due.append(max(seen, probed) + self.enquire_link_s - now)
        return max(0.0, min(due))

    def health(self) -> Health:
        return Health(
            ready=self._bound,
            registered=self._bound,
            operator=f"{self.host}:{self.tcp_port}",
            model="SMPP 3.4",
            last_error=self.last_error,
            counters=dict(self.counters),
        )

    def note_error(self, text: str) -> None:
        self.last_error = text

    @property
    def where(self) -> str:
        """Where it sends, for `smsd status` (the password never appears)."""
        return f"smpp://{self.system_id}@{self.host}:{self.tcp_port}"


class _Throttled:
    """The SMSC asks to slow down (ESME_RTHROTTLED, ESME_RMSGQFUL): the part goes again after a wait."""


THROTTLED = _Throttled()


def _is_receipt(pdu: Any) -> bool:
    return int(pdu.esm_class or 0) & 0x3C == codec.ESM_RECEIPT


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _relative(minutes: int | None) -> str | None:
    """An SMPP relative validity period (YYMMDDhhmmss000R)."""
    if not minutes:
        return None
    days, rem = divmod(minutes, 1440)
    hours, mins = divmod(rem, 60)
    return f"0000{days:02d}{hours:02d}{mins:02d}00000R" if days < 100 else "000099000000000R"


HOURLY_CAP = 100_000  # an SMPP account's default caps: the SMSC (or the city's Jasmin) enforces the real ones
DAILY_CAP = 1_000_000
# SMPP 3.4 C-Octet strings (5.2): longer values are cut by the client and refused by the SMSC
LENGTHS = (("system_id", 15), ("password", 8), ("system_type", 12), ("source_addr", 20))


@dataclass(frozen=True)
class SmppSettings:
    """The keys of a [modems.NAME] table with kind = "smpp"."""

    host: str = opt("", "SMPP: the SMSC's (or the city's Jasmin's) address, e.g. \"127.0.0.1\".")
    smpp_port: int = opt(2775, "SMPP: the SMSC's TCP port.", tcp_port)
    system_id: str = opt("", "SMPP: the account's system_id (its user name at the SMSC).")
    password: str = opt("", "SMPP: the account's password (never logged; keep this file readable by smsd only).")
    system_type: str = opt("", "SMPP: system_type, when the SMSC asks for one.")
    source_addr: str = opt("", "SMPP: the number messages come from (the county's 106... number).")
    window: int = opt(
        10, "SMPP: submits in flight at once before waiting for their answers (1 to 100).", between(1, 100)
    )
    smpp_bind: str = opt(
        "transceiver",
        'SMPP: one "transceiver" link, or "transmitter+receiver" (two links) for an SMSC that wants them.',
        choices=("transceiver", "transmitter+receiver"),
    )
    enquire_link_s: float = opt(30.0, "SMPP: an idle link is checked with enquire_link this often.", seconds)
    smpp_alphabet: str = opt(
        "gsm7",
        'SMPP: what data_coding 0 means at this SMSC, both ways: "gsm7" (SMPP\'s default alphabet), "latin1" or '
        '"ascii" (many SMSCs and Jasmin pass such text through: "me@home.cn, $5" arrives as me¡home.cn, ¤5 when '
        "this is wrong).",
        choices=("gsm7", "latin1", "ascii"),
    )


class SmppKind(Kind):
    name = "smpp"
    settings = SmppSettings
    defaults = {"hourly_cap": HOURLY_CAP, "daily_cap": DAILY_CAP}  # the account's contract, not a SIM's

    @staticmethod
    def _s(modem: ModemConfig) -> SmppSettings:
        assert isinstance(modem.settings, SmppSettings)
        return modem.settings

    def check(self, modem: ModemConfig) -> list[tuple[str, dict[str, Any]]]:
        s = self._s(modem)
        missing = [k for k in ("host", "system_id", "source_addr") if not getattr(s, k)]
        if missing:
            return [
                (
                    N_(
                        '{path}: [modems.{name}] (kind = "smpp") needs {missing} (e.g. host = '
                        '"127.0.0.1", system_id = "county_a", source_addr = "1069000101")'
                    ),
                    {"missing": ", ".join(missing)},
                )
            ]
        return [
            (
                N_(
                    "{path}: {key} in [modems.{name}] may be at most {limit} characters (SMPP 3.4); "
                    "ask the SMSC's operator for a shorter one"
                ),
                {"key": key, "limit": limit},
            )
            for key, limit in LENGTHS
            if len(getattr(s, key).encode()) > limit
        ][:1]

    def where(self, modem: ModemConfig) -> str:
        s = self._s(modem)
        return f"smpp://{s.system_id}@{s.host}:{s.smpp_port}"

    def build(self, modem: ModemConfig, device: str | None = None) -> Transport:
        s = self._s(modem)
        return SmppTransport(
            modem.name,
            s.host,
            s.smpp_port,
            system_id=s.system_id,
            password=s.password,
            system_type=s.system_type,
            source_addr=s.source_addr,
            alphabet=s.smpp_alphabet,
            window=s.window,
            bind=s.smpp_bind,
            enquire_link_s=s.enquire_link_s,
            response_timeout_s=modem.command_timeout_s * 2,
            connect_timeout_s=modem.command_timeout_s,
        )

    def doctor(self, modem: ModemConfig) -> list[tuple[str, bool, str]]:
        """Can this box open a connection to the SMSC (the bind is the daemon's)?"""
        s = self._s(modem)
        what = _("modem {name}").format(name=modem.name)
        try:
            with socket.create_connection((s.host, s.smpp_port), timeout=3):
                detail = _("SMSC {host}:{port} reachable (smsd status shows whether it binds)")
                return [(what, True, detail.format(host=s.host, port=s.smpp_port))]
        except OSError as exc:
            detail = _("cannot reach SMSC {host}:{port} ({error}); is the VPN up, is the address right?")
            return [(what, False, detail.format(host=s.host, port=s.smpp_port, error=exc.strerror or exc))]


KIND = SmppKind()

__all__ = ["KIND", "SmppSettings", "SmppTransport"]
