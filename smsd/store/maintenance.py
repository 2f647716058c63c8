"""Retention and backup: anonymise what is old, copy the database while the daemon writes."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from smsd.clock import ts, utcnow
from smsd.errors import InputError, StoreError
from smsd.store.core import BACKUP_MODE, Repo
from smsd.store.summaries import Purged

AUDIT_KEEP_DAYS = 180  # 网络安全法 21条: network logs are kept at least six months


class Maintenance(Repo):
    """Purge and backup of the whole database."""

    def purge(self, before: datetime, actor: str, now: datetime | None = None) -> Purged:
        """Anonymise every number and text older than `before`; the ledger (cost totals) stays.

        Covers the outbox (text, number, dedup key), inbox and its PDUs, status reports, red
        messages, receipts and the links from inbox and votes to the roster. Freed bytes are
        zeroed (secure_delete, set on every connection) and the WAL is checkpointed and truncated,
        so nothing purged is left in the database file or beside it."""
        now = now or utcnow()
        cutoff = ts(before)
        with self._tx():
            out = self.conn.execute(
                "UPDATE outbox SET text = '[purged]', to_number = substr(to_number, 1, 6) || '*****' || "
                "substr(to_number, -4), dedup_key = NULL, member_id = NULL, purged = 1 "
                "WHERE (purged = 0 OR member_id IS NOT NULL) AND created_at < ? "
                "AND state NOT IN ('queued', 'sending')",
                (cutoff,),
            ).rowcount
            inbox = self.conn.execute(
                "UPDATE inbox SET text = '[purged]', sender = substr(sender, 1, length(sender) - 8) || '****' || "
                "substr(sender, -4), normalized = NULL, member_id = NULL WHERE received_at < ? "
                "AND (text <> '[purged]' OR member_id IS NOT NULL)",
                (cutoff,),
            ).rowcount
            parts = self.conn.execute(
                "UPDATE inbox_parts SET pdu = '', raw_text = NULL, sender = NULL WHERE received_at < ? AND pdu <> ''",
                (cutoff,),
            ).rowcount
            self.conn.execute(
                "UPDATE status_reports SET recipient = substr(recipient, 1, length(recipient) - 8) || '****' || "
                "substr(recipient, -4) WHERE received_at < ? AND recipient NOT LIKE '%****%'",
                (cutoff,),
            )
            red = self.conn.execute(
                "UPDATE red_submissions SET text = '[purged]', phone = 'purged:' || id, member_id = NULL "
                "WHERE submitted_at < ? AND text <> '[purged]'",
                (cutoff,),
            ).rowcount
            self.conn.execute(
                "UPDATE receipts SET phone = 'purged:' || rowid, member_id = NULL WHERE confirmed_at < ? "
                "AND phone NOT LIKE 'purged:%'",
                (cutoff,),
            )
            # a vote stays counted, but no longer says whose it was
            self.conn.execute(
                "UPDATE votes SET member_id = -rowid, inbox_id = NULL WHERE voted_at < ? AND member_id > 0", (cutoff,)
            )
            self._event(
                "archive", None, "purged", f"before {cutoff}: {out} sent, {inbox} received, {red} red", actor, now
            )
            # the audit trail keeps at least AUDIT_KEEP_DAYS whatever `before` says (its trigger agrees)
            kept = ts(min(before, now - timedelta(days=AUDIT_KEEP_DAYS)))
            audit = self.conn.execute("DELETE FROM audit WHERE at < ?", (kept,)).rowcount
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Purged(outbox=out, inbox=inbox, parts=parts, red=red, audit=audit)

    def backup(self, path: str | Path) -> int:
        """A consistent copy while the daemon writes (SQLite online backup); returns pages copied."""
        target = Path(path)
        if target.exists():
            raise InputError("{target} exists; choose a new file name", target=target)
        try:
            dest = sqlite3.connect(target)
        except sqlite3.Error as exc:
            raise StoreError("cannot create {target}: {error}", target=target, error=exc) from None
        try:
            self.conn.backup(dest, pages=1024)
            pages = int(dest.execute("PRAGMA page_count").fetchone()[0])
        except (sqlite3.Error, OSError) as exc:
            dest.close()
            target.unlink(missing_ok=True)
            raise StoreError("backup to {target} failed: {error}", target=target, error=exc) from None
        dest.close()
        os.chmod(target, BACKUP_MODE)  # the office's group may read a backup; nobody else
        return pages
