"""Slow clients are cut off: a connection whose request headers do not arrive whole within
HEADERS_S (after it opens, or after the previous response on a kept-alive connection) is
closed, so a client trickling bytes cannot hold a connection (and a file descriptor) forever.
uvicorn's keep-alive timer is cancelled by any byte that arrives; this one is not."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADERS_S = 10.0
BODY_S = 30.0  # the body of a request, read by the app's guard


class TimedH11Protocol(H11Protocol):
    headers_s = HEADERS_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._headers_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._headers_timer = self.loop.call_later(self.headers_s, self._too_slow)

    def _disarm(self) -> None:
        timer = getattr(self, "_headers_timer", None)
        if timer is not None:
            timer.cancel()
            self._headers_timer = None

    def _too_slow(self) -> None:
        self._headers_timer = None
        if self.cycle is None or self.cycle.response_complete:  # no request has begun since the timer was set
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # the headers are in: the app (and its body timeout) takes over

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Any) -> None:
        self._disarm()
        super().connection_lost(exc)
