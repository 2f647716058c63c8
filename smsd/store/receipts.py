"""Receipts: members confirming they read a notice (a bare 1, or the receipt keyword)."""

from __future__ import annotations

from datetime import datetime

from smsd.clock import ts
from smsd.store.core import Repo
from smsd.store.records import Campaign
from smsd.store.summaries import Notice, ReceiptStatus, Recipient


class Receipts(Repo):
    """Receipts of confirm campaigns."""

    def latest_notice(self, phone: str) -> Notice | None:
        """The newest campaign message that reached this number, with its campaign's flags."""
        return self._one_of(
            Notice,
            "SELECT o.campaign_id, c.confirm, c.poll_id FROM outbox o JOIN campaigns c ON c.id = o.campaign_id "
            "WHERE o.to_number = ? AND o.state IN ('sent', 'delivered', 'sending') ORDER BY o.id DESC LIMIT 1",
            (phone,),
        )

    def latest_confirm_campaign(self, phone: str) -> Campaign | None:
        """The newest confirm campaign that reached this number."""
        return self._one_of(
            Campaign,
            "SELECT c.* FROM outbox o JOIN campaigns c ON c.id = o.campaign_id WHERE o.to_number = ? "
            "AND c.confirm = 1 AND o.state IN ('sent', 'delivered', 'sending') ORDER BY o.id DESC LIMIT 1",
            (phone,),
        )

    def record(self, cid: int, member_id: int | None, phone: str, inbox_id: int, now: datetime) -> bool:
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO receipts (campaign_id, member_id, phone, inbox_id, "
            "confirmed_at) VALUES (?, ?, ?, ?, ?)",
            (cid, member_id, phone, inbox_id, ts(now)),
        )
        return cur.rowcount == 1

    def of_campaign(self, cid: int) -> ReceiptStatus:
        """Recipients of a confirm campaign, split into confirmed and not yet confirmed."""
        rows = self._all_of(
            Recipient,
            "SELECT DISTINCT o.to_number AS phone, o.member_id, m.name, r.confirmed_at FROM outbox o "
            "LEFT JOIN members m ON m.id = o.member_id LEFT JOIN receipts r ON r.campaign_id = o.campaign_id "
            "AND r.phone = o.to_number WHERE o.campaign_id = ? AND o.dedup_key NOT LIKE '%:remind:%' "
            "ORDER BY o.id",
            (cid,),
        )
        return ReceiptStatus(
            confirmed=tuple(r for r in rows if r.confirmed_at), pending=tuple(r for r in rows if not r.confirmed_at)
        )
