"""What proves who is calling, kept as hashes only: an account's API tokens, its sessions (the
web console's logins) and the one-time codes of a second factor."""

from __future__ import annotations

from datetime import datetime

from smsd.clock import ts, utcnow
from smsd.errors import InputError
from smsd.store.core import Repo
from smsd.store.records import LoginCode, Session


class Tokens(Repo):
    """API tokens that act as an account (with its role and scope)."""

    def add(self, login: str, token_sha256: str, actor: str, now: datetime | None = None) -> int:
        with self._tx():
            cur = self.conn.execute(
                "INSERT INTO account_tokens (login, token_sha256, created_by, created_at) VALUES (?, ?, ?, ?)",
                (login, token_sha256, actor, ts(now or utcnow())),
            )
            return int(cur.lastrowid or 0)

    def known(self, token_sha256: str) -> bool:
        sql = "SELECT 1 AS x FROM account_tokens WHERE token_sha256 = ? AND revoked_at IS NULL"
        return self._one(sql, (token_sha256,)) is not None

    def login_of(self, token_sha256: str, now: datetime | None = None) -> str | None:
        """The account a live token acts as (its use is noted), or None."""
        row = self._one(
            "SELECT id, login FROM account_tokens WHERE token_sha256 = ? AND revoked_at IS NULL", (token_sha256,)
        )
        if row is None:
            return None
        with self._tx():
            self.conn.execute(
                "UPDATE account_tokens SET last_used_at = ? WHERE id = ?", (ts(now or utcnow()), row["id"])
            )
        return str(row["login"])

    def revoke_all(self, login: str, now: datetime | None = None) -> int:
        with self._tx():
            return self.conn.execute(
                "UPDATE account_tokens SET revoked_at = ? WHERE login = ? AND revoked_at IS NULL",
                (ts(now or utcnow()), login),
            ).rowcount


class Sessions(Repo):
    def start(self, login: str, token_sha256: str, via: str, source: str, now: datetime | None = None) -> int:
        stamp = ts(now or utcnow())
        with self._tx():
            cur = self.conn.execute(
                "INSERT INTO sessions (login, token_sha256, via, source, created_at, last_seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (login, token_sha256, via, source, stamp, stamp),
            )
            return int(cur.lastrowid or 0)

    def find(self, token_sha256: str) -> Session | None:
        return self._one_of(Session, "SELECT * FROM sessions WHERE token_sha256 = ?", (token_sha256,))

    def seen(self, session_id: int, now: datetime | None = None) -> None:
        with self._tx():
            self.conn.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", (ts(now or utcnow()), session_id))

    def end(self, session_id: int, why: str, now: datetime | None = None) -> None:
        with self._tx():
            self.conn.execute(
                "UPDATE sessions SET ended_at = ?, ended_why = ? WHERE id = ? AND ended_at IS NULL",
                (ts(now or utcnow()), why, session_id),
            )

    def end_all(self, login: str, why: str, now: datetime | None = None) -> int:
        """End every live session of an account; how many."""
        with self._tx():
            return self.conn.execute(
                "UPDATE sessions SET ended_at = ?, ended_why = ? WHERE login = ? AND ended_at IS NULL",
                (ts(now or utcnow()), why, login),
            ).rowcount

    def live(self, login: str | None = None) -> list[Session]:
        sql, params = "SELECT * FROM sessions WHERE ended_at IS NULL", []
        if login is not None:
            sql, params = sql + " AND login = ?", [login]
        return self._all_of(Session, sql + " ORDER BY id", params)


class LoginCodes(Repo):
    def add(
        self,
        login: str,
        challenge_sha256: str,
        code_hash: str,
        source: str,
        *,
        expires: datetime,
        now: datetime | None = None,
    ) -> int:
        with self._tx():
            cur = self.conn.execute(
                "INSERT INTO login_codes (login, challenge_sha256, code_hash, source, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (login, challenge_sha256, code_hash, source, ts(now or utcnow()), ts(expires)),
            )
            return int(cur.lastrowid or 0)

    def sent_since(self, login: str, since: datetime) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM login_codes WHERE login = ? AND created_at >= ?", (login, ts(since)))
        return int(row["n"]) if row else 0

    def find(self, challenge_sha256: str) -> LoginCode | None:
        return self._one_of(LoginCode, "SELECT * FROM login_codes WHERE challenge_sha256 = ?", (challenge_sha256,))

    def tried(self, code_id: int) -> int:
        """One more attempt at a code; returns the attempts so far."""
        with self._tx():
            self.conn.execute("UPDATE login_codes SET attempts = attempts + 1 WHERE id = ?", (code_id,))
            row = self._one("SELECT attempts FROM login_codes WHERE id = ?", (code_id,))
            return int(row["attempts"]) if row else 0

    def use(self, code_id: int, now: datetime | None = None) -> None:
        with self._tx():
            if (
                self.conn.execute(
                    "UPDATE login_codes SET used_at = ? WHERE id = ? AND used_at IS NULL",
                    (ts(now or utcnow()), code_id),
                ).rowcount
                == 0
            ):
                raise InputError("this login code was used already; log in again", field="code")
