"""The ledger (one row per segment sent, in integer fen), budgets, reports, retention, backup."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from smsd.clock import ts, utcnow
from smsd.errors import InputError
from smsd.store.core import Repo
from smsd.store.summaries import ArchiveRow, Budget, CostReport, CostRow, DeliveryRow

GROUPS = {
    "org": "COALESCE(l.org, '(unassigned)')",
    "month": "l.month",
    "day": "l.day",
    "modem": "l.modem",
    "campaign": "COALESCE(CAST(l.campaign_id AS TEXT), '(' || l.account || ')')",
    "account": "l.account",
}


# Segments booked in doubt (no answer from the network: most likely paid, not confirmed) beside the totals
_DOUBT = (
    "COALESCE(SUM(l.certain = 0), 0) AS doubt_segments, "
    "COALESCE(SUM(CASE WHEN l.certain = 0 THEN l.price_fen ELSE 0 END), 0) AS doubt_fen"
)


def _filters(date_from: str | None, date_to: str | None, org: str | None, alias: str = "l") -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if date_from:
        where.append(f"{alias}.day >= ?")
        params.append(date_from)
    if date_to:
        where.append(f"{alias}.day <= ?")
        params.append(date_to)
    if org:
        where.append(f"({alias}.org = ? OR {alias}.org LIKE ? || '/%')")
        params += [org.strip("/"), org.strip("/")]
    return (" WHERE " + " AND ".join(where)) if where else "", params


class Ledger(Repo):
    def cost_report(
        self, by: str, *, date_from: str | None = None, date_to: str | None = None, org: str | None = None
    ) -> CostReport:
        """Totals per group; the grand total is the plain sum of the same rows (never rounded)."""
        if by not in GROUPS:
            raise InputError(
                "grouping {by!r}: use one of {GROUPS}",
                field="by",
                msg_id="group_by",
                value=by,
                by=by,
                GROUPS=", ".join(GROUPS),
            )
        where, params = _filters(date_from, date_to, org)
        rows = self._rows(
            f"SELECT {GROUPS[by]} AS key, COUNT(*) AS segments, SUM(l.price_fen) AS fen, {_DOUBT} "
            f"FROM ledger l{where} GROUP BY key ORDER BY key",
            params,
        )
        total = self._one(
            f"SELECT COUNT(*) AS segments, COALESCE(SUM(l.price_fen), 0) AS fen, {_DOUBT} FROM ledger l{where}", params
        )
        names = {}
        if by == "campaign":
            names = {str(r["id"]): r["name"] for r in self._rows("SELECT id, name FROM campaigns")}
        assert total is not None  # an aggregate always has a row
        return CostReport(
            by=by,
            rows=tuple(CostRow.of({**r, "key": str(r["key"]), "name": names.get(str(r["key"]), "")}) for r in rows),
            total=CostRow(
                key="",
                segments=int(total["segments"] or 0),
                fen=int(total["fen"] or 0),
                doubt_segments=int(total["doubt_segments"] or 0),
                doubt_fen=int(total["doubt_fen"] or 0),
            ),
        )

    def sum(self, org: str | None = None, month: str | None = None) -> int:
        where, params = _filters(None, None, org)
        if month:
            where += (" AND" if where else " WHERE") + " l.month = ?"
            params.append(month)
        row = self._one(f"SELECT COALESCE(SUM(l.price_fen), 0) AS fen FROM ledger l{where}", params)
        return int(row["fen"]) if row else 0

    # ------------------------------------------------------------ budgets

    def set_budget(self, org: str, month: str, limit_fen: int, actor: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        if limit_fen < 0:
            raise InputError("a budget cannot be negative")
        with self._tx():
            self.conn.execute(
                "INSERT INTO budgets (org, month, limit_fen, set_by, set_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (org, month) DO UPDATE SET limit_fen = excluded.limit_fen, "
                "set_by = excluded.set_by, set_at = excluded.set_at",
                (org.strip("/"), month, limit_fen, actor, ts(now)),
            )
            self._event("budget", f"{org}:{month}", "set", f"{limit_fen} fen", actor, now)

    def budgets(self, month: str | None = None) -> list[Budget]:
        if month:
            return self._all_of(Budget, "SELECT * FROM budgets WHERE month = ? ORDER BY org", (month,))
        return self._all_of(Budget, "SELECT * FROM budgets ORDER BY month DESC, org")

    def budget_for(self, org: str, month: str) -> Budget | None:
        """The budget that governs an org unit: its own, or its nearest ancestor's."""
        parts = org.strip("/").split("/")
        for i in range(len(parts), 0, -1):
            row = self._one_of(
                Budget, "SELECT * FROM budgets WHERE org = ? AND month = ?", ("/".join(parts[:i]), month)
            )
            if row:
                return row
        return None

    def committed_fen(self, org: str, price_fen: int) -> int:
        """Segments queued (not yet sent) for this org subtree (its campaigns and its API sends), at a price."""
        row = self._one(
            "SELECT COUNT(*) AS n FROM outbox_parts p JOIN outbox o ON o.id = p.message_id LEFT JOIN campaigns c "
            "ON c.id = o.campaign_id WHERE p.state IN ('pending', 'submitting') AND o.state IN ('queued', 'sending') "
            "AND (COALESCE(o.org, c.owner_org) = ? OR COALESCE(o.org, c.owner_org) LIKE ? || '/%')",
            (org.strip("/"), org.strip("/")),
        )
        return int(row["n"]) * price_fen if row else 0

    # ------------------------------------------------------------ delivery and the archive

    def delivery_report(
        self, by: str, *, date_from: str | None = None, date_to: str | None = None
    ) -> list[DeliveryRow]:
        """Messages sent / delivered / failed / pending per campaign or per modem."""
        key = {"campaign": "COALESCE(CAST(o.campaign_id AS TEXT), '(none)')", "modem": "COALESCE(o.modem, '-')"}
        if by not in key:
            raise InputError("grouping {by!r}: use campaign or modem", field="by", msg_id="group_by", value=by, by=by)
        where: list[str] = []
        params: list[Any] = []
        if date_from:
            where.append("o.created_at >= ?")
            params.append(date_from)
        if date_to:
            where.append("o.created_at <= ?")
            params.append(date_to + "T99")
        sql = (
            f"SELECT {key[by]} AS key, COUNT(*) AS messages, "
            "SUM(o.state = 'sent') AS sent, SUM(o.state = 'delivered') AS delivered, "
            "SUM(o.state = 'failed') AS failed, SUM(o.state IN ('queued', 'sending')) AS pending, "
            "SUM(o.state IN ('cancelled', 'expired')) AS dropped FROM outbox o"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " GROUP BY key ORDER BY key"
        )
        return self._all_of(DeliveryRow, sql, params)

    def archive(
        self,
        *,
        date_from: str | None = None,
        date_to: str | None = None,
        org: str | None = None,
        campaign: int | None = None,
    ) -> Iterator[ArchiveRow]:
        """Every message with its recipient, times, text, state and cost; streamed, oldest first."""
        where = ["o.sent_at IS NOT NULL"]
        params: list[Any] = []
        if date_from:
            where.append("o.sent_at >= ?")
            params.append(date_from)
        if date_to:
            where.append("o.sent_at < ?")
            params.append(date_to + "T99")
        if campaign:
            where.append("o.campaign_id = ?")
            params.append(campaign)
        if org:
            where.append("o.id IN (SELECT message_id FROM ledger WHERE org = ? OR org LIKE ? || '/%')")
            params += [org.strip("/"), org.strip("/")]
        sql = (
            "SELECT o.id, o.to_number, o.created_at, o.sent_at, o.delivered_at, o.state, o.segments, o.text, "
            "o.campaign_id, o.modem, (SELECT COALESCE(SUM(price_fen), 0) FROM ledger l WHERE l.message_id = o.id) "
            "AS cost_fen, COALESCE(m.name, pm.name) AS name, COALESCE(u.path, pu.path) AS member_org "
            "FROM outbox o LEFT JOIN members m ON m.id = o.member_id LEFT JOIN org_units u ON u.id = m.org_id "
            "LEFT JOIN members pm ON o.member_id IS NULL AND pm.phone = o.to_number "
            "LEFT JOIN org_units pu ON pu.id = pm.org_id WHERE " + " AND ".join(where) + " ORDER BY o.id"
        )
        yield from ArchiveRow.each(self.conn.execute(sql, params), batch=2000)

    # ------------------------------------------------------------ retention and backup
