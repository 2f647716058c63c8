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


@dataclass(frozen=True)
class CmsCode:
    code: int
    meaning: str
    permanent: bool = False
    modem: bool = False


_TABLE = [
    # TS 24.011 Annex E-2: RP-cause values (0..127)
    CmsCode(1, "unassigned (unallocated) number", permanent=True),
    CmsCode(8, "operator determined barring", modem=True),
    CmsCode(10, "call barred", modem=True),
    CmsCode(21, "short message transfer rejected", permanent=True),
    CmsCode(27, "destination out of service"),
    CmsCode(28, "unidentified subscriber", permanent=True),
    CmsCode(29, "facility rejected", modem=True),
    CmsCode(30, "unknown subscriber", permanent=True),
    CmsCode(38, "network out of order"),
    CmsCode(41, "temporary failure"),
    CmsCode(42, "congestion"),
    CmsCode(47, "resources unavailable, unspecified"),
    CmsCode(50, "requested facility not subscribed", modem=True),
    CmsCode(69, "requested facility not implemented", modem=True),
    CmsCode(81, "invalid short message transfer reference value"),
    CmsCode(95, "invalid message, unspecified", permanent=True),
    CmsCode(96, "invalid mandatory information", permanent=True),
    CmsCode(97, "message type non-existent or not implemented", permanent=True),
    CmsCode(98, "message not compatible with short message protocol state"),
    CmsCode(99, "information element non-existent or not implemented", permanent=True),
    CmsCode(111, "protocol error, unspecified"),
    CmsCode(127, "interworking, unspecified"),
    # TS 23.040 §9.2.3.22: TP-Failure-Cause (128..255)
    CmsCode(128, "telematic interworking not supported", permanent=True),
    CmsCode(129, "short message type 0 not supported", permanent=True),
    CmsCode(130, "cannot replace short message", permanent=True),
    CmsCode(143, "unspecified TP-PID error", permanent=True),
    CmsCode(144, "data coding scheme (alphabet) not supported", permanent=True),
    CmsCode(145, "message class not supported", permanent=True),
    CmsCode(159, "unspecified TP-DCS error", permanent=True),
    CmsCode(160, "command cannot be actioned", permanent=True),
    CmsCode(161, "command unsupported", permanent=True),
    CmsCode(175, "unspecified TP-Command error", permanent=True),
    CmsCode(176, "TPDU not supported", permanent=True),
    CmsCode(192, "SC busy"),
    CmsCode(193, "no SC subscription", modem=True),
    CmsCode(194, "SC system failure"),
    CmsCode(195, "invalid SME address", permanent=True),
    CmsCode(196, "destination SME barred", permanent=True),
    CmsCode(197, "SM rejected - duplicate SM", permanent=True),
    CmsCode(198, "TP-VPF not supported", permanent=True),
    CmsCode(199, "TP-VP not supported", permanent=True),
    CmsCode(208, "(U)SIM SMS storage full", modem=True),
    CmsCode(209, "no SMS storage capability in (U)SIM", modem=True),
    CmsCode(210, "error in MS", modem=True),
    CmsCode(211, "memory capacity exceeded", modem=True),
    CmsCode(212, "(U)SIM application toolkit busy", modem=True),
    CmsCode(213, "(U)SIM data download error", modem=True),
    CmsCode(255, "unspecified error cause"),
    # TS 27.005 §3.2.5: ME and network errors (300..511)
    CmsCode(300, "ME failure", modem=True),
    CmsCode(301, "SMS service of ME reserved", modem=True),
    CmsCode(302, "operation not allowed", modem=True),
    CmsCode(303, "operation not supported", modem=True),
    CmsCode(304, "invalid PDU mode parameter", permanent=True),
    CmsCode(305, "invalid text mode parameter", permanent=True),
    CmsCode(310, "(U)SIM not inserted", modem=True),
    CmsCode(311, "(U)SIM PIN required", modem=True),
    CmsCode(312, "PH-(U)SIM PIN required", modem=True),
    CmsCode(313, "(U)SIM failure", modem=True),
    CmsCode(314, "(U)SIM busy", modem=True),
    CmsCode(315, "(U)SIM wrong", modem=True),
    CmsCode(316, "(U)SIM PUK required", modem=True),
    CmsCode(317, "(U)SIM PIN2 required", modem=True),
    CmsCode(318, "(U)SIM PUK2 required", modem=True),
    CmsCode(320, "memory failure", modem=True),
    CmsCode(321, "invalid memory index"),
    CmsCode(322, "memory full", modem=True),
    CmsCode(330, "SMSC address unknown", modem=True),
    CmsCode(331, "no network service", modem=True),
    CmsCode(332, "network timeout"),
    CmsCode(340, "no +CNMA acknowledgement expected"),
    CmsCode(500, "unknown error"),
]

CODES: dict[int, CmsCode] = {c.code: c for c in _TABLE}


def classify(code: int) -> CmsCode:
    """The meaning of a code; unknown and manufacturer codes (512+) count as transient."""
    if code in CODES:
        return CODES[code]
    if code >= 512:
        return CmsCode(code, "manufacturer specific error")
    return CmsCode(code, "unknown error code")
