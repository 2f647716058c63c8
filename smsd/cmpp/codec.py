"""CMPP 3.0 and 2.0 (China Mobile's SP-to-ISMG protocol): frames, bodies, Msg_Id, text.

One codec for both versions: every command has the same fields in the same order, and a
field's width is looked up per version in the tables below (3.0 widens the numbers 21 to 32
octets, adds the ``*_terminal_type`` octets, has LinkID 20 where 2.0 has Reserve 8, and widens
every response status from 1 to 4 octets). References: CMPP 3.0.0 (QB-GF-028-2003) section 8,
CMPP 2.0 (2002-04) section 7; notes in ../shared/research/cmpp.md.

Octet strings are fixed width: text on the left, NUL on the right (numbers written as text are
the same). Integers are big-endian. A body that does not fit its layout raises ``CmppError``
with the Result an ISMG answers for it (1 structure, 4 length), never anything else: random
bytes from the wire must not crash a reader (tests/test_cmpp_codec.py feeds it some).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from smsd import gsm7
from smsd.notes import N_
from smsd.segments import GSM7, plan
from smsd.smpp.codec import split_udh

V30 = 0x30
V20 = 0x20
VERSIONS = {"3.0": V30, "2.0": V20}

CONNECT = 0x00000001
TERMINATE = 0x00000002
SUBMIT = 0x00000004
DELIVER = 0x00000005
ACTIVE_TEST = 0x00000008
RESP = 0x80000000
NAMES = {CONNECT: "CONNECT", TERMINATE: "TERMINATE", SUBMIT: "SUBMIT", DELIVER: "DELIVER", ACTIVE_TEST: "ACTIVE_TEST"}
HEADER = struct.Struct(">LLL")  # Total_Length (header included), Command_Id, Sequence_Id
MAX_FRAME = 4096  # the longest message is a submit to 99 recipients: 163 + 32 * 99 + 140 octets

# SUBMIT_RESP / DELIVER_RESP Result (3.0 section 8.4.3.2); 100-199 are the vendor's.
OK = 0
STRUCTURE = 1
COMMAND = 2
SEQUENCE = 3
LENGTH = 4
FEE_CODE = 5
TOO_LONG = 6
SERVICE_ID = 7
FLOW_CONTROL = 8  # 流量控制错: slow down and send the same message again
NOT_OUR_FEE_NUMBER = 9
SRC_ID = 10
MSG_SRC = 11
FEE_TERMINAL = 12
DEST_TERMINAL = 13
RESULTS = {
    OK: N_("ok"),
    STRUCTURE: N_("structure error"),
    COMMAND: N_("command error"),
    SEQUENCE: N_("duplicate sequence"),
    LENGTH: N_("length error"),
    FEE_CODE: N_("fee code error"),
    TOO_LONG: N_("message too long"),
    SERVICE_ID: N_("wrong Service_Id"),
    FLOW_CONTROL: N_("flow control"),
    NOT_OUR_FEE_NUMBER: N_("fee number not served here"),
    SRC_ID: N_("wrong Src_Id"),
    MSG_SRC: N_("wrong Msg_src"),
    FEE_TERMINAL: N_("wrong Fee_terminal_Id"),
    DEST_TERMINAL: N_("wrong Dest_terminal_Id"),
}
# The account's setup is wrong (the ISMG refuses every message alike): the link pauses.
ACCOUNT = frozenset({SERVICE_ID, SRC_ID, MSG_SRC, FEE_CODE, NOT_OUR_FEE_NUMBER, FEE_TERMINAL})
# The message itself cannot go: it fails.
PERMANENT = frozenset({DEST_TERMINAL, TOO_LONG, LENGTH, STRUCTURE})

# CONNECT_RESP Status (3.0 section 8.4.1.2)
CONNECT_STATUS = {
    0: "ok",
    1: "structure error",
    2: "unknown source address (SP_Id)",
    3: "authentication failed (shared secret)",
    4: "version too high",
}

# Msg_Fmt
FMT_ASCII = 0
FMT_BINARY = 4
FMT_UCS2 = 8
FMT_UCS2_NO_SIGN = 9  # seen in the field: UCS-2 without a byte order mark
FMT_GB = 15

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the ISMG's clock: CONNECT timestamps and report times


class CmppError(ValueError):
    """A body that does not fit its layout; result is what an ISMG answers for it."""

    def __init__(self, message: str, result: int = STRUCTURE) -> None:
        super().__init__(message)
        self.result = result


# ------------------------------------------------------------------ layouts


@dataclass(frozen=True)
class F:
    """One fixed field: its kind (B u8, L u32, Q u64, s text, b raw octets) and its width in
    3.0 and in 2.0 (0: not in that version). A status is "L" in 3.0 and "B" in 2.0."""

    name: str
    kind: str
    w30: int = 1
    w20: int = -1  # -1: the same as in 3.0

    def width(self, version: int) -> int:
        return self.w30 if version == V30 or self.w20 < 0 else self.w20


STATUS = F("", "status", 4, 1)

CONNECT_FIELDS = (F("source_addr", "s", 6), F("authenticator", "b", 16), F("version", "B"), F("timestamp", "L", 4))
CONNECT_RESP_FIELDS = (
    F("status", "status", 4, 1),
    F("authenticator", "b", 16),
    F("version", "B"),
)
SUBMIT_HEAD = (
    F("msg_id", "Q", 8),
    F("pk_total", "B"),
    F("pk_number", "B"),
    F("registered_delivery", "B"),
    F("msg_level", "B"),
    F("service_id", "s", 10),
    F("fee_user_type", "B"),
    F("fee_terminal_id", "s", 32, 21),
    F("fee_terminal_type", "B", 1, 0),
    F("tp_pid", "B"),
    F("tp_udhi", "B"),
    F("msg_fmt", "B"),
    F("msg_src", "s", 6),
    F("fee_type", "s", 2),
    F("fee_code", "s", 6),
    F("valid_time", "s", 17),
    F("at_time", "s", 17),
    F("src_id", "s", 21),
)
TERMINAL = F("terminal", "s", 32, 21)
TERMINAL_TYPE = F("terminal_type", "B", 1, 0)
TAIL = F("link_id", "s", 20, 8)  # LinkID in 3.0, Reserve in 2.0
RESP_FIELDS = (F("msg_id", "Q", 8), F("result", "status", 4, 1))
DELIVER_HEAD = (
    F("msg_id", "Q", 8),
    F("dest_id", "s", 21),
    F("service_id", "s", 10),
    F("tp_pid", "B"),
    F("tp_udhi", "B"),
    F("msg_fmt", "B"),
    F("src_terminal_id", "s", 32, 21),
    F("src_terminal_type", "B", 1, 0),
    F("registered_delivery", "B"),
)
REPORT_FIELDS = (
    F("msg_id", "Q", 8),
    F("stat", "s", 7),
    F("submit_time", "s", 10),
    F("done_time", "s", 10),
    F("dest_terminal_id", "s", 32, 21),
    F("smsc_sequence", "L", 4),
)
REPORT_LENGTHS = {71: V30, 60: V20}  # a report's layout is chosen by its length, never by the session


@cache
def _struct(layout: tuple[F, ...], version: int) -> struct.Struct:
    codes = []
    for f in layout:
        w = f.width(version)
        if w == 0:
            continue
        if f.kind in ("s", "b"):
            codes.append(f"{w}s")
        elif f.kind == "status":
            codes.append("L" if w == 4 else "B")
        else:
            codes.append(f.kind)
    return struct.Struct(">" + "".join(codes))


def _present(layout: tuple[F, ...], version: int) -> list[F]:
    return [f for f in layout if f.width(version)]


def _pack(layout: tuple[F, ...], version: int, values: dict[str, Any]) -> bytes:
    out: list[Any] = []
    for f in _present(layout, version):
        v = values.get(f.name, 0 if f.kind not in ("s", "b") else "")
        if f.kind == "s":
            raw = str(v).encode("latin-1") if isinstance(v, str) else bytes(v)
            if len(raw) > f.width(version):
                raise CmppError(f"{f.name} {v!r} is longer than its {f.width(version)} octets", LENGTH)
            out.append(raw)  # struct pads with NUL on the right
        elif f.kind == "b":
            out.append(bytes(v))
        else:
            out.append(int(v))
    try:
        return _struct(layout, version).pack(*out)
    except struct.error as exc:
        raise CmppError(str(exc), STRUCTURE) from None


def _unpack(layout: tuple[F, ...], version: int, data: bytes, offset: int = 0) -> tuple[dict[str, Any], int]:
    st = _struct(layout, version)
    if len(data) - offset < st.size:
        raise CmppError(f"{len(data) - offset} octets where {st.size} are needed", LENGTH)
    values = st.unpack_from(data, offset)
    out: dict[str, Any] = {}
    for f, v in zip(_present(layout, version), values, strict=True):
        out[f.name] = _text(v) if f.kind == "s" else v
    return out, offset + st.size


def _text(raw: bytes) -> str:
    """An octet string: up to its first NUL (some gateways pad with spaces: those go too)."""
    return raw.split(b"\x00", 1)[0].decode("latin-1").rstrip(" ")


# ------------------------------------------------------------------ frames


def frame(command: int, sequence: int, body: bytes = b"") -> bytes:
    return HEADER.pack(HEADER.size + len(body), command, sequence & 0xFFFFFFFF) + body


def read_header(head: bytes) -> tuple[int, int, int]:
    """(Total_Length, Command_Id, Sequence_Id); CmppError for a length no CMPP message has."""
    length, command, sequence = HEADER.unpack(head)
    if length < HEADER.size or length > MAX_FRAME:
        raise CmppError(f"a message of {length} octets", LENGTH)
    return length, command, sequence


# ------------------------------------------------------------------ CONNECT


def timestamp(now: datetime) -> int:
    """MMDDHHMMSS on the ISMG's clock (Asia/Shanghai), as CONNECT carries it."""
    return int(now.astimezone(SHANGHAI).strftime("%m%d%H%M%S"))


def authenticator(sp_id: str, secret: str, ts: int) -> bytes:
    """AuthenticatorSource = MD5(Source_Addr + 9 x 0x00 + shared secret + MMDDHHMMSS): the
    SP_Id as given (not padded to 6: gocmpp issues 13 and 17), the timestamp zero-padded to 10."""
    return hashlib.md5(sp_id.encode() + b"\x00" * 9 + secret.encode() + f"{ts:010d}".encode()).digest()


def ismg_authenticators(status: int, source: bytes, secret: str) -> tuple[bytes, bytes]:
    """AuthenticatorISMG = MD5(Status + AuthenticatorSource + secret), with Status as 4 octets
    (the spec, SMSGate) and as 1 (gocmpp's example server): a client accepts either."""

    def md5(status_octets: bytes) -> bytes:
        return hashlib.md5(status_octets + source + secret.encode()).digest()

    return md5(struct.pack(">L", status)), md5(struct.pack(">B", status & 0xFF))


@dataclass(frozen=True)
class Connect:
    source_addr: str
    authenticator: bytes
    version: int
    timestamp: int


@dataclass(frozen=True)
class ConnectResp:
    status: int
    authenticator: bytes
    version: int


def pack_connect(sequence: int, sp_id: str, secret: str, version: int, ts: int) -> bytes:
    body = _pack(
        CONNECT_FIELDS,
        version,
        {"source_addr": sp_id, "authenticator": authenticator(sp_id, secret, ts), "version": version, "timestamp": ts},
    )
    return frame(CONNECT, sequence, body)


def unpack_connect(body: bytes) -> Connect:
    values, _end = _unpack(CONNECT_FIELDS, V30, body)  # the same 27 octets in both versions
    return Connect(**values)


def pack_connect_resp(sequence: int, status: int, source: bytes, secret: str, version: int) -> bytes:
    auth = ismg_authenticators(status, source, secret)[0 if version == V30 else 1] if status == 0 else b""
    body = _pack(CONNECT_RESP_FIELDS, version, {"status": status, "authenticator": auth, "version": version})
    return frame(CONNECT | RESP, sequence, body)


def unpack_connect_resp(body: bytes) -> ConnectResp:
    """By its length: 21 octets with a 3.0 Status, 18 with a 2.0 one (an ISMG may answer a 3.0
    CONNECT in 2.0 when that is all it speaks: its Version says so)."""
    version = V20 if len(body) == _struct(CONNECT_RESP_FIELDS, V20).size else V30
    values, _end = _unpack(CONNECT_RESP_FIELDS, version, body)
    return ConnectResp(**values)


# ------------------------------------------------------------------ SUBMIT


@dataclass(frozen=True)
class Submit:
    """A CMPP_SUBMIT, every field (3.0 names; the 2.0 codec leaves out what 2.0 lacks)."""

    msg_src: str
    service_id: str
    src_id: str
    dest_terminal_ids: tuple[str, ...]
    content: bytes
    msg_fmt: int = FMT_UCS2
    tp_udhi: int = 0
    pk_total: int = 1
    pk_number: int = 1
    registered_delivery: int = 0
    msg_level: int = 0
    fee_user_type: int = 2  # the SP pays (a member is never charged for a notice)
    fee_terminal_id: str = ""
    fee_terminal_type: int = 0
    tp_pid: int = 0
    fee_type: str = "01"  # free to the member
    fee_code: str = "000000"
    valid_time: str = ""
    at_time: str = ""
    dest_terminal_type: int = 0
    link_id: str = ""
    msg_id: int = 0


def pack_submit(sequence: int, s: Submit, version: int) -> bytes:
    if not 1 <= len(s.dest_terminal_ids) <= 99:
        raise CmppError("DestUsr_tl must be 1 to 99", STRUCTURE)
    if len(s.content) > 255:
        raise CmppError("Msg_Content longer than 255 octets", TOO_LONG)
    values = {f.name: getattr(s, f.name) for f in fields(s)}
    head = _pack(SUBMIT_HEAD, version, values)
    dests = b"".join(_pack((TERMINAL,), version, {"terminal": d}) for d in s.dest_terminal_ids)
    kind = _pack((TERMINAL_TYPE,), version, {"terminal_type": s.dest_terminal_type})
    tail = _pack((TAIL,), version, {"link_id": s.link_id})
    body = head + bytes([len(s.dest_terminal_ids)]) + dests + kind + bytes([len(s.content)]) + s.content + tail
    return frame(SUBMIT, sequence, body)


def unpack_submit(body: bytes, version: int) -> Submit:
    values, pos = _unpack(SUBMIT_HEAD, version, body)
    if pos >= len(body):
        raise CmppError("no DestUsr_tl", LENGTH)
    count = body[pos]
    pos += 1
    if not 1 <= count <= 99:
        raise CmppError(f"DestUsr_tl {count}", STRUCTURE)
    dests = []
    for _ in range(count):
        d, pos = _unpack((TERMINAL,), version, body, pos)
        dests.append(str(d["terminal"]))
    t, pos = _unpack((TERMINAL_TYPE,), version, body, pos)
    if pos >= len(body):
        raise CmppError("no Msg_Length", LENGTH)
    length = body[pos]
    pos += 1
    content = body[pos : pos + length]
    if len(content) != length:
        raise CmppError(f"Msg_Length {length} beyond the message", LENGTH)
    pos += length
    tail, pos = _unpack((TAIL,), version, body, pos)
    if pos != len(body):
        raise CmppError(f"{len(body) - pos} octets after LinkID", LENGTH)
    values.pop("msg_id", None)
    return Submit(
        dest_terminal_ids=tuple(dests),
        content=content,
        dest_terminal_type=int(t.get("terminal_type", 0)),
        link_id=str(tail["link_id"]),
        **values,
    )


@dataclass(frozen=True)
class Resp:
    """SUBMIT_RESP or DELIVER_RESP: the Msg_Id and the Result."""

    msg_id: int
    result: int


def pack_resp(command: int, sequence: int, msg_id: int, result: int, version: int) -> bytes:
    return frame(command | RESP, sequence, _pack(RESP_FIELDS, version, {"msg_id": msg_id, "result": result}))


def unpack_resp(body: bytes) -> Resp:
    """By its length: 12 octets (3.0's 4-octet Result) or 9 (2.0's one octet)."""
    version = V20 if len(body) == 9 else V30
    values, _end = _unpack(RESP_FIELDS, version, body)
    return Resp(int(values["msg_id"]), int(values["result"]))


# ------------------------------------------------------------------ DELIVER and its report


@dataclass(frozen=True)
class Deliver:
    """A CMPP_DELIVER: a member's message (registered_delivery 0) or a status report (1)."""

    msg_id: int
    dest_id: str  # the service code (and extension) the member sent to
    src_terminal_id: str
    content: bytes
    service_id: str = ""
    msg_fmt: int = FMT_UCS2
    tp_pid: int = 0
    tp_udhi: int = 0
    src_terminal_type: int = 0
    registered_delivery: int = 0
    link_id: str = ""


def pack_deliver(sequence: int, d: Deliver, version: int) -> bytes:
    if len(d.content) > 255:
        raise CmppError("Msg_Content longer than 255 octets", TOO_LONG)
    head = _pack(DELIVER_HEAD, version, {f.name: getattr(d, f.name) for f in fields(d)})
    tail = _pack((TAIL,), version, {"link_id": d.link_id})
    return frame(DELIVER, sequence, head + bytes([len(d.content)]) + d.content + tail)


def unpack_deliver(body: bytes, version: int) -> Deliver:
    """The trailing LinkID/Reserve is read as whatever is left of it (a gateway that sends it
    short, SMSGate's "少了11个字节"); everything before it must be there."""
    values, pos = _unpack(DELIVER_HEAD, version, body)
    if pos >= len(body):
        raise CmppError("no Msg_Length", LENGTH)
    length = body[pos]
    pos += 1
    content = body[pos : pos + length]
    if len(content) != length:
        raise CmppError(f"Msg_Length {length} beyond the message", LENGTH)
    link = _text(body[pos + length : pos + length + TAIL.width(version)])
    return Deliver(content=content, link_id=link, **values)


@dataclass(frozen=True)
class Report:
    """The status report inside a DELIVER's Msg_Content."""

    msg_id: int  # the SUBMIT_RESP's Msg_Id
    stat: str
    submit_time: str  # YYMMDDHHMM, the ISMG's clock
    done_time: str
    dest_terminal_id: str
    smsc_sequence: int = 0

    @property
    def outcome(self) -> str:
        if self.stat == "DELIVRD":
            return "delivered"
        if self.stat in ("ACCEPTD", "ENROUTE"):  # an intermediate state: the final one follows
            return "pending"
        return "failed"

    @property
    def status(self) -> int:
        """A TP-ST-like number for the ledger (0 delivered, 0x20 pending, 0x4x failed): the
        Stat itself is kept in the log and in the report's row."""
        if self.outcome == "delivered":
            return 0
        if self.outcome == "pending":
            return 0x20
        return {"EXPIRED": 0x46, "DELETED": 0x47, "UNDELIV": 0x41, "REJECTD": 0x43}.get(self.stat, 0x40)

    @property
    def done(self) -> datetime | None:
        try:
            return datetime.strptime(self.done_time, "%y%m%d%H%M").replace(tzinfo=SHANGHAI).astimezone(UTC)
        except ValueError:
            return None


def pack_report(r: Report, version: int) -> bytes:
    return _pack(REPORT_FIELDS, version, {f.name: getattr(r, f.name) for f in fields(r)})


def unpack_report(content: bytes) -> Report:
    """71 octets (3.0) or 60 (2.0), whatever the session's version: some 3.0 gateways send
    2.0-sized reports."""
    version = REPORT_LENGTHS.get(len(content))
    if version is None:
        raise CmppError(f"a status report of {len(content)} octets (71 or 60 expected)", LENGTH)
    values, _end = _unpack(REPORT_FIELDS, version, content)
    return Report(**values)


def report_time(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%y%m%d%H%M")


# ------------------------------------------------------------------ Msg_Id


@dataclass(frozen=True)
class MsgId:
    """The 64 bits of a Msg_Id (3.0 section 8.4.3.2): the time on the ISMG's clock, the
    gateway's code, a sequence. smsd matches reports by the whole number and never rebuilds it."""

    month: int
    day: int
    hour: int
    minute: int
    second: int
    gateway: int
    sequence: int

    BITS = (("month", 4), ("day", 5), ("hour", 5), ("minute", 6), ("second", 6), ("gateway", 22), ("sequence", 16))

    def pack(self) -> int:
        n = 0
        for name, bits in self.BITS:
            v = getattr(self, name)
            if not 0 <= v < 1 << bits:
                raise ValueError(f"{name} {v} does not fit {bits} bits")
            n = (n << bits) | v
        return n

    @classmethod
    def unpack(cls, n: int) -> MsgId:
        if not 0 <= n < 1 << 64:
            raise ValueError("a Msg_Id is 64 bits")
        out: dict[str, int] = {}
        shift = 64
        for name, bits in cls.BITS:
            shift -= bits
            out[name] = (n >> shift) & ((1 << bits) - 1)
        return cls(**out)


def msg_ref(msg_id: int) -> str:
    """A Msg_Id as the store keeps it: its 8 octets in hex (as a number, 64 bits do not fit
    SQLite's signed integer, and a decimal string would be read back as a rounded REAL)."""
    return f"{msg_id:016x}"


# ------------------------------------------------------------------ text


@dataclass(frozen=True)
class Part:
    """One submit's Msg_Fmt, TP_udhi, Pk_total/Pk_number and Msg_Content."""

    msg_fmt: int
    tp_udhi: int
    total: int
    number: int
    content: bytes


def encode(text: str, concat_ref: int, signature: str = "", signed_by_ismg: bool = False) -> list[Part]:
    """A text as submit parts: the same segments as on a modem or over SMPP (``smsd.segments``),
    a long one as UDH parts (``05 00 03 ref total seq``). GSM-7 text goes as Msg_Fmt 0 (ASCII:
    the ISMG writes it as GSM-7; a GSM character ASCII lacks is '?'), the rest as UCS-2 (8).

    signature: the carrier's filed 【…】. The parts are planned with it at the start, so they
    and their cost are the carrier's count; signed_by_ismg: the ISMG writes it itself, so the
    first part goes without it (but keeps its room)."""
    whole = signature + text
    p = plan(whole)
    total = p.segments
    out: list[Part] = []
    for i, (chunk, chunk_text) in enumerate(zip(p.chunks, p.texts, strict=True), start=1):
        shown = chunk_text
        if i == 1 and signed_by_ismg and signature and shown.startswith(signature):
            shown = shown[len(signature) :]
        if p.encoding == GSM7:
            fmt = FMT_ASCII
            payload = (gsm7.decode(list(chunk)) if shown == chunk_text else shown).encode("ascii", errors="replace")
        else:
            fmt = FMT_UCS2
            payload = shown.encode("utf-16-be", errors="surrogatepass")
        if total == 1:
            out.append(Part(fmt, 0, 1, 1, payload))
        else:
            out.append(Part(fmt, 1, total, i, bytes([0x05, 0x00, 0x03, concat_ref & 0xFF, total, i]) + payload))
    return out


@dataclass(frozen=True)
class Text:
    text: str
    ref: int | None = None
    total: int | None = None
    seq: int | None = None


def decode(msg_fmt: int, tp_udhi: int, content: bytes) -> Text:
    """A member's message: Msg_Fmt 8 or 9 (UCS-2), 15 (GBK), 0 (ASCII; Latin-1 read as such),
    with its UDH when TP_udhi is set. CmppError for a format that is not text (4: binary)."""
    body, concat = (content, None)
    if tp_udhi & 0x01:
        try:
            body, concat = split_udh(content)
        except ValueError as exc:
            raise CmppError(str(exc), STRUCTURE) from None
    if msg_fmt in (FMT_UCS2, FMT_UCS2_NO_SIGN):
        if len(body) % 2:
            raise CmppError("UCS-2 text of an odd length", LENGTH)
        text = body.decode("utf-16-be", errors="replace")
    elif msg_fmt == FMT_GB:
        text = body.decode("gb18030", errors="replace")
    elif msg_fmt == FMT_ASCII:
        text = body.decode("latin-1")
    else:
        raise CmppError(f"Msg_Fmt {msg_fmt} is not text")
    if concat is None:
        return Text(text)
    return Text(text, concat[0], concat[1], concat[2])


def result_name(result: int) -> str:
    """The Result's name in English (translated where it is shown: the names are marked N_)."""
    return RESULTS.get(result, N_("vendor error") if 100 <= result <= 199 else N_("unknown error"))


__all__ = [
    "CmppError",
    "Connect",
    "ConnectResp",
    "Deliver",
    "MsgId",
    "Part",
    "Report",
    "Resp",
    "Submit",
    "Text",
    "decode",
    "encode",
    "frame",
    "msg_ref",
    "pack_connect",
    "pack_connect_resp",
    "pack_deliver",
    "pack_report",
    "pack_resp",
    "pack_submit",
    "read_header",
    "unpack_connect",
    "unpack_connect_resp",
    "unpack_deliver",
    "unpack_report",
    "unpack_resp",
    "unpack_submit",
]
