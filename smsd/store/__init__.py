"""The store: the only module that speaks SQL. SQLite in WAL mode, short transactions.

Each thread opens its own Store (one connection). Every state change is committed before
the caller does anything irreversible with it, and is written to the append-only event
log in the same transaction. Verbs are grouped by concept: outbox.py, inbox.py.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from smsd.clock import ts, utcnow
from smsd.errors import InputError, StoreError
from smsd.store.campaigns import CampaignVerbs
from smsd.store.inbox import InboxVerbs
from smsd.store.interactive import InteractionVerbs
from smsd.store.ledger import LedgerVerbs
from smsd.store.members import MemberVerbs
from smsd.store.outbox import OutboxVerbs
from smsd.store.schema import migrations
from smsd.store.webhooks import WebhookVerbs

# One writer at a time inside this process: threads queue on a lock (a fast hand-over) instead of
# SQLite's busy handler, which sleeps in growing steps. Other processes still meet busy_timeout.
_WRITE_LOCK = threading.RLock()


class Store(OutboxVerbs, InboxVerbs, MemberVerbs, CampaignVerbs, InteractionVerbs, LedgerVerbs, WebhookVerbs):
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

    # ------------------------------------------------------------ transactions

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: no lock upgrade, no BUSY surprise)."""
        if self.conn.in_transaction:
            with self.db.atomic():
                yield self.conn
            return
        with _WRITE_LOCK:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"database {self.path} is not writable: {exc}{_access_hint(self.path)}") from None
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self.conn.execute("ROLLBACK")
                raise StoreError(f"database {self.path}: commit failed: {exc}") from None

    def rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._execute(sql, params).fetchall()]

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        row = self._execute(sql, params).fetchone()
        return dict(row) if row else None

    def _execute(self, sql: str, params: Any) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except OverflowError:  # an id or cursor of 23 digits: no such row, and no traceback
            raise InputError("a number in the request is too large to be an id") from None

    def data_version(self) -> int:
        """Changes when another connection commits: the daemon's cheap 'anything new?'."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # ------------------------------------------------------------ events and counters

    def event(
        self,
        entity: str,
        entity_id: Any,
        event: str,
        detail: str = "",
        actor: str = "daemon",
        now: datetime | None = None,
    ) -> None:
        """Append to the event log (call inside the transaction that made the change)."""
        self.conn.execute(
            "INSERT INTO events (at, entity, entity_id, event, detail, actor) VALUES (?, ?, ?, ?, ?, ?)",
            (ts(now or utcnow()), entity, None if entity_id is None else str(entity_id), event, detail, actor),
        )

    def events(self, entity: str | None = None, entity_id: Any = None, limit: int = 1000) -> list[dict[str, Any]]:
        if entity is None:
            return self.rows("SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,))
        return self.rows(
            "SELECT * FROM events WHERE entity = ? AND entity_id = ? ORDER BY id LIMIT ?",
            (entity, str(entity_id), limit),
        )

    def next_counter(self, name: str, modulo: int) -> int:
        """Increment a persistent counter and return its new value mod modulo (inside a tx)."""
        self.conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1",
            (name,),
        )
        row = self.conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) % modulo

    # ------------------------------------------------------------ modems

    def update_modem(self, name: str, now: datetime | None = None, **health: Any) -> None:
        with self.tx():
            self.db["modems"].upsert({"name": name, **health, "updated_at": ts(now or utcnow())}, pk="name")

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


# The database, its WAL and the wake-up socket are shared with the admins' group (smsd), whatever
# the umask (the unit's UMask=0077 would lock them out); nobody else may read members' numbers.
FILE_MODE = 0o660
DIR_MODE = 0o2770  # setgid: files made in it belong to its group (smsd)
BACKUP_MODE = 0o640


def _set_mode(path: Path, mode: int) -> None:
    """Give a file we own the shared mode and its folder's group (the smsd group), so the daemon
    and every admin in the group can open it, whoever created it first (others' files are left
    alone: chmod would fail)."""
    with contextlib.suppress(OSError):
        st = path.stat()
        if st.st_uid != os.geteuid():
            return
        folder_gid = path.parent.stat().st_gid
        if st.st_gid != folder_gid and (os.geteuid() == 0 or folder_gid in os.getgroups()):
            os.chown(path, -1, folder_gid)
        if (st.st_mode & 0o7777) != mode:
            os.chmod(path, mode)


def _access_hint(path: Path) -> str:
    folder = path.parent
    denied = os.access(folder, os.F_OK) and not os.access(folder, os.W_OK | os.X_OK)
    if denied or (os.access(path, os.F_OK) and not os.access(path, os.R_OK | os.W_OK)):
        return " (permission denied: run as the smsd user or a member of its group, e.g. `sudo adduser $USER smsd`)"
    return ""


__all__ = ["Store", "StoreError", "FILE_MODE", "BACKUP_MODE"]
