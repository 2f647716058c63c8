"""Verbs on single messages: send one, look at the outbox and the inbox, change one."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from smsd import admin
from smsd.actions.scope import allow, audited, recipient, within
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
    """An account with a part of the org tree sends to the members of that part only (see
    smsd.actions.scope.recipient); the number as typed."""
    recipient(store, actor, normalise(number))


def outbox(store: Store, state: str | None, limit: int, actor: Actor = CLI) -> list[OutboundMessage]:
    """The newest outgoing messages (in one state), at most limit: an account's part of the tree
    sees those to its members or billed to it."""
    found = store.outbox.messages(state, limit)
    if not actor.scope:
        return found
    mine = covered(store, actor, {m.member_id for m in found})
    return [m for m in found if m.member_id in mine or (m.org and actor.covers(m.org))]


def _message(store: Store, actor: Actor, message_id: int) -> OutboundMessage:
    found = store.outbox.message_or_error(message_id)
    if actor.scope and not outbox_covers(store, actor, found):
        raise NotAllowed(
            "{what} is outside your part of the organisation ({scope})",
            field="id",
            what=f"#{message_id}",
            scope=actor.scope,
        )
    return found


def outbox_covers(store: Store, actor: Actor, m: OutboundMessage) -> bool:
    return bool(covered(store, actor, {m.member_id})) or bool(m.org and actor.covers(m.org))


def show(store: Store, message_id: int, actor: Actor = CLI) -> dict[str, Any]:
    """One message with its parts, its cost and its history (for JSON and the detail view)."""
    _message(store, actor, message_id)
    return admin.message_view(store, message_id)


def cancel(store: Store, message_id: int, actor: Actor = CLI) -> None:
    allow(actor, "send")
    _message(store, actor, message_id)
    with store.tx():
        store.outbox.cancel(message_id, actor=actor.label)
        audited(store, actor, "message.cancel", f"message:{message_id}")


def retry(store: Store, cfg: Config, message_id: int, actor: Actor = CLI) -> None:
    allow(actor, "send")
    _message(store, actor, message_id)
    with store.tx():
        store.outbox.retry(message_id, actor=actor.label, expire_hours=cfg.sending.expire_hours)
        audited(store, actor, "message.retry", f"message:{message_id}")


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


def mark_read(store: Store, inbox_id: int, actor: Actor = CLI) -> None:
    if actor.scope:
        found = [r for r in store.inbox.feedback(limit=100_000) if r.id == inbox_id]
        if not found or not covered(store, actor, {found[0].member_id}):
            raise NotAllowed(
                "{what} is outside your part of the organisation ({scope})",
                field="id",
                what=f"#{inbox_id}",
                scope=actor.scope,
            )
    store.inbox.mark_feedback_read(inbox_id, actor.label)


def unflag(store: Store, number: str, actor: Actor = CLI) -> str:
    """Answer a flagged number again (the county's: flagged numbers are strangers'); returns it normalised."""
    within(actor, None)
    phone = normalise(number)
    with store.tx():
        store.senders.unflag(phone, actor.label)
        audited(store, actor, "inbox.unflag", mask(phone))
    return phone
