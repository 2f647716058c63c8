"""+CMS ERROR codes (3GPP TS 27.005 §3.2.5, with TS 24.011 RP-causes and TS 23.040 TP-FCS).

Each code says what it means and what to do with the message:
- ``permanent``: the message itself cannot be delivered (bad number, barred): fail it now.
- otherwise transient: try again later, possibly on another modem.
- ``modem``: the fault is the modem's or SIM's (barred, not subscribed, no network), not the
  message's: pause the modem with the reason and let the other modems take its messages; the
  refusal does not count against the message.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsd.notes import N_


@dataclass(frozen=True)
class CmsCode:
    code: int
    meaning: str
    permanent: bool = False
    modem: bool = False


_TABLE = [
    # TS 24.011 Annex E-2: RP-cause values (0..127)
    CmsCode(1, N_("unassigned (unallocated) number"), permanent=True),
    CmsCode(8, N_("operator determined barring"), modem=True),
    CmsCode(10, N_("call barred"), modem=True),
    CmsCode(21, N_("short message transfer rejected"), permanent=True),
    CmsCode(27, N_("destination out of service")),
    CmsCode(28, N_("unidentified subscriber"), permanent=True),
    CmsCode(29, N_("facility rejected"), modem=True),
    CmsCode(30, N_("unknown subscriber"), permanent=True),
    CmsCode(38, N_("network out of order")),
    CmsCode(41, N_("temporary failure")),
    CmsCode(42, N_("congestion")),
    CmsCode(47, N_("resources unavailable, unspecified")),
    CmsCode(50, N_("requested facility not subscribed"), modem=True),
    CmsCode(69, N_("requested facility not implemented"), modem=True),
    CmsCode(81, N_("invalid short message transfer reference value")),
    CmsCode(95, N_("invalid message, unspecified"), permanent=True),
    CmsCode(96, N_("invalid mandatory information"), permanent=True),
    CmsCode(97, N_("message type non-existent or not implemented"), permanent=True),
    CmsCode(98, N_("message not compatible with short message protocol state")),
    CmsCode(99, N_("information element non-existent or not implemented"), permanent=True),
    CmsCode(111, N_("protocol error, unspecified")),
    CmsCode(127, N_("interworking, unspecified")),
    # TS 23.040 §9.2.3.22: TP-Failure-Cause (128..255)
    CmsCode(128, N_("telematic interworking not supported"), permanent=True),
    CmsCode(129, N_("short message type 0 not supported"), permanent=True),
    CmsCode(130, N_("cannot replace short message"), permanent=True),
    CmsCode(143, N_("unspecified TP-PID error"), permanent=True),
    CmsCode(144, N_("data coding scheme (alphabet) not supported"), permanent=True),
    CmsCode(145, N_("message class not supported"), permanent=True),
    CmsCode(159, N_("unspecified TP-DCS error"), permanent=True),
    CmsCode(160, N_("command cannot be actioned"), permanent=True),
    CmsCode(161, N_("command unsupported"), permanent=True),
    CmsCode(175, N_("unspecified TP-Command error"), permanent=True),
    CmsCode(176, N_("TPDU not supported"), permanent=True),
    CmsCode(192, N_("SC busy")),
    CmsCode(193, N_("no SC subscription"), modem=True),
    CmsCode(194, N_("SC system failure")),
    CmsCode(195, N_("invalid SME address"), permanent=True),
    CmsCode(196, N_("destination SME barred"), permanent=True),
    CmsCode(197, N_("SM rejected - duplicate SM"), permanent=True),
    CmsCode(198, N_("TP-VPF not supported"), permanent=True),
    CmsCode(199, N_("TP-VP not supported"), permanent=True),
    CmsCode(208, N_("(U)SIM SMS storage full"), modem=True),
    CmsCode(209, N_("no SMS storage capability in (U)SIM"), modem=True),
    CmsCode(210, N_("error in MS"), modem=True),
    CmsCode(211, N_("memory capacity exceeded"), modem=True),
    CmsCode(212, N_("(U)SIM application toolkit busy"), modem=True),
    CmsCode(213, N_("(U)SIM data download error"), modem=True),
    CmsCode(255, N_("unspecified error cause")),
    # TS 27.005 §3.2.5: ME and network errors (300..511)
    CmsCode(300, N_("ME failure"), modem=True),
    CmsCode(301, N_("SMS service of ME reserved"), modem=True),
    CmsCode(302, N_("operation not allowed"), modem=True),
    CmsCode(303, N_("operation not supported"), modem=True),
    CmsCode(304, N_("invalid PDU mode parameter"), permanent=True),
    CmsCode(305, N_("invalid text mode parameter"), permanent=True),
    CmsCode(310, N_("(U)SIM not inserted"), modem=True),
    CmsCode(311, N_("(U)SIM PIN required"), modem=True),
    CmsCode(312, N_("PH-(U)SIM PIN required"), modem=True),
    CmsCode(313, N_("(U)SIM failure"), modem=True),
    CmsCode(314, N_("(U)SIM busy"), modem=True),
    CmsCode(315, N_("(U)SIM wrong"), modem=True),
    CmsCode(316, N_("(U)SIM PUK required"), modem=True),
    CmsCode(317, N_("(U)SIM PIN2 required"), modem=True),
    CmsCode(318, N_("(U)SIM PUK2 required"), modem=True),
    CmsCode(320, N_("memory failure"), modem=True),
    CmsCode(321, N_("invalid memory index")),
    CmsCode(322, N_("memory full"), modem=True),
    CmsCode(330, N_("SMSC address unknown"), modem=True),
    CmsCode(331, N_("no network service"), modem=True),
    CmsCode(332, N_("network timeout")),
    CmsCode(340, N_("no +CNMA acknowledgement expected")),
    CmsCode(500, N_("unknown error")),
]

CODES: dict[int, CmsCode] = {c.code: c for c in _TABLE}


def classify(code: int) -> CmsCode:
    """The meaning of a code; unknown and manufacturer codes (512+) count as transient."""
    if code in CODES:
        return CODES[code]
    if code >= 512:
        return CmsCode(code, "manufacturer specific error")
    return CmsCode(code, "unknown error code")
