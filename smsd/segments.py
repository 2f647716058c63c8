"""How a text is split into SMS segments (3GPP TS 23.038/23.040): GSM-7 160/153, UCS-2 70/67.

The one place that decides encoding and splitting, for every transport: the segment count
that cost estimates, budgets and pacing use is the number of parts really sent (a GSM modem
encodes them as PDUs, an SMPP bind as UDH parts of the same size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smsd import gsm7

GSM7 = "gsm7"
UCS2 = "ucs2"


@dataclass(frozen=True)
class Plan:
    """How a text is sent: its encoding and the chunks (septets or UTF-16 bytes) per PDU."""

    encoding: str
    chunks: tuple[tuple[int, ...] | bytes, ...]
    texts: tuple[str, ...]

    @property
    def segments(self) -> int:
        return len(self.chunks)


def plan(text: str) -> Plan:
    """Choose GSM-7 or UCS-2 and split into parts without cutting a character."""
    if len(text) <= 160 and gsm7.is_gsm7(text) and gsm7.EXTENSION_CHARS.isdisjoint(text):
        # one part of the basic table (most notices): translated at C speed, nothing to split
        return Plan(GSM7, (tuple(text.translate(gsm7.SEPTETS).encode("latin-1")),), (text,))
    if len(text) <= 70 and not gsm7.is_gsm7(text):
        single = text.encode("utf-16-be")
        if len(single) <= 140:  # one UCS-2 part
            return Plan(UCS2, (single,), (text,))
    return _planned(text)


def _planned(text: str) -> Plan:
    """plan() character by character: any text, any number of parts."""
    if gsm7.is_gsm7(text):
        per_char = [gsm7.char_septets(ch) for ch in text]
        total = sum(len(s) for s in per_char)
        limit = 160 if total <= 160 else 153
        return _split(text, per_char, limit, GSM7)
    per_char_b = [ch.encode("utf-16-be") for ch in text]
    total = sum(len(b) for b in per_char_b)
    limit = 140 if total <= 140 else 134
    return _split(text, per_char_b, limit, UCS2)


def _split(text: str, units: list[Any], limit: int, encoding: str) -> Plan:
    chunks: list[Any] = []
    texts: list[str] = []
    cur: list[Any] = []
    cur_text: list[str] = []
    size = 0
    for ch, u in zip(text, units, strict=False):
        if size + len(u) > limit:
            chunks.append(cur)
            texts.append("".join(cur_text))
            cur, cur_text, size = [], [], 0
        cur.extend(u) if encoding == GSM7 else cur.append(u)
        cur_text.append(ch)
        size += len(u)
    chunks.append(cur)
    texts.append("".join(cur_text))
    frozen = tuple(tuple(c) for c in chunks) if encoding == GSM7 else tuple(b"".join(c) for c in chunks)
    return Plan(encoding, frozen, tuple(texts))


def segments(text: str) -> int:
    """The number of PDUs (billing segments) this text is sent as."""
    return count(text)[1]


def _gsm7_weight(ch: str) -> int:
    return 2 if ch in gsm7.EXTENSION_CHARS else 1


def _ucs2_weight(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def count(text: str) -> tuple[str, int]:
    """(encoding, segments) as plan() would split the text, without building the parts: a
    100,000-recipient broadcast counts each of its texts, so this is arithmetic over the
    lengths, with a greedy walk only when a two-unit character could straddle a boundary."""
    if gsm7.is_gsm7(text):
        heavy = sum(1 for ch in text if ch in gsm7.EXTENSION_CHARS)
        total, limit, weight = len(text) + heavy, 153, _gsm7_weight
        if total <= 160:
            return GSM7, 1
        encoding = GSM7
    else:
        units = len(text.encode("utf-16-le")) // 2
        heavy = units - len(text)  # characters beyond the BMP take two UTF-16 units
        total, limit, weight = units, 67, _ucs2_weight
        if total <= 70:
            return UCS2, 1
        encoding = UCS2
    if not heavy:
        return encoding, -(-total // limit)
    parts, size = 1, 0
    for ch in text:
        w = weight(ch)
        if size + w > limit:
            parts, size = parts + 1, 0
        size += w
    return encoding, parts


def clean_text(raw: str) -> str:
    """Join surrogate pairs and replace lone halves, so the text is valid UTF-8."""
    return raw.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")
