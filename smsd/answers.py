"""The handshake between the workers and the one dispatcher thread.

A worker that stored inbound SMS asks for them to be answered and waits, briefly, until a
dispatch pass that began after its request has ended: the reply is queued before the worker
claims its next message (so it jumps ahead of a broadcast), yet no command handler ever runs on
a worker's thread, and a slow one delays a modem's sends by at most the wait.
"""

from __future__ import annotations

import threading


class Answers:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._requested = 0
        self._done = 0

    def request(self) -> int:
        """Ask for a pass; returns the ticket to wait for."""
        with self._cond:
            self._requested += 1
            self._cond.notify_all()
            return self._requested

    def wait_done(self, ticket: int, timeout: float) -> bool:
        """True when a pass that covers the ticket has ended within timeout seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self._done >= ticket, timeout)

    def pending(self) -> int:
        """The dispatcher's snapshot before a pass: the pass covers every ticket up to it."""
        with self._cond:
            return self._requested

    def finished(self, upto: int) -> None:
        with self._cond:
            self._done = max(self._done, upto)
            self._cond.notify_all()

    def wait_request(self, timeout: float) -> None:
        """The dispatcher's idle wait: until a ticket it has not covered, or timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._requested > self._done, timeout)
