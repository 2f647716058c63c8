"""send, outbox, inbox: queue messages and see what happened to them."""

from __future__ import annotations

from typing import Literal

import click

from smsd import notes
from smsd.actions import messages
from smsd.cli.common import (
    _width,
    acting,
    config_option,
    echo_json,
    handled,
    json_option,
    load,
    masked,
    open_store,
    pad,
    shown,
    shown_actor,
    table,
    unmask_option,
)
from smsd.clock import local
from smsd.i18n import _
from smsd.phone import mask

STATES = ("queued", "sending", "sent", "delivered", "failed", "cancelled", "expired")


def _state(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--state as the table shows it (已送达, 失败, ...) or as its code (delivered, failed, ...)."""
    if value is None:
        return None
    if value in STATES:
        return value
    for code in STATES:
        if shown(code) == value:
            return code
    raise click.BadParameter(
        _("{value!r} is not a state; use one of {states}").format(
            value=value, states=", ".join(f"{shown(s)} ({s})" for s in STATES)
        )
    )


@click.command()
@config_option
@click.argument("number")
@click.argument("text")
@click.option(
    "--at",
    "at",
    metavar="WHEN",
    help=_("Send later: 明天8点, 12月1日 下午3点, 2026-12-01 08:00 or 08:00 (Asia/Shanghai)."),
)
@click.option("--priority", type=int, default=None, help=_("0 (lowest) to 9 (highest); default from config.toml."))
@click.option("--no-report", is_flag=True, help=_("Do not ask the network for a delivery report."))
def send(config_path: str, number: str, text: str, at: str | None, priority: int | None, no_report: bool) -> None:
    """Queue one SMS to NUMBER; the running daemon sends it.

    \b
    Example:
        smsd send +8613800138000 "你好，测试"
        smsd send 13800138000 "明天上午九点开会" --at "2026-12-01 08:00"
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        q = messages.send(store, cfg, number, text, at=at, priority=priority, report=not no_report, actor=acting(store))
    click.echo(_("queued message {id} to {to} ({n} segment(s))").format(id=q.id, to=mask(q.to), n=q.segments))
    if q.note:
        click.echo(_("note: {note}").format(note=q.note), err=True)
    if q.not_before:
        from smsd import when

        click.echo(_("to be sent at {when}").format(when=when.describe(q.not_before)))


@click.group(invoke_without_command=True)
@config_option
@click.option(
    "--state", callback=_state, metavar="STATE", help=_("Only messages in this state (已送达 or delivered, ...).")
)
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True, help=_("At most this many."))
@click.option("--unmask", is_flag=True, help=_("Show full phone numbers."))
@json_option
@click.pass_context
def outbox(ctx: click.Context, config_path: str, state: str | None, limit: int, unmask: bool, as_json: bool) -> None:
    """List outgoing messages, newest first (or: show, cancel, retry one).

    \b
    Example:
        smsd outbox --state failed
        smsd outbox --json
        smsd outbox show 42
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        found = messages.outbox(store, state, limit + 1, acting(store))  # one more: was the list cut?
    cut = len(found) > limit
    found = found[:limit]
    rows = [m.as_dict() for m in found]
    if cut:  # on stderr: stdout stays the table or valid JSON
        click.echo(_("showing the newest {n}; there are more (use --limit, or --state)").format(n=limit), err=True)
    if as_json:
        echo_json(masked(rows, unmask))
        return
    for r, m in zip(rows, found, strict=True):
        r["to"] = m.to_number if unmask else mask(m.to_number)
        r["created"] = local(m.created_at)
        r["dup"] = "!" if m.possible_duplicate else ""
        r["state"] = shown(m.state)
        r["last_error"] = notes.shown(m.last_error)
    table(
        rows,
        [
            ("id", "ID", 8),
            ("state", _("STATE"), 9),
            ("to", _("TO"), 14),
            ("segments", _("SEG"), 3),
            ("modem", _("MODEM"), 8),
            ("created", _("CREATED"), 19),
            ("dup", _("DUP"), 4),
            ("text", _("TEXT"), 30),
            ("last_error", _("LAST ERROR"), 30),
        ],
    )


@outbox.command("show")
@config_option
@click.argument("message_id", type=int)
@unmask_option
@json_option
def outbox_show(config_path: str, message_id: int, unmask: bool, as_json: bool) -> None:
    """Show one message with its parts and its history.

    \b
    Example:
        smsd outbox show 42
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        view = masked(messages.show(store, message_id, acting(store)), unmask)
    if as_json:
        echo_json(view)
        return
    flags = [_("may arrive twice") if view["possible_duplicate"] else "", _("resent {n} time(s)").format(
        n=view["resends"]) if view.get("resends") else ""]  # fmt: skip
    alphabet = _("Chinese (UCS-2)") if view["encoding"] == "ucs2" else _("GSM 7-bit")
    fields = [
        (_("ID"), view["id"]),
        (_("State"), shown(view["state"])),
        (_("To"), view["to_number"]),
        (_("Segments"), f"{view['segments']}（{alphabet}）"),
        (_("Priority"), view["priority"]),
        (_("Modem"), view["modem"] or ""),
        (_("Send at"), local(view["not_before"]) if view.get("not_before") else _("at once")),
        (_("Refusals"), view["attempts"]),
        (_("Flags"), "，".join(f for f in flags if f)),
        (_("Last error"), notes.shown(view["last_error"])),
        (_("Cost (fen)"), view["cost_fen"]),
        (_("Text"), view["text"]),
    ]
    width = max(_width(label) for label, _value in fields)
    for label, value in fields:
        click.echo(f"{' ' * (width - _width(label))}{label}: {'' if value is None else value}")
    for part in view["parts"]:
        part["state"] = shown(part["state"])
        part["sent"] = local(part["sent_at"]) if part.get("sent_at") else ""
    table(
        view["parts"],
        [
            ("seq", "#", 3),
            ("state", _("STATE"), 10),
            ("modem", _("MODEM"), 8),
            ("provider_ref", _("REFERENCE"), 18),
            ("price_fen", _("FEN"), 4),
            ("sent", _("SENT"), 19),
        ],
    )
    for e in view["events"]:
        click.echo(f"  {local(e['at'])}  {pad(notes.event(e['event']), 12)} {pad(shown_actor(e['actor']), 12)} "
                   f"{notes.shown(e['detail'])}")  # fmt: skip


@outbox.command("cancel")
@config_option
@click.argument("message_id", type=int)
def outbox_cancel(config_path: str, message_id: int) -> None:
    """Cancel a queued message (not one a modem is sending).

    \b
    Example:
        smsd outbox cancel 42
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        messages.cancel(store, message_id, acting(store))
    click.echo(_("message {id} cancelled").format(id=message_id))


@outbox.command("retry")
@config_option
@click.argument("message_id", type=int)
def outbox_retry(config_path: str, message_id: int) -> None:
    """Queue a failed, expired or cancelled message again.

    \b
    Example:
        smsd outbox retry 42
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        messages.retry(store, cfg, message_id, acting(store))
    click.echo(_("message {id} queued again").format(id=message_id))


@click.group(invoke_without_command=True)
@config_option
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.option("--feedback", is_flag=True, help=_("Only feedback (YJ and free text from members)."))
@click.option("--unread", is_flag=True, help=_("With --feedback: only what nobody has marked read."))
@click.option("--flagged", is_flag=True, help=_("List numbers flagged as auto-responders instead."))
@click.option("--unmask", is_flag=True, help=_("Show full phone numbers."))
@json_option
@click.pass_context
def inbox(
    ctx: click.Context,
    config_path: str,
    limit: int,
    feedback: bool,
    unread: bool,
    flagged: bool,
    unmask: bool,
    as_json: bool,
) -> None:
    """List received SMS, newest first (or: mark feedback read, unflag a number).

    \b
    Example:
        smsd inbox --limit 20
        smsd inbox --feedback --unread
        smsd inbox read 42
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        which: Literal["recent", "feedback", "flagged"] = (
            "flagged" if flagged else ("feedback" if feedback else "recent")
        )
        rows = [r.as_dict() for r in messages.inbox(store, which, unread=unread, limit=limit, actor=acting(store))]
    if as_json:
        echo_json(masked(rows, unmask))
        return
    if flagged:
        for r in rows:
            r["number"] = r["phone"] if unmask else mask(r["phone"])
            r["at"] = local(r["flagged_at"])
        table(rows, [("number", _("NUMBER"), 14), ("at", _("FLAGGED"), 19), ("reason", _("REASON"), 50)])
        return
    for r in rows:
        r["from"] = r["sender"] if unmask else mask(r["sender"])
        r["received"] = local(r["received_at"])
        r["flags"] = " ".join(
            shown(f)
            for f, on in (
                ("incomplete", r["incomplete"]),
                ("undecodable", r["undecodable"]),
                ("read", r.get("feedback_read") and feedback),
            )
            if on
        )
        r["what"] = shown(r.get("command") or r.get("kind") or "")
    table(
        rows,
        [
            ("id", "ID", 8),
            ("received", _("RECEIVED"), 19),
            ("modem", _("MODEM"), 6),
            ("from", _("FROM"), 14),
            ("what", _("HANDLED AS"), 11),
            ("text", _("TEXT"), 50),
            ("flags", _("FLAGS"), 12),
        ],
    )


@inbox.command("read")
@config_option
@click.argument("inbox_id", type=int)
def inbox_read(config_path: str, inbox_id: int) -> None:
    """Mark a feedback message as read.

    \b
    Example:
        smsd inbox read 42
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        messages.mark_read(store, inbox_id, acting(store))
    click.echo(_("feedback {id} marked read").format(id=inbox_id))


@inbox.command("unflag")
@config_option
@click.argument("number")
def inbox_unflag(config_path: str, number: str) -> None:
    """Answer a number flagged as an auto-responder again.

    \b
    Example:
        smsd inbox unflag 13800138000
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        messages.unflag(store, number, acting(store))
    click.echo(_("{n} will be answered again").format(n=mask(number)))
