"""report, budget, purge, backup: what things cost, the record, and keeping it safe."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from smsd.actions import reports
from smsd.cli.common import (
    F,
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
from smsd.clock import local, local_iso, utcnow
from smsd.errors import InputError
from smsd.export import SafeCsvWriter, open_private
from smsd.i18n import _
from smsd.phone import mask

if TYPE_CHECKING:
    from smsd.store import Store

MAX_BUDGET_FEN = 10**12  # ten billion yuan: far above any office's month, far below SQLite's integers


def _date(value: str | None, name: str) -> str | None:
    """A report day: 2026-12-01, 2026/12/01, 12月1日, 今天, 昨天; a day that does not exist is refused
    (2026-13-01 once printed an empty table)."""
    if not value:
        return None
    from smsd import when

    try:
        return when.parse_day(value, utcnow(), field=name.lstrip("-")).isoformat()
    except InputError as exc:
        raise click.ClickException(f"{name}: {exc}") from None


def _row_label(key: str) -> str:
    """A report row's group as the admin reads it; the codes the store groups by stay in JSON."""
    labels = {
        "(unassigned)": _("(no org unit)"),
        "(none)": _("(no campaign)"),
        "-": _("(not sent yet)"),
        "(direct)": _("(single sends)"),
        "(campaign)": _("(broadcasts)"),
        "(replies)": _("(replies to members)"),
    }
    if key in labels:
        return labels[key]
    if key.startswith("(api:") and key.endswith(")"):
        return _("(API {name})").format(name=key[5:-1])
    return key


def _labels() -> dict[str, str]:
    """Column headings of an Excel report, in the admin's language."""
    return {
        "key": _("Group"),
        "org": _("Org unit"),
        "month": _("Month"),
        "day": _("Day"),
        "modem": _("Modem"),
        "campaign": _("Campaign"),
        "account": _("Account"),
        "segments": _("Segments"),
        "fen": _("Cost (fen)"),
        "yuan": _("Cost (yuan)"),
        "doubt_segments": _("Of which unconfirmed"),
        "name": _("Name"),
        "messages": _("Messages"),
        "sent": _("Sent"),
        "delivered": _("Delivered"),
        "failed": _("Failed"),
        "pending": _("Pending"),
        "dropped": _("Dropped"),
        "id": _("ID"),
        "to": _("Number"),
        "member_org": _("Org unit"),
        "state": _("State"),
        "cost_fen": _("Cost (fen)"),
        "cost_yuan": _("Cost (yuan)"),
        "campaign_id": _("Campaign"),
        "text": _("Text"),
    }


def _period(date_from: str | None, date_to: str | None) -> str:
    if date_from or date_to:
        return _("{start} to {end}").format(start=date_from or "…", end=date_to or "…")
    return _("all time")


def _write(
    rows: list[dict[str, Any]] | Any,
    columns: list[str],
    fmt: str,
    output: str | None,
    *,
    title: str = "",
    key_label: str | None = None,
) -> int:
    """CSV to a file or stdout, or XLSX to a file; rows may be a generator (streamed)."""
    if fmt == "xlsx":
        from smsd.export import report_xlsx

        if not output:
            raise click.ClickException(_("--xlsx needs --output FILE.xlsx"))
        labels = _labels()
        if key_label:
            labels["key"] = key_label
        headers = [(c, labels.get(c, c)) for c in columns]
        try:
            n = report_xlsx(output, title, headers, rows, money=frozenset({"yuan", "cost_yuan"}))
        except OSError as exc:
            raise InputError("{output}: cannot write ({strerror})", output=output, strerror=exc.strerror) from None
        click.echo(_("wrote {n} row(s) to {path}").format(n=n, path=output), err=True)
        return n
    try:
        stream = open_private(output, "w", newline="", encoding="utf-8-sig") if output else sys.stdout
    except OSError as exc:
        raise InputError("{output}: cannot write ({strerror})", output=output, strerror=exc.strerror) from None
    try:
        w = SafeCsvWriter(stream)
        labels = _labels()
        if key_label:
            labels["key"] = key_label
        w.writerow([labels.get(c, c) for c in columns])  # headers in the admin's language, as in Excel
        n = 0
        for r in rows:
            w.writerow([r.get(c) for c in columns])
            n += 1
    finally:
        if output:
            stream.close()
    if output:
        click.echo(_("wrote {n} row(s) to {path}").format(n=n, path=output), err=True)
    return n


def _format_options(f: F) -> F:
    f = click.option("--output", type=click.Path(dir_okay=False), help=_("Write to this file."))(f)
    f = click.option("--xlsx", "fmt", flag_value="xlsx", help=_("Excel (with --output)."))(f)
    f = click.option("--csv", "fmt", flag_value="csv", help=_("CSV."))(f)
    f = click.option("--json", "fmt", flag_value="json", help=_("JSON."))(f)
    f = click.option("--to", "date_to", metavar="DAY", help=_("Until this day (inclusive)."))(f)
    return click.option("--from", "date_from", metavar="DAY", help=_("From this day (2026-12-01, 12月1日, 昨天)."))(f)


@click.group()
def report() -> None:
    """Reports: cost, delivery, and the message archive.

    \b
    Example:
        smsd report cost --by org --from 2026-11-01 --to 2026-11-30
        smsd report messages --org 大渡口区/八桥镇 --csv --output archive.csv
    """


@report.command("cost")
@config_option
@click.option(
    "--by", type=click.Choice(["org", "month", "day", "modem", "campaign", "account"]), default="org", show_default=True
)
@click.option("--org", help=_("Only this org subtree (a township sees its own)."))
@_format_options
def report_cost(
    config_path: str,
    by: str,
    org: str | None,
    date_from: str | None,
    date_to: str | None,
    fmt: str | None,
    output: str | None,
) -> None:
    """What was spent, grouped, with the total (integer fen, shown in yuan).

    \b
    Example:
        smsd report cost --by month --org 大渡口区/八桥镇
        smsd report cost --by campaign --xlsx --output cost.xlsx
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        report = reports.cost(
            store,
            by,
            date_from=_date(date_from, "--from"),
            date_to=_date(date_to, "--to"),
            org=org,
            actor=acting(store),
        )
    named = by == "campaign"
    data: dict[str, Any] = {
        "by": report.by,
        "rows": [{k: v for k, v in r.as_dict().items() if named or k != "name"} for r in report.rows],
        "total": {k: v for k, v in report.total.as_dict().items() if k not in ("key", "name")},
    }
    rows = [{**r, "key": _row_label(r["key"]), "yuan": f"{r['fen'] / 100:.2f}"} for r in data["rows"]]
    total = {"key": _("TOTAL"), **data["total"], "yuan": f"{data['total']['fen'] / 100:.2f}"}
    columns = ["key", "segments", "fen", "yuan", "doubt_segments"] + (["name"] if by == "campaign" else [])
    if fmt == "json":
        echo_json({**data, "rows": [{**r, "yuan": f"{r['fen'] / 100:.2f}"} for r in data["rows"]]})  # codes kept
    elif fmt == "xlsx":  # numbers as numbers: yuan is fen / 100, shown with two decimals
        numeric = [
            {**r, "key": _row_label(r["key"]), "yuan": r["fen"] / 100}
            for r in [*data["rows"], {"key": _("TOTAL"), **data["total"]}]
        ]
        title = _("SMS cost by {by}, {period}").format(
            by=_labels().get(by, by), period=_period(_date(date_from, "--from"), _date(date_to, "--to"))
        )
        _write(numeric, columns, fmt, output, title=title, key_label=_labels().get(by, by))
    elif fmt == "csv":
        _write([*rows, total], columns, fmt, output, key_label=_labels().get(by, by))
    else:
        table(
            [*rows, total],
            [
                ("key", _labels().get(by, by), 30),
                ("segments", _("SEGMENTS"), 10),
                ("fen", _("FEN"), 10),
                ("yuan", _("YUAN"), 10),
                ("doubt_segments", _("UNCONFIRMED"), 10),
            ]
            + ([("name", _("TITLE"), 20)] if by == "campaign" else []),
        )
        if data["total"]["doubt_segments"]:
            click.echo(
                _(
                    "{n} segment(s) ({yuan:.2f} yuan) are booked without the network's answer: most likely sent "
                    "and paid, not confirmed"
                ).format(n=data["total"]["doubt_segments"], yuan=data["total"]["doubt_fen"] / 100)
            )


@report.command("delivery")
@config_option
@click.option("--by", type=click.Choice(["campaign", "modem"]), default="campaign", show_default=True)
@_format_options
def report_delivery(
    config_path: str, by: str, date_from: str | None, date_to: str | None, fmt: str | None, output: str | None
) -> None:
    """Sent, delivered (by status report), failed and pending messages, per campaign or modem.

    \b
    Example:
        smsd report delivery --by modem
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        rows = [
            r.as_dict()
            for r in reports.delivery(
                store, by, date_from=_date(date_from, "--from"), date_to=_date(date_to, "--to"), actor=acting(store)
            )
        ]
    columns = ["key", "messages", "sent", "delivered", "failed", "pending", "dropped"]
    if fmt == "json":
        echo_json(rows)
        return
    rows = [{**r, "key": _row_label(r["key"])} for r in rows]
    if fmt in ("csv", "xlsx"):
        title = _("Delivery by {by}, {period}").format(
            by=_labels().get(by, by), period=_period(_date(date_from, "--from"), _date(date_to, "--to"))
        )
        _write(rows, columns, fmt, output, title=title, key_label=_labels().get(by, by))
    else:
        labels = {**_labels(), "key": _labels().get(by, by)}
        table(rows, [(c, labels[c], 30 if c == "key" else 10) for c in columns])


@report.command("messages")
@config_option
@click.option("--org", help=_("Only messages paid by this org subtree."))
@click.option("--campaign", type=int, help=_("Only this campaign."))
@click.option("--unmask", is_flag=True, help=_("Show full phone numbers."))
@_format_options
def report_messages(
    config_path: str,
    org: str | None,
    campaign: int | None,
    unmask: bool,
    date_from: str | None,
    date_to: str | None,
    fmt: str | None,
    output: str | None,
) -> None:
    """The archive: recipient, time to the second, text, status and cost of every message.

    \b
    Example:
        smsd report messages --from 2026-11-01 --csv --output november.csv
    """
    cfg = load(config_path)
    columns = ["id", "to", "name", "member_org", "sent", "delivered", "state", "segments", "cost_fen", "cost_yuan",
               "campaign_id", "modem", "text"]  # fmt: skip

    def rows(store: Store) -> Iterator[dict[str, Any]]:
        for row in reports.archive(
            store,
            date_from=_date(date_from, "--from"),
            date_to=_date(date_to, "--to"),
            org=org,
            campaign=campaign,
            actor=acting(store),
        ):
            r = row.as_dict()
            r["to"] = r["to_number"] if unmask else mask(r["to_number"])
            # files carry the offset (one zone everywhere: logs, exports); the table shows local time
            stamp = local if fmt in (None, "table") else local_iso
            r["sent"] = stamp(r["sent_at"])
            r["delivered"] = stamp(r["delivered_at"])
            r["cost_yuan"] = r["cost_fen"] / 100 if fmt == "xlsx" else f"{r['cost_fen'] / 100:.2f}"
            if fmt != "json":
                r["state"] = shown(r["state"])  # JSON keeps the code
            yield r

    with handled(), open_store(cfg) as store:
        if fmt == "json":
            echo_json([{c: r[c] for c in columns} for r in rows(store)])
        elif fmt in ("csv", "xlsx"):
            period = _period(_date(date_from, "--from"), _date(date_to, "--to"))
            _write(rows(store), columns, fmt, output, title=_("SMS archive, {period}").format(period=period))
        else:
            table(
                list(rows(store))[-200:],
                [
                    ("id", "ID", 8),
                    ("to", _("TO"), 14),
                    ("sent", _("SENT"), 19),
                    ("state", _("STATE"), 9),
                    ("cost_fen", _("FEN"), 5),
                    ("text", _("TEXT"), 40),
                ],
            )


@click.group(invoke_without_command=True)
@config_option
@json_option
@click.pass_context
def budget(ctx: click.Context, config_path: str, as_json: bool) -> None:
    """Monthly budgets per org unit: a broadcast over budget is refused with the figures.

    \b
    Example:
        smsd budget set 大渡口区/八桥镇 --month 2026-12 --yuan 300
        smsd budget
    """
    if ctx.invoked_subcommand is not None:
        return
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        rows: list[dict[str, Any]] = [
            {**b.as_dict(), "spent_fen": spent} for b, spent in reports.budgets(store, acting(store))
        ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        r["limit"] = f"{r['limit_fen'] / 100:.2f}"
        r["spent"] = f"{r['spent_fen'] / 100:.2f}"
    table(
        rows,
        [
            ("org", _("ORG"), 30),
            ("month", _("MONTH"), 7),
            ("limit", _("BUDGET (YUAN)"), 13),
            ("spent", _("SPENT (YUAN)"), 12),
        ],
    )


def _fen_of_yuan(text: str) -> int:
    """--yuan 300 or 299.50 as integer fen, exactly (no float): nan, inf, -1 and 0.001 are refused."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if (
        not value.is_finite()
        or value < 0
        or value * 100 != (value * 100).to_integral_value()
        or value * 100 > MAX_BUDGET_FEN
    ):
        raise click.ClickException(_("--yuan {value!r}: give an amount such as 300 or 299.50").format(value=text))
    return int(value * 100)


@budget.command("set")
@config_option
@click.argument("org")
@click.option("--month", required=True, metavar="YYYY-MM")
@click.option("--yuan", help=_("The limit in yuan (or --fen)."))
@click.option("--fen", type=click.IntRange(0, MAX_BUDGET_FEN), help=_("The limit in fen."))
def budget_set(config_path: str, org: str, month: str, yuan: str | None, fen: int | None) -> None:
    """Set an org unit's budget for a month.

    \b
    Example:
        smsd budget set 大渡口区/八桥镇 --month 2026-12 --yuan 300
    """
    cfg = load(config_path)
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise click.ClickException(_("--month {m!r}: use YYYY-MM").format(m=month))
    if (yuan is None) == (fen is None):
        raise click.ClickException(_("give the limit as --yuan or --fen (one of them)"))
    limit = fen if fen is not None else _fen_of_yuan(yuan or "")
    with handled(), open_store(cfg) as store:
        org = reports.set_budget(store, org, month, limit, acting(store))
    click.echo(_("budget of {org} for {month}: {yuan:.2f} yuan").format(org=org, month=month, yuan=limit / 100))


@click.command()
@config_option
@click.option("--older-than", "older", required=True, metavar="AGE", help=_("e.g. 180d (days) or 26w (weeks)."))
@click.option("--yes", is_flag=True, help=_("Do not ask for confirmation."))
def purge(config_path: str, older: str, yes: bool) -> None:
    """Remove message texts and numbers older than AGE; cost totals (the ledger) stay.

    \b
    Example:
        smsd purge --older-than 180d --yes
    """
    m = re.fullmatch(r"(\d+)([dw])", older)
    if not m:  # 0d is allowed: everything already sent or received (never what is still queued)
        raise click.ClickException(_("--older-than {v!r}: use a number of days or weeks, like 180d").format(v=older))
    days = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
    cfg = load(config_path)
    if not yes:
        if not sys.stdin.isatty():
            raise click.ClickException(_("not a terminal: add --yes to purge"))
        ask_yes(_("Anonymise every message older than {d} days?").format(d=days))
    with handled(), open_store(cfg) as store:
        counts = reports.purge(store, utcnow() - timedelta(days=days), acting(store))
    click.echo(
        _("purged {o} sent and {i} received messages older than {d} days").format(
            o=counts.outbox, i=counts.inbox, d=days
        )
    )
    click.echo(_("audit trail: the last 180 days kept; {n} older rows removed").format(n=counts.audit))


@click.command()
@config_option
@click.argument("path", type=click.Path(dir_okay=False))
def backup(config_path: str, path: str) -> None:
    """A consistent copy of the database, safe while the daemon runs.

    \b
    Example:
        smsd backup /var/backups/smsd-2026-11-27.db
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        pages = reports.backup(store, path, acting(store))
    click.echo(_("backup written to {path} ({kb} KiB)").format(path=path, kb=pages * 4096 // 1024))
