"""Accounts (who may use smsd, with which role, within which part of the org tree) and the
audit trail (what each of them did). Passwords arrive hashed: the store never sees one."""

from __future__ import annotations

from datetime import datetime

from smsd.clock import ts, utcnow
from smsd.errors import InputError
from smsd.store.core import Repo
from smsd.store.records import Account, AuditEntry


class Accounts(Repo):
    def add(
        self,
        login: str,
        *,
        name: str,
        role: str,
        scope: str,
        phone: str | None,
        password_hash: str,
        actor: str,
        now: datetime | None = None,
    ) -> int:
        stamp = ts(now or utcnow())
        with self._tx():
            if self._one("SELECT 1 AS x FROM accounts WHERE login = ?", (login,)):
                raise InputError("an account {login!r} already exists", field="login", login=login)
            cur = self.conn.execute(
                "INSERT INTO accounts (login, name, phone, role, scope, password_hash, must_change, "
                "password_changed_at, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
                (login, name, phone, role, scope, password_hash, stamp, actor, stamp, stamp),
            )
            return int(cur.lastrowid or 0)

    def get(self, login: str) -> Account:
        found = self.find(login)
        if found is None:
            raise InputError("no account {login!r} (see `smsd user list`)", field="login", login=login)
        return found

    def find(self, login: str) -> Account | None:
        return self._one_of(Account, "SELECT * FROM accounts WHERE login = ?", (login,))

    def by_phone(self, phone: str) -> Account | None:
        """The enabled account whose phone this is (the first, if several share it)."""
        return self._one_of(Account, "SELECT * FROM accounts WHERE phone = ? AND enabled = 1 ORDER BY id", (phone,))

    def all(self) -> list[Account]:
        return self._all_of(Account, "SELECT * FROM accounts ORDER BY scope, login")

    def count(self) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM accounts")
        return int(row["n"]) if row else 0

    def set_enabled(self, login: str, enabled: bool, now: datetime | None = None) -> None:
        with self._tx():
            self.get(login)
            self.conn.execute(
                "UPDATE accounts SET enabled = ?, updated_at = ? WHERE login = ?",
                (int(enabled), ts(now or utcnow()), login),
            )

    def set_any_number(self, login: str, granted: bool, now: datetime | None = None) -> None:
        with self._tx():
            self.get(login)
            self.conn.execute(
                "UPDATE accounts SET any_number = ?, updated_at = ? WHERE login = ?",
                (int(granted), ts(now or utcnow()), login),
            )

    def set_password(self, login: str, password_hash: str, *, must_change: bool, now: datetime | None = None) -> None:
        """A new password: failures forgotten, the lock lifted."""
        stamp = ts(now or utcnow())
        with self._tx():
            self.get(login)
            self.conn.execute(
                "UPDATE accounts SET password_hash = ?, must_change = ?, password_changed_at = ?, failed_logins = 0, "
                "locked_until = NULL, updated_at = ? WHERE login = ?",
                (password_hash, int(must_change), stamp, stamp, login),
            )

    def login_failed(self, login: str, *, lock_after: int, lock_until: datetime, now: datetime | None = None) -> int:
        """One more wrong password; the account locks (until lock_until) at lock_after in a row.
        Returns the failures counted."""
        with self._tx():
            row = self.get(login)
            failures = row.failed_logins + 1
            locked = ts(lock_until) if failures >= lock_after else row.locked_until
            self.conn.execute(
                "UPDATE accounts SET failed_logins = ?, locked_until = ?, updated_at = ? WHERE login = ?",
                (failures, locked, ts(now or utcnow()), login),
            )
            return failures

    def login_succeeded(self, login: str, now: datetime | None = None) -> None:
        with self._tx():
            self.conn.execute(
                "UPDATE accounts SET failed_logins = 0, locked_until = NULL, updated_at = ? WHERE login = ?",
                (ts(now or utcnow()), login),
            )

    def unlock(self, login: str, now: datetime | None = None) -> None:
        self.login_succeeded(self.get(login).login, now)


class Audit(Repo):
    def record(
        self,
        actor: str,
        via: str,
        action: str,
        *,
        source: str = "",
        target: str = "",
        result: str = "ok",
        detail: str = "",
        now: datetime | None = None,
    ) -> None:
        """Append one line (inside the caller's transaction, if any)."""
        with self._tx():
            self.conn.execute(
                "INSERT INTO audit (at, actor, via, source, action, target, result, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ts(now or utcnow()), actor, via, source, action, target, result, detail),
            )

    def entries(self, since: datetime | None = None, limit: int = 1000) -> list[AuditEntry]:
        """The newest lines first (since: only those from then on)."""
        return self._all_of(
            AuditEntry,
            "SELECT * FROM audit WHERE at >= ? ORDER BY id DESC LIMIT ?",
            (ts(since) if since else "", limit),
        )
