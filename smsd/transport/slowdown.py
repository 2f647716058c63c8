"""A window of parts over a link that may ask to slow down (SMPP's ESME_RTHROTTLED and
ESME_RMSGQFUL, CMPP's Result 8): the parts it refused go again after a growing wait, which is
the pacing (nothing was sent, nothing is counted), and after give_up_s of it the link pauses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container, Sequence

from smsd.i18n import _
from smsd.transport.base import NotSent, Outgoing, Refused, Result

# one round of the window: (items, the indexes to send, results to fill) -> the indexes refused as busy
Round = Callable[[Sequence[tuple[Outgoing, int]], list[int], list[Result | None]], list[int]]


class SlowDown:
    def __init__(self, name: str, interrupted: threading.Event, first_s: float, give_up_s: float) -> None:
        self.name, self.interrupted = name, interrupted
        self.first_s, self.give_up_s = first_s, give_up_s
        self.wait_s = 0.0  # grows while the link refuses, shrinks again when it takes everything

    def send(
        self,
        items: Sequence[tuple[Outgoing, int]],
        round_: Round,
        give_up: Callable[[float], Refused],
        busy_codes: Container[int | None],
    ) -> list[Result]:
        """Every item's result, in order; give_up(seconds waited) is the refusal that pauses the link."""
        results: list[Result | None] = [None] * len(items)
        todo = list(range(len(items)))
        started = time.monotonic()
        while todo:
            busy = round_(items, todo, results)
            if not busy:
                break
            waited = time.monotonic() - started
            if waited >= self.give_up_s:
                for i in busy:
                    results[i] = give_up(waited)
                break
            self.wait_s = min(max(self.wait_s * 2, self.first_s), 2.0)
            if self.interrupted.wait(self.wait_s):  # ended early when smsd stops
                for i in busy:
                    results[i] = NotSent(_("{name}: smsd is stopping").format(name=self.name))
                break
            todo = busy
        if all(not isinstance(r, Refused) or r.code not in busy_codes for r in results):
            self.wait_s = max(0.0, self.wait_s / 2 - 0.01)
        return [r if r is not None else NotSent(f"{self.name}: not sent") for r in results]


__all__ = ["SlowDown"]
