"""Verbs on money and records: cost and delivery reports, the archive, budgets, purge, backup."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from smsd.actions.scope import allow, audited, within
from smsd.errors import InputError, NotAllowed
from smsd.roles import CLI, Actor
from smsd.store import Store
from smsd.store.summaries import ArchiveRow, Budget, CostReport, DeliveryRow, Purged


def paying_org(store: Store, org: str | None) -> str | None:
    """--org as an admin writes it (八桥镇 for 大渡口区/八桥镇); a name that is no unit of the tree
    but was billed to (an API client's org) is taken as it is."""
    if not org or store.members.org_exists(org):
        return org
    try:
        return store.members.resolve_org(org)
    except InputError:
        if store.ledger.sum(org):
            return org
        raise


def cost(
    store: Store, by: str, *, date_from: str | None, date_to: str | None, org: str | None, actor: Actor = CLI
) -> CostReport:
    """What was spent, grouped: an account's report covers its part of the org tree at most."""
    unit = paying_org(store, org) or (actor.scope or None)
    within(actor, unit)
    return store.ledger.cost_report(by, date_from=date_from, date_to=date_to, org=unit)


def delivery(
    store: Store, by: str, *, date_from: str | None, date_to: str | None, actor: Actor = CLI
) -> list[DeliveryRow]:
    """How messages fared, by modem, day or kind: the box's figures, for the county's accounts."""
    within(actor, None)
    return store.ledger.delivery_report(by, date_from=date_from, date_to=date_to)


def archive(
    store: Store,
    *,
    date_from: str | None,
    date_to: str | None,
    org: str | None,
    campaign: int | None,
    actor: Actor = CLI,
) -> Iterator[ArchiveRow]:
    """The message archive (an export: audited), within the actor's part of the tree."""
    unit = paying_org(store, org) or (actor.scope or None)
    within(actor, unit)
    audited(store, actor, "report.export", unit or "/", f"from={date_from or '-'} to={date_to or '-'}")
    return store.ledger.archive(date_from=date_from, date_to=date_to, org=unit, campaign=campaign)


def budgets(store: Store, actor: Actor = CLI) -> list[tuple[Budget, int]]:
    """Every budget (of the actor's part of the tree) with what its org subtree spent that month (fen)."""
    return [(b, store.ledger.sum(b.org, b.month)) for b in store.ledger.budgets() if actor.covers(b.org)]


def set_budget(store: Store, org: str, month: str, limit_fen: int, actor: Actor = CLI) -> str:
    """Set an org unit's budget for a month (an admin, within its part of the tree); returns the unit's path."""
    allow(actor, "budgets")
    unit = store.members.resolve_org(org)
    within(actor, unit)
    with store.tx():
        store.ledger.set_budget(unit, month, limit_fen, actor.label)
        audited(store, actor, "budget.set", unit, f"month={month} fen={limit_fen}")
    return unit


def purge(store: Store, before: datetime, actor: Actor = CLI) -> Purged:
    """Anonymise what is older than before (the county's administrator only); the audit trail
    keeps its last 180 days whatever before says."""
    if not actor.root:
        raise NotAllowed("only the county's administrator purges the record", field="actor")
    done = store.maintenance.purge(before, actor.label)
    audited(store, actor, "purge", "/", f"outbox={done.outbox} inbox={done.inbox} audit={done.audit}")
    return done


def backup(store: Store, path: str | Path, actor: Actor = CLI) -> int:
    """A consistent copy of the database (the county's administrator only); returns the pages copied."""
    if not actor.root:
        raise NotAllowed("only the county's administrator backs up the database", field="actor")
    pages = store.maintenance.backup(path)
    audited(store, actor, "backup", str(path), f"{pages} pages")
    return pages
