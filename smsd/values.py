"""Values that cross between a transport and the store, defined below both.

A transport hands the worker what arrived (``Received``), the reference a provider gave a
submit (``ProviderRef``) and its state (``Health``); the store keeps them. Neither imports the other: both import these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ProviderRef = int | str  # a GSM modem's TP-MR (0-255), an SMSC's message_id, an ISMG's Msg_Id


@dataclass(frozen=True)
class Concatenation:
    """Which part of a long inbound message this is (ref is per sender and transport)."""

    ref: int
    total: int
    seq: int


@dataclass(frozen=True)
class Received:
    """One inbound message or part. key identifies it at the provider (a PDU's bytes): the
    store drops a redelivery of the same key; sender is None when it could not be decoded."""

    key: str
    sender: str | None
    text: str
    raw_text: str
    concat: Concatenation | None
    sent_at: datetime | None
    error: str | None = None
    redelivery_window_s: float | None = None  # how long the same key counts as a redelivery (None: while held)
    redelivery_after_ack_s: float | None = None  # and after it was acknowledged (an ack may be lost on the way)


@dataclass
class Health:
    """What `smsd status` shows of a transport (the store keeps its fields on the modem's row)."""

    ready: bool = False
    registered: bool | None = None
    signal: int | None = None
    operator: str = ""
    model: str = ""
    imei: str = ""
    imsi: str = ""
    storage_used: int | None = None
    storage_total: int | None = None
    last_error: str = ""
    counters: dict[str, int] = field(default_factory=dict)
