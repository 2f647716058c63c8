"""The SMPP bodies: text to parts and back (the same split as on a modem), receipts, and the
packed submit_sm compared byte for byte with smpplib's own encoder."""

from __future__ import annotations

import pytest
import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st

from smsd import segments
from smsd.smpp import codec


class Seq:
    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


TEXTS = st.text(alphabet=st.sampled_from("abc {}[]~€@£党员政治生日快乐，。TP2 ＴＰ\n"), min_size=1, max_size=400)


@settings(max_examples=150, deadline=None)
@given(
    text=TEXTS,
    ref=st.integers(0, 255),
    srr=st.booleans(),
    validity=st.sampled_from([None, 60, 1440, 10080]),
    to=st.sampled_from(["+8613800138000", "13800138000"]),
    source=st.sampled_from(["1069000101", "CMCC"]),
)
def test_packed_submit_sm_is_what_smpplib_makes(text, ref, srr, validity, to, source):
    from smsd.transport.base import Outgoing
    from smsd.transport.smpp import SmppTransport

    t = SmppTransport("s", "127.0.0.1", 1, system_id="a", password="p", source_addr=source)
    message = Outgoing(1, to, text, ref, srr, validity)
    for n, body in enumerate(codec.encode(text, ref), start=1):
        s = t._submit(message, body)
        ours = codec.pack_submit_sm(n, s)
        theirs = smpplib.smpp.make_pdu(
            "submit_sm", client=Seq(), service_type="", source_addr_ton=s.source_ton, source_addr_npi=s.source_npi,
            source_addr=s.source_addr, dest_addr_ton=s.dest_ton, dest_addr_npi=s.dest_npi,
            destination_addr=s.destination_addr, esm_class=body.esm_class, protocol_id=0, priority_flag=0,
            registered_delivery=s.registered_delivery, data_coding=body.data_coding, short_message=body.short_message,
            validity_period=s.validity_period,
        )  # fmt: skip
        theirs.sequence = n
        assert ours == theirs.generate()


@settings(max_examples=200, deadline=None)
@given(text=TEXTS, ref=st.integers(0, 255))
def test_parts_decode_back_to_the_text_with_the_modems_segment_count(text, ref):
    parts = codec.encode(text, ref)
    assert len(parts) == segments.segments(text)
    decoded = [codec.decode(p.data_coding, p.esm_class, p.short_message) for p in parts]
    assert "".join(d.text for d in decoded) == text
    if len(parts) > 1:
        assert {(d.ref, d.total) for d in decoded} == {(ref, len(parts))}
        assert [d.seq for d in decoded] == list(range(1, len(parts) + 1))


def test_receipts_from_tlvs_or_text():
    r = codec.receipt("id:abc123 sub:001 dlvrd:001 submit date:2611281200 done date:2611281201 stat:DELIVRD err:000")
    assert (r.message_id, r.outcome, r.status) == ("abc123", "delivered", 0)
    assert r.done is not None and (r.done.hour, r.done.minute) == (12, 1)
    r = codec.receipt("stat:UNDELIV err:012", receipted_message_id="X9", message_state=5)
    assert (r.message_id, r.outcome) == ("X9", "failed") and r.status == 0x40 | 12
    assert codec.classify(codec.RTHROTTLED) == "busy" and codec.classify(codec.RSYSERR) == "account"
    assert codec.classify(codec.RINVDSTADR) == "permanent" and codec.classify(0x45) == "transient"


@pytest.mark.parametrize(
    "receipt, resp",
    [("1193046", "123456"), ("1193046", "00123456"), ("77", "000000000000004d"), ("123456", "1193046")],
)
def test_a_receipt_id_in_the_other_base_has_the_resp_id_among_its_forms(receipt, resp):
    assert resp in codec.id_forms(receipt) or resp.upper() in codec.id_forms(receipt)
