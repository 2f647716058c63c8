"""Verbs on single messages: send one, look at the outbox and the inbox, change one."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from smsd import admin
from smsd.actions.scope import allow, audited, within
from smsd.config import Config
from smsd.errors import NotAllowed
from smsd.phone import mask, normalise
from smsd.roles import CLI, Actor
from smsd.store import InboundMessage, OutboundMessage, Store
from smsd.store.summaries import Feedback, FlaggedNumber


def send(
    store: Store,
    cfg: Config,
    number: str,
    text: str,
    *,
    at: str | None = None,
    priority: int | None = None,
    report: bool = True,
    actor: Actor = CLI,
) -> admin.Queued:
    """Queue one SMS after checking every input (nothing is written if one is wrong). An account
    with a part of the org tree sends to the members of that part only."""
    allow(actor, "send")
    check_recipient(store, actor, number)
    with store.tx():
        queued = admin.send(store, cfg, number, text, at=at, priority=priority, report=report, actor=actor.label)
        audited(store, actor, "send", f"message:{queued.id}", f"to {mask(normalise(number))}")
    return dataclasses.replace(queued, note=admin.waiting_note(store, cfg))  # as queued: nothing is read back


def check_recipient(store: Store, actor: Actor, number: str) -> None:
    """An account with a part of the org tree sends to the members of that part only."""
    if not actor.scope:
        return
    member = store.members.by_phone(normalise(number))
    if member is None:
        raise NotAllowed(
            "{number} is not a member of your part of the organisation ({scope})",
            field="to",
            number=mask(normalise(number)),
            scope=actor.scope,
        )
    within(actor, member.org)


def outbox(store: Store, state: str | None, limit: int, actor: str = "cli") -> list[OutboundMessage]:
    """The newest outgoing messages (in one state), at most limit."""
    return store.outbox.messages(state, limit)


def show(store: Store, message_id: int, actor: str = "cli") -> dict[str, Any]:
    """One message with its parts, its cost and its history (for JSON and the detail view)."""
    return admin.message_view(store, message_id)


def cancel(store: Store, message_id: int, actor: str = "cli") -> None:
    store.outbox.cancel(message_id, actor=actor)


def retry(store: Store, cfg: Config, message_id: int, actor: str = "cli") -> None:
    store.outbox.retry(message_id, actor=actor, expire_hours=cfg.sending.expire_hours)


def inbox(
    store: Store,
    view: Literal["recent", "feedback", "flagged"],
    *,
    unread: bool = False,
    limit: int = 50,
    actor: Actor = CLI,
) -> list[InboundMessage] | list[Feedback] | list[FlaggedNumber]:
    """Received SMS (newest first), or the feedback among them, or the numbers flagged as
    auto-responders. An account with a part of the org tree sees its members' SMS only (strangers'
    and the flagged numbers are the county's)."""
    if view == "flagged":
        return store.senders.flagged() if not actor.scope else []
    if view == "feedback":
        feedback = store.inbox.feedback(unread_only=unread, limit=limit)
        mine = covered(store, actor, {r.member_id for r in feedback})
        return feedback if not actor.scope else [r for r in feedback if r.member_id in mine]
    recent = store.inbox.recent(limit)
    mine = covered(store, actor, {r.member_id for r in recent})
    return recent if not actor.scope else [r for r in recent if r.member_id in mine]


def covered(store: Store, actor: Actor, ids: set[int | None]) -> set[int]:
    """Which of these members belong to the actor's part of the tree (nobody's SMS: the county's)."""
    if not actor.scope:
        return set()
    return {m.id for m in store.members.by_ids({i for i in ids if i is not None}) if actor.covers(m.org)}


def mark_read(store: Store, inbox_id: int, actor: str = "cli") -> None:
    store.inbox.mark_feedback_read(inbox_id, actor)


def unflag(store: Store, number: str, actor: str = "cli") -> str:
    """Answer a flagged number again; returns it normalised."""
    phone = normalise(number)
    store.senders.unflag(phone, actor)
    return phone
