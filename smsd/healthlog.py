"""What `smsd status` shows of a worker's transport: its health, recorded when it changes, and
its incidents (a drop, a timeout, throttling), kept with their time after they healed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from smsd.clock import Clock
from smsd.errors import SmsdError
from smsd.i18n import _
from smsd.store import Store
from smsd.transport.base import Transport

log = logging.getLogger(__name__)


class HealthLog:
    """Records one transport's health on its modem's row (state: ready, down or paused)."""

    def __init__(
        self,
        name: str,
        transport: Transport,
        store: Callable[[], Store | None],
        clock: Clock,
        paused: Callable[[], bool],
    ) -> None:
        self.name, self.transport, self._store, self.clock, self.paused = name, transport, store, clock, paused
        self._recorded: tuple[Any, ...] = ()
        self._busy_seen = 0
        self._last_incident = ""

    def _snapshot(self) -> tuple[Any, ...]:
        h = self.transport.health()
        busy = h.counters.get("busy", 0)
        return (h.ready, self.paused(), h.registered, h.storage_used, h.storage_total, h.last_error, h.signal, busy)

    def record_if_changed(self) -> None:
        if self._snapshot() != self._recorded:
            self.record()

    def incident(self, text: str) -> None:
        """Kept on the modem's row with its time, after the trouble is over too."""
        store = self._store()
        if store is None or not text:
            return
        try:
            store.health.incident(self.name, text, self.clock())
        except SmsdError as exc:
            log.error("worker.health_not_saved modem=%s error=%s", self.name, exc)

    def record(self) -> None:
        store = self._store()
        if store is None:
            return
        h = self.transport.health()
        if h.last_error and h.last_error != self._last_incident:
            self.incident(h.last_error)
        self._last_incident = h.last_error
        busy = h.counters.get("busy", 0)
        if busy > self._busy_seen:
            self.incident(_("the SMSC asked to slow down ({n} time(s))").format(n=busy))
        self._busy_seen = busy
        self._recorded = self._snapshot()
        state = "paused" if self.paused() else ("ready" if h.ready else "down")
        try:
            store.health.update(self.name, h, state=state, where=self.transport.where, now=self.clock())
        except SmsdError as exc:
            log.error("worker.health_not_saved modem=%s error=%s", self.name, exc)


__all__ = ["HealthLog"]
