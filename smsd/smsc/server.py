"""`smsd smsc`: an SMPP 3.4 SMSC for demos, tests and benches (the SMPP twin of `smsd sim`).

It accepts binds (transmitter, receiver, transceiver) from the configured accounts, answers
every submit_sm with a message id and logs it decoded to a JSON line, sends a delivery receipt
after a delay when one was asked for, delivers MO messages (``deliver``), and keeps every
deliver_sm (MO or receipt) until the client acknowledges it with deliver_sm_resp: one that was
not acknowledged when the connection dropped is delivered again at the next bind, as a carrier
does. Faults are injected per account or for all: throttle, queue full, any status, no answer,
drop the connection, refuse binds.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import smpplib.smpp

from smsd.smpp import codec
from smsd.tcpserver import TcpServer, recv_exact, truthy

log = logging.getLogger(__name__)

FAULTS = {
    "throttle": "the next COUNT submits get ESME_RTHROTTLED",
    "queue_full": "the next COUNT submits get ESME_RMSGQFUL",
    "status": "the next COUNT submits get the command status CODE (e.g. 0x0B, 0x08)",
    "no_response": "the next COUNT submits are taken (and logged) but never answered",
    "drop": "close every connection now",
    "refuse_binds": "refuse binds (1) or accept them again (0)",
    "down": "close every connection and refuse new ones (1), or come back (0)",
    "receipt_stat": "the stat of the next receipts (DELIVRD, UNDELIV, ...)",
    "receipt_delay_ms": "time until a receipt is sent",
    "lose_ack": "the next COUNT deliver_sm_resp are lost on the way: the deliver_sm is sent again",
    "receipt_id": "how receipts name the message: 'tlv' (receipted_message_id, the default), 'decimal' (text only, "
    "the id in decimal while submit_sm_resp gives it in hex) or 'hex' (text only, hex for a decimal id)",
}

BIND_COMMANDS = {"bind_transmitter": "tx", "bind_receiver": "rx", "bind_transceiver": "trx"}


@dataclass
class Account:
    system_id: str
    password: str
    number: str = ""  # MO to numbers starting with this go to this account


@dataclass
class Pending:
    """A deliver_sm waiting for its deliver_sm_resp (MO or receipt)."""

    id: int
    fields: dict[str, Any]
    kind: str
    sent_on: Session | None = None
    sequence: int | None = None


@dataclass
class Session:
    sock: socket.socket
    peer: str
    account: Account | None = None
    mode: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    alive: bool = True
    answered: bool = False  # the bind's answer has been sent: deliver_sm may follow

    # smpplib's PDUs ask their "client" for sequence numbers
    sequence: int = 0

    def next_sequence(self) -> int:
        self.sequence = next(self.seq)
        return self.sequence


class Smsc(TcpServer):
    """The server. ``start()`` listens on host:port (0: any free port, see ``.port``)."""

    name = "smsc"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 2775,
        accounts: list[Account] | None = None,
        *,
        log_path: str | Path | None = None,
        receipt_delay_ms: int = 1000,
        response_delay_ms: int = 0,
        alphabet: str = "gsm7",
    ) -> None:
        super().__init__(host, port, log_path)
        self.accounts = {a.system_id: a for a in (accounts or [Account("smsd", "secret")])}
        self.receipt_delay_ms = receipt_delay_ms
        self.response_delay_ms = response_delay_ms
        self.receipt_stat = "DELIVRD"
        self.receipt_id = "tlv"
        self.alphabet = alphabet  # what data_coding 0 means here (Jasmin and many SMSCs: Latin-1)
        self._faults: dict[str, Any] = {}
        self._pending = {a: [] for a in self.accounts}
        self._ids = itertools.count(1)
        self.submitted: list[dict[str, Any]] = []  # every submit_sm taken, decoded (tests read it)
        self.refuse_binds = False

    # ------------------------------------------------------------ life

    # ------------------------------------------------------------ control (tests, the control socket)

    def fault(self, name: str, value: Any = None) -> None:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; one of {', '.join(sorted(FAULTS))}")
        if name == "drop":
            self._drop_all()
        elif name == "down":
            self.down = truthy(value)
            if self.down:
                self._drop_all()
        elif name == "refuse_binds":
            self.refuse_binds = truthy(value)
        elif name == "receipt_stat":
            self.receipt_stat = str(value or "DELIVRD").upper()
        elif name == "receipt_delay_ms":
            self.receipt_delay_ms = int(value)
        elif name == "receipt_id":
            if value not in ("tlv", "decimal", "hex"):
                raise ValueError("receipt_id is tlv, decimal or hex")
            self.receipt_id = str(value)
        elif name == "status":
            count, code = (value if isinstance(value, list | tuple) else [1, value])[:2]
            with self._lock:
                self._faults["status"] = [int(count), int(str(code), 0)]
        else:
            with self._lock:
                self._faults[name] = int(value if value is not None else 1)

    def deliver(
        self, sender: str, text: str, to: str = "", account: str = "", ref: int | None = None, carry: str = "udh"
    ) -> int:
        """An MO message from a member to an account (by name, or the one whose number prefixes
        ``to``, or the first). Returns how many parts it took. carry: a long text as UDH parts
        ("udh"), as parts with the sar_ TLVs ("sar"), or whole in one message_payload TLV
        ("payload", as SMSCs and Jasmin pass an MO over 254 octets)."""
        acc = self._route(to, account)
        to = to or acc.number or "10690000"
        ref = ref if ref is not None else next(self._ids) & 0xFF
        bodies = codec.encode(text, ref, self.alphabet)
        extra: list[dict[str, Any]] = [{} for _ in bodies]
        if carry == "payload":
            whole = b"".join(b.short_message[6:] if b.esm_class & codec.ESM_UDHI else b.short_message for b in bodies)
            bodies = [codec.PartBody(bodies[0].data_coding, 0, b"")]
            extra = [{"message_payload": whole}]
        elif carry == "sar" and len(bodies) > 1:
            extra = [
                {"sar_msg_ref_num": ref, "sar_total_segments": len(bodies), "sar_segment_seqnum": i}
                for i in range(1, len(bodies) + 1)
            ]
            bodies = [codec.PartBody(b.data_coding, 0, b.short_message[6:]) for b in bodies]
        for body, more in zip(bodies, extra, strict=True):
            fields = {
                "service_type": "",
                "source_addr_ton": 1 if sender.startswith("+") else 0,
                "source_addr_npi": 1,
                "source_addr": sender.lstrip("+"),
                "dest_addr_ton": 0,
                "dest_addr_npi": 1,
                "destination_addr": to,
                "esm_class": body.esm_class,
                "data_coding": body.data_coding,
                "short_message": body.short_message,
                **more,
            }
            self._queue(acc.system_id, fields, "mo")
        return len(bodies)

    def _route(self, to: str, account: str) -> Account:
        if account:
            if account not in self.accounts:
                raise ValueError(f"no account {account!r}; accounts: {', '.join(self.accounts)}")
            return self.accounts[account]
        if to:
            best = max(
                (a for a in self.accounts.values() if a.number and to.startswith(a.number)),
                key=lambda a: len(a.number),
                default=None,
            )
            if best is not None:
                return best
        return next(iter(self.accounts.values()))

    def handle(self, request: dict[str, Any]) -> Any:
        """One control request (the control socket's, or in-process)."""
        op = request.get("op")
        if op == "status":
            return self.status()
        if op == "text":
            parts = self.deliver(
                request["from"],
                request["text"],
                to=request.get("to", ""),
                account=request.get("account", ""),
                carry=request.get("carry", "udh"),
            )
            return {"parts": parts}
        if op == "fault":
            self.fault(request["name"], request.get("value"))
            return {}
        raise ValueError(f"unknown op {op!r}")

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "port": self.port,
                "sessions": [
                    {"peer": s.peer, "account": s.account.system_id if s.account else None, "mode": s.mode}
                    for s in self._sessions
                    if s.alive
                ],
                "submitted": len(self.submitted),
                "pending": {k: len(v) for k, v in self._pending.items()},
                "faults": dict(self._faults),
            }

    # ------------------------------------------------------------ sessions

    def _session(self, sock: socket.socket, peer: str) -> Session:
        return Session(sock, peer)

    def _serve(self, s: Session) -> None:
        try:
            while s.alive:
                raw = _read_frame(s.sock)
                if raw is None:
                    break
                self._handle(s, raw)
        except (OSError, ValueError) as exc:
            log.info("smsc.session_error peer=%s error=%s", s.peer, exc)
        finally:
            self._close(s, "connection ended")

    def _send(self, s: Session, command: str, sequence: int | None = None, **fields: Any) -> None:
        pdu = smpplib.smpp.make_pdu(command, client=s, **fields)
        if sequence is not None:
            pdu.sequence = sequence  # smpplib ignores a sequence= argument when its client has one
        data = pdu.generate()
        with s.lock:
            s.sock.sendall(data)

    def _handle(self, s: Session, raw: bytes) -> None:
        command_id, status, sequence = struct.unpack(">LLL", raw[4:16])
        if command_id == codec.SUBMIT_SM:
            problem = codec.check_submit_sm(raw)
            if problem:  # answered as an SMSC does, never taken (or logged) as a message
                self._event("malformed", s, status=codec.status_name(problem))
                if problem == codec.RINVCMDLEN:
                    self._send(s, "generic_nack", sequence=sequence, status=problem)
                else:
                    self._send(s, "submit_sm_resp", sequence=sequence, status=problem)
                return
        try:
            pdu = smpplib.smpp.parse_pdu(raw, client=s, allow_unknown_opt_params=True)
        except Exception:
            pdu = None
        if pdu is None:
            self._send(s, "generic_nack", sequence=sequence, status=0x03)  # ESME_RINVCMDID
            return
        command = pdu.command
        if command in BIND_COMMANDS:
            self._bind(s, pdu, command)
        elif command == "submit_sm":
            self._submit(s, pdu)
        elif command == "deliver_sm_resp":
            self._acked(s, pdu.sequence, int(pdu.status or 0))
        elif command == "enquire_link":
            self._send(s, "enquire_link_resp", sequence=pdu.sequence)
        elif command == "unbind":
            self._send(s, "unbind_resp", sequence=pdu.sequence)
            self._close(s, "unbind")
        elif command in ("enquire_link_resp", "generic_nack", "unbind_resp"):
            return
        else:
            self._send(s, "generic_nack", sequence=pdu.sequence, status=0x03)

    def _bind(self, s: Session, pdu: Any, command: str) -> None:
        system_id, password = _text(pdu.system_id), _text(pdu.password)
        acc = self.accounts.get(system_id)
        status = 0
        if s.account is not None:
            status = 0x05  # ESME_RALYBND
        elif self.refuse_binds:
            status = codec.RBINDFAIL
        elif acc is None:
            status = codec.RINVSYSID
        elif acc.password != password:
            status = codec.RINVPASWD
        if status == 0:  # bound before the answer leaves: the client may act on it at once
            assert acc is not None
            with self._lock:
                s.account, s.mode = acc, BIND_COMMANDS[command]
        self._send(s, command + "_resp", sequence=pdu.sequence, status=status, system_id="smsd-smsc")
        self._event("bind", s, account=system_id, status=codec.status_name(status))
        if status == 0 and acc is not None:
            s.answered = True  # deliveries only after the bind's answer, never before it
            if s.mode in ("rx", "trx"):
                self._flush(acc.system_id)

    # ------------------------------------------------------------ submit_sm

    def _take_fault(self) -> tuple[str, int] | None:
        with self._lock:
            for name, code in (
                ("throttle", codec.RTHROTTLED),
                ("queue_full", codec.RMSGQFUL),
                ("no_response", -1),
            ):
                if self._faults.get(name, 0) > 0:
                    self._faults[name] -= 1
                    return name, code
            st = self._faults.get("status")
            if st and st[0] > 0:
                st[0] -= 1
                return "status", st[1]
        return None

    def _submit(self, s: Session, pdu: Any) -> None:
        if s.account is None or s.mode == "rx":
            self._send(s, "submit_sm_resp", sequence=pdu.sequence, status=0x04)  # ESME_RINVBNDSTS
            return
        fault = self._take_fault()
        if fault is not None and fault[0] != "no_response":
            self._send(s, "submit_sm_resp", sequence=pdu.sequence, status=fault[1])
            self._event("refused", s, status=codec.status_name(fault[1]))
            return
        # ids are hex; with receipt_id = "hex" they are decimal here and hex in the receipt's text
        message_id = str(uuid.uuid4().int % 10**12) if self.receipt_id == "hex" else uuid.uuid4().hex[:16]
        record = self._decode(s, pdu, message_id)
        with self._lock:
            self.submitted.append(record)
            if self._log_file:
                self._log_file.write(json.dumps(record, ensure_ascii=False) + "\n")
                self._log_file.flush()
        # Taken is taken: the message goes to the phone (and its receipt comes back) even when the
        # answer never reaches the client (a fault, or the client died before reading it).
        if int(pdu.registered_delivery or 0) & 0x03:
            receipt = {
                "message_id": message_id,
                "to": record["to"],
                "source": record["from"],
                "submitted": record["at"],
            }
            self._later(self.receipt_delay_ms / 1000, s.account.system_id, receipt)
        if fault is not None:  # never answered: the client cannot know it was sent
            return
        if self.response_delay_ms:
            time.sleep(self.response_delay_ms / 1000)
        self._send(s, "submit_sm_resp", sequence=pdu.sequence, message_id=message_id)

    def _decode(self, s: Session, pdu: Any, message_id: str) -> dict[str, Any]:
        dc, esm = int(pdu.data_coding or 0), int(pdu.esm_class or 0)
        short = pdu.short_message or b""
        try:
            d = codec.decode(dc, esm, short, self.alphabet)
            text, error = d.text, None
            udh = {"ref": d.ref, "total": d.total, "seq": d.seq} if d.ref is not None else None
        except (ValueError, UnicodeDecodeError) as exc:
            text, error, udh = "", str(exc), None
        return {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "account": s.account.system_id if s.account else None,
            "message_id": message_id,
            "from": _text(pdu.source_addr),
            "to": _text(pdu.destination_addr),
            "data_coding": dc,
            "esm_class": esm,
            "registered_delivery": int(pdu.registered_delivery or 0),
            "udh": udh,
            "text": text,
            "error": error,
            "hex": short.hex(),
        }

    # ------------------------------------------------------------ deliver_sm (MO and receipts)

    def _due(self, account: str, item: Any) -> None:
        self._receipt(account, item)

    def _receipt(self, account: str, r: dict[str, Any]) -> None:
        stat = self.receipt_stat
        submitted = datetime.fromisoformat(r["submitted"])
        shown = r["message_id"]
        if self.receipt_id == "decimal":
            shown = str(int(shown, 16))
        elif self.receipt_id == "hex":
            shown = f"{int(shown):x}"
        text = codec.receipt_text(shown, stat, submitted, datetime.now(UTC))
        state = {v: k for k, v in codec.STATES.items()}.get(stat, 7)
        fields = {
            "service_type": "",
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": r["to"],
            "dest_addr_ton": 0,
            "dest_addr_npi": 1,
            "destination_addr": r["source"],
            "esm_class": codec.ESM_RECEIPT,
            "data_coding": 0,
            "short_message": text.encode("ascii"),
        }
        if self.receipt_id == "tlv":
            fields.update(receipted_message_id=r["message_id"], message_state=state)
        self._queue(account, fields, "receipt")

    def _queue(self, account: str, fields: dict[str, Any], kind: str) -> None:
        with self._lock:
            self._pending[account].append(Pending(next(self._ids), fields, kind))
        self._flush(account)

    def _flush(self, account: str) -> None:
        """Send each waiting deliver_sm not yet on a live session to a receiver of the account."""
        with self._lock:
            receivers = [s for s in self._sessions if s.alive and s.account and s.account.system_id == account]
            receivers = [s for s in receivers if s.mode in ("rx", "trx") and s.answered]
            if not receivers:
                return
            todo = []
            for p in self._pending[account]:
                if p.sent_on is None:
                    p.sent_on = receivers[0]
                    todo.append(p)
        for p in todo:
            s = receivers[0]
            try:
                pdu = smpplib.smpp.make_pdu("deliver_sm", client=s, **p.fields)
                p.sequence = pdu.sequence
                data = pdu.generate()
                with s.lock:
                    s.sock.sendall(data)
                self._event("deliver", s, kind=p.kind, id=p.id)
            except OSError:
                self._close(s, "write failed")
                return

    def _acked(self, s: Session, sequence: int, status: int) -> None:
        with self._lock:
            if s.account is None:
                return
            items = self._pending[s.account.system_id]
            hit = next((p for p in items if p.sent_on is s and p.sequence == sequence), None)
            if hit is None:
                return
            lost = self._faults.get("lose_ack", 0) > 0
            if lost:  # the answer never arrived here: the SMSC delivers it again, as after a timeout
                self._faults["lose_ack"] -= 1
                hit.sent_on, hit.sequence = None, None
            elif status == 0:
                items.remove(hit)
            else:  # the client could not take it now: offer it again on the next bind
                hit.sent_on, hit.sequence = None, None
        self._event("acked", s, id=hit.id, kind=hit.kind, status=codec.status_name(status), lost=lost)
        if lost:
            self._flush(s.account.system_id)


def _read_frame(sock: socket.socket) -> bytes | None:
    head = recv_exact(sock, 4)
    if head is None:
        return None
    (length,) = struct.unpack(">L", head)
    if length < 16 or length > 64 * 1024:
        raise ValueError(f"a PDU of {length} bytes")
    rest = recv_exact(sock, length - 4)
    if rest is None:
        return None
    return head + rest


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def parse_account(spec: str) -> Account:
    """SYSTEM_ID:PASSWORD[:NUMBER] as given on the command line."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError(f"account {spec!r} must look like county_a:secret or county_a:secret:1069000101")
    return Account(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


__all__ = ["Smsc", "Account", "FAULTS", "parse_account"]
