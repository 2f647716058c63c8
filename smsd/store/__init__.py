"""The store: the only module that speaks SQL. SQLite in WAL mode, short transactions.

Each thread opens its own Store (one connection). Every state change is committed before
the caller does anything irreversible with it, and is written to the append-only event
log in the same transaction. Verbs are grouped by concept: outbox.py, inbox.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from smsd.clock import ts, utcnow
from smsd.errors import StoreError
from smsd.store.campaigns import CampaignVerbs
from smsd.store.core import DIR_MODE, FILE_MODE, _access_hint, _set_mode
from smsd.store.inbox import InboxVerbs
from smsd.store.interactive import InteractionVerbs
from smsd.store.ledger import LedgerVerbs
from smsd.store.members import MemberVerbs
from smsd.store.outbox import OutboxVerbs
from smsd.store.schema import migrations
from smsd.store.webhooks import WebhookVerbs


class Store(CampaignVerbs, OutboxVerbs, InboxVerbs, MemberVerbs, InteractionVerbs, LedgerVerbs, WebhookVerbs):
    """One connection to the smsd database, with the verbs the daemon and CLI use."""

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        busy_timeout_s: float = 10.0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.on_close = on_close
        if not create and not self.path.exists():
            raise StoreError(
                f"database {self.path} does not exist (start the daemon once, or check which config.toml is used)"
            )
        try:
            if create and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _set_mode(self.path.parent, DIR_MODE)
            conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA secure_delete=ON")  # purged numbers and texts are zeroed, not left in free pages
            self.conn = conn
            self.db = Database(conn)
            for suffix in ("", "-wal", "-shm"):
                _set_mode(self.path.with_name(self.path.name + suffix), FILE_MODE)
            if migrations.pending(self.db):
                with self.tx():  # one process migrates; the other waits, then finds nothing pending
                    migrations.apply(self.db)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}{_access_hint(self.path)}") from None

    def close(self) -> None:
        self.conn.close()
        if self.on_close:
            self.on_close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ modems

    def update_modem(self, name: str, now: datetime | None = None, **health: Any) -> None:
        with self.tx():
            self.db.table("modems").upsert({"name": name, **health, "updated_at": ts(now or utcnow())}, pk="name")

    def modems(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM modems ORDER BY name")

    def record_thread(self, name: str, state: str, crashes: int, last_error: str, now: datetime | None = None) -> None:
        """The daemon's supervisor notes each thread's state for `smsd status`."""
        with self.tx():
            self.conn.execute(
                "INSERT INTO daemon_threads (name, state, crashes, last_error, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET state = excluded.state, crashes = excluded.crashes, "
                "last_error = excluded.last_error, updated_at = excluded.updated_at",
                (name, state, crashes, last_error, ts(now or utcnow())),
            )

    def threads(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM daemon_threads ORDER BY name")

    def expired_since(self, since: datetime) -> int:
        """Messages that expired unsent since a time (for `smsd status`)."""
        row = self.one("SELECT COUNT(*) AS n FROM outbox WHERE state = 'expired' AND finished_at >= ?", (ts(since),))
        return int(row["n"]) if row else 0

    def modem_counts(self, since: datetime) -> dict[str, dict[str, int]]:
        """Parts sent and messages received per modem since a time (for `smsd status`)."""
        out: dict[str, dict[str, int]] = {}
        for r in self.rows(
            "SELECT modem, COUNT(*) AS n, COALESCE(SUM(price_fen), 0) AS fen FROM outbox_parts "
            "WHERE sent_at >= ? AND modem IS NOT NULL GROUP BY modem",
            (ts(since),),
        ):
            out.setdefault(r["modem"], {})["sent"] = r["n"]
            out[r["modem"]]["cost_fen"] = r["fen"]
        for r in self.rows(
            "SELECT modem, COUNT(*) AS n FROM inbox WHERE received_at >= ? GROUP BY modem", (ts(since),)
        ):
            out.setdefault(r["modem"], {})["received"] = r["n"]
        return out


__all__ = ["Store", "StoreError", "FILE_MODE"]
