"""Where a worker's transport hands what arrived: committed to the store before it returns.

The transport acknowledges each item to its provider (deletes it from the SIM, answers the
deliver_sm) only after the sink returned: persist, then acknowledge. A batch commits a burst in
one transaction; the dispatcher is asked to answer only once that commit holds the messages.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from smsd import phone
from smsd.answers import Answers
from smsd.clock import Clock
from smsd.store import Store
from smsd.transport.base import DeliveryReport, LateAccept, Received

log = logging.getLogger(__name__)


class StoreSink:
    """The Sink of one worker: its transport's inbound SMS, reports and late answers, committed."""

    def __init__(
        self, name: str, store: Callable[[], Store | None], clock: Clock, price_fen: int, answers: Answers | None
    ) -> None:
        self.name, self._store, self.clock, self.price_fen, self.answers = name, store, clock, price_fen, answers
        self.received_count = 0  # since the worker last looked
        self.ticket = 0  # the dispatcher's answer to wait for
        self._in_batch = False
        self._answer_wanted = False
        self._reports: list[DeliveryReport] = []  # a batch's reports, booked together before it commits

    @property
    def store(self) -> Store:
        store = self._store()
        assert store is not None
        return store

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        self._in_batch = True
        try:
            with self.store.tx():
                yield
                self._flush()
        finally:
            self._in_batch, self._reports = False, []
            wanted, self._answer_wanted = self._answer_wanted, False
        if wanted and self.answers is not None:
            self.ticket = self.answers.request()

    def received(self, item: Received) -> None:
        self._flush()  # what came before it is booked before it, in order
        inbox_id, duplicate = self.store.inbox.save(self.name, item, self.clock())
        sender = item.sender or "?"
        self.received_count += 1
        if duplicate:
            log.info("sms.duplicate modem=%s from=%s", self.name, phone.shown(sender))
        elif inbox_id is not None:
            log.info("sms.received id=%s modem=%s from=%s", inbox_id, self.name, phone.shown(sender))
            if self._in_batch:
                self._answer_wanted = True
            elif self.answers is not None:
                self.ticket = self.answers.request()

    def removed(self, key: str) -> None:
        self._flush()
        self.store.inbox.mark_deleted_from_sim(self.name, key)

    def late_accept(self, item: LateAccept) -> None:
        self._flush()
        mid = self.store.submits.late_answer(self.name, item.provider_ref, self.price_fen, now=self.clock())
        log.warning("sms.late_answer modem=%s ref=%s message=%s", self.name, item.provider_ref, mid or "unmatched")

    def report(self, item: DeliveryReport) -> None:
        self._reports.append(item)
        if not self._in_batch:
            self._flush()

    def _flush(self) -> None:
        """Book the reports handed in so far (a batch's burst: their writes together)."""
        reports, self._reports = self._reports, []
        if not reports:
            return
        matches = self.store.reports.apply_reports(
            self.name,
            [(r.provider_ref, r.recipient, r.status, r.outcome, r.discharge, r.alternatives) for r in reports],
            now=self.clock(),
            price_fen=self.price_fen,
        )
        for item, match in zip(reports, matches, strict=True):
            log.info(
                "sms.report modem=%s ref=%s outcome=%s message=%s",
                self.name,
                item.provider_ref,
                item.outcome,
                match[0] if match else "unmatched",
            )


__all__ = ["StoreSink"]
