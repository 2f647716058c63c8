"""Verbs on the roster: members and org units (the file formats are smsd.roster's)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from smsd import roster
from smsd.actions.scope import allow, audited, within
from smsd.errors import InputError
from smsd.roles import CLI, Actor
from smsd.store import Member, Store
from smsd.store.records import MemberRow


def _orgs(store: Store, actor: Actor, orgs: tuple[str, ...]) -> tuple[str, ...]:
    """The org units asked for (resolved), each within the actor's subtree; none asked: its subtree."""
    found = tuple(store.members.resolve_org(o) for o in orgs)
    for unit in found:
        within(actor, unit)
    return found or ((actor.scope,) if actor.scope else ())


def import_rows(
    store: Store, rows: list[MemberRow], actor: Actor = CLI, progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Insert or update members by phone, in one transaction: (added, updated); every row's org
    unit within the actor's subtree."""
    allow(actor, "roster")
    for r in rows:
        within(actor, r.org)
    with store.tx():
        added, updated = store.members.upsert(rows, actor.label, progress=progress)
        audited(store, actor, "members.import", actor.scope or "/", f"{added} added, {updated} updated")
    return added, updated


def export(store: Store, path: str | Path, orgs: tuple[str, ...], groups: tuple[str, ...], actor: Actor = CLI) -> int:
    """Write the members of these org subtrees and groups to an .xlsx roster; returns how many."""
    found = _orgs(store, actor, orgs)
    headers, rows = roster.member_rows(store.members.iterate(orgs=found, tags=groups))
    try:
        n = roster.write_xlsx(str(path), rows, headers, "花名册")
    except OSError as exc:
        raise InputError("{path}: cannot write ({strerror})", path=path, strerror=exc.strerror) from None
    audited(store, actor, "members.export", ",".join(found) or "/", f"{n} rows")
    return n


def members(
    store: Store, orgs: tuple[str, ...], groups: tuple[str, ...], limit: int | None, actor: Actor = CLI
) -> list[Member]:
    found = _orgs(store, actor, orgs)
    return store.members.select(orgs=found, tags=groups, limit=limit)


def member(store: Store, who: str, actor: Actor = CLI) -> Member:
    """A member by phone number or id (within the actor's subtree)."""
    found = store.members.get(who)
    within(actor, found.org)
    return found


def remove(store: Store, who: str, actor: Actor = CLI) -> Member:
    allow(actor, "roster")
    found = member(store, who, actor)
    with store.tx():
        removed = store.members.remove(who, actor.label)
        audited(store, actor, "members.remove", f"member:{found.id}")
    return removed


def org_units(store: Store, actor: Actor = CLI) -> list[tuple[str, int, int]]:
    """Every org unit with its members: (path, its own, with everything below it), within the actor's subtree."""
    return [u for u in store.members.org_counts() if actor.covers(u[0])]


def remove_org(store: Store, path: str, actor: Actor = CLI) -> tuple[str, int]:
    """Remove an empty org unit and those below it: (its full path, units removed)."""
    allow(actor, "roster")
    unit = store.members.resolve_org(path)
    within(actor, unit)
    with store.tx():
        n = store.members.remove_org(unit, actor.label)
        audited(store, actor, "org.remove", unit, f"{n} units")
    return unit, n
