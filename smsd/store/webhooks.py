"""Webhook deliveries of inbound SMS: queued with the dispatch, retried until acknowledged."""

from __future__ import annotations

from datetime import datetime, timedelta

from smsd.clock import ts
from smsd.store.core import Repo
from smsd.store.summaries import WebhookDue, WebhookStatus


class Webhooks(Repo):
    """Webhook deliveries of inbound SMS."""

    def queue(self, forward: str, inbox_id: int, now: datetime) -> None:
        """Inside the dispatch transaction: this inbound message will be forwarded."""
        self.conn.execute(
            "INSERT OR IGNORE INTO webhook_deliveries (forward, inbox_id, next_attempt_at) VALUES (?, ?, ?)",
            (forward, inbox_id, ts(now)),
        )

    def due(self, now: datetime, limit: int = 50) -> list[WebhookDue]:
        return self._all_of(
            WebhookDue,
            "SELECT w.*, i.sender, i.text, i.received_at, i.modem, i.command, i.kind FROM webhook_deliveries w "
            "JOIN inbox i ON i.id = w.inbox_id WHERE w.state = 'pending' AND w.next_attempt_at <= ? "
            "ORDER BY w.id LIMIT ?",
            (ts(now), limit),
        )

    def done(self, wid: int, now: datetime) -> None:
        with self._tx():
            self.conn.execute(
                "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, "
                "delivered_at = ?, last_error = NULL WHERE id = ?",
                (ts(now), wid),
            )

    def failed(self, wid: int, error: str, backoff_s: float, now: datetime) -> None:
        with self._tx():
            row = self._one("SELECT attempts FROM webhook_deliveries WHERE id = ?", (wid,))
            attempts = int(row["attempts"]) + 1 if row else 1
            delay = min(backoff_s * 2 ** (attempts - 1), 3600)
            self.conn.execute(
                "UPDATE webhook_deliveries SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (attempts, error[:200], ts(now + timedelta(seconds=delay)), wid),
            )

    def status(self) -> list[WebhookStatus]:
        return self._all_of(
            WebhookStatus,
            "SELECT forward, SUM(state = 'pending') AS pending, SUM(state = 'delivered') AS delivered, "
            "MAX(CASE WHEN state = 'pending' THEN last_error END) AS last_error FROM webhook_deliveries "
            "GROUP BY forward ORDER BY forward",
        )

    def next_due(self) -> str | None:
        row = self._one("SELECT MIN(next_attempt_at) AS t FROM webhook_deliveries WHERE state = 'pending'")
        return row["t"] if row else None
