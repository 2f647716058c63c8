"""Admin verbs of the two-way protocol: polls, receipts and reminders, red-message review."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from smsd import admin, broadcast
from smsd import template as tpl
from smsd.clock import local, utcnow
from smsd.config import Config
from smsd.errors import InputError
from smsd.export import SafeCsvWriter
from smsd.i18n import _
from smsd.roles import CLI, Actor
from smsd.store import QueueOptions, Store
from smsd.store.summaries import PollResults, RedSubmission


def create_poll(
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
    announce: bool = False,
    invite: bool = False,
    review: Callable[[broadcast.Plan], None] | None = None,
    actor: Actor = CLI,
    owner_org: str | None = None,
    now: datetime | None = None,
) -> tuple[int, int | None]:
    """A poll with its audience frozen now; with invite, a campaign announcing it. (poll id, campaign id)

    With invite, the invitations are planned first, like a broadcast (recipients, cost, ETA,
    budget), and `review(plan)` is called before anything is written: it shows the plan and may
    stop here by raising (a dry run, or the admin saying no)."""
    now = now or utcnow()
    if len(options) < 2:
        raise InputError("a poll needs at least two options", field="option", msg_id="poll_options")
    if not question.strip():
        raise InputError("the poll question is empty")
    if not (orgs or groups or everyone):
        raise InputError("choose the audience: org units, groups or everyone", field="audience", msg_id="poll_audience")
    start = admin.parse_when(opens, now, field="opens") if opens else now
    # a day alone closes at the end of that day
    end = admin.parse_when(closes, now, field="closes", date_only_time=time(23, 59))
    if end <= start:
        raise InputError(
            "closing time {closes!r} is not after the opening time",
            field="closes",
            msg_id="poll_closes",
            value=closes,
            closes=closes,
        )
    orgs = tuple(store.members.resolve_org(o) for o in orgs)
    members = store.members.select(orgs=orgs, tags=groups)
    if not members:
        raise InputError("no members match this audience")
    plan = None
    if invite:
        listing = "；".join(f"{i}.{o}" for i, o in enumerate(options, start=1))
        plan = broadcast.plan(
            store,
            cfg,
            orgs=orgs,
            groups=groups,
            everyone=everyone,
            template="poll_invitation",
            variables={"question": question, "options": listing},
            owner=owner_org,
            actor=actor,
            now=now,
        )
        broadcast.check_budget(store, plan, None)
        if review is not None:
            review(plan)
    pid = store.polls.create(
        question,
        options,
        [m.id for m in members],
        opens=start,
        closes=end,
        policy=policy,
        announce=announce,
        audience={"orgs": list(orgs), "groups": list(groups), "all": everyone},
        actor=actor.label,
        owner_org=owner_org,
        now=now,
    )
    cid = None
    if plan is not None:
        plan.poll_id = pid
        cid = broadcast.queue(store, plan, name=f"投票{pid}", actor=actor.label, now=now)
    return pid, cid


def results_csv(results: PollResults) -> str:
    out = io.StringIO()
    w = SafeCsvWriter(out)
    w.writerow([_("Option"), _("Label"), _("Votes"), _("Percent")])
    for o in results.options:
        w.writerow([o.option, o.label, o.votes, o.percent])
    return out.getvalue()


def remind(
    store: Store, cfg: Config, cid: int, actor: str = "cli", now: datetime | None = None, again: bool = False
) -> int:
    """Send the notice again, with a reminder prefix, to recipients who have not confirmed. A
    campaign reminded before is reminded again only with again=True (a second round is a choice,
    never a repeated command)."""
    now = now or utcnow()
    campaign = store.campaigns.get(cid)
    if not campaign.confirm:
        raise InputError(
            "campaign {cid} did not ask for receipts (send it as a broadcast with confirmation)",
            field="campaign",
            msg_id="no_receipts",
            campaign=cid,
            cid=cid,
        )
    states = store.campaigns.progress(cid).states
    waiting = states.open
    if waiting:
        # A reminder must not overtake (or arrive together with) the notice it reminds of.
        raise InputError(
            "campaign {cid} still has {waiting} message(s) waiting to be sent; remind once "
            "they have gone (see `smsd campaign status {cid}`)",
            field="campaign",
            msg_id="remind_too_early",
            campaign=cid,
            waiting=waiting,
            cid=cid,
        )
    if campaign.state == "cancelled":
        raise InputError("campaign {cid} was cancelled; there is nothing to remind of", field="campaign", cid=cid)
    pending = store.receipts.of_campaign(cid).pending
    template = tpl.load(cfg.templates_dir, "reminder")
    earlier = [e for e in store.events("campaign", cid) if e.event == "reminded"]
    rounds = len(earlier)
    if earlier and not again:
        raise InputError(
            "campaign {cid} was already reminded {rounds} time(s), last at {at}; {n} have still not "
            "confirmed: add --again to remind them once more",
            field="campaign",
            msg_id="reminded_before",
            campaign=cid,
            cid=cid,
            rounds=rounds,
            at=local(earlier[-1].at),
            n=len(pending),
        )
    items: list[tuple[str, str, QueueOptions]] = []
    for p in pending:
        text = template.render({"name": p.name or "", "text": store.campaigns.first_text(cid, p.phone)})
        admin.check_text(text)
        items.append(
            (
                p.phone,
                text,
                {
                    "campaign_id": cid,
                    "member_id": p.member_id,
                    # an urgent campaign's reminders are urgent too (priority, and quiet hours)
                    "priority": 9 if campaign.urgent else cfg.sending.broadcast_priority,
                    "quiet_ok": bool(campaign.urgent),
                    "dedup_key": f"campaign:{cid}:remind:{rounds + 1}:{p.phone}",
                    "srr": cfg.sending.status_reports,
                    "expires_at": now + timedelta(hours=cfg.sending.expire_hours),
                    "max_attempts": cfg.sending.max_attempts,
                },
            )
        )
    store.outbox.enqueue_many(items, created_by=actor, now=now)
    with store.tx():
        store.event("campaign", cid, "reminded", f"round {rounds + 1}: {len(items)} reminders", actor, now)
    return len(items)


def review_red(
    store: Store, cfg: Config, sid: int, *, approve: bool, reason: str = "", notify: bool = False, actor: str = "cli"
) -> RedSubmission:
    if not approve and not reason.strip():
        raise InputError(
            "a rejection needs a reason (the submitter may be told it)", field="reason", msg_id="reject_reason"
        )
    row = store.red.review(sid, approve, reason, actor)
    if notify:
        t = tpl.load(cfg.templates_dir, "reply_red_approved" if approve else "reply_red_rejected")
        store.outbox.enqueue(
            row.phone,
            t.render({"reason": reason}),
            created_by=actor,
            priority=9,
            quiet_ok=False,
            account=cfg.commands.reply_account,
            dedup_key=f"red-review:{sid}",
        )
    return row


def export_red(store: Store, rid: int | None = None) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "campaign": r.campaign,
            "name": r.name,
            "org": r.org,
            "text": r.text,
            "submitted_at": r.submitted_at,
        }
        for r in store.red.submissions("approved", rid)
    ]


def dumps(rows: Any) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2)
