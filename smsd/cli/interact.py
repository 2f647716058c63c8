"""poll and red: what members answer by SMS, for the admins."""

from __future__ import annotations

import io
import sys
from typing import Any

import click

from smsd import interact
from smsd.actions import polls
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
from smsd.clock import local
from smsd.errors import InputError
from smsd.export import SafeCsvWriter
from smsd.i18n import _


@click.group(invoke_without_command=True)
@config_option
@json_option
@click.pass_context
def poll(ctx: click.Context, config_path: str, as_json: bool) -> None:
    """Polls answered by SMS (TP 2): list them, or create, close, see results.

    \b
    Example:
        smsd poll create --question "是否同意年度计划？" --option 赞成 --option 反对 --all --closes "2026-12-01 18:00"
        smsd poll results 1
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        rows = [p.as_dict() for p in polls.polls(store, acting(store))]
    if as_json:
        echo_json(rows)
        return
    policies = {"first": _("first vote"), "last": _("last vote")}
    for r in rows:
        r["opts"] = " / ".join(r["options"])
        r["closes"] = local(r["closes_at"])
        r["policy"] = policies.get(r["policy"], r["policy"])
    table(
        rows,
        [
            ("id", "ID", 4),
            ("question", _("QUESTION"), 30),
            ("opts", _("OPTIONS"), 30),
            ("closes", _("CLOSES"), 19),
            ("policy", _("COUNTS"), 10),
        ],
    )


@poll.command("create")
@config_option
@click.option("--question", required=True, help=_("The question."))
@click.option("--option", "options", multiple=True, required=True, help=_("An option, in order (repeat: 2 or more)."))
@click.option("--org", "orgs", multiple=True, help=_("Audience: an org subtree (repeatable)."))
@click.option("--group", "groups", multiple=True, help=_("Audience: a role or group (repeatable)."))
@click.option("--all", "everyone", is_flag=True, help=_("Audience: every member."))
@click.option("--opens", metavar="WHEN", help=_("Opening time (default now)."))
@click.option(
    "--closes",
    metavar="WHEN",
    required=True,
    help=_("Closing time: 12月1日 18点, 下周五, 2026-12-01 18:00 (a day alone: its end)."),
)
@click.option(
    "--policy",
    type=click.Choice(["first", "last"]),
    default="first",
    show_default=True,
    help=_("Which vote of a member counts."),
)
@click.option("--invite", is_flag=True, help=_("Also send the poll_invitation template to the audience."))
@click.option("--dry-run", is_flag=True, help=_("With --invite: show recipients, cost and ETA; create nothing."))
@click.option("--yes", is_flag=True, help=_("With --invite: do not ask for confirmation."))
def poll_create(
    config_path: str,
    question: str,
    options: tuple[str, ...],
    orgs: tuple[str, ...],
    groups: tuple[str, ...],
    everyone: bool,
    opens: str | None,
    closes: str,
    policy: str,
    invite: bool,
    dry_run: bool,
    yes: bool,
) -> None:
    """Create a poll; members vote with TP <option> (or 投票 <option>). With --invite, the
    invitations are shown first like a broadcast (recipients, cost, ETA) and sent only after
    you say yes (or with --yes).

    \b
    Example:
        smsd poll create --question "年度优秀支部推荐" --option 一村 --option 二村 --org 大渡口区/八桥镇 \\
            --closes '12月1日 18点' --invite
    """
    if dry_run and not invite:
        raise click.ClickException(_("--dry-run shows the invitations: add --invite"))
    cfg = load(config_path)

    def review(plan: Any) -> None:
        from smsd.cli.broadcast import _print_plan

        _print_plan(plan.summary())
        if dry_run:
            raise click.exceptions.Exit(0)
        if not yes:
            if not sys.stdin.isatty():
                raise InputError("not a terminal: add --yes to send without confirmation")
            ask_yes(
                _("Send to {n} recipients for {yuan} yuan?").format(
                    n=plan.recipient_count, yuan=f"{plan.cost_fen / 100:.2f}"
                )
            )

    with handled(), open_store(cfg) as store:
        pid, cid = polls.create(
            store,
            cfg,
            question=question,
            options=list(options),
            orgs=orgs,
            groups=groups,
            everyone=everyone,
            opens=opens,
            closes=closes,
            policy=policy,
            invite=invite,
            review=review,
            actor=acting(store),
        )
        poll = polls.poll(store, pid, acting(store))
    click.echo(
        _("poll {id} created").format(id=pid) + (_("; invitation campaign {c} queued").format(c=cid) if cid else "")
    )
    from smsd import when
    from smsd.clock import parse_ts

    click.echo(_("open until {when}").format(when=when.describe(parse_ts(poll.closes_at))))


@poll.command("results")
@config_option
@click.argument("poll_id", type=int)
@json_option
@click.option("--csv", "as_csv", is_flag=True, help=_("Print CSV."))
def poll_results(config_path: str, poll_id: int, as_json: bool, as_csv: bool) -> None:
    """Counts, percentages and a bar per option.

    \b
    Example:
        smsd poll results 1 --csv > results.csv
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        results = polls.results(store, poll_id, acting(store))
    if as_json:
        echo_json(results.as_json())
        return
    if as_csv:
        click.echo(interact.results_csv(results), nl=False)
        return
    click.echo(
        f"{results.question}  （"
        + _("{votes} of {audience} voted").format(votes=results.votes, audience=results.audience)
        + "）"
    )
    for o in results.options:
        bar = "█" * round(o.percent / 5)
        click.echo(f"{o.option:>2}. {o.label:<10} {o.votes:>5} {o.percent:>5.1f}%  {bar}")


@poll.command("close")
@config_option
@click.argument("poll_id", type=int)
def poll_close(config_path: str, poll_id: int) -> None:
    """Close a poll now; later votes get a polite refusal.

    \b
    Example:
        smsd poll close 1
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        polls.close(store, poll_id, acting(store))
    click.echo(_("poll {id} closed").format(id=poll_id))


@click.group(invoke_without_command=True)
@config_option
@click.option("--state", type=click.Choice(["pending", "approved", "rejected"]), help=_("Only this state."))
@json_option
@click.pass_context
def red(ctx: click.Context, config_path: str, state: str | None, as_json: bool) -> None:
    """Red messages (红段子) submitted by SMS (HDZ <text>): list, review, export.

    \b
    Example:
        smsd red open "建党节红段子征集" --max-length 70
        smsd red --state pending
        smsd red approve 3
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        rows = [r.as_dict() for r in polls.red_submissions(store, state, acting(store))]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        r["at"] = local(r["submitted_at"])
        r["state"] = shown(r["state"])
    table(
        rows,
        [
            ("id", "ID", 5),
            ("state", _("STATE"), 8),
            ("name", _("NAME"), 8),
            ("org", _("ORG"), 20),
            ("at", _("SUBMITTED"), 19),
            ("text", _("TEXT"), 60),
        ],
    )


@red.command("open")
@config_option
@click.argument("name")
@click.option(
    "--max-length",
    type=click.IntRange(1, 500),
    default=140,
    show_default=True,
    help=_("Longest submission accepted, in characters."),
)
def red_open(config_path: str, name: str, max_length: int) -> None:
    """Open a red-message campaign: HDZ submissions go to it until it is closed.

    \b
    Example:
        smsd red open "建党节红段子征集" --max-length 70
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        rid = polls.open_red(store, name, max_length, acting(store))
    click.echo(_("red-message campaign {id} open").format(id=rid))


@red.command("close")
@config_option
@click.argument("campaign_id", type=int)
def red_close(config_path: str, campaign_id: int) -> None:
    """Close a red-message campaign.

    \b
    Example:
        smsd red close 1
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        polls.close_red(store, campaign_id, acting(store))
    click.echo(_("red-message campaign {id} closed").format(id=campaign_id))


def _review(config_path: str, sid: int, approve: bool, reason: str, notify: bool) -> None:
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        polls.review_red(store, cfg, sid, approve=approve, reason=reason, notify=notify, actor=acting(store))
    click.echo(_("submission {id} {state}").format(id=sid, state=_("approved") if approve else _("rejected")))


@red.command("approve")
@config_option
@click.argument("submission_id", type=int)
@click.option("--notify", is_flag=True, help=_("Tell the submitter by SMS."))
def red_approve(config_path: str, submission_id: int, notify: bool) -> None:
    """Approve a submission.

    \b
    Example:
        smsd red approve 3 --notify
    """
    _review(config_path, submission_id, True, "", notify)


@red.command("reject")
@config_option
@click.argument("submission_id", type=int)
@click.option("--reason", required=True, help=_("Why (kept in the event log; sent with --notify)."))
@click.option("--notify", is_flag=True, help=_("Tell the submitter by SMS."))
def red_reject(config_path: str, submission_id: int, reason: str, notify: bool) -> None:
    """Reject a submission with a reason.

    \b
    Example:
        smsd red reject 4 --reason "内容与主题无关"
    """
    _review(config_path, submission_id, False, reason, notify)


@red.command("export")
@config_option
@click.option("--campaign", "campaign_id", type=int, help=_("Only this red-message campaign."))
@click.option("--output", type=click.Path(dir_okay=False), help=_("Write CSV here instead of printing JSON."))
def red_export(config_path: str, campaign_id: int | None, output: str | None) -> None:
    """Export approved submissions (JSON, or CSV with --output).

    \b
    Example:
        smsd red export --campaign 1 --output approved.csv
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        rows = polls.export_red(store, campaign_id, acting(store))
    if not output:
        echo_json(rows)
        return
    buf = io.StringIO()
    fields = ["id", "campaign", "name", "org", "text", "submitted_at"]
    w = SafeCsvWriter(buf)
    w.writerow([_("ID"), _("Campaign"), _("Name"), _("Org unit"), _("Text"), _("Submitted")])
    w.writerows([r.get(f) for f in fields] for r in rows)
    from smsd.export import open_private

    try:
        with open_private(output, "w", encoding="utf-8-sig") as f:  # Excel opens UTF-8 with a BOM correctly
            f.write(buf.getvalue())
    except OSError as exc:
        problem = _("{output}: cannot write ({strerror})").format(output=output, strerror=exc.strerror)
        raise click.ClickException(problem) from None
    click.echo(_("{n} approved submission(s) written to {path}").format(n=len(rows), path=output))
