"""The store: the only module that speaks SQL. SQLite in WAL mode, short transactions.

Each thread opens its own Store (one connection). Every state change is committed before
the caller does anything irreversible with it, and is written to the append-only event
log in the same transaction. Verbs are grouped by concept into repositories (outbox.py,
inbox.py, ...) that share the connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from smsd.errors import StoreError
from smsd.store import group
from smsd.store.accounts import Accounts, Audit
from smsd.store.approvals import Approvals
from smsd.store.campaigns import Campaigns
from smsd.store.claims import Claims
from smsd.store.core import DIR_MODE, FILE_MODE, Core, _set_mode
from smsd.store.group import _access_hint
from smsd.store.health import Health
from smsd.store.inbox import Inbox
from smsd.store.ledger import Ledger
from smsd.store.maintenance import Maintenance
from smsd.store.members import Members
from smsd.store.outbox import Outbox
from smsd.store.polls import Polls
from smsd.store.receipts import Receipts
from smsd.store.records import Campaign, Claim, Event, InboundMessage, Member, OutboundMessage, Part, Poll, QueueOptions
from smsd.store.red import Red
from smsd.store.reports import Reports
from smsd.store.senders import Senders
from smsd.store.sessions import LoginCodes, Sessions, Tokens
from smsd.store.submits import Submits
from smsd.store.webhooks import Webhooks

SCHEMA_VERSION = 17  # the number of migrations in schema.py (tests/test_store.py checks it)


class Store(Core):
    """One connection to the smsd database, and the repositories that share it.

    ``store.outbox``, ``store.claims``, ``store.submits``, ``store.inbox``, ``store.members`` ...
    each group the verbs of one concept; a transaction (``with store.tx():``) spans whichever of
    them are called inside it."""

    outbox: Outbox
    claims: Claims
    submits: Submits
    reports: Reports
    campaigns: Campaigns
    inbox: Inbox
    members: Members
    senders: Senders
    polls: Polls
    receipts: Receipts
    red: Red
    ledger: Ledger
    webhooks: Webhooks
    health: Health
    maintenance: Maintenance
    accounts: Accounts
    audit: Audit
    tokens: Tokens
    sessions: Sessions
    login_codes: LoginCodes
    approvals: Approvals

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
                "database {path} does not exist (start the daemon once, or check which config.toml is used)",
                path=self.path,
            )
        try:
            if create and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _set_mode(self.path.parent, DIR_MODE)
            # One thread's: a connection two threads share reads with one snapshot (a route once
            # used a store of another thread and was told its new message did not exist).
            conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=True)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA secure_delete=ON")  # purged numbers and texts are zeroed, not left in free pages
            self._conn = conn
            self._group = group.of(self.path)
            for suffix in ("", "-wal", "-shm"):
                _set_mode(self.path.with_name(self.path.name + suffix), FILE_MODE)
            self.outbox, self.campaigns, self.inbox = Outbox(self), Campaigns(self), Inbox(self)
            self.claims, self.submits, self.reports = Claims(self), Submits(self), Reports(self)
            self.members, self.senders, self.polls = Members(self), Senders(self), Polls(self)
            self.receipts, self.red, self.ledger = Receipts(self), Red(self), Ledger(self)
            self.webhooks, self.health, self.maintenance = Webhooks(self), Health(self), Maintenance(self)
            self.accounts, self.audit = Accounts(self), Audit(self)
            self.tokens, self.sessions, self.login_codes = Tokens(self), Sessions(self), LoginCodes(self)
            self.approvals = Approvals(self)
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                "cannot open database {path}: {error}{access_hint}",
                path=self.path,
                error=exc,
                access_hint=_access_hint(self.path),
            ) from None

    def _migrate(self) -> None:
        """Bring the schema up to date (sqlite-utils' migrations, imported only then: a CLI command
        on an up-to-date database does not pay for them) and record the version in user_version."""
        from smsd.store.schema import migrations

        with self._tx():  # one process migrates; the other waits, then finds nothing pending
            if migrations.pending(self._db):
                migrations.apply(self._db)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ------------------------------------------------------------ what spans repositories

    @contextmanager
    def tx(self) -> Iterator[None]:
        """A write transaction spanning whichever verbs are called inside it (nested: a savepoint)."""
        with self._tx():
            yield

    def event(
        self,
        entity: str,
        entity_id: int | str | None,
        event: str,
        detail: str = "",
        actor: str = "daemon",
        now: datetime | None = None,
    ) -> None:
        """Append to the event log (inside the transaction that made the change, if any)."""
        self._event(entity, entity_id, event, detail, actor, now)

    def events(self, entity: str | None = None, entity_id: int | str | None = None, limit: int = 1000) -> list[Event]:
        """The newest events (entity None), or one entity's in order."""
        if entity is None:
            return self._all_of(Event, "SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,))
        return self._all_of(
            Event,
            "SELECT * FROM events WHERE entity = ? AND entity_id = ? ORDER BY id LIMIT ?",
            (entity, str(entity_id), limit),
        )

    def data_version(self) -> int:
        """Changes when another connection commits: the daemon's cheap 'anything new?'."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def integrity_ok(self) -> bool:
        return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    def table_names(self) -> tuple[str, ...]:
        return tuple(self._db.table_names())

    def close(self) -> None:
        self._conn.close()
        if self.on_close:
            self.on_close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "Store",
    "StoreError",
    "FILE_MODE",
    "Campaign",
    "Claim",
    "Event",
    "InboundMessage",
    "Member",
    "OutboundMessage",
    "Part",
    "Poll",
    "QueueOptions",
]
