"""What admins do, as library verbs: the CLI (and later the HTTP API) only parse and print."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from smsd import lock, segments, when
from smsd.actions.scope import audited
from smsd.clock import LOCAL, UTC, local, ts, utcnow
from smsd.config import Config
from smsd.errors import BudgetError, InputError, NotAllowed
from smsd.i18n import _
from smsd.phone import is_domestic, mask, normalise
from smsd.roles import CLI, Actor
from smsd.settings import ModemConfig
from smsd.store import Store
from smsd.store.summaries import ModemDay, ModemHealth
from smsd.transport.registry import kind

MAX_SEGMENTS = 10


def parse_when(
    text: str, now: datetime | None = None, *, field: str = "at", date_only_time: time | None = None
) -> datetime:
    """An admin's time (明天8点, 12月1日 下午3点, 2026-12-01 08:30, 08:30, ...; see smsd.when) in the
    office's zone -> an aware time."""
    return when.parse(text, now or utcnow(), field=field, date_only_time=date_only_time)


def check_text(text: str) -> tuple[str, int]:
    """Refuse an empty text, control characters or too many segments; return (encoding, segments)."""
    visible = text if text.isprintable() else "".join(ch for ch in text if ch.isprintable() or ch in "\n\r\t")
    if not visible.strip():
        raise InputError("the message text is empty", field="text", msg_id="text_empty")
    if visible != text:
        raise InputError(
            "the message text contains control characters (such as NUL); remove them",
            field="text",
            msg_id="text_control",
        )
    encoding, parts = segments.count(text)
    if parts > MAX_SEGMENTS:
        raise InputError(
            "the text needs {parts} SMS segments; the limit is {MAX_SEGMENTS} (about "
            "{MAX_SEGMENTS2} Chinese characters)",
            field="text",
            msg_id="text_too_long",
            segments=parts,
            parts=parts,
            MAX_SEGMENTS=MAX_SEGMENTS,
            MAX_SEGMENTS2=MAX_SEGMENTS * 67,
        )
    return encoding, parts


def check_send(
    cfg: Config, number: str, text: str, at: str | None, priority: int | None, now: datetime | None = None
) -> tuple[str, int, datetime | None]:
    """Every check of a single send, writing nothing: (normalised number, priority, send time)."""
    now = now or utcnow()
    to = normalise(number)
    if not is_domestic(to) and not cfg.sending.international:
        raise InputError(
            "{number} is a number abroad; sending abroad is off (set international = true in "
            "[sending] and international_price_fen for each modem in config.toml)",
            field="to",
            msg_id="abroad_off",
            number=mask(to),
        )
    check_text(text)
    prio = cfg.sending.default_priority if priority is None else priority
    if not 0 <= prio <= 9:
        raise InputError(
            "priority {prio}: use 0 (lowest) to 9 (highest)",
            field="priority",
            msg_id="priority_range",
            value=prio,
            prio=prio,
        )
    not_before = parse_when(at, now) if at else None
    if not_before is not None and not_before < now - timedelta(minutes=1):
        raise InputError("send time {at!r} is in the past", field="at", msg_id="time_past", value=at, at=at)
    return to, prio, not_before


def send(
    store: Store,
    cfg: Config,
    number: str,
    text: str,
    *,
    at: str | None = None,
    priority: int | None = None,
    report: bool = True,
    actor: str = "cli",
    dedup_key: str | None = None,
    account: str | None = None,
    org: str | None = None,
    now: datetime | None = None,
) -> Queued:
    """Queue one message after checking every input; nothing is written if any is wrong.

    With org (an API client's), the message is billed to that org unit, within its budget."""
    now = now or utcnow()
    to, prio, not_before = check_send(cfg, number, text, at, priority, now)
    start = not_before or now
    parts = segments.segments(text)
    if org:
        check_org_budget(store, cfg, org, parts, not_before or now)
    mid = store.outbox.enqueue(
        to,
        text,
        priority=prio,
        not_before=not_before,
        expires_at=start + timedelta(hours=cfg.sending.expire_hours),
        srr=report and cfg.sending.status_reports,
        max_attempts=cfg.sending.max_attempts,
        created_by=actor,
        dedup_key=dedup_key,
        account=account,
        quiet_ok=True,  # quiet hours hold broadcasts and greetings; a single send goes when it is sent
        org=org or None,
        now=now,
    )
    return Queued(mid, to, parts, not_before)


@dataclass(frozen=True)
class Queued:
    """One message as send() queued it: its id, the normalised number, segments and send time
    (note: why it would not leave at once, when the caller asked; "" when it would)."""

    id: int
    to: str
    segments: int
    not_before: datetime | None
    note: str = ""


def waiting_note(store: Store, cfg: Config, now: datetime | None = None) -> str:
    """Why a message queued now would not leave at once ("" when it would): the daemon is not
    running, or every modem is at its cap (then when the first one frees up)."""
    now = now or utcnow()
    if lock.running(cfg.database) is None:
        return _("the daemon is not running: the message waits until it runs (systemctl start smsd)")
    frees = []
    for m in cfg.modems:
        if not m.enabled:
            continue
        _hour, _day, capped_until = cap_state(store, cfg, m, now)
        if capped_until is None:
            return ""
        frees.append(capped_until)
    if not frees:
        return ""
    return _("every modem is at its hourly or daily cap: the message goes at about {at}").format(
        at=when.describe(min(frees))
    )


def cap_state(store: Store, cfg: Config, m: ModemConfig, now: datetime) -> tuple[int, int, datetime | None]:
    """A modem's segments this hour and today, and, when it is at a cap, when it sends again."""
    pacing = cfg.pacing(m)
    in_hour, in_day, _oldest = store.claims.usage(m.name, pacing, now)
    if in_hour < m.hourly_cap and in_day < m.daily_cap:
        return in_hour, in_day, None
    return in_hour, in_day, store.claims.held_until(m.name, pacing, now, bulk=False) or now


def check_org_budget(store: Store, cfg: Config, org: str, segments: int, when: datetime) -> None:
    """Refuse a send that would take an org unit over its monthly budget (call inside the
    transaction that queues it, so two doors cannot both pass one budget)."""
    month = when.astimezone(LOCAL).strftime("%Y-%m")
    budget = store.ledger.budget_for(org, month)
    if budget is None:
        return
    price = max((m.price_fen for m in cfg.modems if m.enabled), default=0)
    spent = store.ledger.sum(budget.org, month)
    queued = store.ledger.committed_fen(budget.org, price)
    after = spent + queued + segments * price
    if after > budget.limit_fen:
        raise BudgetError(
            "budget of {org} for {month}: {limit_fen:.2f} yuan; spent {spent:.2f}, queued "
            "{queued:.2f}, this {segments:.2f}: {after:.2f} yuan over",
            org=budget.org,
            month=month,
            limit_fen=budget.limit_fen / 100,
            spent=spent / 100,
            queued=queued / 100,
            segments=segments * price / 100,
            after=(after - budget.limit_fen) / 100,
        )


def message_view(store: Store, message_id: int) -> dict[str, Any]:
    msg = store.outbox.message_or_error(message_id)
    parts = store.outbox.parts(message_id)
    return {
        **msg.as_dict(),
        "parts": [p.as_dict() for p in parts],
        "events": [e.as_dict() for e in store.events("outbox", message_id)],
        "cost_fen": sum(p.price_fen or 0 for p in parts),
    }


def status(store: Store, cfg: Config, now: datetime | None = None) -> dict[str, Any]:
    """Per modem: state, signal, operator, sent today, last error; and the queue."""
    now = now or utcnow()
    midnight = now.astimezone(LOCAL).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    counts = {c.modem: c for c in store.health.modem_counts(midnight)}
    known = {m.name: m for m in store.health.modems()}
    pid = lock.running(cfg.database)
    modems = []
    for m in cfg.modems:
        row = known.get(m.name) or ModemHealth(name=m.name, updated_at="")
        c = counts.get(m.name) or ModemDay(modem=m.name)
        in_hour, in_day, frees = cap_state(store, cfg, m, now)
        state = row.state or "unknown"
        if pid is None:
            state = "not_running"  # whatever the last record says, nothing runs it now
        elif frees is not None and state == "ready":
            state = "capped"
        modems.append(
            {
                "name": m.name,
                "port": row.port or kind(m.kind).where(m),
                "enabled": m.enabled,
                "state": state,
                "sent_hour": in_hour,
                "sent_day": in_day,
                "hourly_cap": m.hourly_cap,
                "daily_cap": m.daily_cap,
                "capped_until": local(ts(frees)) if frees else None,
                "registered": None if row.registered is None else bool(row.registered),
                "signal": row.signal,
                "operator": row.operator,
                "model": row.model,
                "storage": f"{row.storage_used}/{row.storage_total}" if row.storage_total else None,
                "sent_today": c.sent,
                "received_today": c.received,
                "cost_today_fen": c.cost_fen,
                "last_error": row.last_error or "",
                "last_incident": row.last_incident or "",
                "last_incident_at": local(row.last_incident_at) if row.last_incident_at else None,
                "updated": local(row.updated_at),
            }
        )
    alerts = []
    if pid is None:
        alerts.append(
            _(
                "the daemon is not running: nothing is sent or received until it runs "
                "(systemctl start smsd, or smsd run)"
            )
        )
    for entry in modems:
        if entry["capped_until"]:
            alerts.append(
                _(
                    "modem {name} reached its cap ({hour}/{hourly} this hour, {day}/{daily} today); "
                    "it sends again at {at}"
                ).format(
                    name=entry["name"],
                    hour=entry["sent_hour"],
                    hourly=entry["hourly_cap"],
                    day=entry["sent_day"],
                    daily=entry["daily_cap"],
                    at=entry["capped_until"],
                )
            )
        health = known.get(str(entry["name"]))
        total, used = (health.storage_total, health.storage_used) if health else (None, None)
        if total and used is not None and used >= total:
            alerts.append(
                _(
                    "modem {name}: SIM storage full ({used}/{total}); new SMS wait at the carrier until it is emptied"
                ).format(name=entry["name"], used=used, total=total)
            )
    expired = store.outbox.expired_since(now - timedelta(days=7))
    if expired:
        alerts.append(
            _("{n} message(s) expired unsent in the last 7 days (see `smsd outbox --state expired`)").format(n=expired)
        )
    threads = store.health.threads()
    for t in threads:
        if t.state != "running" and t.state != "stopped" and pid is not None:
            alerts.append(
                _("daemon thread {name} is {state} after {crashes} crash(es): {error}").format(
                    name=t.name, state=t.state, crashes=t.crashes, error=t.last_error
                )
            )
    return {
        "daemon": {"running": pid is not None, "pid": pid if pid and pid > 0 else None},
        "modems": modems,
        "queue": store.outbox.queue_depth().nonzero(),
        "expired_7d": expired,
        "inbound_parts_waiting": store.inbox.pending_parts(),
        "webhooks": [w.as_dict() for w in store.webhooks.status()],
        "threads": [t.as_dict() for t in threads],
        "alerts": alerts,
        "time": local(ts(now)),
    }


def config_warnings(cfg: Config) -> list[str]:
    """What check-config says beyond "valid": things that work but an admin should know.

    Raises ConfigError for a database that cannot be written (the daemon would fail at once)."""
    import ipaddress

    from smsd.errors import ConfigError

    db = cfg.database
    folder = next((p for p in db.parents if os.access(p, os.F_OK)), Path("/"))
    if not os.access(folder, os.W_OK | os.X_OK) or (os.access(db, os.F_OK) and not os.access(db, os.R_OK | os.W_OK)):
        raise ConfigError(
            "{path}: database {db} is not writable by this user (folder {folder})", path=cfg.path, db=db, folder=folder
        )
    out = []
    if any(m.enabled and kind(m.kind).emulated(m) for m in cfg.modems):
        problem = _folder_problem(cfg.resolve(cfg.emulator.dir))
        if problem:
            raise ConfigError(
                "{path}: [emulator] dir {dir} cannot be used: {problem} (set dir to a writable folder, e.g. "
                "/var/lib/smsd/sim)",
                path=cfg.path,
                dir=cfg.resolve(cfg.emulator.dir),
                problem=problem,
            )
    try:
        loopback = ipaddress.ip_address(cfg.http.host).is_loopback
    except ValueError:
        loopback = cfg.http.host == "localhost"
    if cfg.web.enabled:  # config.load refuses the console in plain HTTP beyond this box
        out.append(
            _("web console: https://{host}:{port}/ui/ (TLS with {cert})").format(
                host=cfg.http.host, port=cfg.http.port, cert=cfg.http.tls_cert
            )
            if cfg.http.tls_cert
            else _("web console: http://{host}:{port}/ui/ (plain HTTP: for this box only)").format(
                host=cfg.http.host, port=cfg.http.port
            )
        )
    if cfg.http.enabled and not loopback and not cfg.http.tls_cert:
        out.append(
            _(
                "[http] host = {host!r} listens beyond this box; tokens (and Kannel passwords in URLs) travel "
                "in clear: put a TLS reverse proxy in front (README) or use 127.0.0.1"
            ).format(host=cfg.http.host)
        )
    if cfg.http.enabled or cfg.web.enabled:
        problem = _port_problem(cfg.http.host, cfg.http.port)
        if problem:
            out.append(
                _(
                    "[http] {host}:{port} cannot be opened ({problem}); is the daemon (or another program) on it?"
                ).format(host=cfg.http.host, port=cfg.http.port, problem=problem)
            )
    for m in cfg.modems:
        if m.enabled:
            out += kind(m.kind).warnings(m)
        if kind(m.kind).sim and (m.hourly_cap > 200 or m.daily_cap > 1000):  # an SMPP account is not a SIM
            out.append(
                _(
                    "[modems.{name}] caps {hourly}/h, {daily}/day exceed what carriers allow a personal SIM "
                    "(about 200/h, 1,000/day): it may be blocked"
                ).format(name=m.name, hourly=m.hourly_cap, daily=m.daily_cap)
            )
    return out


def _folder_problem(folder: Path) -> str:
    """Why this user cannot create or write a folder ("" when it can)."""
    existing = next((p for p in (folder, *folder.parents) if os.access(p, os.F_OK)), Path("/"))
    if not existing.is_dir():
        return _("{path} is not a folder").format(path=existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        return _("{path} is not writable by this user").format(path=existing)
    return ""


def _port_problem(host: str, port: int) -> str:
    """Why a TCP port cannot be listened on now ("" when it can)."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _modem(name: str) -> str:
    return _("modem {name}").format(name=name)


def resume(store: Store, cfg: Config, name: str, actor: Actor = CLI) -> bool:
    """Ask the daemon to end a modem's pause now (after a raised quota or a topped-up SIM); the
    county's administrator's (modems and links serve every part of the tree).
    Returns whether that modem is paused now (as last recorded)."""
    if not actor.root:
        raise NotAllowed("only the county's administrator manages modems and links", field="actor")
    cfg.modem(name)  # an unknown name is a ConfigError naming the file
    with store.tx():
        store.health.request_resume(name, actor.label)
        audited(store, actor, "modem.resume", name)
    return any(m.name == name and m.state == "paused" for m in store.health.modems())


def daemon_check(cfg: Config) -> Check:
    pid = lock.running(cfg.database)
    if pid is None:
        return Check(
            _("daemon"),
            False,
            _(
                "not running: nothing is sent or received (systemctl start smsd; journalctl -u smsd "
                "says why it stopped)"
            ),
        )
    return Check(_("daemon"), True, _("running (pid {pid})").format(pid=pid if pid > 0 else "?"))


def doctor(cfg: Config) -> list[Check]:
    """Checks an admin can act on: the daemon, devices, permissions, ModemManager, database."""
    checks: list[Check] = [daemon_check(cfg)]
    for m in cfg.modems:
        if not m.enabled:
            continue
        k = kind(m.kind)
        if k.emulated(m):
            problem = _folder_problem(cfg.resolve(cfg.emulator.dir))
            detail = _("[emulator] dir {dir}: {problem}").format(dir=cfg.resolve(cfg.emulator.dir), problem=problem)
            checks.append(Check(_modem(m.name), not problem, detail if problem else _("built-in emulator")))
            continue
        found = k.doctor(m)
        checks += [Check(what, ok, detail) for what, ok, detail in found]
        if not found:
            checks.append(Check(_modem(m.name), True, _("{kind} transport").format(kind=m.kind)))
    if shutil.which("ModemManager") and _running("ModemManager"):
        checks.append(
            Check("ModemManager", False, _("running: it probes serial modems; see README 'Install on a box'"))
        )
    db = cfg.database
    folder = db.parent if db.parent.exists() else db.parent.parent
    writable = os.access(db if db.exists() else folder, os.W_OK)
    detail = _("{path} writable") if writable else _("{path} is not writable")
    checks.append(Check(_("database"), writable, detail.format(path=db)))
    if db.exists() and writable:
        with Store(db) as store:
            ok = store.integrity_ok()
            result = _("SQLite integrity check passed") if ok else _("SQLite integrity check FAILED")
            checks.append(Check(_("database integrity"), ok, result))
    return checks


def _running(name: str) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                return True
        except OSError:
            continue
    return False
