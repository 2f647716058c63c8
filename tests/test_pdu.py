"""The PDU codec: round trips, limits, and agreement with two independent decoders."""

from __future__ import annotations

import contextlib
import io
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smsd import gsm7, pdu
from smsd import segments as segments_mod
from smsd.errors import PduError

GSM_BASIC = "".join(ch for ch in gsm7.BASIC if ch != "\x1b")
GSM_EXT = "".join(gsm7.EXTENSION.values())
CHINESE = "党员政治生日快乐同志们请于明天上午九点到会议室开会回复确认收到谢谢，。！？"
EMOJI = "😀🎉👍🇨🇳❤️"
CST = timezone(timedelta(hours=8))

alphabets = st.sampled_from([GSM_BASIC, GSM_BASIC + GSM_EXT, CHINESE + GSM_BASIC, EMOJI + CHINESE + "ab"])
texts = alphabets.flatmap(lambda a: st.text(alphabet=a, min_size=0, max_size=1000))


def _join_submit(parts):
    return "".join(pdu.decode_submit(p.hex).text for p in parts)


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(0, 255))
def test_submit_round_trip_and_limits(text, ref):
    parts = pdu.encode_submit("+8613800138000", text, ref, srr=True)
    assert len(parts) == pdu.segments(text)
    assert _join_submit(parts) == text
    for i, part in enumerate(parts, start=1):
        sub = pdu.decode_submit(part.hex)
        assert _user_data_octets(part.hex, sub.encoding) <= 140
        if len(parts) > 1:
            assert sub.concat == pdu.Concat(ref, len(parts), i, 8)
        else:
            assert sub.concat is None


def _user_data_octets(pdu_hex: str, encoding: str) -> int:
    """TP-UD length in octets, read from the TPDU itself (no VP in our SUBMITs)."""
    raw = bytes.fromhex(pdu_hex)
    tpdu = raw[raw[0] + 1 :]
    da_digits = tpdu[2]
    udl_at = 2 + 2 + (da_digits + 1) // 2 + 2 + (1 if tpdu[0] & 0x18 == 0x10 else 0)
    udl = tpdu[udl_at]
    octets = len(tpdu) - udl_at - 1
    if encoding == pdu.GSM7:
        assert octets == (udl * 7 + 7) // 8
    else:
        assert octets == udl
    return octets


@settings(max_examples=200, deadline=None)
@given(texts, st.integers(0, 0xFFFF), st.sampled_from([8, 16]))
def test_deliver_round_trip_with_both_reference_sizes(text, ref, bits):
    ref &= 0xFF if bits == 8 else 0xFFFF
    when = datetime(2026, 11, 27, 9, 30, 5, tzinfo=CST)
    pdus = [pdu.decode(h) for h in pdu.encode_deliver("+8613800000001", text, when, ref=ref, ref_bits=bits)]
    assert pdu.clean_text("".join(p.raw_text for p in pdus)) == text
    assert all(p.scts == when and p.sender == "+8613800000001" for p in pdus)
    if len(pdus) > 1:
        assert [p.concat for p in pdus] == [pdu.Concat(ref, len(pdus), i, bits) for i in range(1, len(pdus) + 1)]


@pytest.mark.parametrize(
    "text, segments",
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # extension characters cost two septets
        ("€" * 81, 2),
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("😀" * 35, 1),  # an emoji is two UTF-16 units
        ("😀" * 36, 2),
        ("中" + "😀" * 34, 1),  # 69 units
        ("中" + "😀" * 35, 2),  # 71 units
    ],
    ids=lambda v: f"{v[:3]}x{len(v)}" if isinstance(v, str) else str(v),
)
def test_segment_limits(text, segments):
    assert pdu.segments(text) == segments


def test_surrogate_pair_is_never_split():
    text = "中中" + "😀" * 40
    parts = pdu.plan(text)
    assert parts.segments == 2
    for chunk in parts.chunks:
        assert len(chunk) <= 134
        chunk.decode("utf-16-be")  # strict: a split surrogate pair would raise here
    assert len(parts.chunks[0]) == 132  # 中中 + 32 emoji: the 33rd would straddle 134


def test_validity_and_smsc_are_encoded():
    [p] = pdu.encode_submit("13800138000", "hi", 0, validity_minutes=1440, smsc="+8613800100500")
    assert p.hex.startswith("0891683108100005F0")
    sub = pdu.decode_submit(p.hex)
    assert sub.to == "13800138000" and sub.validity == 167  # 24 hours


@pytest.mark.parametrize(
    "minutes, octet",
    [(5, 0), (720, 143), (750, 144), (1440, 167), (2880, 168), (30 * 1440, 196), (35 * 1440, 197), (10**7, 255)],
)
def test_vp_relative(minutes, octet):
    assert pdu.vp_relative(minutes) == octet


@pytest.mark.parametrize(
    "dcs, encoding",
    [
        (0x00, "gsm7"),
        (0x04, "8bit"),
        (0x08, "ucs2"),
        (0x10, "gsm7"),
        (0x18, "ucs2"),
        (0x48, "ucs2"),
        (0x24, "8bit"),
        (0x80, "gsm7"),
        (0xC0, "gsm7"),
        (0xD0, "gsm7"),
        (0xE0, "ucs2"),
        (0xF0, "gsm7"),
        (0xF4, "8bit"),
    ],
)
def test_every_dcs_group(dcs, encoding):
    assert pdu.dcs_encoding(dcs) == encoding


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "zz",
        "00",
        "0891683108100005F0",
        "0891683108100005F0040D91683108000000F1000862117222649323",
        "0891683108100005F0030D91",
    ],
)
def test_corrupt_pdus_raise_pdu_error(bad):
    with pytest.raises(PduError):
        pdu.decode(bad)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=180))
def test_decoder_never_raises_anything_but_pdu_error(data):
    with contextlib.suppress(PduError):
        pdu.decode(data.hex())


def test_known_vectors_from_python_gsmmodem_research():
    # research/python-gsmmodem.md §4.4: "Hello @ smsd §" from +8613912345678
    msg = pdu.decode("0891683108100005F0040D91683119325476F80000521172310450230EC8329BFD060140F3F69C0CFA02")
    assert msg.sender == "+8613912345678"
    assert msg.text == "Hello @ smsd §"
    assert msg.scts == datetime(2025, 11, 27, 13, 40, 5, tzinfo=timezone(timedelta(hours=8)))


def test_trailing_at_sign_survives():
    [p] = pdu.encode_submit("+8613800138000", "x@")
    assert pdu.decode_submit(p.hex).text == "x@"


def test_alphanumeric_and_short_senders():
    when = datetime(2026, 1, 1, tzinfo=CST)
    for sender in ("CMCC", "10086", "1065905512345", "+8613800000001"):
        [h] = pdu.encode_deliver(sender, "x", when)
        assert pdu.decode(h).sender == sender


# ------------------------------------------------------------------ independent decoders

CORPUS = [
    "Hello",
    "党员政治生日快乐",
    "a" * 200 + "€[]{}",
    "同志们：" * 40,
    "Price: 5$ @ home; 100% sure? ¡Sí! ÄÖÑÜ§¿äöñüà",
    "x" * 160,
    "y" * 161,
    "中" * 70,
    "中" * 71,
]


@pytest.mark.parametrize("text", CORPUS, ids=lambda t: f"{t[:6]}x{len(t)}")
def test_python_gsmmodem_decodes_our_submits(text):
    from gsmmodem.pdu import decodeSmsPdu

    parts = pdu.encode_submit("+8613800138000", text, 42)
    decoded = [decodeSmsPdu(p.hex) for p in parts]
    assert all(d["number"] == "+8613800138000" for d in decoded)
    if len(parts) > 1:
        concat = [d["udh"][0] for d in decoded]
        assert [(c.reference, c.parts, c.number) for c in concat] == [
            (42, len(parts), i + 1) for i in range(len(parts))
        ]
    joined = "".join(d["text"] for d in decoded)
    # python-gsmmodem maps GSM 0x5F to '`' instead of '§' (research §2.1): compare around it
    assert joined.replace("`", "§") == text


@pytest.mark.parametrize("text", CORPUS + ["😀 emoji 🎉", "中" + "😀" * 40], ids=lambda t: f"{t[:6]}x{len(t)}")
def test_smspdudecoder_decodes_our_submits(text):
    from smspdudecoder.fields import SMSSubmit

    parts = pdu.encode_submit("+8613800138000", text, 42, smsc="+8613800100500")
    out = []
    for p in parts:
        data = SMSSubmit.decode(io.StringIO(p.hex))
        assert data["recipient"]["number"] == "8613800138000"
        if len(parts) > 1:
            [ie] = data["user_data"]["header"]["elements"]
            assert (ie["data"]["reference"], ie["data"]["parts_count"]) == (42, len(parts))
        out.append(data["user_data"]["data"])
    assert pdu.clean_text("".join(out)) == text


@settings(max_examples=400)
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from("abc {}[]~^|\\€"),  # GSM-7, with two-septet extension characters
            st.sampled_from("党员你好"),
            st.sampled_from("😀👍"),  # beyond the BMP: two UTF-16 units that must not be cut
        ),
        max_size=700,
    )
)
def test_the_fast_segment_count_equals_the_real_split(text):
    from smsd import segments

    plan = segments.plan(text)
    assert segments.count(text) == (plan.encoding, plan.segments)


@settings(max_examples=300, deadline=None)
@example("a" * 160)
@example("a" * 161)
@example("a" * 159 + "€")
@example("通" * 70)
@example("通" * 71)
@example("通" * 69 + "😀")
@given(
    st.text(
        alphabet=st.sampled_from(
            list("abcXYZ019 @£$¥èé\n\r_!?.,:;-+=") + list("^{}\\[~]|€") + list("通知开会党支部😀")
        ),
        max_size=200,
    )
)
def test_a_single_part_is_planned_at_speed_as_the_splitter_plans_it(text):
    """plan()'s short cuts for one GSM-7 or UCS-2 part give what the character-by-character
    splitter gives, for texts of every size and mix (extension characters, emoji, CJK)."""
    assert segments_mod.plan(text) == segments_mod._planned(text)
