"""`smsd user` (accounts: who may use smsd, with which role, within which part of the org tree)
and `smsd audit` (what each of them did). The box's command line acts as its administrator."""

from __future__ import annotations

import contextlib
import sys

import click

from smsd import notes
from smsd.actions import accounts, sessions
from smsd.cli.common import acting, config_option, echo_json, handled, json_option, load, open_store, table
from smsd.clock import local
from smsd.errors import InputError
from smsd.export import SafeCsvWriter, open_private
from smsd.i18n import _
from smsd.phone import mask
from smsd.roles import ROLE_NAMES, ROLES


def _role(role: str) -> str:
    return _(ROLE_NAMES.get(role, role))


@click.group()
def user() -> None:
    """Accounts: each has a role within a part of the org tree (分级管理).

    \b
    Example:
        smsd user add bq-zhang --name 张三 --role operator --org 大渡口区/八桥镇 --phone 13800138000
        smsd user list
    """


@user.command("add")
@config_option
@click.argument("login")
@click.option("--name", required=True, help=_("The person's name."))
@click.option("--role", type=click.Choice(ROLES), required=True, help=_("operator, approver, admin or auditor."))
@click.option(
    "--org", "scope", default="", help=_("The part of the org tree the account works in (default: the county).")
)
@click.option("--phone", help=_("The person's mobile number (for codes and notices)."))
def user_add(config_path: str, login: str, name: str, role: str, scope: str, phone: str | None) -> None:
    """Add an account; prints its one-time initial password (changed at the first login).

    \b
    Example:
        smsd user add bq-zhang --name 张三 --role operator --org 八桥镇 --phone 13800138000
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        account, initial = accounts.add(
            store, cfg, acting(store), login, name=name, role=role, scope=scope, phone=phone
        )
    click.echo(
        _("account {login} added: {role} of {scope}").format(
            login=account.login, role=_role(account.role), scope=account.scope or _("the whole county")
        )
    )
    click.echo(_("initial password (shown once; to be changed at the first login): {p}").format(p=initial))


@user.command("list")
@config_option
@json_option
def user_list(config_path: str, as_json: bool) -> None:
    """List the accounts, with role, scope and state.

    \b
    Example:
        smsd user list --json
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        found = accounts.users(store, acting(store))
    rows = [{k: v for k, v in a.as_dict().items() if k != "password_hash"} for a in found]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        r["role"] = _role(r["role"])
        r["scope"] = r["scope"] or _("the whole county")
        r["phone"] = mask(r["phone"]) if r["phone"] else ""
        r["state"] = _("locked") if r["locked_until"] else (_("enabled") if r["enabled"] else _("disabled"))
    table(
        rows,
        [
            ("login", _("LOGIN"), 16),
            ("name", _("NAME"), 8),
            ("role", _("ROLE"), 8),
            ("scope", _("SCOPE"), 24),
            ("phone", _("PHONE"), 12),
            ("state", _("STATE"), 8),
        ],
    )


@user.command("show")
@config_option
@click.argument("login")
@json_option
def user_show(config_path: str, login: str, as_json: bool) -> None:
    """One account: role, scope, phone, state, password age, live sessions.

    \b
    Example:
        smsd user show bq-zhang
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        a = accounts.show(store, acting(store), login)
        live = sessions.live(store, acting(store), login)
    row = {k: v for k, v in a.as_dict().items() if k != "password_hash"}
    if as_json:
        echo_json({**row, "sessions": len(live)})
        return
    state = _("locked") if a.locked_until else (_("enabled") if a.enabled else _("disabled"))
    for key, value in (
        (_("login"), a.login),
        (_("name"), a.name),
        (_("role"), _role(a.role)),
        (_("scope"), a.scope or _("the whole county")),
        (_("phone"), mask(a.phone) if a.phone else ""),
        (_("state"), state + (f" ({local(a.locked_until)})" if a.locked_until else "")),
        (
            _("password changed"),
            local(a.password_changed_at) + (_(" (to change at the next login)") if a.must_change else ""),
        ),
        (_("live sessions"), str(len(live))),
        (_("created"), f"{local(a.created_at)} ({a.created_by})"),
    ):
        click.echo(f"{key}: {value}")


@user.command("token")
@config_option
@click.argument("login")
def user_token(config_path: str, login: str) -> None:
    """Mint an API token that acts as the account, with its role and part of the org tree.

    The token is shown once; send it as `Authorization: Bearer <token>`. It stops working when
    the account is disabled or locked, or with `smsd user revoke-tokens`.

    \b
    Example:
        smsd user token bq-zhang
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        token = sessions.mint_token(store, acting(store), login)
    click.echo(_("API token of {login} (shown once): {token}").format(login=login, token=token))


def _change(action: str, help_text: str) -> None:
    @user.command(action, help=help_text)
    @config_option
    @click.argument("login")
    def command(config_path: str, login: str) -> None:
        cfg = load(config_path)
        with handled(), open_store(cfg) as store:
            if action == "reset-password":
                initial = accounts.reset_password(store, acting(store), login)
            elif action == "unlock":
                accounts.unlock(store, acting(store), login)
            elif action in ("grant", "ungrant"):
                accounts.grant_any_number(store, acting(store), login, action == "grant")
            elif action == "logout":
                sessions.end_all(store, acting(store), login)
            elif action == "revoke-tokens":
                sessions.revoke_tokens(store, acting(store), login)
            else:
                accounts.set_enabled(store, acting(store), login, action == "enable")
        if action == "reset-password":
            click.echo(_("new one-time password of {login}: {p}").format(login=login, p=initial))
        else:
            click.echo(_("account {login}: done").format(login=login))


_change("disable", _("Disable an account: it can no longer log in.\n\n\b\nExample:\n    smsd user disable bq-zhang"))
_change("enable", _("Enable a disabled account again.\n\n\b\nExample:\n    smsd user enable bq-zhang"))
_change("unlock", _("Unlock an account locked by wrong passwords.\n\n\b\nExample:\n    smsd user unlock bq-zhang"))
_change(
    "grant",
    _(
        "Let an account send to numbers that are no member of the roster (a member of another part of the "
        "tree stays refused).\n\n\b\nExample:\n    smsd user grant bq-zhang"
    ),
)
_change("ungrant", _("Take that grant back.\n\n\b\nExample:\n    smsd user ungrant bq-zhang"))
_change("logout", _("End every session of an account now.\n\n\b\nExample:\n    smsd user logout bq-zhang"))
_change(
    "revoke-tokens",
    _("Revoke every API token of an account.\n\n\b\nExample:\n    smsd user revoke-tokens bq-zhang"),
)
_change(
    "reset-password",
    _("Give an account a new one-time password.\n\n\b\nExample:\n    smsd user reset-password bq-zhang"),
)


@click.command()
@config_option
@click.option(
    "--limit", type=click.IntRange(1, 1_000_000), default=100, show_default=True, help=_("At most this many.")
)
@click.option("--csv", "as_csv", is_flag=True, help=_("Print CSV (for Excel)."))
@click.option(
    "--output", type=click.Path(dir_okay=False), help=_("Write the CSV to this file (readable by the office only).")
)
@json_option
def audit(config_path: str, limit: int, as_csv: bool, output: str | None, as_json: bool) -> None:
    """The audit trail, newest first: who did what, from where, with what result.

    \b
    Example:
        smsd audit --limit 20
        smsd audit --limit 100000 --csv --output audit-2026-12.csv
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        rows = [e.as_dict() for e in accounts.audit_trail(store, acting(store), limit=limit)]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        r["when"] = local(r["at"])
        r["via_shown"] = via = _(notes.VIAS[r["via"]]) if r["via"] in notes.VIAS else r["via"]
        r["who"] = f"{r['actor']} ({via}{', ' + r['source'] if r['source'] else ''})"
        r["target"] = notes.target(r["target"])
        r["action"] = _(notes.ACTIONS[r["action"]]) if r["action"] in notes.ACTIONS else r["action"]
        r["result"] = _(notes.RESULTS.get(r["result"], r["result"]))
        r["detail"] = notes.shown(r["detail"])
    if as_csv or output:
        with handled():
            try:
                stream = open_private(output, "w", newline="", encoding="utf-8-sig") if output else sys.stdout
            except OSError as exc:
                raise InputError("{output}: cannot write ({strerror})", output=output, strerror=exc.strerror) from None
        with stream if output else contextlib.nullcontext(stream):
            w = SafeCsvWriter(stream)
            w.writerow([_("Time"), _("Who"), _("Via"), _("From"), _("Action"), _("Target"), _("Result"), _("Detail")])
            w.writerows(
                [r["when"], r["actor"], r["via_shown"], r["source"], r["action"], r["target"], r["result"], r["detail"]]
                for r in rows
            )
        return
    table(
        rows,
        [
            ("when", _("TIME"), 19),
            ("who", _("WHO"), 24),
            ("action", _("ACTION"), 20),
            ("target", _("TARGET"), 16),
            ("result", _("RESULT"), 8),
            ("detail", _("DETAIL"), 40),
        ],
    )
