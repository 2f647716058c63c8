"""The schema helpers of config.toml, below everything that has settings.

A setting is a dataclass field made with ``opt(default, help, check, choices)``: config.py parses
[sections] with them, and each transport kind declares its own keys of [modems.NAME] the same way
(smsd/transport/gsm.py, smpp.py, ...), without importing config.py. ``ModemConfig`` holds the keys
every kind shares; ``settings`` holds the kind's own (its dataclass, checked by the same rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smsd.i18n import _

MAX_NUMBER = 10**9  # no setting needs more; larger values (1e20 fen, inf seconds) would crash a worker later


def opt(default: Any, help: str, check: Any = None, choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"help": help, "check": check, "choices": choices})


def between(lo: float, hi: float, *, open_low: bool = False) -> Any:
    """A number in [lo, hi] ((lo, hi] with open_low): every numeric setting has a range."""

    def check(v: Any) -> str | None:
        low_ok = v > lo if open_low else v >= lo
        if low_ok and v <= hi:
            return None
        if open_low:
            return _("must be greater than {lo:g} and at most {hi:g}").format(lo=lo, hi=hi)
        return _("must be from {lo:g} to {hi:g}").format(lo=lo, hi=hi)

    return check


positive = between(0, MAX_NUMBER, open_low=True)
non_negative = between(0, MAX_NUMBER)
price = between(0, 10_000)  # fen per segment: 100 yuan is far beyond any carrier's price
priority = between(0, 9)
tcp_port = between(1, 65535)
seconds = between(0, 86_400, open_low=True)  # an answer time or a pause: at most a day


@dataclass(frozen=True)
class ModemConfig:
    """A [modems.NAME] table: the keys every transport kind shares, and the kind's own (settings)."""

    name: str = opt("", "The modem's name (the table's key).")
    kind: str = opt(
        "gsm",
        'How it carries messages: "gsm" (a modem on port), "smpp" (an SMSC or a city\'s Jasmin at host), '
        '"cmpp" (a carrier\'s ISMG at host, on the office\'s own 106... number) or "memory" (in-process, for demos).',
    )
    price_fen: int = opt(6, "What this SIM pays per segment, in fen (1 CNY = 100 fen; 0 to 10,000).", price)
    international_price_fen: int = opt(
        0,
        "What this SIM pays per segment to a number abroad (needed when [sending] international = true).",
        price,
    )
    enabled: bool = opt(True, "Set false to leave this modem alone.")
    command_timeout_s: float = opt(
        5.0,
        "Answer time allowed for an ordinary command (an AT command, an SMPP response; at most 300 s).",
        between(0, 300, open_low=True),
    )
    send_timeout_s: float = opt(
        60.0, "Answer time allowed for one submit (AT+CMGS; at most 600 s).", between(0, 600, open_low=True)
    )
    hourly_cap: int = opt(150, "Segments this SIM may send per hour (carriers block personal SIMs near 200).", positive)
    daily_cap: int = opt(800, "Segments this SIM may send per day (carriers block personal SIMs near 1000).", positive)
    pause_s: float = opt(
        30.0,
        "After the SIM or account refuses to send (barred, no credit, over quota), wait this long before trying "
        "again; doubles while it repeats, up to 30 minutes. Its messages stay queued meanwhile.",
        between(0, 1_800, open_low=True),
    )
    settings: Any = field(default=None, metadata={"internal": True})  # the kind's own keys (its dataclass)
