"""The checks every verb makes of its actor: may its role do this, does its part of the org
tree hold what the action names. A refusal is a NotAllowed error (one line, nothing changed)."""

from __future__ import annotations

from smsd.errors import NotAllowed
from smsd.i18n import _
from smsd.phone import mask
from smsd.roles import ROLE_NAMES, Actor
from smsd.store import Store


def allow(actor: Actor, what: str) -> None:
    if not actor.may(what):
        role = _(ROLE_NAMES.get(actor.role, actor.role))
        raise NotAllowed("{login} ({role}) may not do this", field="actor", login=actor.login, role=role)


def within(actor: Actor, path: str | None) -> None:
    if not actor.covers(path):
        raise NotAllowed(
            "{what} is outside your part of the organisation ({scope})",
            field="org",
            what=path or "/",
            scope=actor.scope,
        )


def recipient(store: Store, actor: Actor, number: str) -> None:
    """May the actor send to this (normalised) number? An account with a part of the org tree
    sends to the members of that part; to a number outside the roster only with the grant."""
    if not actor.scope:
        return
    member = store.members.by_phone(number)
    if member is None and actor.any_number:
        return  # granted: a number outside the roster (smsd user grant)
    if member is None:
        raise NotAllowed(
            "{number} is not a member of your part of the organisation ({scope}); "
            "an administrator may grant numbers outside the roster (`smsd user grant`)",
            field="to",
            number=mask(number),
            scope=actor.scope,
        )
    within(actor, member.org)


def audited(store: Store, actor: Actor, action: str, target: str, detail: str = "", result: str = "ok") -> None:
    """One line of the audit trail: who (with where from), did what, to what, with what result."""
    store.audit.record(actor.login, actor.via, action, source=actor.source, target=target, result=result, detail=detail)


def refused(store: Store, actor: Actor, action: str, exc: NotAllowed) -> None:
    """A refusal, in the audit trail: the front end says what was asked (its command or route)."""
    try:
        detail = exc.template.format(**exc.params)  # the record's words are English, as the event log's
    except (KeyError, IndexError, ValueError):
        detail = exc.template
    audited(store, actor, "refused", action, detail, result="refused")
