"""SMS PDU codec (3GPP TS 23.040 / 23.038): SUBMIT, DELIVER and STATUS-REPORT, both ways.

The daemon encodes SUBMIT and decodes DELIVER / STATUS-REPORT; the emulator does the
reverse. One function, ``plan``, decides encoding and splitting, so the segment count
that cost estimates use is the number of PDUs that are really sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from smsd import gsm7
from smsd.errors import PduError
from smsd.segments import GSM7, UCS2, Plan, _split, clean_text, plan, segments

DATA8 = "8bit"
__all__ = ["GSM7", "UCS2", "Plan", "clean_text", "plan", "segments"]  # segmentation lives in smsd.segments

CONCAT8_UDH = bytes([5, 0x00, 3])  # UDHL, IEI 00, IEDL 3 (ref, total, seq follow)
CONCAT16_UDH = bytes([6, 0x08, 4])


@dataclass(frozen=True)
class Concat:
    """The concatenation information element of one part."""

    ref: int
    total: int
    seq: int
    bits: int = 8


@dataclass(frozen=True)
class SubmitPdu:
    """One encoded SMS-SUBMIT ready for AT+CMGS: hex with SMSC prefix, and its TPDU length."""

    hex: str
    tpdu_length: int
    text: str
    concat: Concat | None


@dataclass(frozen=True)
class Submit:
    """A decoded SMS-SUBMIT (what the emulator receives)."""

    to: str
    text: str
    dcs: int
    encoding: str
    mr: int
    srr: bool
    concat: Concat | None
    validity: int | None = None


@dataclass(frozen=True)
class Deliver:
    """A decoded SMS-DELIVER. raw_text may hold a lone surrogate until parts are joined."""

    sender: str
    text: str
    raw_text: str
    dcs: int
    encoding: str
    scts: datetime | None
    concat: Concat | None
    smsc: str = ""
    kind: str = field(default="deliver")


@dataclass(frozen=True)
class StatusReport:
    """A decoded SMS-STATUS-REPORT for one sent part (matched by mr and recipient)."""

    mr: int
    recipient: str
    scts: datetime | None
    discharge: datetime | None
    status: int
    smsc: str = ""
    kind: str = field(default="status")

    @property
    def outcome(self) -> str:
        """delivered, pending or failed (TS 23.040 §9.2.3.15)."""
        if self.status < 0x20:
            return "delivered"
        if self.status < 0x40:
            return "pending"
        return "failed"


# ---------------------------------------------------------------- addresses


_BCD = "0123456789*#abc"


def encode_address(number: str) -> bytes:
    """TP-address: length in semi-octets, type of address, then digits or GSM-7 name."""
    if number.startswith("+") and number[1:].isdigit():
        digits, toa = number[1:], 0x91
    elif number.isdigit():
        digits, toa = number, 0x81
    else:
        septets = gsm7.encode(number) if gsm7.is_gsm7(number) else None
        if not septets or len(septets) > 11:
            raise PduError(f"cannot encode address {number!r}")
        packed = gsm7.pack(septets)
        return bytes([math.ceil(len(septets) * 7 / 4), 0xD0]) + packed
    if not digits or len(digits) > 20:
        raise PduError(f"cannot encode address {number!r}")
    return bytes([len(digits), toa]) + _bcd(digits)


def _bcd(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes(int(digits[i + 1], 16) << 4 | int(digits[i], 16) for i in range(0, len(digits), 2))


def _unbcd(data: bytes, ndigits: int) -> str:
    out = []
    for b in data:
        out.append(_BCD[b & 0x0F] if (b & 0x0F) < 15 else "")
        out.append(_BCD[b >> 4] if (b >> 4) < 15 else "")
    return "".join(out)[:ndigits]


def encode_smsc(number: str | None) -> bytes:
    """The SMSC prefix of a PDU-mode PDU: 00 means 'the SIM's SMSC'."""
    if not number:
        return b"\x00"
    addr = encode_address(number)
    return bytes([len(addr) - 1]) + addr[1:]


class _Reader:
    """A cursor over PDU octets that raises PduError instead of IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise PduError(f"PDU too short: wanted {n} octets at {self.pos} of {len(self.data)}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def address(self) -> str:
        ndigits = self.byte()
        toa = self.byte()
        raw = self.take((ndigits + 1) // 2)
        if toa & 0x70 == 0x50:  # alphanumeric
            return gsm7.decode(gsm7.unpack(raw, ndigits * 4 // 7))
        digits = _unbcd(raw, ndigits)
        return "+" + digits if toa & 0x70 == 0x10 and digits else digits

    def smsc(self) -> str:
        n = self.byte()
        if n == 0:
            return ""
        raw = self.take(n)
        toa, digits = raw[0], _unbcd(raw[1:], 2 * (n - 1))
        return "+" + digits if toa & 0x70 == 0x10 else digits

    def timestamp(self) -> datetime | None:
        return decode_scts(self.take(7))


# ---------------------------------------------------------------- timestamps


def _swap(n: int) -> int:
    return (n % 10) << 4 | (n // 10)


def encode_scts(when: datetime) -> bytes:
    """A service-centre timestamp in the sender's local offset (default UTC+8)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    offset = when.utcoffset() or timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    tz = _swap(quarters) | (0x08 if offset < timedelta(0) else 0)
    parts = [when.year % 100, when.month, when.day, when.hour, when.minute, when.second]
    return bytes(_swap(p) for p in parts) + bytes([tz])


def decode_scts(raw: bytes) -> datetime | None:
    """Decode a TP-SCTS; None when the modem's clock fields are nonsense."""

    def digit(b: int) -> int:
        return (b & 0x0F) * 10 + (b >> 4)

    try:
        y, mo, d, h, mi, s = (digit(b) for b in raw[:6])
        quarters = (raw[6] & 0x07) * 10 + (raw[6] >> 4)
        sign = -1 if raw[6] & 0x08 else 1
        tz = timezone(timedelta(minutes=sign * quarters * 15))
        return datetime(2000 + y, mo, d, h, mi, s, tzinfo=tz)
    except (ValueError, IndexError):
        return None


# ---------------------------------------------------------------- user data


def _udh_concat(c: Concat) -> bytes:
    if c.bits == 16:
        return CONCAT16_UDH + bytes([c.ref >> 8 & 0xFF, c.ref & 0xFF, c.total, c.seq])
    return CONCAT8_UDH + bytes([c.ref & 0xFF, c.total, c.seq])


def _user_data(encoding: str, chunk: tuple[int, ...] | bytes, concat: Concat | None) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD) for one chunk, with a concatenation header when given."""
    udh = _udh_concat(concat) if concat else b""
    if encoding == GSM7:
        header_septets = math.ceil(len(udh) * 8 / 7)
        fill = header_septets * 7 - len(udh) * 8
        return header_septets + len(chunk), udh + gsm7.pack(list(chunk), fill)
    return len(udh) + len(chunk), udh + bytes(chunk)


def _parse_ud(r: _Reader, first: int, dcs: int) -> tuple[str, str, str, Concat | None]:
    """Read TP-UDL and TP-UD; return (text, raw_text, encoding, concat)."""
    udl = r.byte()
    encoding = dcs_encoding(dcs)
    udhi = bool(first & 0x40)
    if encoding == GSM7:
        ud = r.take(min(math.ceil(udl * 7 / 8), len(r.data) - r.pos))
        if math.ceil(udl * 7 / 8) > len(ud):
            raise PduError(f"user data shorter than UDL {udl}")
    else:
        if udl > 140:
            raise PduError(f"UDL {udl} exceeds 140 octets")
        ud = r.take(udl)
    concat = None
    header_len = 0
    if udhi:
        if not ud:
            raise PduError("UDHI set but no user data header")
        udhl = ud[0]
        if udhl + 1 > len(ud):
            raise PduError("user data header longer than user data")
        concat = _parse_udh(ud[1 : udhl + 1])
        header_len = udhl + 1
    if encoding == GSM7:
        header_septets = math.ceil(header_len * 8 / 7)
        fill = header_septets * 7 - header_len * 8
        septets = gsm7.unpack(ud[header_len:], udl - header_septets, fill) if udl > header_septets else []
        text = gsm7.decode(septets)
        return text, text, encoding, concat
    body = ud[header_len:]
    if encoding == UCS2:
        raw = body[: len(body) - len(body) % 2].decode("utf-16-be", "surrogatepass")
        return clean_text(raw), raw, encoding, concat
    text = body.decode("latin-1")
    return text, text, encoding, concat


def _parse_udh(udh: bytes) -> Concat | None:
    concat = None
    i = 0
    while i + 2 <= len(udh):
        iei, iel = udh[i], udh[i + 1]
        data = udh[i + 2 : i + 2 + iel]
        if len(data) < iel:
            raise PduError("truncated information element in user data header")
        if iei == 0x00 and iel == 3 and data[1] >= 1 and 1 <= data[2] <= data[1]:
            concat = Concat(data[0], data[1], data[2], 8)
        elif iei == 0x08 and iel == 4 and data[2] >= 1 and 1 <= data[3] <= data[2]:
            concat = Concat(data[0] << 8 | data[1], data[2], data[3], 16)
        i += 2 + iel
    return concat


def dcs_encoding(dcs: int) -> str:
    """The alphabet a TP-DCS names, for every coding group of TS 23.038 §4."""
    group = dcs >> 4
    if group <= 0x7:  # general data coding (and automatic deletion group)
        if dcs & 0x20:  # compressed: we cannot decompress; treat as data
            return DATA8
        return {0: GSM7, 1: DATA8, 2: UCS2}.get((dcs >> 2) & 0x03, GSM7)
    if group in (0xC, 0xD):
        return GSM7
    if group == 0xE:
        return UCS2
    if group == 0xF:
        return DATA8 if dcs & 0x04 else GSM7
    return GSM7  # reserved groups 8..B: the default alphabet


# ---------------------------------------------------------------- SUBMIT


def vp_relative(minutes: int) -> int:
    """The TP-VP relative octet for a validity period, rounded up (TS 23.040 §9.2.3.12.1)."""
    if minutes <= 720:
        return max(0, math.ceil(minutes / 5) - 1)
    if minutes <= 1440:
        return 143 + math.ceil((minutes - 720) / 30)
    if minutes <= 30 * 1440:
        return 166 + math.ceil(minutes / 1440)
    return min(255, 192 + math.ceil(minutes / (7 * 1440)))


def encode_submit(
    to: str,
    text: str,
    ref: int = 0,
    *,
    srr: bool = False,
    validity_minutes: int | None = None,
    smsc: str | None = None,
) -> list[SubmitPdu]:
    """Encode text as one SMS-SUBMIT per segment; ref is the 8-bit concatenation reference."""
    p = plan(text)
    total = p.segments
    dest = encode_address(to)
    out = []
    for seq, (chunk, chunk_text) in enumerate(zip(p.chunks, p.texts, strict=False), start=1):
        concat = Concat(ref & 0xFF, total, seq, 8) if total > 1 else None
        first = 0x01 | (0x20 if srr else 0) | (0x40 if concat else 0)
        vp = b""
        if validity_minutes is not None:
            first |= 0x10
            vp = bytes([vp_relative(validity_minutes)])
        dcs = 0x00 if p.encoding == GSM7 else 0x08
        udl, ud = _user_data(p.encoding, chunk, concat)
        tpdu = bytes([first, 0x00]) + dest + bytes([0x00, dcs]) + vp + bytes([udl]) + ud
        out.append(SubmitPdu((encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu), chunk_text, concat))
    return out


def decode_submit(pdu_hex: str, *, with_smsc: bool = True) -> Submit:
    """Decode an SMS-SUBMIT as a modem receives it after AT+CMGS."""
    r = _Reader(_unhex(pdu_hex))
    if with_smsc:
        r.smsc()
    first = r.byte()
    if first & 0x03 != 0x01:
        raise PduError(f"not an SMS-SUBMIT (first octet {first:02X})")
    mr = r.byte()
    to = r.address()
    r.byte()  # TP-PID
    dcs = r.byte()
    vpf = (first >> 3) & 0x03
    validity = None
    if vpf == 0x02:
        validity = r.byte()
    elif vpf in (0x01, 0x03):
        r.take(7)
    text, _raw, encoding, concat = _parse_ud(r, first, dcs)
    return Submit(to, text, dcs, encoding, mr, bool(first & 0x20), concat, validity)


# ---------------------------------------------------------------- DELIVER / STATUS-REPORT


def encode_deliver(
    sender: str,
    text: str,
    when: datetime,
    *,
    ref: int = 0,
    ref_bits: int = 8,
    smsc: str = "+8613800100500",
) -> list[str]:
    """Encode text as SMS-DELIVER PDUs (hex with SMSC prefix), concatenated when long."""
    p = plan(text)
    if ref_bits == 16 and p.segments > 1:
        p = _replan_for_16bit(text, p)
    out = []
    for seq, chunk in enumerate(p.chunks, start=1):
        concat = Concat(ref, p.segments, seq, ref_bits) if p.segments > 1 else None
        first = 0x04 | (0x40 if concat else 0)  # MTI=00, no more messages waiting
        dcs = 0x00 if p.encoding == GSM7 else 0x08
        udl, ud = _user_data(p.encoding, chunk, concat)
        tpdu = bytes([first]) + encode_address(sender) + bytes([0x00, dcs]) + encode_scts(when)
        out.append((encode_smsc(smsc) + tpdu + bytes([udl]) + ud).hex().upper())
    return out


def _replan_for_16bit(text: str, p: Plan) -> Plan:
    """A 16-bit reference takes one more header octet: 152 septets or 132 UCS-2 octets a part."""
    if p.encoding == GSM7:
        per_char = [gsm7.char_septets(ch) for ch in text]
        return _split(text, per_char, 152, GSM7)
    return _split(text, [ch.encode("utf-16-be") for ch in text], 132, UCS2)


def encode_status_report(
    mr: int, recipient: str, scts: datetime, discharge: datetime, status: int, smsc: str = ""
) -> str:
    """An SMS-STATUS-REPORT PDU (hex with SMSC prefix)."""
    tpdu = (
        bytes([0x06, mr & 0xFF])
        + encode_address(recipient)
        + encode_scts(scts)
        + encode_scts(discharge)
        + bytes([status & 0xFF])
    )
    return (encode_smsc(smsc) + tpdu).hex().upper()


def decode(pdu_hex: str) -> Deliver | StatusReport:
    """Decode what AT+CMGR / +CMT / +CDS hands over: a DELIVER or a STATUS-REPORT."""
    r = _Reader(_unhex(pdu_hex))
    smsc = r.smsc()
    first = r.byte()
    mti = first & 0x03
    if mti == 0x00:
        sender = r.address()
        r.byte()  # TP-PID
        dcs = r.byte()
        scts = r.timestamp()
        text, raw, encoding, concat = _parse_ud(r, first, dcs)
        return Deliver(sender, text, raw, dcs, encoding, scts, concat, smsc)
    if mti == 0x02:
        mr = r.byte()
        recipient = r.address()
        scts = r.timestamp()
        discharge = r.timestamp()
        status = r.byte()
        return StatusReport(mr, recipient, scts, discharge, status, smsc)
    raise PduError(f"unexpected message type {mti} (first octet {first:02X})")


def _unhex(pdu_hex: str) -> bytes:
    try:
        return bytes.fromhex(pdu_hex.strip())
    except ValueError as exc:
        raise PduError(f"PDU is not hexadecimal: {pdu_hex[:40]!r}") from exc
