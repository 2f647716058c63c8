"""An in-process transport for tests and demos: instant or delayed, with scripted outcomes.

It behaves as a provider would: each accepted part gets a reference (counting up), a delivery
report follows when asked for, inbound messages stay "at the provider" until the sink has
committed them (a crash between the two redelivers), and faults are scripted one submit at a
time: ``script("refuse_transient", "in_doubt", ...)``, ``disconnect()``, ``reconnect()``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from smsd.segments import plan
from smsd.settings import ModemConfig
from smsd.transport.base import (
    DeliveryReport,
    Health,
    InDoubt,
    Kind,
    LateAccept,
    NotSent,
    Outgoing,
    Received,
    RefusalKind,
    Refused,
    Transport,
)

log = logging.getLogger(__name__)

OUTCOMES = (
    "accept",
    "refuse_permanent",
    "refuse_transient",
    "refuse_transport",
    "in_doubt",  # accepted by the "network", the answer lost
    "in_doubt_late",  # accepted, the answer comes later (a LateAccept on the next receive)
    "not_sent",
)


@dataclass
class Sent:
    message_id: int
    to: str
    text: str
    seq: int
    total: int
    ref: int
    template: str | None = None  # what a template-based provider would send instead of the text
    variables: tuple[tuple[str, str], ...] = ()


@dataclass
class Provider:
    """The far side, shared by tests: what was sent, and what waits to be delivered inbound."""

    sent: list[Sent] = field(default_factory=list)
    inbound: deque[Received] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)


class MemoryTransport(Transport):
    kind = "memory"

    def __init__(self, name: str, *, delay_s: float = 0.0, provider: Provider | None = None) -> None:
        super().__init__(name)
        self.delay_s = delay_s
        self.provider = provider or Provider()
        self.connected = True
        self._script: deque[str] = deque()
        self._refs = itertools.count(1)
        self._pending: deque[DeliveryReport | LateAccept] = deque()
        self.last_error = ""

    # ------------------------------------------------------------ scripting (tests)

    def script(self, *outcomes: str) -> None:
        for o in outcomes:
            if o not in OUTCOMES:
                raise ValueError(f"unknown outcome {o!r}; one of {', '.join(OUTCOMES)}")
        self._script.extend(outcomes)

    def deliver(self, sender: str, text: str, key: str | None = None) -> None:
        """An SMS from a member, waiting at the provider until committed."""
        with self.provider.lock:
            key = key or f"mo:{sender}:{len(self.provider.inbound)}:{time.monotonic_ns()}"
            self.provider.inbound.append(Received(key, sender, text, text, None, datetime.now(UTC)))
        self.wake.set()

    def disconnect(self) -> None:
        self.connected = False

    def reconnect(self) -> None:
        self.connected = True
        self.wake.set()

    # ------------------------------------------------------------ the interface

    def ensure_ready(self) -> bool:
        return self.connected

    def retry_in(self) -> float:
        return 0.0 if self.connected else 0.05

    def submit(self, message: Outgoing, seq: int) -> int | None:
        if not self.connected:
            raise NotSent(f"{self.name} is disconnected")
        outcome = self._script.popleft() if self._script else "accept"
        if self.delay_s:
            time.sleep(self.delay_s)
        if outcome == "not_sent":
            raise NotSent(f"{self.name}: the line dropped before the part left")
        if outcome.startswith("refuse_"):
            kinds: dict[str, RefusalKind] = {
                "refuse_permanent": "permanent",
                "refuse_transient": "transient",
                "refuse_transport": "transport",
            }
            raise Refused(f"{self.name}: refused ({kinds[outcome]})", kinds[outcome])
        ref = next(self._refs)
        parts = plan(message.text)
        with self.provider.lock:
            self.provider.sent.append(
                Sent(
                    message.id,
                    message.to,
                    parts.texts[seq - 1],
                    seq,
                    parts.segments,
                    message.concat_ref,
                    message.template,
                    message.variables,
                )
            )
        if message.status_report:
            self._pending.append(DeliveryReport(ref, message.to, 0, "delivered", datetime.now(UTC)))
        if outcome == "in_doubt":
            raise InDoubt(f"{self.name}: no answer", "timeout", usable=True)
        if outcome == "in_doubt_late":
            self._pending.appendleft(LateAccept(ref))
            raise InDoubt(f"{self.name}: no answer yet", "timeout", usable=True)
        return ref

    def receive(self) -> int:
        assert self.sink is not None
        handled = 0
        while self._pending:
            item = self._pending[0]
            if isinstance(item, LateAccept):
                self.sink.late_accept(item)
            else:
                self.sink.report(item)
            self._pending.popleft()
        while True:
            with self.provider.lock:
                if not self.provider.inbound:
                    return handled
                message = self.provider.inbound[0]
            try:
                self.sink.received(message)  # commit first ...
            except Exception:  # not committed: it stays at the provider and comes again
                log.exception("memory.store_failed transport=%s key=%s", self.name, message.key)
                return handled
            with self.provider.lock:  # ... then acknowledge: the provider forgets it
                if self.provider.inbound and self.provider.inbound[0] is message:
                    self.provider.inbound.popleft()
            self.sink.removed(message.key)
            handled += 1

    def tick(self) -> None:
        return None

    def next_tick_in(self) -> float:
        return 3600.0

    def health(self) -> Health:
        return Health(ready=self.connected, registered=self.connected, last_error=self.last_error)

    def note_error(self, text: str) -> None:
        self.last_error = text

    def close(self) -> None:
        self.connected = self.connected  # nothing to release; a scripted disconnect stays


@dataclass(frozen=True)
class MemorySettings:
    """A [modems.NAME] table with kind = "memory" has only the shared keys."""


class MemoryKind(Kind):
    name = "memory"
    settings = MemorySettings

    def build(self, modem: ModemConfig, device: str | None = None) -> Transport:
        return MemoryTransport(modem.name)


KIND = MemoryKind()
