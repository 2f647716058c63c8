"""`smsd approval`: broadcasts waiting for an approver (待审批), and the approver's answer."""

from __future__ import annotations

import click

from smsd.actions import broadcasts
from smsd.cli.common import acting, config_option, echo_json, handled, json_option, load, open_store, table
from smsd.clock import local
from smsd.i18n import _
from smsd.notes import N_

STATES = {"pending": N_("waiting"), "approved": N_("approved"), "refused": N_("refused"), "withdrawn": N_("withdrawn")}


@click.group(invoke_without_command=True)
@config_option
@click.option(
    "--state", type=click.Choice(list(STATES)), default="pending", show_default=True, help=_("Only this state.")
)
@json_option
@click.pass_context
def approval(ctx: click.Context, config_path: str, state: str, as_json: bool) -> None:
    """Broadcasts waiting for approval (待审批) that you may decide or wrote: list, show, approve, refuse.

    \b
    Example:
        smsd approval
        smsd approval show 12
        smsd approval approve 12
        smsd approval refuse 12 --reason "请写明会议地点"
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        found = broadcasts.waiting(store, acting(store), state)
    if as_json:
        echo_json([{**a.as_dict(), "request": a.asked, "summary": a.dry_run} for a in found])
        return
    rows = [
        {
            "id": a.id,
            "author": a.author,
            "name": a.name,
            "recipients": a.dry_run.get("recipients", ""),
            "yuan": a.dry_run.get("cost_yuan", ""),
            "state": _(STATES.get(a.state, a.state)),
            "asked": local(a.created_at),
            "reason": a.reason or "",
        }
        for a in found
    ]
    table(
        rows,
        [
            ("id", "ID", 5),
            ("author", _("AUTHOR"), 12),
            ("name", _("TITLE"), 20),
            ("recipients", _("RECIPIENTS"), 10),
            ("yuan", _("EST. YUAN"), 10),
            ("state", _("STATE"), 8),
            ("asked", _("ASKED"), 19),
            ("reason", _("REASON"), 20),
        ],
    )


@approval.command("show")
@config_option
@click.argument("approval_id", type=int)
@json_option
def approval_show(config_path: str, approval_id: int, as_json: bool) -> None:
    """A waiting broadcast with its dry run (recipients, segments, cost, ETA) as it was asked.

    \b
    Example:
        smsd approval show 12
    """
    from smsd.cli.broadcast import _print_plan

    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        a = broadcasts.show(store, approval_id, acting(store))
    if as_json:
        echo_json({**a.as_dict(), "request": a.asked, "summary": a.dry_run})
        return
    click.echo(
        _("broadcast {id} (revision {rev}) by {author}: {state}").format(
            id=a.id, rev=a.revision, author=a.author, state=_(STATES.get(a.state, a.state))
        )
    )
    click.echo(_("text: {text}").format(text=a.asked.get("text") or a.asked.get("template") or ""))
    _print_plan(a.dry_run, show=5)
    if a.reason:
        click.echo(_("reason: {reason}").format(reason=a.reason))


@approval.command("approve")
@config_option
@click.argument("approval_id", type=int)
def approval_approve(config_path: str, approval_id: int) -> None:
    """Approve a waiting broadcast: it is queued now as its author asked it.

    \b
    Example:
        smsd --as xq-shen approval approve 12
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        cid = broadcasts.approve(store, cfg, approval_id, acting(store))
    click.echo(_("broadcast {id} approved: campaign {c} queued").format(id=approval_id, c=cid))


@approval.command("refuse")
@config_option
@click.argument("approval_id", type=int)
@click.option("--reason", required=True, help=_("Why (its author is told by SMS)."))
def approval_refuse(config_path: str, approval_id: int, reason: str) -> None:
    """Send a waiting broadcast back to its author with a reason.

    \b
    Example:
        smsd approval refuse 12 --reason "请写明会议地点"
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        broadcasts.refuse(store, cfg, approval_id, reason, acting(store))
    click.echo(_("broadcast {id} sent back to its author").format(id=approval_id))


@approval.command("edit")
@config_option
@click.argument("approval_id", type=int)
@click.option("--text", help=_("The new text."))
@click.option("--at", "at", metavar="WHEN", help=_("The new start time."))
def approval_edit(config_path: str, approval_id: int, text: str | None, at: str | None) -> None:
    """Change your waiting or refused broadcast: it waits for approval again.

    \b
    Example:
        smsd --as bq-zhang approval edit 12 --text '${name}同志：周五下午三点在镇会议室开会。'
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        rev = broadcasts.edit(store, cfg, approval_id, text=text, at=at, actor=acting(store))
    click.echo(
        _("broadcast {id} changed (revision {rev}): it waits for approval again").format(id=approval_id, rev=rev)
    )


@approval.command("withdraw")
@config_option
@click.argument("approval_id", type=int)
def approval_withdraw(config_path: str, approval_id: int) -> None:
    """Withdraw your waiting broadcast.

    \b
    Example:
        smsd --as bq-zhang approval withdraw 12
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        broadcasts.withdraw(store, approval_id, acting(store))
    click.echo(_("broadcast {id} withdrawn").format(id=approval_id))
