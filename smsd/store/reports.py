"""Delivery reports: matched to the part they report on (by transport, reference and recipient),
and the message settled as delivered or failed when every part is reported."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from smsd.clock import ts, utcnow
from smsd.store.core import Core, Repo, _marks
from smsd.store.submits import Submits
from smsd.values import ProviderRef


class Reports(Repo):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self._submits = Submits(core)

    def apply_report(
        self,
        modem: str,
        ref: ProviderRef,
        recipient: str,
        status: int,
        outcome: str,
        discharge: datetime | None = None,
        *,
        window_days: int = 3,
        now: datetime | None = None,
        price_fen: int | None = None,
        alternatives: Iterable[ProviderRef] = (),
    ) -> tuple[int, int] | None:
        """Match a status report to the newest sent part with (modem, TP-MR, recipient); the
        reference as written first, then its alternatives (an SMSC that writes a receipt's id in
        decimal and its submit_sm_resp's in hex, or the reverse).

        A report that matches no part but the recipient of a submit in doubt on this modem is the
        network saying it had that submit: it is settled as accepted (and billed at price_fen)."""
        return self.apply_reports(
            modem,
            [(ref, recipient, status, outcome, discharge, tuple(alternatives))],
            window_days=window_days,
            now=now,
            price_fen=price_fen,
        )[0]

    def apply_reports(
        self,
        modem: str,
        reports: Sequence[tuple[ProviderRef, str, int, str, datetime | None, Sequence[ProviderRef]]],
        *,
        window_days: int = 3,
        now: datetime | None = None,
        price_fen: int | None = None,
    ) -> list[tuple[int, int] | None]:
        """apply_report for a burst of reports (reference, recipient, status, outcome, discharge,
        alternatives), in order, with their writes made together: what each one matched."""
        now = now or utcnow()
        at, since = ts(now), ts(now - timedelta(days=window_days))
        matched: list[tuple[int, int] | None] = []
        stored: list[tuple[Any, ...]] = []
        updates: list[tuple[str, int, str, int, int]] = []
        with self._tx():
            for ref, recipient, status, outcome, discharge, alternatives in reports:
                digits = recipient.lstrip("+")[-11:]
                match = None
                for form in (ref, *alternatives):
                    match = next((c for c in self._candidates(modem, form, since) if c["to_number"] == digits), None)
                    if match is not None:
                        break
                if match is None and price_fen is not None:
                    match = self._report_settles_doubt(modem, ref, digits, price_fen, now, window_days)
                mid, seq = (match["message_id"], match["seq"]) if match else (None, None)
                if mid is not None and any(u[3] == mid for u in updates):
                    self._write_reports(stored, updates, now, modem)  # the same message again: settled in order
                    stored, updates = [], []
                stored.append(
                    (modem, ref, recipient, status, outcome, ts(discharge) if discharge else None, at, mid, seq)
                )
                if mid is not None and seq is not None and outcome != "pending":
                    updates.append((outcome, status, at, mid, seq))
                matched.append((mid, seq) if mid is not None and seq is not None else None)
            self._write_reports(stored, updates, now, modem)
        return matched

    def _candidates(self, modem: str, ref: ProviderRef, since: str) -> list[dict[str, Any]]:
        """The newest parts this modem sent with this reference (their recipients' last 11 digits)."""
        return self._rows(
            # the (modem, reference) index: a seek, not a walk over every part the modem sent in
            # the window (the planner prefers (modem, sent_at) for the ORDER BY otherwise)
            """SELECT p.message_id, p.seq, substr(ltrim(o.to_number, '+'), -11) AS to_number
               FROM outbox_parts p INDEXED BY outbox_parts_report
               JOIN outbox o ON o.id = p.message_id
               WHERE p.modem = ? AND p.provider_ref = ? AND p.sent_at >= ?
                 AND p.state IN ('sent', 'delivered', 'failed')
               ORDER BY p.sent_at DESC LIMIT 20""",
            (modem, ref, since),
        )

    def _write_reports(
        self, stored: list[tuple[Any, ...]], updates: list[tuple[str, int, str, int, int]], now: datetime, modem: str
    ) -> None:
        self.conn.executemany(
            "INSERT INTO status_reports (modem, provider_ref, recipient, status, outcome, discharge, received_at, "
            "message_id, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            stored,
        )
        self.conn.executemany(
            "UPDATE outbox_parts SET state = ?, report_status = ?, report_at = ? WHERE message_id = ? AND seq = ?",
            updates,
        )
        self._settle(sorted({u[3] for u in updates}), now, modem)

    def _report_settles_doubt(
        self, modem: str, ref: ProviderRef, digits: str, price_fen: int, now: datetime, window_days: int
    ) -> dict[str, Any] | None:
        doubts = self._rows(
            """SELECT s.*, o.to_number FROM submits s JOIN outbox o ON o.id = s.message_id
               WHERE s.modem = ? AND s.state = 'in_doubt' AND s.started_at >= ? ORDER BY s.id DESC LIMIT 20""",
            (modem, ts(now - timedelta(days=window_days))),
        )
        submit = next((d for d in doubts if d["to_number"].lstrip("+")[-11:] == digits), None)
        if submit is None:
            return None
        self._submits._settle_doubt(submit, ref, price_fen, now, "a delivery report")
        part = self._one(
            "SELECT message_id, seq FROM outbox_parts WHERE message_id = ? AND seq = ? AND provider_ref = ? "
            "AND modem = ?",
            (submit["message_id"], submit["seq"], ref, modem),
        )
        return part

    def _settle(self, message_ids: list[int], now: datetime, modem: str) -> None:
        """Messages still 'sent' whose parts are all reported: failed if one failed, delivered if all were."""
        if not message_ids:
            return
        rows = self._rows(
            f"""SELECT o.id, o.state, group_concat(p.state) AS parts FROM outbox o
                JOIN outbox_parts p ON p.message_id = o.id WHERE o.id IN ({_marks(message_ids)}) GROUP BY o.id""",
            message_ids,
        )
        failed, delivered = [], []
        for row in rows:
            states = row["parts"].split(",")
            if row["state"] != "sent":
                continue
            if "failed" in states:
                failed.append(row["id"])
            elif all(state == "delivered" for state in states):
                delivered.append(row["id"])
        at = ts(now)
        self.conn.executemany(
            "UPDATE outbox SET state = 'failed', last_error = ?, finished_at = ?, updated_at = ? WHERE id = ?",
            [("the network reported it undelivered", at, at, mid) for mid in failed],
        )
        self.conn.executemany(
            "UPDATE outbox SET state = 'delivered', delivered_at = ?, finished_at = ?, updated_at = ? WHERE id = ?",
            [(at, at, at, mid) for mid in delivered],
        )
        self._events(
            [("outbox", mid, "failed", "status report: not delivered", f"worker:{modem}") for mid in failed]
            + [("outbox", mid, "delivered", "status report", f"worker:{modem}") for mid in delivered],
            now,
        )
