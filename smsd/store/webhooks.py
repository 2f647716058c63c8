"""Webhook deliveries of inbound SMS: queued with the dispatch, retried until acknowledged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from smsd.clock import ts
from smsd.store.core import Core

if TYPE_CHECKING:
    pass


class WebhookVerbs(Core):
    def queue_webhook(self, forward: str, inbox_id: int, now: datetime) -> None:
        """Inside the dispatch transaction: this inbound message will be forwarded."""
        self.conn.execute(
            "INSERT OR IGNORE INTO webhook_deliveries (forward, inbox_id, next_attempt_at) VALUES (?, ?, ?)",
            (forward, inbox_id, ts(now)),
        )

    def due_webhooks(self, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT w.*, i.sender, i.text, i.received_at, i.modem, i.command, i.kind FROM webhook_deliveries w "
            "JOIN inbox i ON i.id = w.inbox_id WHERE w.state = 'pending' AND w.next_attempt_at <= ? "
            "ORDER BY w.id LIMIT ?",
            (ts(now), limit),
        )

    def webhook_done(self, wid: int, now: datetime) -> None:
        with self.tx():
            self.conn.execute(
                "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, "
                "delivered_at = ?, last_error = NULL WHERE id = ?",
                (ts(now), wid),
            )

    def webhook_failed(self, wid: int, error: str, backoff_s: float, now: datetime) -> None:
        with self.tx():
            row = self.one("SELECT attempts FROM webhook_deliveries WHERE id = ?", (wid,))
            attempts = int(row["attempts"]) + 1 if row else 1
            delay = min(backoff_s * 2 ** (attempts - 1), 3600)
            self.conn.execute(
                "UPDATE webhook_deliveries SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (attempts, error[:200], ts(now + timedelta(seconds=delay)), wid),
            )

    def webhook_status(self) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT forward, SUM(state = 'pending') AS pending, SUM(state = 'delivered') AS delivered, "
            "MAX(CASE WHEN state = 'pending' THEN last_error END) AS last_error FROM webhook_deliveries "
            "GROUP BY forward ORDER BY forward"
        )

    def next_webhook_due(self) -> str | None:
        row = self.one("SELECT MIN(next_attempt_at) AS t FROM webhook_deliveries WHERE state = 'pending'")
        return row["t"] if row else None

    def inbound_since(self, cursor: int, limit: int, grant: tuple[str, ...] = ("*",)) -> list[dict[str, Any]]:
        """Inbound SMS after a cursor that a grant covers: '*' all, 'unhandled' text no command
        took, or command names (vote, receipt, red, feedback, ...)."""
        where, params = "", [str(cursor)]
        if "*" not in grant:
            names = [g for g in grant if g != "unhandled"]
            conds = [f"command IN ({', '.join('?' * len(names))})"] if names else []
            params += names
            if "unhandled" in grant:
                conds.append("(command IS NULL AND kind IN ('feedback', 'stranger'))")
            where = " AND (" + (" OR ".join(conds) or "0") + ")"
        return self.rows(
            "SELECT id, modem, sender, text, received_at, kind, command, parts, incomplete FROM inbox "
            f"WHERE id > ?{where} ORDER BY id LIMIT ?",
            (*params, limit),
        )

    def api_campaign(self, campaign_id: int, client: str) -> dict[str, Any] | None:
        """A campaign this API client created (others are not found)."""
        return self.one("SELECT * FROM campaigns WHERE id = ? AND created_by = ?", (campaign_id, f"api:{client}"))

    def api_message(self, message_id: int, client: str) -> dict[str, Any] | None:
        """A message queued by this API client (other clients' messages are not found)."""
        return self.one("SELECT * FROM outbox WHERE id = ? AND created_by = ?", (message_id, f"api:{client}"))
