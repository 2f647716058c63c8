"""run, status, check-config, doctor: the daemon and its health."""

from __future__ import annotations

import sys

import click

from smsd import admin
from smsd import config as configmod
from smsd.cli.common import acting, config_option, echo_json, handled, json_option, load, open_store, shown, table
from smsd.errors import ConfigError
from smsd.i18n import _
from smsd.transport.registry import kind


@click.command()
@config_option
def run(config_path: str) -> None:
    """Run the daemon in the foreground (systemd runs exactly this).

    \b
    Example:
        smsd run --config /etc/smsd/config.toml
    """
    with handled():
        from smsd import daemon  # the scheduler and the workers: only for `smsd run`

        sys.exit(daemon.run(config_path))


@click.command()
@config_option
@json_option
def status(config_path: str, as_json: bool) -> None:
    """Show each modem (state, signal, operator, sent today, last error) and the queue.

    \b
    Example:
        smsd status
        smsd status --json
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        data = admin.status(store, cfg)
    if as_json:
        echo_json(data)
        return
    for m in data["modems"]:
        m["state_shown"] = shown(m["state"])
        if not m["last_error"] and m["last_incident"]:  # healed, but not forgotten
            at = m["last_incident_at"] or ""
            at = at[11:16] if at[:10] == data["time"][:10] else at[:16]  # today: the time alone
            m["last_error"] = _("(healed) {at} {what}").format(at=at, what=m["last_incident"])
    table(
        data["modems"],
        [
            ("name", _("MODEM"), 8),
            ("state_shown", _("STATE"), 14),
            ("signal", _("SIGNAL"), 6),
            ("operator", _("OPERATOR"), 14),
            ("sent_today", _("SENT TODAY"), 10),
            ("received_today", _("RECEIVED TODAY"), 8),
            ("storage", _("SIM"), 6),
            ("last_error", _("LAST ERROR"), 60),
        ],
    )
    for w in data["webhooks"]:
        click.echo(
            _("webhook {name}: {d} delivered, {p} pending{err}").format(
                name=w["forward"],
                d=w["delivered"],
                p=w["pending"],
                err=f" (last error: {w['last_error']})" if w["last_error"] else "",
            )
        )
    q = data["queue"]
    click.echo(
        _(
            "queue: {queued} queued, {sending} sending, {sent} sent, {delivered} delivered, {failed} failed, "
            "{expired} expired"
        ).format(**{k: q.get(k, 0) for k in ("queued", "sending", "sent", "delivered", "failed", "expired")})
    )
    for alert in data["alerts"]:
        click.echo(_("warning: {alert}").format(alert=alert))


@click.command()
@config_option
@click.argument("name")
def resume(config_path: str, name: str) -> None:
    """Ask the daemon to end modem NAME's pause now, instead of at the end of its wait (after the
    city raised a quota, or a SIM was topped up). If the fault persists, it pauses again.

    \b
    Example:
        smsd resume city
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        paused = admin.resume(store, cfg, name, acting(store))  # closing the store wakes the daemon
    if paused:
        click.echo(_("{name}: asked to try again now").format(name=name))
    else:
        click.echo(_("{name} is not paused; it sends as usual").format(name=name))


@click.command("check-config")
@config_option
def check_config(config_path: str) -> None:
    """Check config.toml (keys, types, values, serial devices) and say what is wrong.

    \b
    Example:
        smsd check-config --config /etc/smsd/config.toml
    """
    cfg = load(config_path)
    with handled():
        for m in cfg.modems:
            missing = kind(m.kind).missing(m) if m.enabled else None
            if missing:
                raise ConfigError("{path}: {missing}", path=cfg.path, missing=missing)
        if cfg.templates_dir is not None and not cfg.templates_dir.is_dir():
            raise ConfigError(
                "{path}: templates_dir {templates_dir} does not exist (replies to members and greetings need it)",
                path=cfg.path,
                templates_dir=cfg.templates_dir,
            )
        for warning in admin.config_warnings(cfg):
            click.echo(_("warning: {w}").format(w=warning))
    click.echo(_("{path}: OK ({n} modem(s))").format(path=cfg.path, n=len(cfg.modems)))


@click.command()
@config_option
def doctor(config_path: str) -> None:
    """Diagnose: devices present, permission to open them, ModemManager, database writable.

    \b
    Example:
        smsd doctor
    """
    cfg = load(config_path)
    with handled():
        checks = admin.doctor(cfg)
    for c in checks:
        click.echo(f"[{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
    failed = [c for c in checks if not c.ok]
    if failed:
        raise click.ClickException(_("{n} problem(s) found").format(n=len(failed)))


@click.group()
def http() -> None:
    """The local HTTP API: tokens for the county's other systems.

    \b
    Example:
        smsd http token edu-platform
    """


@http.command("token")
@config_option
@click.argument("name")
def http_token(config_path: str | None, name: str) -> None:
    """Make a new token for client NAME and print the config.toml lines (only the hash is stored).

    With the config file, it says whether NAME is already a client there (the new lines then
    replace its table: the old token stops working).

    \b
    Example:
        smsd http token edu-platform
    """
    import hashlib
    import re
    import secrets

    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
        raise click.ClickException(_("client name {name!r}: use letters, digits, '.', '-' and '_'").format(name=name))
    path = configmod.config_path(config_path)
    if path.is_file():
        cfg = load(str(path))
        if any(c.name == name for c in cfg.http_clients):
            click.echo(
                _("note: {name} is already a client in {path}; replace its token_sha256 with the line below").format(
                    name=name, path=cfg.path
                ),
                err=True,
            )
    token = secrets.token_urlsafe(24)
    click.echo(_("token for {name} (give it to the client; it is not stored anywhere):").format(name=name))
    click.echo(f"  {token}")
    click.echo(_("add to config.toml:"))
    click.echo(
        f'  [http.clients.{name}]\n  token_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n'
        f'  org = ""\n  rate_per_minute = 120'
    )
