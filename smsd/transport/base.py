"""The Transport interface: what a worker needs from anything that carries SMS, and nothing more.

A transport connects (and says when to retry), submits one part of a message and returns the
provider's reference for it (the TP-MR on a GSM modem), or raises one typed outcome:

- ``Refused(kind="permanent")``: the message cannot be delivered (bad number); fail it.
- ``Refused(kind="transient")``: try again later; counts as one of the message's attempts.
- ``Refused(kind="transport")``: the transport itself is unusable (a barred SIM, no network,
  no credit): pause it with the reason; the message goes to the others, uncharged.
- ``InDoubt``: no answer after the part was handed over; the network may have it.
- ``NotSent``: the transport went away before the part left; nothing was sent.

Inbound messages and delivery reports are handed to the ``Sink`` the worker attached: the
transport reads what arrived, calls the sink (which commits it to the store) and acknowledges
each item to the provider only after the sink returned. A crash between the two gives a redelivery, which the
store recognises by the item's ``key``: persist, then acknowledge.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

# the values a transport hands the store are defined below both (re-exported here for transports)
from smsd.values import Concatenation as Concatenation
from smsd.values import Health as Health
from smsd.values import ProviderRef as ProviderRef
from smsd.values import Received as Received

if TYPE_CHECKING:
    from smsd.settings import ModemConfig

RefusalKind = Literal["permanent", "transient", "transport"]
Outcome = Literal["delivered", "pending", "failed"]


class TransportOutcome(Exception):
    """Base of the typed outcomes of a submit that did not return a reference."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(TransportOutcome):
    """The provider said no; kind says whose fault it is (the message's, or the transport's)."""

    def __init__(self, reason: str, kind: RefusalKind, code: int | None = None, network: bool = False) -> None:
        super().__init__(reason)
        self.kind = kind
        self.code = code
        self.network = network  # a lost network registration: the pause ends when it is back


class InDoubt(TransportOutcome):
    """No answer after the part was handed over: it may have been sent."""

    def __init__(self, reason: str, cause: Literal["timeout", "gone"] = "timeout", usable: bool = True) -> None:
        super().__init__(reason)
        self.cause = cause
        self.usable = usable  # False: reconnect before the next submit


class NotSent(TransportOutcome):
    """The transport is unusable right now and nothing of the part left."""


@dataclass(frozen=True)
class Outgoing:
    """One message as a transport needs it: the parts are planned from text by the transport."""

    id: int
    to: str
    text: str
    concat_ref: int
    status_report: bool
    validity_minutes: int | None
    template: str | None = None  # what it was rendered from, for a provider that sends a filed template
    variables: tuple[tuple[str, str], ...] = ()  # and its variables, with the rendered text beside them


@dataclass(frozen=True)
class DeliveryReport:
    provider_ref: ProviderRef
    recipient: str
    status: int
    outcome: Outcome
    discharge: datetime | None
    alternatives: tuple[str, ...] = ()  # the same id written otherwise (decimal for hex, ...), tried after it


@dataclass(frozen=True)
class LateAccept:
    """The answer to a submit that had timed out: it was sent (its reference, when given)."""

    provider_ref: ProviderRef | None


Result = ProviderRef | None | TransportOutcome  # what became of one part of a window


class Sink(Protocol):
    """Where a transport hands what arrived; each call commits before it returns (inside
    ``batch()``, the batch commits once, before batch() returns)."""

    def batch(self) -> AbstractContextManager[None]:
        """Several calls in one durable commit (a burst of receipts and MO); the transport
        acknowledges them after it returns."""
        ...

    def received(self, item: Received) -> None:
        """Commit an inbound message or part (a redelivered key is recognised)."""

    def report(self, item: DeliveryReport) -> None:
        """Commit a delivery report."""

    def late_accept(self, item: LateAccept) -> None:
        """Commit that a submit which had timed out was accepted after all."""

    def removed(self, key: str) -> None:
        """The provider dropped its copy of key: the same key from now on is a new message."""


class Transport(ABC):
    """One way to carry messages: a GSM modem, an SMSC over SMPP, an in-process fake."""

    kind: str = ""
    window: int = 1  # parts a worker may have in flight at once (submit_many)

    def __init__(self, name: str) -> None:
        self.name = name
        self.wake = threading.Event()  # set when something arrived: the worker's loop wakes
        self.interrupted = threading.Event()  # set when the worker stops: long waits end early
        self.sink: Sink | None = None

    def attach(self, sink: Sink) -> None:
        """Where received items go (the worker, which commits them); before ensure_ready()."""
        self.sink = sink

    @abstractmethod
    def ensure_ready(self) -> bool:
        """Connect when due (with backoff); True when a submit may be tried now."""

    @abstractmethod
    def retry_in(self) -> float:
        """Seconds until the next connection attempt (0 when ready)."""

    @abstractmethod
    def submit(self, message: Outgoing, seq: int) -> ProviderRef | None:
        """Send part seq (1-based) of message; return the provider reference (None: none given).

        Raises Refused, InDoubt or NotSent."""

    def submit_many(self, items: Sequence[tuple[Outgoing, int]]) -> list[Result]:
        """Send several parts at once (up to ``window``); one result per item, in order: the
        reference, or the outcome. This default sends one at a time and, once the transport is
        unusable, gives NotSent for the rest."""
        out: list[Result] = []
        for i, (message, seq) in enumerate(items):
            try:
                out.append(self.submit(message, seq))
            except TransportOutcome as exc:
                out.append(exc)
                unusable = (
                    isinstance(exc, NotSent)
                    or (isinstance(exc, InDoubt) and not exc.usable)
                    or (isinstance(exc, Refused) and exc.kind == "transport")
                )
                if unusable:
                    out.extend(NotSent(f"{self.name}: not sent ({exc.reason})") for _ in items[i + 1 :])
                    break
        return out

    def segments(self, text: str) -> int | None:
        """How many parts this transport sends text in, when that is not smsd.segments' count (a
        carrier's signature it writes or counts in); None: the same count."""
        return None

    @abstractmethod
    def receive(self) -> int:
        """Hand what arrived to the sink, acknowledging each item after it returned; returns how many."""

    @abstractmethod
    def tick(self) -> None:
        """Periodic upkeep when idle: liveness, health, a sweep for anything missed."""

    @abstractmethod
    def next_tick_in(self) -> float:
        """Seconds until tick() has something to do."""

    @abstractmethod
    def health(self) -> Health:
        """A snapshot for `smsd status` (ready, signal, storage, last error)."""

    @abstractmethod
    def close(self) -> None:
        """Disconnect; ensure_ready() connects again."""

    @abstractmethod
    def note_error(self, text: str) -> None:
        """The worker's reason for a pause or a loss, shown in health() until it is cleared."""

    def messages_waiting(self) -> bool:
        """True when a member's SMS (not a delivery report) waits to be handed to the sink."""
        return False

    @property
    def restarted(self) -> bool:
        """True when the far end lost its settings (a modem reboot): the worker reconnects."""
        return False

    @property
    def where(self) -> str:
        """Where it is, for `smsd status`: a serial device, an SMSC's host:port."""
        return self.kind


class Kind(ABC):
    """A kind of transport, described by its module: its own keys of [modems.NAME] (``settings``,
    a dataclass of smsd.settings.opt fields), their checks, how it is built, what check-config and
    doctor say about it. smsd/transport/registry.py lists the kinds; config.py, admin.py and the
    CLI ask the kind and never branch on its name."""

    name = ""
    settings: type = object
    sim = False  # a SIM: carriers block personal SIMs near 200 SMS an hour, 1,000 a day
    defaults: dict[str, Any] = {}  # its defaults for shared keys (an SMPP account's caps are its contract's)

    def check(self, modem: ModemConfig) -> list[tuple[str, dict[str, Any]]]:
        """Problems of its keys together (an error template and its values each); [] when none."""
        return []

    def device(self, modem: ModemConfig) -> str | None:
        """A local device no two modems may share (a serial port), if it uses one."""
        return None

    def emulated(self, modem: ModemConfig) -> bool:
        """True when it runs on the built-in emulator (the daemon starts it, in [emulator] dir)."""
        return False

    def where(self, modem: ModemConfig) -> str:
        """What `smsd status` shows before the transport has reported (its device, its SMSC)."""
        return self.name

    @abstractmethod
    def build(self, modem: ModemConfig, device: str | None = None) -> Transport:
        """The transport of this table (device: the emulator's pty, for an emulated one)."""

    def missing(self, modem: ModemConfig) -> str | None:
        """What check-config finds absent on this box (a device not plugged in), as one line."""
        return None

    def warnings(self, modem: ModemConfig) -> list[str]:
        """What works but an admin should know (translated)."""
        return []

    def doctor(self, modem: ModemConfig) -> list[tuple[str, bool, str]]:
        """doctor's checks of it on this box: (what, ok, detail), translated; [] for the emulator."""
        return []
