"""The CMPP codec: sizes from the spec's tables, the Msg_Id layout, the MD5 login (checked
against cmppy, an independent client from PyPI), round trips in both versions, text in parts,
and random bytes that never crash a decoder."""

from __future__ import annotations

import struct
import sys

import pytest
from cmppy.request import ConnectReq, SubmitReq
from hypothesis import given, settings
from hypothesis import strategies as st

from smsd.cmpp import codec
from smsd.segments import segments

BOTH = [codec.V30, codec.V20]
SUBMIT = codec.Submit("901234", "MZB0010101", "1069000101", ("8613800138000",), "党员大会".encode("utf-16-be"))


@pytest.mark.parametrize(("version", "base", "per_number"), [(codec.V30, 163, 32), (codec.V20, 138, 21)])
def test_submit_sizes_are_the_spec_tables(version, base, per_number):
    """3.0: 163 + 32 n + L octets; 2.0: 138 + 21 n + L (CMPP 3.0 8.4.3.1, 2.0 7.4.3.1)."""
    for n in (1, 2, 99):
        s = codec.Submit("901234", "MZB", "10690001", tuple(f"86138{i:08d}" for i in range(n)), b"x" * 30)
        frame = codec.pack_submit(7, s, version)
        assert len(frame) == base + per_number * n + 30
        assert struct.unpack(">LLL", frame[:12]) == (len(frame), codec.SUBMIT, 7)


@pytest.mark.parametrize(("version", "base", "report"), [(codec.V30, 109, 71), (codec.V20, 85, 60)])
def test_deliver_and_report_sizes(version, base, report):
    r = codec.Report(1, "DELIVRD", "2612011000", "2612011001", "8613800138000", 9)
    content = codec.pack_report(r, version)
    assert len(content) == report
    d = codec.Deliver(5, "1069000101", "8613800138000", content, registered_delivery=1)
    assert len(codec.pack_deliver(1, d, version)) == base + report
    assert codec.unpack_report(content) == r


def test_connect_and_its_answer_have_the_spec_lengths():
    assert len(codec.pack_connect(1, "901234", "s", codec.V30, 1201103000)) == 39
    assert len(codec.pack_connect_resp(1, 0, b"a" * 16, "s", codec.V30)) == 33
    assert len(codec.pack_connect_resp(1, 0, b"a" * 16, "s", codec.V20)) == 30


def test_msg_id_layout_matches_the_spec_and_gocmpp():
    """gocmpp's 0xb2b9da8000010000 is 11-05 14:29:42, gateway 1, sequence 0 (research/cmpp.md 2.4)."""
    m = codec.MsgId.unpack(0xB2B9DA8000010000)
    assert (m.month, m.day, m.hour, m.minute, m.second, m.gateway, m.sequence) == (11, 5, 14, 29, 42, 1, 0)
    assert m.pack() == 0xB2B9DA8000010000
    assert codec.msg_ref(0xB2B9DA8000010000) == "b2b9da8000010000"
    with pytest.raises(ValueError):
        codec.MsgId(13, 1, 1, 1, 1, 1 << 22, 0).pack()


@given(st.integers(0, (1 << 64) - 1))
def test_msg_id_unpack_and_pack_are_inverse(n):
    assert codec.MsgId.unpack(n).pack() == n


def test_connect_is_byte_for_byte_what_cmppy_sends(monkeypatch):
    """An independent implementation of the MD5 login (cmppy 0.3): the same 27-octet body."""
    monkeypatch.setattr(sys.modules["cmppy.request.ConnectReq"], "_get_strtime", lambda: "1201103000")
    theirs = ConnectReq("901234", "s3cret").message
    ours = codec.pack_connect(1, "901234", "s3cret", codec.V30, 1201103000)
    assert ours[12:] == theirs[12:]
    c = codec.unpack_connect(theirs[12:])
    assert c.authenticator == codec.authenticator("901234", "s3cret", 1201103000) and c.timestamp == 1201103000


def test_a_submit_is_byte_for_byte_what_cmppy_sends():
    theirs = SubmitReq(
        "901234",
        "党员大会",
        src_id="1069000101",
        service_id="MZB0010101",
        dest_terminal_id=["8613800138000"],
        feecode="000000",
    ).message
    assert codec.pack_submit(1, SUBMIT, codec.V30)[12:] == theirs[12:]
    assert codec.unpack_submit(theirs[12:], codec.V30) == SUBMIT


def test_the_ismg_authenticator_is_accepted_in_both_forms():
    source = codec.authenticator("901234", "s", 1201103000)
    four, one = codec.ismg_authenticators(0, source, "s")
    assert four != one
    resp = codec.unpack_connect_resp(codec.pack_connect_resp(1, 0, source, "s", codec.V30)[12:])
    assert resp.status == 0 and resp.authenticator == four and resp.version == codec.V30
    resp20 = codec.unpack_connect_resp(codec.pack_connect_resp(1, 0, source, "s", codec.V20)[12:])
    assert resp20.authenticator == one and resp20.version == codec.V20


texts = st.text(alphabet=st.sampled_from("TPtp 0123456789党员会议，。【】é€@$_\n"), max_size=400)


@settings(max_examples=200, deadline=None)
@given(texts, st.integers(0, 255))
def test_text_in_parts_has_the_modem_segment_count_and_reads_back(text, ref):
    parts = codec.encode(text, ref)
    assert len(parts) == segments(text)
    joined = "".join(codec.decode(p.msg_fmt, p.tp_udhi, p.content).text for p in parts)
    expected = text if any(ord(c) > 0x7F and c not in "é€" for c in text) else text.replace("é", "?").replace("€", "?")
    assert joined == expected
    for p in parts:
        assert len(p.content) <= (160 if p.msg_fmt == codec.FMT_ASCII else 140)
        assert (p.total, p.tp_udhi) == (len(parts), int(len(parts) > 1))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(BOTH),
    st.lists(st.text("0123456789", min_size=5, max_size=21), min_size=1, max_size=99),
    st.binary(max_size=140),
    st.text("0123456789", max_size=20),
)
def test_submit_round_trips(version, numbers, content, src):
    s = codec.Submit("901234", "MZB", src, tuple(numbers), content, fee_terminal_type=0, link_id="")
    frame = codec.pack_submit(3, s, version)
    assert codec.unpack_submit(frame[12:], version) == s


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(BOTH), st.binary(max_size=160), st.integers(0, (1 << 64) - 1), st.sampled_from([0, 1]))
def test_deliver_round_trips(version, content, msg_id, kind):
    d = codec.Deliver(msg_id, "1069000101", "8613900000001", content, "MZB", 8, registered_delivery=kind)
    assert codec.unpack_deliver(codec.pack_deliver(1, d, version)[12:], version) == d


def test_a_deliver_with_a_short_linkid_is_read():
    d = codec.Deliver(5, "1069000101", "8613900000001", b"TP 2", msg_fmt=0)
    frame = codec.pack_deliver(1, d, codec.V30)
    assert codec.unpack_deliver(frame[12:-11], codec.V30) == d  # "少了11个字节"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(BOTH))
def test_random_bytes_never_crash_a_decoder(data, version):
    for decode in (
        lambda: codec.unpack_submit(data, version),
        lambda: codec.unpack_deliver(data, version),
        lambda: codec.unpack_report(data),
        lambda: codec.unpack_resp(data),
        lambda: codec.unpack_connect(data),
        lambda: codec.unpack_connect_resp(data),
        lambda: codec.decode(data[0] if data else 8, 1, data[1:]),
        lambda: codec.read_header(data[:12].ljust(12, b"\x00")),
    ):
        try:
            decode()
        except codec.CmppError as exc:
            assert exc.result in codec.RESULTS
