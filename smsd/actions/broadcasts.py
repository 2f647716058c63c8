"""Broadcasts, and their approval (审批): one verb starts a broadcast for any front end; when
[approval] says so it waits as 待审批 with its dry run, and only an approver whose part of the
tree holds the author's queues it (by the CLI, or by SMS from the phone on their account). An
edit makes it wait again; a refusal reaches its author with the reason."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smsd import admin
from smsd import broadcast as bc
from smsd import template as tpl
from smsd.actions import accounts
from smsd.actions.scope import allow, audited, within
from smsd.clock import local, ts, utcnow
from smsd.config import Config
from smsd.errors import InputError, NotAllowed
from smsd.phone import mask
from smsd.roles import CLI, Actor
from smsd.store import Store
from smsd.store.records import Account, Approval

NOTICE_PRIORITY = 8  # approvers' and authors' notices: before broadcasts, after login codes
DECISIONS = {"同意": True, "批准": True, "通过": True, "TY": True, "不同意": False, "退回": False, "BTY": False}


@dataclass(frozen=True)
class Asked:
    """A broadcast as its author asks for it (kept as JSON while it waits for approval)."""

    orgs: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()  # normalised
    everyone: bool = False
    text: str | None = None
    template: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    at: str | None = None
    urgent: bool = False
    confirm: bool = False
    owner: str | None = None
    name: str | None = None
    over_budget: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Asked:
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        return cls(**values)


@dataclass(frozen=True)
class Started:
    """What starting a broadcast did: queued a campaign, or filed it for approval (and why)."""

    plan: bc.Plan
    campaign_id: int | None = None
    approval_id: int | None = None
    because: tuple[str, ...] = ()  # the [approval] rules it met


def plan(store: Store, cfg: Config, asked: Asked, actor: Actor = CLI, now: datetime | None = None) -> bc.Plan:
    """The dry run: recipients, segments, cost, ETA and warnings, within the actor's part of the tree."""
    return bc.plan(
        store,
        cfg,
        orgs=asked.orgs,
        groups=asked.groups,
        numbers=asked.numbers,
        everyone=asked.everyone,
        text=asked.text,
        template=asked.template,
        variables=asked.variables,
        at=asked.at,
        urgent=asked.urgent,
        confirm=asked.confirm,
        owner=asked.owner,
        actor=actor,
        now=now,
    )


def approval_rules(cfg: Config, actor: Actor, planned: bc.Plan) -> tuple[str, ...]:
    """Which [approval] rules a broadcast meets (none: it goes at once). The box's own
    administrator never waits."""
    if actor.root and actor.login == "root":
        return ()
    rules = cfg.approval
    why = []
    if rules.operators and actor.role == "operator":
        why.append("operators")
    if rules.over_recipients and planned.recipient_count > rules.over_recipients:
        why.append(f"over_recipients={rules.over_recipients}")
    if rules.over_fen and planned.cost_fen > rules.over_fen:
        why.append(f"over_fen={rules.over_fen}")
    return tuple(why)


def start(
    store: Store,
    cfg: Config,
    asked: Asked,
    actor: Actor = CLI,
    now: datetime | None = None,
    planned: bc.Plan | None = None,
) -> Started:
    """Queue a broadcast, or file it as 待审批 (its approvers told by SMS) when [approval] says so.
    planned: its dry run, when the caller made it already (made here otherwise)."""
    allow(actor, "send")
    now = now or utcnow()
    planned = planned or plan(store, cfg, asked, actor, now)
    name = bc.campaign_name(asked.name, asked.template, asked.text, asked.variables)
    because = approval_rules(cfg, actor, planned)
    if not because:
        cid = bc.queue(store, planned, name=name, over_budget=asked.over_budget, actor=actor.label, now=now)
        audited(store, actor, "broadcast", f"campaign:{cid}", _figures(planned))
        return Started(planned, campaign_id=cid)
    bc.check_budget(store, planned, asked.over_budget)  # refused now rather than after the approval
    fixed = dataclasses.replace(asked, at=_fixed(planned.not_before))
    with store.tx():
        aid = store.approvals.add(actor.login, actor.scope, name, fixed.as_json(), _dry_run(planned), now)
        audited(store, actor, "broadcast.ask", f"approval:{aid}", f"{_figures(planned)}; {', '.join(because)}")
        _tell_approvers(store, cfg, store.approvals.get(aid), now)
    return Started(planned, approval_id=aid, because=because)


def _fixed(when: datetime | None) -> str | None:
    """--at as the moment it meant when asked (明天8点 keeps meaning that day while it waits)."""
    return local(ts(when))[:16] if when else None


def _figures(planned: bc.Plan) -> str:
    return f"{planned.recipient_count} recipients, {planned.total_segments} segments, {planned.cost_fen} fen"


def _dry_run(planned: bc.Plan) -> dict[str, Any]:
    s = planned.summary()
    s["list"] = s["list"][:5]  # a sample, masked
    return s


def waiting(store: Store, actor: Actor = CLI, state: str | None = "pending") -> list[Approval]:
    """Broadcasts in a state (default: waiting) that the actor may decide or wrote itself."""
    return [a for a in store.approvals.all(state) if a.author == actor.login or actor.covers(a.scope)]


def show(store: Store, approval_id: int, actor: Actor = CLI) -> Approval:
    found = store.approvals.get(approval_id)
    if found.author != actor.login:
        within(actor, found.scope or None)
    return found


def _decidable(store: Store, actor: Actor, approval_id: int) -> Approval:
    allow(actor, "approve")
    found = store.approvals.get(approval_id)
    within(actor, found.scope or None)
    found = store.approvals.waiting(approval_id)
    if found.author == actor.login:
        raise NotAllowed("the author of a broadcast cannot approve it; another approver must", field="actor")
    return found


def approve(store: Store, cfg: Config, approval_id: int, actor: Actor = CLI, now: datetime | None = None) -> int:
    """Queue a waiting broadcast as its author asked it (planned again now, in the author's part
    of the tree, with the budget checked in the queueing transaction); returns the campaign id."""
    now = now or utcnow()
    found = _decidable(store, actor, approval_id)
    author = _author(store, found)
    asked = Asked.of(found.asked)
    if asked.at and admin.parse_when(asked.at, now) <= now:
        asked = dataclasses.replace(asked, at=None)  # its time passed while it waited: it starts now
    planned = plan(store, cfg, asked, author, now)
    with store.tx():
        cid = bc.queue(store, planned, name=found.name, over_budget=asked.over_budget, actor=f"user:{found.author}")
        store.approvals.decide(approval_id, "approved", actor.label, revision=found.revision, campaign_id=cid, now=now)
        audited(store, actor, "broadcast.approve", f"approval:{approval_id}", f"campaign {cid}; {_figures(planned)}")
        _tell_author(store, cfg, found, "approval_approved", {"campaign_id": cid}, now)
    return cid


def refuse(
    store: Store, cfg: Config, approval_id: int, reason: str, actor: Actor = CLI, now: datetime | None = None
) -> None:
    """Send a waiting broadcast back to its author with the reason (by SMS, and in its list)."""
    if not reason.strip():
        raise InputError("a refusal needs a reason (its author is told it)", field="reason")
    found = _decidable(store, actor, approval_id)
    with store.tx():
        store.approvals.decide(approval_id, "refused", actor.label, revision=found.revision, reason=reason, now=now)
        audited(store, actor, "broadcast.refuse", f"approval:{approval_id}", reason)
        _tell_author(store, cfg, found, "approval_refused", {"reason": reason}, now)


def edit(
    store: Store,
    cfg: Config,
    approval_id: int,
    *,
    text: str | None = None,
    at: str | None = None,
    actor: Actor = CLI,
    now: datetime | None = None,
) -> int:
    """Its author changes a waiting or refused broadcast: planned again, it waits for approval
    anew (its approvers told again); returns the new revision."""
    now = now or utcnow()
    found = store.approvals.get(approval_id)
    if found.author != actor.login:
        raise NotAllowed("only its author edits broadcast {id}", field="actor", id=approval_id)
    asked = Asked.of(found.asked)
    if text is not None:
        asked = dataclasses.replace(asked, text=text, template=None, variables={})
    if at is not None:
        asked = dataclasses.replace(asked, at=at)
    planned = plan(store, cfg, asked, actor, now)
    fixed = dataclasses.replace(asked, at=_fixed(planned.not_before))
    with store.tx():
        revision = store.approvals.revise(approval_id, fixed.as_json(), _dry_run(planned), now)
        audited(store, actor, "broadcast.edit", f"approval:{approval_id}", f"revision {revision}; {_figures(planned)}")
        _tell_approvers(store, cfg, store.approvals.get(approval_id), now)
    return revision


def withdraw(store: Store, approval_id: int, actor: Actor = CLI) -> None:
    found = store.approvals.get(approval_id)
    if found.author != actor.login:
        raise NotAllowed("only its author withdraws broadcast {id}", field="actor", id=approval_id)
    with store.tx():
        store.approvals.decide(approval_id, "withdrawn", actor.label, revision=found.revision)
        audited(store, actor, "broadcast.withdraw", f"approval:{approval_id}")


def decide_by_sms(
    store: Store, cfg: Config, sender: str, approval_id: int, yes: bool, reason: str, now: datetime
) -> tuple[str, dict[str, Any]]:
    """`SP 12 同意` / `SP 12 不同意 理由` from an approver's phone: (reply template, its variables).
    Accepted only with by_sms on and from the phone of an account that may decide it."""
    account = store.accounts.by_phone(sender) if cfg.approval.by_sms else None
    refused = ("reply_approval_denied", {"id": approval_id})
    if account is None:
        store.audit.record(
            "?",
            "sms",
            "broadcast.decide",
            source=mask(sender),
            target=f"approval:{approval_id}",
            result="refused",
            detail="not an approver's phone",
            now=now,
        )
        return refused
    try:
        actor = accounts.acting(store, account.login, via="sms", source=mask(sender))
        if yes:
            cid = approve(store, cfg, approval_id, actor, now)
            return "reply_approval_ok", {"id": approval_id, "campaign_id": cid}
        if not reason.strip():
            return "reply_approval_usage", {}
        refuse(store, cfg, approval_id, reason, actor, now)
        return "reply_approval_refused", {"id": approval_id}
    except NotAllowed:
        audited(
            store,
            Actor(account.login, account.role, account.scope, "sms", mask(sender)),
            "broadcast.decide",
            f"approval:{approval_id}",
            "outside its part of the tree or not an approver",
            result="refused",
        )
        return refused
    except InputError:
        return "reply_approval_stale", {"id": approval_id}


def _author(store: Store, found: Approval) -> Actor:
    try:
        return accounts.acting(store, found.author, via="approval")
    except InputError:
        raise InputError(
            "the author of broadcast {id} ({login}) is disabled or locked: refuse it instead",
            field="id",
            id=found.id,
            login=found.author,
        ) from None


def _approvers(store: Store, found: Approval) -> list[Account]:
    """Enabled accounts with a phone that may approve it (not its author)."""
    return [
        a
        for a in store.accounts.all()
        if a.enabled
        and a.phone
        and a.login != found.author
        and Actor(a.login, a.role, a.scope).may("approve")
        and Actor(a.login, a.role, a.scope).covers(found.scope or None)
    ]


def _tell_approvers(store: Store, cfg: Config, found: Approval, now: datetime) -> None:
    s = found.dry_run
    preview = (found.asked.get("text") or found.asked.get("template") or "")[:30]
    values = {
        "id": found.id,
        "author": found.author,
        "name": found.name,
        "recipients": s["recipients"],
        "segments": s["total_segments"],
        "yuan": s["cost_yuan"],
        "preview": preview,
        "how": f"回复 SP {found.id} 同意，或 SP {found.id} 不同意 理由" if cfg.approval.by_sms else "请登录审批",
    }
    text = tpl.load(cfg.templates_dir, "approval_request").render(values)
    for a in _approvers(store, found):
        assert a.phone is not None
        store.outbox.enqueue(
            a.phone,
            text,
            created_by="approval",
            now=now,
            priority=NOTICE_PRIORITY,
            account="approvals",
            dedup_key=f"approval:{found.id}:{found.revision}:{a.login}",
        )


def _tell_author(
    store: Store, cfg: Config, found: Approval, template: str, extra: dict[str, Any], now: datetime | None
) -> None:
    author = store.accounts.find(found.author)
    if author is None or not author.phone:
        return
    values = {"id": found.id, "name": found.name, **extra}
    store.outbox.enqueue(
        author.phone,
        tpl.load(cfg.templates_dir, template).render(values),
        created_by="approval",
        now=now,
        priority=NOTICE_PRIORITY,
        account="approvals",
        dedup_key=f"approval:{found.id}:{found.revision}:{template}",
    )
