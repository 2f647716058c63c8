"""The store's core: one connection, transactions, row helpers and the event log.

Every repository of verbs (outbox.py, inbox.py, ...) builds on it, so each is type-checked on
its own; only ``Store`` (smsd/store/__init__.py) opens a connection and composes them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence, Sized
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smsd.clock import ts, utcnow
from smsd.errors import InputError, StoreError
from smsd.store.group import Group, begin
from smsd.store.records import R

if TYPE_CHECKING:
    from sqlite_utils import Database


# One writer at a time inside this process: threads queue on a lock (a fast hand-over) instead of
# SQLite's busy handler, which sleeps in growing steps. Other processes still meet busy_timeout.
_WRITE_LOCK = threading.RLock()
_SAVEPOINTS = itertools.count(1)


class Core:
    """A connection with its private helpers (SQL, transactions, the event log): the repositories'
    common base. None of it is public: a repository's public face is its verbs, each returning a
    record, a tuple or iterator of records, or a scalar (tests/test_store_api.py walks them)."""

    path: Path
    _conn: sqlite3.Connection  # this Store's own connection: reads outside a transaction
    _group: Group | None = None  # the daemon's group commit: transactions on its shared connection

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection to use now: inside a transaction of the group commit, its shared one."""
        group = self._group
        if group is not None and group.active():
            return group.conn
        return self._conn

    @property
    def _db(self) -> Database:
        """sqlite-utils on the connection in use (schema work, upserts); imported when first used."""
        conn = self.conn
        cache: dict[int, Database] = self.__dict__.setdefault("_dbs", {})
        cached = cache.get(id(conn))
        if cached is None:
            import sqlite_utils

            cached = cache[id(conn)] = sqlite_utils.Database(conn)
        return cached

    on_close: Callable[[], None] | None

    # ------------------------------------------------------------ transactions

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: no lock upgrade, no BUSY surprise); in the
        daemon, a share of a group commit (smsd/store/group.py)."""
        if self._group is not None:
            with self._group.transaction() as conn:
                yield conn
            return
        if self.conn.in_transaction:  # nested: a savepoint, released or rolled back with this block
            name = f"sp{next(_SAVEPOINTS)}"
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                raise
            self.conn.execute(f"RELEASE {name}")
            return
        with _WRITE_LOCK:
            begin(self.conn, self.path)
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self.conn.execute("ROLLBACK")
                raise StoreError("database {path}: commit failed: {error}", path=self.path, error=exc) from None

    def _rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._execute(sql, params).fetchall()]

    def _one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        row = self._execute(sql, params).fetchone()
        return dict(row) if row else None

    def _one_of(self, kind: type[R], sql: str, params: Any = ()) -> R | None:
        row = self._execute(sql, params).fetchone()
        return kind.of(row) if row else None

    def _all_of(self, kind: type[R], sql: str, params: Any = ()) -> list[R]:
        return list(kind.each(self._execute(sql, params)))

    def _execute(self, sql: str, params: Any) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except OverflowError:  # an id or cursor of 23 digits: no such row, and no traceback
            raise InputError("a number in the request is too large to be an id") from None

    # ------------------------------------------------------------ events and counters

    def _event(
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

    def _events(self, events: Sequence[tuple[str, Any, str, str, str]], now: datetime) -> None:
        """_event for many (entity, id, event, detail, actor) at once, in one statement."""
        at = ts(now)
        self.conn.executemany(
            "INSERT INTO events (at, entity, entity_id, event, detail, actor) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (at, entity, None if eid is None else str(eid), event, detail, actor)
                for entity, eid, event, detail, actor in events
            ],
        )

    def _next_counter(self, name: str, modulo: int | None = None, *, step: int = 1) -> int:
        """Increment a persistent counter (by step: that many numbers taken at once, the last one
        returned) and return its new value (mod modulo) (inside a tx)."""
        row = self.conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + ? "
            "RETURNING value",
            (name, step, step),
        ).fetchone()
        return int(row[0]) % modulo if modulo else int(row[0])

    def _counter(self, name: str) -> int:
        row = self.conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0


def _marks(items: Sized) -> str:
    """The placeholders of an IN list of len(items) values."""
    return ", ".join("?" * len(items))


class Repo(Core):
    """A repository of verbs on the store's one connection (store.outbox, store.members, ...).

    Repositories share the connection by composition (each is built on the store's core), so a
    transaction opened by one covers the others' writes. A verb that spans two concepts builds the
    sibling it needs on the same core (``Outbox(core)``): imports go one way, never in a cycle."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self.path, self._conn, self._group, self.on_close = core.path, core._conn, core._group, None

    @property
    def _db(self) -> Database:
        return self._core._db


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
