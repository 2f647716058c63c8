"""Verbs on accounts (分级管理): add, list, disable, enable, unlock, reset a password; log in
(with lockout); read the audit trail. Each checks the actor's role and scope and writes the
audit trail, whatever front end calls it."""

from __future__ import annotations

from datetime import datetime, timedelta

from smsd import passwords
from smsd.actions.scope import allow, audited, within
from smsd.clock import parse_ts, utcnow
from smsd.config import Config
from smsd.errors import InputError, NotAllowed
from smsd.phone import normalise
from smsd.roles import ROLES, Actor, root
from smsd.store import Store
from smsd.store.records import Account, AuditEntry


def add(
    store: Store,
    cfg: Config,
    actor: Actor,
    login: str,
    *,
    name: str,
    role: str,
    scope: str = "",
    phone: str | None = None,
) -> tuple[Account, str]:
    """A new account with a one-time initial password (returned: shown once, never stored)."""
    allow(actor, "accounts")
    if role not in ROLES:
        raise InputError("role {role!r}: use one of {roles}", field="role", role=role, roles=", ".join(ROLES))
    if not login or not login.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InputError("login {login!r}: use letters, digits, '.', '-' and '_'", field="login", login=login)
    unit = store.members.resolve_org(scope) if scope else ""
    within(actor, unit)
    if role == "auditor" and not actor.root:
        raise NotAllowed("only the county's administrator creates auditors (三员分立)", field="role")
    number = normalise(phone) if phone else None
    initial = passwords.initial()
    with store.tx():
        store.accounts.add(
            login,
            name=name,
            role=role,
            scope=unit,
            phone=number,
            password_hash=passwords.hashed(initial),
            actor=actor.login,
        )
        audited(store, actor, "user.add", login, f"role={role} scope={unit or '/'}")
    return store.accounts.get(login), initial


def first_admin(store: Store, cfg: Config) -> str | None:
    """On a box with no account yet: the county's administrator account "admin", whose one-time
    password is returned (to be shown once); None when accounts exist."""
    if store.accounts.count():
        return None
    _account, initial = add(store, cfg, root("daemon"), "admin", name="管理员", role="admin")
    return initial


def users(store: Store, actor: Actor) -> list[Account]:
    """The accounts within the actor's part of the tree."""
    allow(actor, "accounts")
    return [a for a in store.accounts.all() if actor.covers(a.scope)]


def _managed(store: Store, actor: Actor, login: str) -> Account:
    allow(actor, "accounts")
    account = store.accounts.get(login)
    within(actor, account.scope)
    return account


def show(store: Store, actor: Actor, login: str) -> Account:
    """One account of the actor's part of the tree."""
    return _managed(store, actor, login)


def set_enabled(store: Store, actor: Actor, login: str, enabled: bool) -> None:
    """Enable or disable an account; disabling ends its sessions at once (its tokens are refused
    from then on, as they are for a locked account)."""
    _managed(store, actor, login)
    with store.tx():
        store.accounts.set_enabled(login, enabled)
        ended = 0 if enabled else store.sessions.end_all(login, "account disabled")
        audited(
            store,
            actor,
            "user.enable" if enabled else "user.disable",
            login,
            f"{ended} sessions ended" if ended else "",
        )


def grant_any_number(store: Store, actor: Actor, login: str, granted: bool) -> None:
    """Let an account send to numbers that are no member of the roster (or take that back). A
    member of another part of the tree stays refused either way."""
    _managed(store, actor, login)
    with store.tx():
        store.accounts.set_any_number(login, granted)
        audited(store, actor, "user.grant" if granted else "user.ungrant", login, "any_number")


def unlock(store: Store, actor: Actor, login: str) -> None:
    _managed(store, actor, login)
    with store.tx():
        store.accounts.unlock(login)
        audited(store, actor, "user.unlock", login)


def reset_password(store: Store, actor: Actor, login: str) -> str:
    """A new one-time password (to change at the next login); returned to be handed over."""
    _managed(store, actor, login)
    initial = passwords.initial()
    with store.tx():
        store.accounts.set_password(login, passwords.hashed(initial), must_change=True)
        store.sessions.end_all(login, "password reset")
        audited(store, actor, "user.reset_password", login)
    return initial


def change_password(store: Store, cfg: Config, login: str, old: str, new: str, *, via: str = "cli") -> None:
    """The user's own change: the old password, then a new one that meets the policy."""
    account = log_in(store, cfg, login, old, via=via)
    why = passwords.problem(new, cfg.accounts.password_min_length)
    if why:
        raise InputError("{why}", field="password", why=why)
    if passwords.matches(account.password_hash, new):
        raise InputError("the new password must differ from the old one", field="password")
    with store.tx():
        store.accounts.set_password(login, passwords.hashed(new), must_change=False)
        store.audit.record(login, via, "user.change_password", target=login)


def log_in(
    store: Store,
    cfg: Config,
    login: str,
    password: str,
    *,
    via: str = "web",
    source: str = "",
    now: datetime | None = None,
) -> Account:
    """Check a login; lockout after lock_after wrong passwords in a row, for lock_minutes.
    Every attempt is audited; the refusal never says which of login or password was wrong."""
    now = now or utcnow()
    refused = InputError("wrong login or password", field="password")
    account = store.accounts.find(login)
    if account is None:
        store.audit.record(login, via, "login", source=source, result="refused", detail="unknown login", now=now)
        raise refused
    if account.locked_until and parse_ts(account.locked_until) > now:
        store.audit.record(login, via, "login", source=source, result="refused", detail="locked", now=now)
        raise InputError(
            "this account is locked after {n} wrong passwords until {until}; an administrator can unlock it",
            field="password",
            n=cfg.accounts.lock_after,
            until=account.locked_until,
        )
    if not account.enabled:
        store.audit.record(login, via, "login", source=source, result="refused", detail="disabled", now=now)
        raise InputError("this account is disabled", field="login")
    if not passwords.matches(account.password_hash, password):
        with store.tx():  # the count and its audit line together
            failures = store.accounts.login_failed(
                login,
                lock_after=cfg.accounts.lock_after,
                lock_until=now + timedelta(minutes=cfg.accounts.lock_minutes),
                now=now,
            )
            locked = failures >= cfg.accounts.lock_after
            detail = f"wrong password ({failures} in a row)" + ("; locked" if locked else "")
            store.audit.record(login, via, "login", source=source, result="refused", detail=detail, now=now)
        raise refused
    with store.tx():
        store.accounts.login_succeeded(login, now)
        store.audit.record(login, via, "login", source=source, now=now)
    return account


def audit_trail(store: Store, actor: Actor, since: datetime | None = None, limit: int = 1000) -> list[AuditEntry]:
    """The audit trail: for auditors and the county's administrator only (三员分立). An auditor of
    a part of the tree reads what the accounts of that part did."""
    allow(actor, "audit")
    entries = store.audit.entries(since, limit)
    if actor.scope:
        mine = {a.login for a in store.accounts.all() if actor.covers(a.scope)}
        entries = [e for e in entries if e.actor in mine]
    audited(store, actor, "audit.read", "", f"{len(entries)} entries")
    return entries


def acting(store: Store, login: str, *, via: str = "cli", source: str = "") -> Actor:
    """The actor an account is, for `smsd --as LOGIN` and an account's API token: refused when it
    is disabled or locked (at once: its sessions and tokens stop working too)."""
    account = store.accounts.get(login)
    if not account.enabled:
        store.audit.record(login, via, "act", source=source, result="refused", detail="disabled")
        raise InputError("this account is disabled", field="login")
    if account.locked_until and parse_ts(account.locked_until) > utcnow():
        store.audit.record(login, via, "act", source=source, result="refused", detail="locked")
        raise InputError(
            "this account is locked until {until}; an administrator can unlock it", until=account.locked_until
        )
    return Actor(account.login, account.role, account.scope, via, source, bool(account.any_number))
