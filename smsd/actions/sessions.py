"""Logging in and staying logged in (等保 2.0): a session after the password (and, when the
second factor is on, the one-time code sent by SMS to the account's phone), idle and absolute
timeouts, a forced change of password at the first login and after password_days, and API
tokens that act as an account. Sessions and tokens are kept as hashes; every check reads the
account again, so disabling or locking it stops its sessions and tokens at once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from smsd import passwords
from smsd import template as tpl
from smsd.actions import accounts
from smsd.actions.scope import allow, audited, within
from smsd.clock import parse_ts, utcnow
from smsd.config import Config
from smsd.errors import InputError
from smsd.roles import Actor
from smsd.store import Store
from smsd.store.records import Account, Session

CODE_TRIES = 5  # wrong codes before a challenge is spent (log in again for a new one)
LOGIN_CODE_PRIORITY = 9  # above broadcasts (3) and single sends (5): a broadcast does not delay a login


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Started:
    """What a login gave: a session token, or (second factor on) the challenge the SMS code answers."""

    token: str | None = None
    challenge: str | None = None
    must_change: bool = False  # the password must be changed before anything else


@dataclass(frozen=True)
class Current:
    """The session a request carries: who it is, and whether its password must be changed first."""

    actor: Actor
    session_id: int
    must_change: bool


def password_expired(cfg: Config, account: Account, now: datetime) -> bool:
    days = cfg.accounts.password_days
    return bool(days) and parse_ts(account.password_changed_at) + timedelta(days=days) <= now


def begin(
    store: Store,
    cfg: Config,
    login: str,
    password: str,
    *,
    via: str = "web",
    source: str = "",
    now: datetime | None = None,
) -> Started:
    """The password (audited, with lockout); then a session, or a login code by SMS first."""
    now = now or utcnow()
    account = accounts.log_in(store, cfg, login, password, via=via, source=source, now=now)
    if cfg.accounts.second_factor:
        return Started(challenge=_send_code(store, cfg, account, via, source, now))
    return _start(store, cfg, account, via, source, now)


def _send_code(store: Store, cfg: Config, account: Account, via: str, source: str, now: datetime) -> str:
    actor = Actor(account.login, account.role, account.scope, via, source)
    if not account.phone:
        audited(store, actor, "login.code", account.login, "no phone", result="refused")
        raise InputError("this account has no phone for its login code; an administrator sets one", field="login")
    if store.login_codes.sent_since(account.login, now - timedelta(hours=1)) >= cfg.accounts.codes_per_hour:
        audited(store, actor, "login.code", account.login, "too many codes this hour", result="refused")
        raise InputError(
            "{n} login codes were sent to this account in the last hour; wait, or ask an administrator",
            field="login",
            n=cfg.accounts.codes_per_hour,
        )
    challenge, code = secrets.token_urlsafe(24), f"{secrets.randbelow(10**6):06d}"
    expires = now + timedelta(minutes=cfg.accounts.code_minutes)
    text = tpl.load(cfg.templates_dir, "login_code").render({"code": code, "minutes": cfg.accounts.code_minutes})
    with store.tx():  # the code and the SMS that carries it together
        store.login_codes.add(
            account.login, _digest(challenge), passwords.hashed(code), source, expires=expires, now=now
        )
        store.outbox.enqueue(
            account.phone,
            text,
            created_by=actor.label,
            now=now,
            priority=LOGIN_CODE_PRIORITY,
            quiet_ok=True,  # a login at night is the person's own doing
            expires_at=expires,
            account="logins",
        )
        audited(store, actor, "login.code", account.login, "sent")
    return challenge


def confirm(
    store: Store,
    cfg: Config,
    challenge: str,
    code: str,
    *,
    via: str = "web",
    source: str = "",
    now: datetime | None = None,
) -> Started:
    """The SMS code of a login's second step: right, within its minutes, at most CODE_TRIES tries."""
    now = now or utcnow()
    refused = InputError("wrong or expired login code; log in again for a new one", field="code")
    found = store.login_codes.find(_digest(challenge))
    if found is None:
        raise refused
    account = store.accounts.get(found.login)
    actor = Actor(account.login, account.role, account.scope, via, source)
    if found.used_at or parse_ts(found.expires_at) <= now or found.attempts >= CODE_TRIES:
        audited(store, actor, "login.code", account.login, "expired or used", result="refused")
        raise refused
    store.login_codes.tried(found.id)
    if not passwords.matches(found.code_hash, code.strip()):
        audited(store, actor, "login.code", account.login, "wrong code", result="refused")
        raise refused
    store.login_codes.use(found.id, now)
    accounts.acting(store, account.login)  # disabled or locked meanwhile: no session
    return _start(store, cfg, account, via, source, now)


def _start(store: Store, cfg: Config, account: Account, via: str, source: str, now: datetime) -> Started:
    token = "s_" + secrets.token_urlsafe(32)
    actor = Actor(account.login, account.role, account.scope, via, source)
    must_change = bool(account.must_change) or password_expired(cfg, account, now)
    with store.tx():
        sid = store.sessions.start(account.login, _digest(token), via, source, now)
        audited(
            store,
            actor,
            "session.start",
            account.login,
            f"session {sid}" + ("; must change password" if must_change else ""),
        )
    return Started(token=token, must_change=must_change)


def current(
    store: Store, cfg: Config, token: str, *, source: str = "", now: datetime | None = None, touch: bool = True
) -> Current:
    """The session of a request, checked now: not ended, not idle past idle_minutes, not older
    than session_hours, its account enabled and not locked. Every refusal is one line.
    touch=False: a page refreshing itself, which is no sign of the person (it does not keep the
    session alive)."""
    now = now or utcnow()
    found = store.sessions.find(_digest(token)) if token else None
    if found is None or found.ended_at:
        raise InputError("your session has ended; log in again", field="session")
    why = ""
    if parse_ts(found.last_seen_at) + timedelta(minutes=cfg.accounts.idle_minutes) <= now:
        why = "idle"
    elif parse_ts(found.created_at) + timedelta(hours=cfg.accounts.session_hours) <= now:
        why = "too old"
    if why:
        store.sessions.end(found.id, why, now)
        raise InputError("your session has ended; log in again", field="session")
    try:
        actor = accounts.acting(store, found.login, via=found.via, source=source or found.source)
    except InputError:
        store.sessions.end(found.id, "account disabled or locked", now)
        raise
    account = store.accounts.get(found.login)
    if touch:
        store.sessions.seen(found.id, now)
    return Current(actor, found.id, bool(account.must_change) or password_expired(cfg, account, now))


def end(store: Store, token: str, now: datetime | None = None) -> None:
    """Log out: the session ends (a token already ended is no error)."""
    found = store.sessions.find(_digest(token))
    if found is None or found.ended_at:
        return
    with store.tx():
        store.sessions.end(found.id, "logged out", now)
        store.audit.record(found.login, found.via, "session.end", source=found.source, target=found.login, now=now)


def end_all(store: Store, actor: Actor, login: str) -> int:
    """An administrator ends every session of an account in its part of the tree; how many."""
    allow(actor, "accounts")
    within(actor, store.accounts.get(login).scope)
    with store.tx():
        n = store.sessions.end_all(login, f"ended by {actor.login}")
        audited(store, actor, "session.end_all", login, f"{n} sessions")
    return n


def live(store: Store, actor: Actor, login: str) -> list[Session]:
    """The sessions of an account that have not ended (an administrator's view)."""
    allow(actor, "accounts")
    within(actor, store.accounts.get(login).scope)
    return store.sessions.live(login)


def mint_token(store: Store, actor: Actor, login: str) -> str:
    """An API token that acts as the account, with its role and scope (shown once, kept hashed)."""
    allow(actor, "accounts")
    account = store.accounts.get(login)
    within(actor, account.scope)
    token = "u_" + secrets.token_urlsafe(32)
    with store.tx():
        tid = store.tokens.add(login, _digest(token), actor.label)
        audited(store, actor, "token.add", login, f"token {tid}")
    return token


def revoke_tokens(store: Store, actor: Actor, login: str) -> int:
    allow(actor, "accounts")
    within(actor, store.accounts.get(login).scope)
    with store.tx():
        n = store.tokens.revoke_all(login)
        audited(store, actor, "token.revoke", login, f"{n} tokens")
    return n


def known_token(store: Store, token: str) -> bool:
    """Is this a live account token (whatever its account's state)? A cheap first look."""
    return token.startswith("u_") and store.tokens.known(_digest(token))


def token_actor(store: Store, token: str, *, source: str = "") -> Actor | None:
    """The account an API token acts as (None: not an account's token). A disabled or locked
    account's token is refused (InputError) at once."""
    login = store.tokens.login_of(_digest(token)) if token.startswith("u_") else None
    return accounts.acting(store, login, via="api", source=source) if login else None
