"""Delivery reports: matched to the part they report on (by transport, reference and recipient),
and the message settled as delivered or failed when every part is reported."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from smsd.clock import ts, utcnow
from smsd.store.core import Core, Repo
from smsd.store.outbox import Outbox
from smsd.store.submits import Submits
from smsd.values import ProviderRef


class Reports(Repo):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self._outbox = Outbox(core)
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
        now = now or utcnow()
        digits = recipient.lstrip("+")[-11:]
        with self._tx():
            match = None
            for form in (ref, *alternatives):
                cands = self._rows(
                    # the (modem, reference) index: a seek, not a walk over every part the modem sent in
                    # the window (the planner prefers (modem, sent_at) for the ORDER BY otherwise)
                    """SELECT p.message_id, p.seq, o.to_number FROM outbox_parts p INDEXED BY outbox_parts_report
                       JOIN outbox o ON o.id = p.message_id
                       WHERE p.modem = ? AND p.provider_ref = ? AND p.sent_at >= ?
                         AND p.state IN ('sent', 'delivered', 'failed')
                       ORDER BY p.sent_at DESC LIMIT 20""",
                    (modem, form, ts(now - timedelta(days=window_days))),
                )
                match = next((c for c in cands if c["to_number"].lstrip("+")[-11:] == digits), None)
                if match is not None:
                    break
            if match is None and price_fen is not None:
                match = self._report_settles_doubt(modem, ref, digits, price_fen, now, window_days)
            self.conn.execute(
                "INSERT INTO status_reports (modem, provider_ref, recipient, status, outcome, discharge, received_at, "
                "message_id, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    modem,
                    ref,
                    recipient,
                    status,
                    outcome,
                    ts(discharge) if discharge else None,
                    ts(now),
                    match["message_id"] if match else None,
                    match["seq"] if match else None,
                ),
            )
            if match is None or outcome == "pending":
                return (match["message_id"], match["seq"]) if match else None
            mid, seq = match["message_id"], match["seq"]
            self.conn.execute(
                "UPDATE outbox_parts SET state = ?, report_status = ?, report_at = ? WHERE message_id = ? AND seq = ?",
                (outcome, status, ts(now), mid, seq),
            )
            self._settle(mid, now, modem)
        return mid, seq

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

    def _settle(self, message_id: int, now: datetime, modem: str) -> None:
        states = [p.state for p in self._outbox.parts(message_id)]
        msg = self._outbox.message(message_id)
        assert msg is not None
        if msg.state != "sent":
            return
        if "failed" in states:
            self.conn.execute(
                "UPDATE outbox SET state = 'failed', last_error = ?, finished_at = ?, updated_at = ? WHERE id = ?",
                ("the network reported it undelivered", ts(now), ts(now), message_id),
            )
            self._event("outbox", message_id, "failed", "status report: not delivered", f"worker:{modem}", now)
        elif all(s == "delivered" for s in states):
            self.conn.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?, finished_at = ?, updated_at = ? WHERE id = ?",
                (ts(now), ts(now), ts(now), message_id),
            )
            self._event("outbox", message_id, "delivered", "status report", f"worker:{modem}", now)
