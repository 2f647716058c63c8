"""Verbs on polls and red-message (红段子) campaigns, each within the actor's part of the org
tree: a poll belongs to the part that created it (its audience lies inside it), a red-message
campaign to the part that opened it, and a submission to its member's branch. Creation,
reminders and reviews are in smsd.interact, which these call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from smsd import broadcast, interact
from smsd.actions import broadcasts
from smsd.actions.scope import allow, audited, within
from smsd.config import Config
from smsd.errors import NotAllowed
from smsd.roles import CLI, Actor
from smsd.store import Poll, Store
from smsd.store.summaries import PollResults, RedSubmission


def polls(store: Store, actor: Actor = CLI) -> list[Poll]:
    return [p for p in store.polls.all() if actor.covers(p.owner_org)]


def poll(store: Store, poll_id: int, actor: Actor = CLI) -> Poll:
    found = store.polls.get(poll_id)
    within(actor, found.owner_org)
    return found


def create(
    store: Store,
    cfg: Config,
    *,
    question: str,
    options: list[str],
    orgs: tuple[str, ...] = (),
    groups: tuple[str, ...] = (),
    everyone: bool = False,
    opens: str | None = None,
    closes: str,
    policy: str = "first",
    invite: bool = False,
    review: Callable[[broadcast.Plan], None] | None = None,
    actor: Actor = CLI,
    now: datetime | None = None,
) -> tuple[int, int | None]:
    """A poll among members of the actor's part of the tree (everyone: its whole part); it
    belongs to the one org unit named, else to the actor's part. (poll id, invitation campaign id)"""
    allow(actor, "send")
    units = tuple(store.members.resolve_org(o) for o in orgs)
    for unit in units:
        within(actor, unit)
    if actor.scope and (everyone or (groups and not units)):
        units, everyone = (actor.scope,), False
    owner = units[0] if len(units) == 1 else (actor.scope or None)

    def checked(plan: broadcast.Plan) -> None:  # invitations are a broadcast: [approval] holds for them too
        if broadcasts.approval_rules(cfg, actor, plan):
            raise NotAllowed(
                "these invitations need approval: create the poll without --invite, then send the invitation "
                "as a broadcast (`smsd broadcast --template poll_invitation`), which waits for its approver",
                field="invite",
            )
        if review is not None:
            review(plan)

    pid, cid = interact.create_poll(
        store,
        cfg,
        question=question,
        options=options,
        orgs=units,
        groups=groups,
        everyone=everyone,
        opens=opens,
        closes=closes,
        policy=policy,
        invite=invite,
        review=checked,
        actor=actor,
        owner_org=owner,
        now=now,
    )
    audited(
        store, actor, "poll.create", f"poll:{pid}", f"{len(options)} options" + (f"; campaign {cid}" if cid else "")
    )
    return pid, cid


def results(store: Store, poll_id: int, actor: Actor = CLI) -> PollResults:
    poll(store, poll_id, actor)
    return store.polls.results(poll_id)


def close(store: Store, poll_id: int, actor: Actor = CLI) -> None:
    allow(actor, "send")
    poll(store, poll_id, actor)
    with store.tx():
        store.polls.close(poll_id, actor.label)
        audited(store, actor, "poll.close", f"poll:{poll_id}")


def red_submissions(store: Store, state: str | None, actor: Actor = CLI) -> list[RedSubmission]:
    """Submissions from members of the actor's part of the tree."""
    return [r for r in store.red.submissions(state) if actor.covers(r.org) or not actor.scope]


def open_red(store: Store, name: str, max_length: int, actor: Actor = CLI) -> int:
    allow(actor, "send")
    with store.tx():
        rid = store.red.open(name, max_length, actor.label, owner_org=actor.scope or None)
        audited(store, actor, "red.open", f"red:{rid}", name)
    return rid


def close_red(store: Store, campaign_id: int, actor: Actor = CLI) -> None:
    allow(actor, "send")
    within(actor, store.red.get(campaign_id).owner_org)
    with store.tx():
        store.red.close(campaign_id, actor.label)
        audited(store, actor, "red.close", f"red:{campaign_id}")


def review_red(
    store: Store,
    cfg: Config,
    submission_id: int,
    *,
    approve: bool,
    reason: str = "",
    notify: bool = False,
    actor: Actor = CLI,
) -> RedSubmission:
    """Approve or reject a submission from a member of the actor's part of the tree."""
    allow(actor, "send")
    if actor.scope:
        within(actor, store.red.submission(submission_id).org)
    with store.tx():
        row = interact.review_red(
            store, cfg, submission_id, approve=approve, reason=reason, notify=notify, actor=actor.label
        )
        audited(store, actor, "red.approve" if approve else "red.reject", f"red-submission:{submission_id}", reason)
    return row


def export_red(store: Store, campaign_id: int | None = None, actor: Actor = CLI) -> list[dict[str, Any]]:
    """The approved submissions of the actor's part of the tree, for the office's collection."""
    rows = [r for r in interact.export_red(store, campaign_id) if actor.covers(r["org"]) or not actor.scope]
    audited(store, actor, "red.export", f"red:{campaign_id or '*'}", f"{len(rows)} rows")
    return rows
