"""The GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1) and septet packing."""

from __future__ import annotations

ESC = 0x1B

# Index = septet value. 0x1B is the escape to the extension table, not a character.
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
assert len(BASIC) == 128

EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_BASIC_CODE = {ch: i for i, ch in enumerate(BASIC) if i != ESC}
_EXT_CODE = {ch: code for code, ch in EXTENSION.items()}
EXTENSION_CHARS = frozenset(_EXT_CODE)


_ALL = frozenset(_BASIC_CODE) | EXTENSION_CHARS
SEPTETS = str.maketrans({ch: chr(code) for ch, code in _BASIC_CODE.items()})  # basic table: text -> septets


def is_gsm7(text: str) -> bool:
    """True when every character of text is in the basic or extension table."""
    return _ALL.issuperset(text)


def char_septets(ch: str) -> list[int]:
    """The septets of one character: one for the basic table, two for the extension."""
    if ch in _BASIC_CODE:
        return [_BASIC_CODE[ch]]
    if ch in _EXT_CODE:
        return [ESC, _EXT_CODE[ch]]
    raise ValueError(f"{ch!r} is not in the GSM 7-bit alphabet")


def encode(text: str) -> list[int]:
    """Text to septet values (extension characters take two)."""
    out: list[int] = []
    for ch in text:
        out.extend(char_septets(ch))
    return out


def decode(septets: list[int]) -> str:
    """Septet values to text; an unknown escape shows the basic character (TS 23.038)."""
    out = []
    i = 0
    while i < len(septets):
        s = septets[i] & 0x7F
        if s == ESC:
            if i + 1 >= len(septets):
                break  # a lone trailing escape carries no character
            nxt = septets[i + 1] & 0x7F
            out.append(EXTENSION.get(nxt, BASIC[nxt] if nxt != ESC else " "))
            i += 2
            continue
        out.append(BASIC[s])
        i += 1
    return "".join(out)


def pack(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack septets into octets, LSB first, after fill_bits zero bits (for a UDH)."""
    acc = 0
    nbits = fill_bits
    out = bytearray()
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits > 0:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Read count septets from data, skipping fill_bits leading bits."""
    bits = int.from_bytes(data, "little")
    bits >>= fill_bits
    available = max(0, (len(data) * 8 - fill_bits) // 7)
    n = min(count, available)
    return [(bits >> (7 * i)) & 0x7F for i in range(n)]
