"""members: import the roster (CSV/XLSX), list, show and remove members."""

from __future__ import annotations

import sys

import click

from smsd import roster
from smsd.actions import roster as roster_actions
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
    table,
    unmask_option,
)
from smsd.clock import local
from smsd.errors import InputError
from smsd.i18n import _
from smsd.phone import mask


@click.group()
def members() -> None:
    """The member roster: import from Excel or CSV, list, show, remove.

    \b
    Example:
        smsd members import roster.xlsx
        smsd members list --org 大渡口区/八桥镇 --group secretary
    """


@members.command("import")
@config_option
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help=_("Import the good rows even when some rows are bad."))
@click.option("--sheet", default=None, help=_("The Excel sheet to read [default: the first one with the headers]."))
@click.option(
    "--under",
    default=None,
    metavar="ORG",
    help=_(
        "Put every org path of the file under this unit (a township's roster without the county: --under 大渡口区)."
    ),
)
def members_import(config_path: str, path: str, skip_invalid: bool, sheet: str | None, under: str | None) -> None:
    """Import members from PATH (.xlsx or .csv); re-importing updates by phone number.

    Columns (Chinese or English headers): 姓名/name, 手机/phone, 组织/所在党支部/org
    (a path like 大渡口区/八桥镇/某村党支部, or the levels in their own columns: 乡镇（街道）,
    村（社区）, 所在党支部), 角色/roles (comma-separated), 入党日期/joined (2001-07-01,
    2001.07, 20010701, ...); other columns are kept as extras for templates. The header row
    may sit under a title (the first ten rows are searched); merged cells give every row
    their value; totals and signatures under the table are passed over. Nothing is imported
    when a row is bad, unless --skip-invalid is given. `smsd members template` writes a
    blank roster to start from.

    \b
    Example:
        smsd members import roster.xlsx
        smsd members import 花名册.xlsx --sheet 党员
        smsd members import roster.csv --skip-invalid
    """
    cfg = load(config_path)
    with handled():
        result = roster.read(path, sheet=sheet, under=under)
        for w in result.warnings:
            click.echo(_("warning: {w}").format(w=w), err=True)
        if result.errors and not skip_invalid:
            for e in result.errors[:20]:
                click.echo(e, err=True)
            more = len(result.errors) - 20
            if more > 0:
                click.echo(_("... and {n} more").format(n=more), err=True)
            raise InputError(
                "{path}: {errors_count} bad row(s); nothing imported (fix them, or add --skip-invalid)",
                path=path,
                errors_count=len(result.errors),
            )
        with (
            open_store(cfg) as store,
            click.progressbar(length=len(result.rows), label=_("importing"), file=sys.stderr) as bar,
        ):
            added, updated = roster_actions.import_rows(store, result.rows, acting(store), progress=bar.update)
    for e in result.errors:
        click.echo(_("skipped {error}").format(error=e), err=True)
    unchanged = len(result.rows) - added - updated
    click.echo(
        _("imported {n} members ({added} new, {updated} updated, {unchanged} unchanged, {skipped} skipped)").format(
            n=len(result.rows), added=added, updated=updated, unchanged=unchanged, skipped=len(result.errors)
        )
    )


@members.command("template")
@click.argument("path", type=click.Path(dir_okay=False))
def members_template(path: str) -> None:
    """Write a blank roster (PATH.xlsx) with the headers smsd reads and one example row.

    \b
    Example:
        smsd members template 花名册.xlsx
    """
    if not path.lower().endswith(".xlsx"):
        raise click.ClickException(_("{path}: the template is an Excel file; name it .xlsx").format(path=path))
    with handled():
        try:
            roster.write_template(path)
        except OSError as exc:
            raise InputError("{path}: cannot write ({strerror})", path=path, strerror=exc.strerror) from None
    click.echo(_("wrote {path}: fill in one member per row (replace the example), then: smsd members import {path}")
               .format(path=path))  # fmt: skip


@members.command("export")
@config_option
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--org", "orgs", multiple=True, help=_("Only this org unit and everything below it."))
@click.option("--group", "groups", multiple=True, help=_("Only members with this role or group."))
def members_export(config_path: str, path: str, orgs: tuple[str, ...], groups: tuple[str, ...]) -> None:
    """Write the roster to PATH.xlsx, as `members import` reads it (full phone numbers: keep it safe).

    \b
    Example:
        smsd members export 花名册-2026-11.xlsx --org 大渡口区/八桥镇
    """
    if not path.lower().endswith(".xlsx"):
        raise click.ClickException(_("{path}: the export is an Excel file; name it .xlsx").format(path=path))
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        n = roster_actions.export(store, path, orgs, groups, acting(store))
    click.echo(_("wrote {n} member(s) to {path}").format(n=n, path=path))


@members.command("list")
@config_option
@click.option("--org", "orgs", multiple=True, help=_("Only this org unit and everything below it."))
@click.option("--group", "groups", multiple=True, help=_("Only members with this role or group."))
@click.option("--limit", type=click.IntRange(1), default=None, help=_("At most this many."))
@click.option("--unmask", is_flag=True, help=_("Show full phone numbers."))
@json_option
def members_list(
    config_path: str, orgs: tuple[str, ...], groups: tuple[str, ...], limit: int | None, unmask: bool, as_json: bool
) -> None:
    """List members, with their org unit, roles and opt-out state.

    \b
    Example:
        smsd members list --org 大渡口区/八桥镇 --json
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        rows = [m.as_dict() for m in roster_actions.members(store, orgs, groups, limit, acting(store))]
    for r in rows:
        if not unmask:
            r["phone"] = mask(r["phone"])
        r["opted_out"] = bool(r["opted_out"])
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        r["optout"] = _("opted out") if r["opted_out"] else ""
    table(
        rows,
        [
            ("id", "ID", 6),
            ("name", _("NAME"), 10),
            ("phone", _("PHONE"), 14),
            ("org", _("ORG"), 30),
            ("tags", _("ROLES"), 20),
            ("joined", _("JOINED"), 10),
            ("optout", _("OPT-OUT"), 9),
        ],
    )
    click.echo(_("{n} member(s)").format(n=len(rows)))


@members.command("show")
@config_option
@click.argument("member")
@unmask_option
@json_option
def members_show(config_path: str, member: str, unmask: bool, as_json: bool) -> None:
    """Show one member, by id or phone number.

    \b
    Example:
        smsd members show 13800138000
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        row = masked(roster_actions.member(store, member, acting(store)).as_dict(), unmask)
    if as_json:
        echo_json(row)
        return
    import json

    extras = row["extras"] if isinstance(row["extras"], dict) else json.loads(row["extras"] or "{}")
    fields = [
        (_("ID"), row["id"]),
        (_("Name"), row["name"]),
        (_("Phone"), row["phone"]),
        (_("Org unit"), row["org"] or ""),
        (_("Roles"), row["tags"] or ""),
        (_("Joined"), row["joined"] or ""),
        (_("Opted out"), (_("yes, since {at}").format(at=local(row["opted_out_at"])) if row["opted_out"] else _("no"))),
        *((str(k), v) for k, v in extras.items()),
    ]
    width = max(_width(label) for label, _value in fields)
    for label, value in fields:
        click.echo(f"{' ' * (width - _width(label))}{label}: {'' if value is None else value}")


@members.command("remove")
@config_option
@click.argument("member")
def members_remove(config_path: str, member: str) -> None:
    """Remove one member, by id or phone number (the message record is kept).

    \b
    Example:
        smsd members remove 13800138000
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        row = roster_actions.remove(store, member, acting(store))
    click.echo(_("removed {name} ({phone})").format(name=row.name, phone=mask(row.phone)))


@click.group()
def org() -> None:
    """Org units (the tree of 组织 paths in the roster).

    \b
    Example:
        smsd org tree
    """


@org.command("tree")
@config_option
@json_option
def org_tree(config_path: str, as_json: bool) -> None:
    """Show the org units as a tree, with members in each (and in everything below it).

    \b
    Example:
        smsd org tree
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        units = roster_actions.org_units(store, acting(store))
    if as_json:
        echo_json([{"path": p, "members": own, "subtree": total} for p, own, total in units])
        return
    for path, own, total in units:
        depth = path.count("/")
        label = path.rsplit("/", 1)[-1]
        counts = _("{total} member(s)").format(total=total)
        if own and own != total:
            counts += " " + _("({own} directly)").format(own=own)
        click.echo(f"{'  ' * depth}{label}  {counts}")
    if not units:
        click.echo(_("no org units yet: import a roster with a 组织 column"))


@org.command("remove")
@config_option
@click.argument("path")
def org_remove(config_path: str, path: str) -> None:
    """Remove an org unit that has no members (a typo from an old import, a merged village),
    with its empty sub-units. A unit with members is refused.

    \b
    Example:
        smsd org remove 大渡口区/八桥镇/旧村党支部
    """
    cfg = load(config_path)
    with handled(), open_store(cfg) as store:
        unit, n = roster_actions.remove_org(store, path, acting(store))
    click.echo(_("removed {path} ({n} unit(s))").format(path=unit, n=n))
