"""Group commit: the daemon's threads share one write connection and one commit for many.

Without it each thread's transaction is its own commit, and with ``synchronous=FULL`` its own
fsync: the workers, the dispatcher and the HTTP API queue behind one SQLite writer and the
box stops at a few hundred state changes a second, whatever the number of modems.

With it (the daemon turns it on for its database: ``enable(path)``), a transaction of any
Store of that database in this process is a savepoint on the shared write connection, inside
a batch; the caller's ``with store.tx():`` returns only after the COMMIT that holds its change
(so the crash policy is unchanged: what a caller does after its transaction, a submit or an
acknowledgement, follows a durable commit). The caller whose change is last when nobody else
is about to write commits the batch for everyone in it: a lone change commits at once, and
under load one fsync covers the changes that queued during the previous one.

Reads outside a transaction stay on each Store's own connection and see only committed rows;
inside a transaction a thread reads on the shared connection (its own writes, and the batch's:
all of them commit together or not at all). A failed COMMIT rolls the batch back and every
caller in it gets the StoreError.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from smsd.errors import StoreError
from smsd.i18n import _

LET_IN_S = 0.002  # at most this long a finished writer waits for those about to write, before it commits
CHECKPOINT_S = 0.5  # how often the WAL is copied into the database, beside the writers
_SAVEPOINTS = itertools.count(1)
_GROUPS: dict[Path, Group] = {}
_GROUPS_LOCK = threading.Lock()


class Group:
    def __init__(self, path: Path, busy_timeout_s: float) -> None:
        self.path = path
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA secure_delete=ON")
        # The WAL is copied back into the database by a thread of its own (_checkpoints), not by
        # the commit that crosses SQLite's 1,000 pages: that commit, and every writer behind it,
        # would wait for a copy of 4 MB and an fsync of the database.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        self.conn = conn
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.local = threading.local()
        self._counting = threading.Lock()
        self.entering = 0  # threads waiting for the lock to write: a finished writer lets them in first
        self.written = 0  # transactions released into the batch, ever
        self.committed = 0  # of those, the ones a COMMIT made durable
        self.failed_upto = 0  # a failed COMMIT lost these (callers up to it get the error)
        self.failure = ""
        self.commits = 0  # COMMITs done (bench/ prints commits per message)
        self._closing = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoints, name="checkpoint", daemon=True)
        self._checkpointer.start()

    def _checkpoints(self) -> None:
        """Copy committed pages from the WAL into the database every CHECKPOINT_S, beside the
        writers (a passive checkpoint waits for nobody and blocks nobody; the GIL is released
        while SQLite copies). Durability is the commits' own: each one is in the fsynced WAL."""
        # no busy wait: a round that meets a lock (another checkpoint) is skipped, the next one copies it
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            while not self._closing.wait(CHECKPOINT_S):
                with contextlib.suppress(sqlite3.Error):  # busy or locked now: the next round copies it
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def active(self) -> bool:
        """True inside a transaction of this thread (its reads go to the shared connection)."""
        return bool(getattr(self.local, "depth", 0))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        depth = getattr(self.local, "depth", 0)
        if depth:  # nested: a savepoint inside this thread's own
            name = f"g{next(_SAVEPOINTS)}"
            self.conn.execute(f"SAVEPOINT {name}")
            self.local.depth = depth + 1
            try:
                yield self.conn
            except BaseException:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                raise
            finally:
                self.local.depth = depth
            self.conn.execute(f"RELEASE {name}")
            return
        with self._counting:
            self.entering += 1
        self.lock.acquire()
        with self._counting:
            self.entering -= 1
        try:
            if not self.conn.in_transaction:
                begin(self.conn, self.path)
            name = f"g{next(_SAVEPOINTS)}"
            self.conn.execute(f"SAVEPOINT {name}")
            self.local.depth = 1
            try:
                yield self.conn
            except BaseException:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                if self.written == self.committed:  # nothing of anyone's waits in the batch: end it
                    self.conn.execute("ROLLBACK")
                raise
            finally:
                self.local.depth = 0
            self.conn.execute(f"RELEASE {name}")
            self.written += 1
            self._until_committed(self.written)
        finally:
            self.lock.release()

    def _until_committed(self, mine: int) -> None:
        """With the lock held: wait for the COMMIT that holds transaction mine, or do it."""
        since = time.monotonic()
        while self.committed < mine:
            if self.failed_upto >= mine:
                raise StoreError("database {path}: commit failed: {error}", path=self.path, error=self.failure)
            if self.entering and time.monotonic() - since < LET_IN_S:
                self.cond.wait(LET_IN_S)  # releases the lock: they write, one of us commits for all
                continue
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                self.failed_upto, self.failure = self.written, str(exc)
                self.cond.notify_all()
                raise StoreError("database {path}: commit failed: {error}", path=self.path, error=exc) from None
            self.committed = self.written
            self.commits += 1
            self.cond.notify_all()

    def close(self) -> None:
        self._closing.set()
        self._checkpointer.join(timeout=2)  # a copy under way may finish after us: nothing waits on it
        with self.lock:
            with contextlib.suppress(sqlite3.Error):
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")
            self.conn.close()


def begin(conn: sqlite3.Connection, path: Path) -> None:
    """BEGIN IMMEDIATE (no lock upgrade later, no BUSY surprise), or a one-line StoreError."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(
            "database {path} is not writable: {error}{access_hint}",
            path=path,
            error=exc,
            access_hint=_access_hint(path),
        ) from None


def _access_hint(path: Path) -> str:
    folder = path.parent
    denied = os.access(folder, os.F_OK) and not os.access(folder, os.W_OK | os.X_OK)
    if denied or (os.access(path, os.F_OK) and not os.access(path, os.R_OK | os.W_OK)):
        return _(" (permission denied: run as the smsd user or a member of its group, e.g. `sudo adduser $USER smsd`)")
    return ""


def enable(path: str | Path, busy_timeout_s: float = 10.0) -> Group:
    """Group commit for every Store of this database opened in this process from now on (the
    daemon's): one shared write connection."""
    key = Path(path).resolve()
    with _GROUPS_LOCK:
        group = _GROUPS.get(key)
        if group is None:
            group = _GROUPS[key] = Group(key, busy_timeout_s)
        return group


def disable(path: str | Path) -> None:
    """The daemon stopped: Stores opened later commit on their own again."""
    with _GROUPS_LOCK:
        group = _GROUPS.pop(Path(path).resolve(), None)
    if group is not None:
        group.close()


def of(path: Path) -> Group | None:
    """The group of this database in this process, if the daemon enabled one."""
    if not _GROUPS:
        return None
    return _GROUPS.get(path.resolve())


__all__ = ["Group", "disable", "enable", "of"]
