"""What smsd knows about a number that writes to it: how often we answered it, loop flags, opt-outs."""

from __future__ import annotations

from datetime import datetime

from smsd.clock import ts
from smsd.errors import InputError
from smsd.store.core import Repo
from smsd.store.summaries import FlaggedNumber


class Senders(Repo):
    """Counters and flags per number, for the dispatcher's safety rules."""

    def replies_since(self, phone: str, since: datetime) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM outbox WHERE to_number = ? AND created_by = 'dispatcher' AND created_at >= ?",
            (phone, ts(since)),
        )
        return int(row["n"]) if row else 0

    def same_text_since(self, phone: str, normalized: str, since: datetime) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM inbox WHERE sender = ? AND normalized = ? AND received_at >= ?",
            (phone, normalized, ts(since)),
        )
        return int(row["n"]) if row else 0

    def stranger_replies_since(self, since: datetime) -> int:
        """Automatic replies queued since a time to numbers outside the roster (all of them)."""
        row = self._one(
            "SELECT COUNT(*) AS n FROM outbox WHERE created_by = 'dispatcher' AND created_at >= ? "
            "AND member_id IS NULL",
            (ts(since),),
        )
        return int(row["n"]) if row else 0

    def ours_since(self, phone: str, since: datetime) -> bool:
        """Did smsd queue an SMS to this number since a time?"""
        return (
            self._one("SELECT 1 AS x FROM outbox WHERE to_number = ? AND created_at >= ? LIMIT 1", (phone, ts(since)))
            is not None
        )

    def quick_answers(self, raw_sender: str, phone: str, since: datetime, within_s: int) -> int:
        """Texts no command accepted from this sender since a time, each arriving within within_s
        seconds after smsd queued an SMS to it (the shape of an auto-responder ping-pong)."""
        row = self._one(
            """SELECT COUNT(*) AS n FROM inbox i
               WHERE i.sender = ? AND i.received_at >= ? AND i.command IS NULL AND i.kind IN ('feedback', 'stranger')
                 AND EXISTS (SELECT 1 FROM outbox o WHERE o.to_number = ? AND o.created_at <= i.received_at
                             AND o.created_at >= strftime('%Y-%m-%dT%H:%M:%fZ', i.received_at, ?))""",
            (raw_sender, ts(since), phone, f"-{int(within_s)} seconds"),
        )
        return int(row["n"]) if row else 0

    def flag(self, phone: str, reason: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO flagged_numbers (phone, reason, flagged_at) VALUES (?, ?, ?)",
            (phone, reason, ts(now)),
        )

    def is_flagged(self, phone: str) -> bool:
        return self._one("SELECT 1 AS x FROM flagged_numbers WHERE phone = ?", (phone,)) is not None

    def flagged(self) -> list[FlaggedNumber]:
        return self._all_of(FlaggedNumber, "SELECT * FROM flagged_numbers ORDER BY flagged_at DESC")

    def unflag(self, phone: str, actor: str) -> None:
        with self._tx():
            if self.conn.execute("DELETE FROM flagged_numbers WHERE phone = ?", (phone,)).rowcount == 0:
                raise InputError("{phone} is not flagged", phone=phone)
            self._event("number", phone[-4:], "unflagged", "", actor)

    def set_opt_out(self, phone: str, opted_out: bool, actor: str, now: datetime) -> None:
        member = self._one("SELECT id FROM members WHERE phone = ?", (phone,))
        if member:
            self.conn.execute(
                "UPDATE members SET opted_out = ?, opted_out_at = ?, updated_at = ? WHERE id = ?",
                (int(opted_out), ts(now) if opted_out else None, ts(now), member["id"]),
            )
        if opted_out:
            self.conn.execute("INSERT OR IGNORE INTO optouts (phone, opted_out_at) VALUES (?, ?)", (phone, ts(now)))
        else:
            self.conn.execute("DELETE FROM optouts WHERE phone = ?", (phone,))
        self._event(
            "members",
            member["id"] if member else None,
            "opted_out" if opted_out else "opted_in",
            f"by SMS from ...{phone[-4:]}",
            actor,
            now,
        )

    def is_opted_out(self, phone: str) -> bool:
        return self._one("SELECT 1 AS x FROM optouts WHERE phone = ?", (phone,)) is not None
