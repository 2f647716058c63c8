"""Verbs on the roster: members and org units (the file formats are smsd.roster's)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from smsd import roster
from smsd.errors import InputError
from smsd.store import Member, Store
from smsd.store.records import MemberRow


def import_rows(
    store: Store, rows: list[MemberRow], actor: str = "cli", progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Insert or update members by phone, in one transaction: (added, updated)."""
    return store.members.upsert(rows, actor, progress=progress)


def export(store: Store, path: str | Path, orgs: tuple[str, ...], groups: tuple[str, ...], actor: str = "cli") -> int:
    """Write the members of these org subtrees and groups to an .xlsx roster; returns how many."""
    found = tuple(store.members.resolve_org(o) for o in orgs)
    headers, rows = roster.member_rows(store.members.iterate(orgs=found, tags=groups))
    try:
        return roster.write_xlsx(str(path), rows, headers, "花名册")
    except OSError as exc:
        raise InputError("{path}: cannot write ({strerror})", path=path, strerror=exc.strerror) from None


def members(
    store: Store, orgs: tuple[str, ...], groups: tuple[str, ...], limit: int | None, actor: str = "cli"
) -> list[Member]:
    found = tuple(store.members.resolve_org(o) for o in orgs)
    return store.members.select(orgs=found, tags=groups, limit=limit)


def member(store: Store, who: str, actor: str = "cli") -> Member:
    """A member by phone number or id."""
    return store.members.get(who)


def remove(store: Store, who: str, actor: str = "cli") -> Member:
    return store.members.remove(who, actor)


def org_units(store: Store, actor: str = "cli") -> list[tuple[str, int, int]]:
    """Every org unit with its members: (path, its own, with everything below it)."""
    return store.members.org_counts()


def remove_org(store: Store, path: str, actor: str = "cli") -> tuple[str, int]:
    """Remove an empty org unit and those below it: (its full path, units removed)."""
    unit = store.members.resolve_org(path)
    return unit, store.members.remove_org(unit, actor)
