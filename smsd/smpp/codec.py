"""SMPP 3.4 message bodies: text to submit_sm parts and back, delivery receipts, command statuses.

The same split as on a modem (``smsd.segments``): a text is GSM-7 (``data_coding`` 0, one
septet per octet, unpacked as SMSCs expect) or UCS-2 (``data_coding`` 8), and a long one goes
as UDH parts (``esm_class`` 0x40, an 8-bit concatenation reference), so a segment costs the same
whichever transport carries it. PDU framing is smpplib's; this module only shapes the fields.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from smsd import gsm7
from smsd.segments import GSM7, plan

DC_DEFAULT = 0x00  # SMSC default alphabet: GSM 03.38, one septet per octet
DC_IA5 = 0x01
DC_LATIN1 = 0x03
DC_UCS2 = 0x08
ESM_UDHI = 0x40
ESM_RECEIPT = 0x04  # esm_class bits 2-5: an SMSC delivery receipt

# Command statuses (SMPP 3.4 section 5.1.3) this client treats specially.
ROK = 0x00
RINVMSGLEN = 0x01
RINVCMDLEN = 0x02
RSYSERR = 0x08
RINVSRCADR = 0x0A
RINVDSTADR = 0x0B
RBINDFAIL = 0x0D
RINVPASWD = 0x0E
RINVSYSID = 0x0F
RMSGQFUL = 0x14
RSUBMITFAIL = 0x45
RTHROTTLED = 0x58
RINVDCS = 0x104
RINVNUMDESTS = 0x33
RX_T_APPN = 0x64  # ESME receiver temporary app error: the SMSC should deliver again
RINVESMCLASS = 0x43

NAMES = {
    ROK: "ESME_ROK",
    RINVMSGLEN: "ESME_RINVMSGLEN",
    RINVCMDLEN: "ESME_RINVCMDLEN",
    0x03: "ESME_RINVCMDID",
    0x04: "ESME_RINVBNDSTS",
    0x05: "ESME_RALYBND",
    RSYSERR: "ESME_RSYSERR",
    RINVSRCADR: "ESME_RINVSRCADR",
    RINVDSTADR: "ESME_RINVDSTADR",
    0x0C: "ESME_RINVMSGID",
    RBINDFAIL: "ESME_RBINDFAIL",
    RINVPASWD: "ESME_RINVPASWD",
    RINVSYSID: "ESME_RINVSYSID",
    RMSGQFUL: "ESME_RMSGQFUL",
    RINVNUMDESTS: "ESME_RINVNUMDESTS",
    RINVESMCLASS: "ESME_RINVESMCLASS",
    RSUBMITFAIL: "ESME_RSUBMITFAIL",
    0x48: "ESME_RINVSRCTON",
    0x49: "ESME_RINVSRCNPI",
    0x50: "ESME_RINVDSTTON",
    0x51: "ESME_RINVDSTNPI",
    RTHROTTLED: "ESME_RTHROTTLED",
    0x61: "ESME_RINVSCHED",
    0x62: "ESME_RINVEXPIRY",
    RX_T_APPN: "ESME_RX_T_APPN",
    RINVDCS: "ESME_RINVDCS",
}

# A refusal that is the message's fault: it fails at once, uncharged.
PERMANENT = frozenset(
    {RINVMSGLEN, RINVSRCADR, RINVDSTADR, RINVNUMDESTS, RINVESMCLASS, RINVDCS, 0x48, 0x49, 0x50, 0x51, 0x61, 0x62}
)
# The SMSC is busy: slow down and send the same part again (not counted against the message).
BUSY = frozenset({RTHROTTLED, RMSGQFUL})
# The account cannot send (over quota, no credit, bind state): pause this transport, keep the
# message queued. Jasmin answers an exhausted quota with ESME_RSYSERR on a healthy bind.
ACCOUNT = frozenset({RSYSERR, RBINDFAIL, RINVPASWD, RINVSYSID, 0x04, 0x05})


def status_name(status: int) -> str:
    return NAMES.get(status, f"0x{status:08X}")


def classify(status: int) -> str:
    """What a submit_sm_resp status means for the message: permanent, busy, account or transient."""
    if status in PERMANENT:
        return "permanent"
    if status in BUSY:
        return "busy"
    if status in ACCOUNT:
        return "account"
    return "transient"


@dataclass(frozen=True)
class PartBody:
    """The fields of one submit_sm that carry a part of the text."""

    data_coding: int
    esm_class: int
    short_message: bytes


ALPHABETS = ("gsm7", "latin1", "ascii")  # what data_coding 0 means at an SMSC (SMPP says: its default)


def encode(text: str, concat_ref: int, default_alphabet: str = "gsm7") -> list[PartBody]:
    """A text as submit_sm bodies: one per segment, with a UDH when there is more than one.

    default_alphabet: what the SMSC reads data_coding 0 as. "gsm7": one septet per octet; "latin1"
    or "ascii" (many SMSCs, and Jasmin, pass text through as such): the same segments, each
    written in that character set ('?' for a GSM character it lacks)."""
    p = plan(text)
    total = p.segments
    out: list[PartBody] = []
    for i, chunk in enumerate(p.chunks, start=1):
        payload = bytes(chunk)  # septets one per octet, or UTF-16 bytes
        if p.encoding == GSM7 and default_alphabet != "gsm7":
            payload = gsm7.decode(list(chunk)).encode(
                "latin-1" if default_alphabet == "latin1" else "ascii", errors="replace"
            )
        dc = DC_DEFAULT if p.encoding == GSM7 else DC_UCS2
        if total == 1:
            out.append(PartBody(dc, 0, payload))
        else:
            udh = bytes([0x05, 0x00, 0x03, concat_ref & 0xFF, total, i])
            out.append(PartBody(dc, ESM_UDHI, udh + payload))
    return out


def _alphabet(dc: int) -> str:
    """SMPP's data_coding values 0-15, then the GSM DCS groups (TS 23.038) above them."""
    smpp = {DC_DEFAULT: "gsm7", DC_IA5: "ascii", 0x02: "latin1", DC_LATIN1: "latin1", 0x04: "latin1", DC_UCS2: "ucs2"}
    if dc in smpp:
        return smpp[dc]
    if 0x10 <= dc <= 0x3F:  # general data coding: bits 3-2 give the alphabet
        return {0: "gsm7", 1: "latin1", 2: "ucs2"}.get((dc >> 2) & 0x03, "")
    if dc >= 0xF0:
        return "latin1" if dc & 0x04 else "gsm7"
    return ""


SUBMIT_SM = 0x00000004


@dataclass(frozen=True)
class Submit:
    """The fields of one submit_sm this client sends (every other field is empty or 0)."""

    source_addr: str
    source_ton: int
    source_npi: int
    destination_addr: str
    dest_ton: int
    dest_npi: int
    body: PartBody
    registered_delivery: int
    validity_period: str | None


def _cstring(text: str) -> bytes:
    return text.encode("latin-1") + b"\x00"


def pack_submit_sm(sequence: int, s: Submit) -> bytes:
    """A submit_sm PDU (SMPP 3.4 4.4.1), packed directly: the same bytes smpplib's encoder makes
    (tests/test_smpp_codec.py compares them), at a fraction of its cost per part."""
    if len(s.body.short_message) > 254:
        raise ValueError("short_message longer than 254 octets")
    body = b"".join(
        (
            _cstring(""),  # service_type
            bytes((s.source_ton, s.source_npi)),
            _cstring(s.source_addr),
            bytes((s.dest_ton, s.dest_npi)),
            _cstring(s.destination_addr),
            bytes((s.body.esm_class, 0, 0)),  # esm_class, protocol_id, priority_flag
            _cstring(""),  # schedule_delivery_time
            _cstring(s.validity_period or ""),
            bytes((s.registered_delivery, 0, s.body.data_coding, 0, len(s.body.short_message))),
            s.body.short_message,
        )
    )
    return struct.pack(">LLLL", 16 + len(body), SUBMIT_SM, 0, sequence) + body


def check_submit_sm(raw: bytes) -> int:
    """What an SMSC answers to a submit_sm's layout (SMPP 3.4 4.4.1): ROK, or the status for the
    first thing wrong: a truncated PDU (ESME_RINVCMDLEN), a C-Octet string without its NUL or
    longer than its field, an empty destination (ESME_RINVDSTADR), sm_length beyond the PDU or 254
    (ESME_RINVMSGLEN), a TLV that runs past the end. smpplib's parser takes many of these."""
    if len(raw) < 16 or struct.unpack(">L", raw[:4])[0] != len(raw):
        return RINVCMDLEN
    pos = 16

    def cstring(limit: int) -> str | None:
        nonlocal pos
        end = raw.find(b"\x00", pos, pos + limit)
        if end < 0:
            return None
        value, pos = raw[pos:end], end + 1
        return value.decode("latin-1")

    fields = [("service_type", 6, 0), ("source_addr", 21, RINVSRCADR), ("destination_addr", 21, RINVDSTADR)]
    for i, (name, limit, status) in enumerate(fields):
        if i > 0:
            if pos + 2 > len(raw):
                return RINVCMDLEN
            pos += 2  # ton, npi
        value = cstring(limit)
        if value is None:
            return status or RINVCMDLEN
        if name == "destination_addr" and not value:
            return RINVDSTADR
    if pos + 3 > len(raw):
        return RINVCMDLEN
    pos += 3  # esm_class, protocol_id, priority_flag
    for _field in ("schedule_delivery_time", "validity_period"):
        if cstring(17) is None:
            return RINVCMDLEN
    if pos + 5 > len(raw):
        return RINVCMDLEN
    sm_length = raw[pos + 4]
    pos += 5
    if pos + sm_length > len(raw):
        return RINVMSGLEN
    pos += sm_length
    while pos < len(raw):  # optional parameters: tag, length, value
        if pos + 4 > len(raw):
            return RINVCMDLEN
        length = struct.unpack(">H", raw[pos + 2 : pos + 4])[0]
        pos += 4 + length
        if pos > len(raw):
            return RINVCMDLEN
    return ROK


@dataclass(frozen=True)
class Decoded:
    text: str
    ref: int | None = None  # concatenation: reference, total and sequence of this part
    total: int | None = None
    seq: int | None = None


def split_udh(body: bytes) -> tuple[bytes, tuple[int, int, int] | None]:
    if not body:
        raise ValueError("a UDH indicator with no user data")
    udhl = body[0]
    if udhl + 1 > len(body):
        raise ValueError("the UDH is longer than the message")
    udh, rest = body[1 : 1 + udhl], body[1 + udhl :]
    i, concat = 0, None
    while i + 2 <= len(udh):
        iei, iedl = udh[i], udh[i + 1]
        data = udh[i + 2 : i + 2 + iedl]
        if iei == 0x00 and iedl == 3 and len(data) == 3:
            concat = (data[0], data[1], data[2])
        elif iei == 0x08 and iedl == 4 and len(data) == 4:
            concat = ((data[0] << 8) | data[1], data[2], data[3])
        i += 2 + iedl
    if concat is not None and not (1 <= concat[2] <= concat[1]):
        concat = None
    return rest, concat


def decode(data_coding: int, esm_class: int, short_message: bytes, default_alphabet: str = "gsm7") -> Decoded:
    """A deliver_sm's text (and its concatenation header); ValueError when it cannot be read.
    default_alphabet: what this SMSC means by data_coding 0 (see encode)."""
    body, concat = (short_message, None)
    if esm_class & ESM_UDHI:
        body, concat = split_udh(short_message)
    dc = data_coding & 0xFF
    alphabet = _alphabet(dc)
    if dc == DC_DEFAULT and default_alphabet != "gsm7":
        alphabet = default_alphabet
    if alphabet == "ucs2":
        text = body.decode("utf-16-be", errors="surrogatepass")
    elif alphabet == "gsm7":
        # some SMSCs send Latin-1 under the default alphabet
        text = body.decode("latin-1") if any(b > 0x7F for b in body) else gsm7.decode(list(body))
    elif alphabet == "ascii":
        text = body.decode("ascii", errors="replace")
    elif alphabet == "latin1":
        text = body.decode("latin-1")
    else:
        raise ValueError(f"data_coding 0x{dc:02X} is not text")
    if concat is None:
        return Decoded(text)
    return Decoded(text, concat[0], concat[1], concat[2])


@dataclass(frozen=True)
class Receipt:
    """An SMSC delivery receipt (SMPP 3.4 appendix B), from its TLVs or its text."""

    message_id: str
    stat: str
    err: str
    done: datetime | None

    @property
    def outcome(self) -> str:
        if self.stat in ("DELIVRD",):
            return "delivered"
        if self.stat in ("ENROUTE", "ACCEPTD", "ACKED", "BUFFRED", "SCHEDLD"):
            return "pending"
        return "failed"

    @property
    def status(self) -> int:
        """A TP-ST-like number for the ledger: 0 delivered, 0x20 pending, 0x40 + err failed."""
        if self.outcome == "delivered":
            return 0
        if self.outcome == "pending":
            return 0x20
        try:
            return 0x40 | (int(self.err or "0", 10) & 0x3F)
        except ValueError:
            return 0x40


STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):\s*(\S+)", re.IGNORECASE)


def receipt(text: str, receipted_message_id: str | None = None, message_state: int | None = None) -> Receipt:
    """Read a receipt; the TLVs win over the text, which some SMSCs send alone."""
    fields = {k.lower(): v for k, v in _FIELD.findall(text)}
    mid = receipted_message_id or fields.get("id", "")
    if not mid:
        raise ValueError("a delivery receipt without a message id")
    stat = STATES.get(message_state or 0) or fields.get("stat", "UNKNOWN").upper()
    done = None
    raw = fields.get("done date", "")
    fmt = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S"}.get(len(raw))
    if fmt and raw.isdigit():
        try:
            done = datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            done = None
    return Receipt(mid, stat, fields.get("err", "000"), done)


def id_forms(message_id: str) -> tuple[str, ...]:
    """The other ways an SMSC may write the same message id in a receipt than in its
    submit_sm_resp (Kannel's msg-id-type): a decimal id as hex (lower and upper case), a hex id
    as decimal. Tried in turn when the id as written matches nothing."""
    out: list[str] = []
    if message_id.isdigit() and len(message_id) <= 40:
        n = int(message_id)
        for width in (0, 8, 10, 12, 16, 20, 32):  # hex ids are often zero-padded to a fixed width
            out += [f"{n:0{width}x}", f"{n:0{width}X}"]
    if re.fullmatch(r"[0-9A-Fa-f]{1,32}", message_id):
        out += [str(int(message_id, 16)), message_id.lower(), message_id.upper()]
    return tuple(dict.fromkeys(x for x in out if x != message_id))


def receipt_text(message_id: str, stat: str, submitted: datetime, done: datetime, err: str = "000") -> str:
    """The appendix B text an SMSC puts in a receipt's short_message."""
    dlvrd = "001" if stat == "DELIVRD" else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{submitted:%y%m%d%H%M} "
        f"done date:{done:%y%m%d%H%M} stat:{stat} err:{err} text:"
    )


__all__ = [
    "PartBody",
    "Decoded",
    "Receipt",
    "encode",
    "decode",
    "receipt",
    "receipt_text",
    "classify",
    "check_submit_sm",
    "id_forms",
    "status_name",
]
