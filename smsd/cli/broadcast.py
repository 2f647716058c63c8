"""broadcast, campaign, templates: one message to many, and its progress."""

from __future__ import annotations

import sys
from typing import Any

import click

from smsd import broadcast as bc
from smsd import template as tpl
from smsd.actions import broadcasts, campaigns
from smsd.actions import roster as roster_actions
from smsd.cli.common import (
    acting,
    ask_yes,
    config_option,
    echo_json,
    handled,
    json_option,
    load,
    open_store,
    shown,
    table,
)
from smsd.clock import local, utcnow
from smsd.errors import InputError
from smsd.i18n import _
from smsd.phone import mask


def _vars(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise click.ClickException(_("--var {v!r}: use NAME=VALUE").format(v=v))
        k, val = v.split("=", 1)
        out[k.strip()] = val
    return out


def _print_plan(summary: dict[str, Any], show: int = 10) -> None:
    s = summary
    click.echo(
        _("recipients: {n} ({skipped} opted out, skipped)").format(n=s["recipients"], skipped=s["skipped_opted_out"])
    )
    seg = s["segments_per_message"]
    click.echo(
        _("segments per message: {min}-{max}; total segments: {total}").format(
            min=seg["min"], max=seg["max"], total=s["total_segments"]
        )
    )
    click.echo(
        _("cost: {yuan} yuan ({fen} fen = {total} x {price} fen)").format(
            yuan=s["cost_yuan"], fen=s["cost_fen"], total=s["total_segments"], price=s["price_fen_per_segment"]
        )
    )
    why = {
        "at": _("as asked"),
        "quiet": _("after the quiet hours"),
        "queue": _("after the messages queued before it"),
        "caps": _("when the SIMs' hourly or daily caps allow"),
    }.get(s["starts_why"], "")
    start = _("now") if s["starts"] == "now" else f"{s['starts']} ({why})"
    click.echo(
        _("starts: {start}; done by about {eta} ({modems} modem(s), caps and quiet hours)").format(
            start=start, eta=s["eta"] or "?", modems=s["modems"]
        )
    )
    if s["days"] >= 1:
        click.echo(
            _("warning: {n} messages at {rate}/hour on {modems} SIM(s): about {days} days").format(
                n=s["recipients"], rate=s["hourly_segments"], modems=s["modems"], days=round(s["days"] + 0.49)
            )
        )
    b = s.get("budget")
    if b:
        click.echo(
            _("budget of {org} for {month}: {limit} yuan; {before} left before, {after} left after").format(
                org=b["org"],
                month=b["month"],
                limit=f"{b['limit_fen'] / 100:.2f}",
                before=f"{b['left_before_fen'] / 100:.2f}",
                after=f"{b['left_after_fen'] / 100:.2f}",
            )
        )
    if s["queued_ahead_segments"]:
        click.echo(
            _("queued before it: {n} segments (already waiting; counted in the time above)").format(
                n=s["queued_ahead_segments"]
            )
        )
    click.echo(_("unsent messages expire at: {when}").format(when=s["expires"]))
    for note in s["notes"]:
        click.echo(_("note: {note}").format(note=note))
    for r in s["list"][:show]:
        click.echo(f"  {r['phone']}  {r['name']}  [{r['segments']}]  {r['text']}")
    if s["recipients"] > show:
        click.echo(_("  ... and {n} more (--json lists them all)").format(n=s["recipients"] - show))


@click.command()
@config_option
@click.option("--org", "orgs", multiple=True, help=_("Org unit path; its whole subtree (repeatable)."))
@click.option("--group", "groups", multiple=True, help=_("Role or group, e.g. secretary (repeatable: any of)."))
@click.option("--numbers", "numbers_file", type=click.Path(dir_okay=False), help=_("A file of numbers, one a line."))
@click.option("--all", "everyone", is_flag=True, help=_("Every member."))
@click.option(
    "--text",
    help=_("The message text (may use ${name} and other variables; in single quotes, or the shell empties them)."),
)
@click.option("--template", help=_("A template name from templates/ instead of --text."))
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help=_("A template variable (repeatable)."))
@click.option("--at", "at", metavar="WHEN", help=_("Start later: 明天8点, 12月1日 下午3点, 2026-12-01 08:00 or 08:00."))
@click.option("--urgent", is_flag=True, help=_("Also to opted-out members, and during quiet hours."))
@click.option("--confirm", is_flag=True, help=_("Ask for a receipt (QR); see `smsd campaign receipts`."))
@click.option("--owner", metavar="ORG", help=_("The org unit that pays (default: the one --org given)."))
@click.option("--over-budget", "over_budget", metavar="REASON", help=_("Send even if it exceeds the owner's budget."))
@click.option("--name", help=_("Campaign name (default: the start of the text)."))
@click.option("--dry-run", is_flag=True, help=_("Only show recipients, segments, cost and ETA."))
@click.option("--yes", is_flag=True, help=_("Do not ask for confirmation."))
@click.option("--unmask", is_flag=True, help=_("Show full phone numbers."))
@json_option
def broadcast(
    config_path: str,
    orgs: tuple[str, ...],
    groups: tuple[str, ...],
    numbers_file: str | None,
    everyone: bool,
    text: str | None,
    template: str | None,
    variables: tuple[str, ...],
    at: str | None,
    urgent: bool,
    confirm: bool,
    owner: str | None,
    over_budget: str | None,
    name: str | None,
    dry_run: bool,
    yes: bool,
    unmask: bool,
    as_json: bool,
) -> None:
    """Send one message to many members: a campaign you can follow, pause and cancel.

    Shows recipients, segments, cost and ETA first, and asks before sending (unless --yes).

    \b
    Example:
        smsd broadcast --org 大渡口区/八桥镇 --group secretary --template general_notice \\
            --var content="周五下午三点召开支部书记会议。" --dry-run
        smsd broadcast --all --text '${name}同志：明天上午九点开会。' --at '明天8点' --yes
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        actor = acting(store)
        asked = broadcasts.Asked(
            orgs=orgs,
            groups=groups,
            numbers=tuple(bc.read_numbers(numbers_file)) if numbers_file else (),
            everyone=everyone,
            text=text,
            template=template,
            variables=_vars(variables),
            at=at,
            urgent=urgent,
            confirm=confirm,
            owner=owner,
            name=name,
            over_budget=over_budget,
        )
        plan = broadcasts.plan(store, cfg, asked, actor)
        if not dry_run:
            bc.check_budget(store, plan, over_budget)  # refuse before asking for confirmation
        summary = plan.summary(unmask=unmask, store=store if as_json else None)
        summary["budget"] = bc.budget_figures(store, plan)
        waits = broadcasts.approval_rules(cfg, actor, plan)
        if as_json and dry_run:
            echo_json({**summary, "needs_approval": bool(waits)})
            return
        if not as_json:
            _print_plan(summary)
            if waits:
                click.echo(_("this broadcast needs approval (待审批) before it is queued"))
        if dry_run:
            return
        if not yes:
            if not sys.stdin.isatty():
                raise InputError("not a terminal: add --yes to send without confirmation")
            question = (
                _("Ask for approval to send to {n} recipients for {yuan} yuan?")
                if waits
                else _("Send to {n} recipients for {yuan} yuan?")
            )
            ask_yes(question.format(n=summary["recipients"], yuan=summary["cost_yuan"]))
        # The budget is checked again inside the transaction that queues it: two broadcasts
        # cannot both pass one budget.
        started = broadcasts.start(store, cfg, asked, actor, planned=plan)
    if as_json:
        echo_json({"campaign": started.campaign_id, "approval": started.approval_id, **summary})
    elif started.approval_id is not None:
        click.echo(
            _("broadcast {id} waits for approval (待审批): its approvers are told by SMS").format(
                id=started.approval_id
            )
        )
    else:
        click.echo(_("campaign {id} queued: {n} messages").format(id=started.campaign_id, n=summary["recipients"]))


@click.group(invoke_without_command=True)
@config_option
@json_option
@click.pass_context
def campaign(ctx: click.Context, config_path: str, as_json: bool) -> None:
    """List campaigns (or: status, pause, resume, cancel one).

    \b
    Example:
        smsd campaign
        smsd campaign status 3
        smsd campaign pause 3
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        rows = [c.as_dict() for c in campaigns.recent(store, acting(store))]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        r["created"] = local(r["created_at"])
        r["yuan"] = f"{r['estimate_fen'] / 100:.2f}"
        r["state"] = shown(r["state"])
    table(
        rows,
        [
            ("id", "ID", 5),
            ("name", _("TITLE"), 20),
            ("state", _("STATE"), 9),
            ("recipients", _("RECIPIENTS"), 10),
            ("segments", _("SEGMENTS"), 8),
            ("yuan", _("EST. YUAN"), 12),
            ("created", _("CREATED"), 19),
        ],
    )


def _bar(done: int, total: int, width: int = 30) -> str:
    """Messages that reached the network out of all: a cancelled campaign shows what it sent."""
    filled = int(width * done / total) if total else 0
    return "[" + "#" * filled + "-" * (width - filled) + f"] {done}/{total}"


@campaign.command("status")
@config_option
@click.argument("campaign_id", type=int)
@json_option
def campaign_status(config_path: str, campaign_id: int, as_json: bool) -> None:
    """Progress of one campaign: counts per state, a progress bar, cost so far, ETA.

    \b
    Example:
        smsd campaign status 3 --json
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        found = campaigns.status(store, cfg, campaign_id, acting(store))
    row, progress, eta = found.campaign, found.progress, found.eta
    counts = progress.states
    states = counts.nonzero()
    total = counts.total
    finished = total - counts.open
    modems = [m for m in cfg.modems if m.enabled] or cfg.modems
    data = {
        "id": campaign_id,
        "name": row.name,
        "state": row.state,
        "total": total,
        "finished": finished,
        "states": states,
        "segments_left": progress.segments_left,
        "cost_fen": progress.cost_fen,
        "cost_yuan": f"{progress.cost_fen / 100:.2f}",
        "eta": eta.astimezone(cfg.pacing(modems[0]).tz).strftime("%Y-%m-%d %H:%M") if eta else None,
    }
    if as_json:
        echo_json(data)
        return
    click.echo(f"{campaign_id} {row.name} ({shown(row.state)})")
    click.echo(_bar(counts.sent + counts.delivered, total))
    click.echo("  ".join(f"{shown(k)}: {v}" for k, v in sorted(states.items())))
    click.echo(_("cost so far: {yuan} yuan; ETA: {eta}").format(yuan=data["cost_yuan"], eta=data["eta"] or "-"))


def _transition(action: str, help_text: str):  # type: ignore[no-untyped-def]
    @campaign.command(action, help=help_text)
    @config_option
    @click.argument("campaign_id", type=int)
    def command(config_path: str, campaign_id: int) -> None:
        cfg = load(config_path)
        with handled(), open_store(cfg) as store:
            state = campaigns.transition(store, campaign_id, action, acting(store))
        click.echo(_("campaign {id} is now {state}").format(id=campaign_id, state=shown(state)))

    return command


_transition(
    "pause", _("Pause a running campaign (messages being sent finish).\n\n\b\nExample:\n    smsd campaign pause 3")
)
_transition("resume", _("Resume a paused campaign.\n\n\b\nExample:\n    smsd campaign resume 3"))
_transition(
    "cancel",
    _("Cancel a campaign: every message not yet sent is cancelled.\n\n\b\nExample:\n    smsd campaign cancel 3"),
)


@campaign.command("receipts")
@config_option
@click.argument("campaign_id", type=int)
@click.option("--unmask", is_flag=True, help=_("Show full phone numbers."))
@json_option
def campaign_receipts(config_path: str, campaign_id: int, unmask: bool, as_json: bool) -> None:
    """Who confirmed a --confirm notice, and who has not yet.

    \b
    Example:
        smsd campaign receipts 3
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        status = campaigns.receipts(store, campaign_id, acting(store))
    data = {
        "confirmed": [r.as_dict() for r in status.confirmed],
        "pending": [r.as_dict() for r in status.pending],
    }
    for rows in data.values():
        for r in rows:
            r["phone"] = r["phone"] if unmask else mask(r["phone"])
            r["confirmed"] = local(r["confirmed_at"])
    if as_json:
        echo_json(data)
        return
    click.echo(_("confirmed: {c}; not yet: {p}").format(c=len(data["confirmed"]), p=len(data["pending"])))
    table(
        data["confirmed"] + data["pending"],
        [("name", _("NAME"), 10), ("phone", _("PHONE"), 14), ("confirmed", _("CONFIRMED"), 19)],
    )


@campaign.command("remind")
@config_option
@click.argument("campaign_id", type=int)
@click.option("--again", is_flag=True, help=_("Remind once more a campaign that was reminded before."))
def campaign_remind(config_path: str, campaign_id: int, again: bool) -> None:
    """Send the notice again to those who have not confirmed it (a second round needs --again).

    \b
    Example:
        smsd campaign remind 3
        smsd campaign remind 3 --again
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        n = campaigns.remind(store, cfg, campaign_id, again=again, actor=acting(store))
    click.echo(_("{n} reminder(s) queued").format(n=n))


@click.group()
def templates() -> None:
    """Message templates in templates/ (NAME.txt with ${placeholders}).

    \b
    Example:
        smsd templates list
        smsd templates preview anniversary --member 13800138000
    """


@templates.command("list")
@config_option
def templates_list(config_path: str) -> None:
    """List templates with their variables.

    \b
    Example:
        smsd templates list
    """
    cfg = load(config_path)
    with handled():
        found = tpl.load_all(cfg.templates_dir)
    # a shipped template's description is in the catalogue; an office's own stays as written
    rows = [{"name": t.name, "vars": ", ".join(t.variables), "about": _(t.description)} for t in found.values()]
    columns = [("name", _("TEMPLATE"), 24), ("vars", _("VARIABLES"), 30), ("about", _("ABOUT"), 60)]
    click.echo(_("Message templates (for broadcasts and notices):"))
    table([r for r in rows if not r["name"].startswith("reply_")], columns)
    click.echo("")
    click.echo(_("Reply templates (what smsd answers members; edit them to change the wording):"))
    table([r for r in rows if r["name"].startswith("reply_")], columns)


@templates.command("preview")
@config_option
@click.argument("name")
@click.option("--member", help=_("Fill the variables from this member (id or phone)."))
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help=_("A variable (repeatable)."))
def templates_preview(config_path: str, name: str, member: str | None, variables: tuple[str, ...]) -> None:
    """Show a template's text for a member, with its encoding, segments and cost.

    \b
    Example:
        smsd templates preview anniversary --member 13800138000
    """
    from smsd import segments

    cfg = load(config_path)
    with handled():
        t = tpl.load(cfg.templates_dir, name)
        values: dict[str, Any] = {}
        if member:
            with open_store(cfg) as store:
                values = bc.member_variables(roster_actions.member(store, member), utcnow())
        body = t.render({**values, **_vars(variables)})
    p = segments.plan(body)
    price = max((m.price_fen for m in cfg.modems if m.enabled), default=0)
    click.echo(body)
    click.echo(
        _("encoding: {enc}; {n} characters; {segs} segment(s); {fen} fen").format(
            enc=p.encoding.upper(), n=len(body), segs=p.segments, fen=p.segments * price
        )
    )
