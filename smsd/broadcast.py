"""Broadcasts: select recipients, render each text, and estimate segments, cost and ETA.

``plan()`` is pure with respect to the database (it only reads), so a dry run shows exactly
what ``Store.create_campaign(plan)`` then queues.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from smsd import admin, pacing
from smsd import template as tpl
from smsd.actions.scope import allow, recipient, within
from smsd.clock import LOCAL, utcnow
from smsd.config import Config
from smsd.errors import BudgetError, InputError
from smsd.i18n import _
from smsd.phone import mask, normalise
from smsd.roles import CLI, Actor
from smsd.store import Member, Store
from smsd.store.records import CampaignDraft, Rendered

CONFIRM_SUFFIX = "收到请回复QR确认。"


Recipient = Rendered  # one recipient with the text rendered for them: what the store queues


@dataclass
class Plan:
    """What a broadcast would queue: counted in one pass over the roster, never held in memory.

    ``recipients()`` renders the texts again (a pure read of the roster), so a dry run and the
    campaign it becomes agree, and 100,000 recipients cost the memory of one."""

    source: Callable[[Store], Iterator[Recipient]]
    recipient_count: int
    skipped_opted_out: int
    total_segments: int
    segments_range: tuple[int, int]
    sample: list[Recipient]
    text: str | None
    template: str | None
    selection: dict[str, Any]
    urgent: bool
    priority: int
    not_before: datetime | None
    expires_at: datetime
    srr: bool
    max_attempts: int
    price_fen: int
    eta: datetime | None
    modems: int
    owner_org: str | None = None
    notes: list[str] = field(default_factory=list)
    confirm: bool = False
    poll_id: int | None = None
    ahead_segments: int = 0
    starts_at: datetime | None = None  # the first send, when later than now (quiet hours, caps, --at)
    starts_why: str = ""  # "at" (asked for), "quiet" (quiet hours), "queue" (behind others), "caps"
    days: float = 0.0  # from the first send to the last
    hourly_segments: int = 0  # what the enabled SIMs may send in an hour, together

    def recipients(self, store: Store) -> Iterator[Recipient]:
        """Every recipient with its text, rendered again from the roster in `store`."""
        return self.source(store)

    def draft(self) -> CampaignDraft:
        """The campaign as the store records it."""
        return CampaignDraft(
            template=self.template,
            text=self.text,
            selection=json.dumps(self.selection, ensure_ascii=False),
            urgent=self.urgent,
            recipients=self.recipient_count,
            segments=self.total_segments,
            price_fen=self.price_fen,
            priority=self.priority,
            not_before=self.not_before,
            expires_at=self.expires_at,
            srr=self.srr,
            max_attempts=self.max_attempts,
            owner_org=self.owner_org,
            confirm=self.confirm,
            poll_id=self.poll_id,
        )

    def only(self, store: Store, keep: Callable[[Recipient], bool]) -> Plan:
        """The same broadcast to the recipients `keep` accepts (counted again)."""
        source = self.source

        def narrowed(s: Store) -> Iterator[Recipient]:
            return (r for r in source(s) if keep(r))

        count = total = 0
        low, high = 1 << 30, 0
        sample: list[Recipient] = []
        for r in narrowed(store):
            count, total = count + 1, total + r.segments
            low, high = min(low, r.segments), max(high, r.segments)
            if len(sample) < 10:
                sample.append(r)
        return dataclasses.replace(
            self,
            source=narrowed,
            recipient_count=count,
            total_segments=total,
            segments_range=(low if count else 0, high),
            sample=sample,
        )

    @property
    def cost_fen(self) -> int:
        return self.total_segments * self.price_fen

    def summary(self, unmask: bool = False, store: Store | None = None) -> dict[str, Any]:
        """The figures; `list` holds a sample of ten, or every recipient when given the store."""
        listed = self.recipients(store) if store is not None else iter(self.sample)
        return {
            "recipients": self.recipient_count,
            "skipped_opted_out": self.skipped_opted_out,
            "segments_per_message": {"min": self.segments_range[0], "max": self.segments_range[1]},
            "total_segments": self.total_segments,
            "price_fen_per_segment": self.price_fen,
            "cost_fen": self.cost_fen,
            "cost_yuan": f"{self.cost_fen / 100:.2f}",
            "modems": self.modems,
            "queued_ahead_segments": self.ahead_segments,
            "starts": _local(self.starts_at) if self.starts_at else "now",
            "starts_why": self.starts_why,
            "days": round(self.days, 2),
            "hourly_segments": self.hourly_segments,
            "eta": _local(self.eta) if self.eta else None,
            "expires": _local(self.expires_at),
            "notes": self.notes,
            "list": [
                {
                    "member_id": r.member_id,
                    "name": r.name,
                    "phone": r.phone if unmask else mask(r.phone),
                    "segments": r.segments,
                    "text": r.text,
                }
                for r in listed
            ],
        }


_ASKS_RECEIPT = re.compile(r"回复?\s*[“\"「『]?\s*(QR|确认)", re.IGNORECASE)
_RELATIVE_DAYS = ("今天", "今日", "明天", "明日", "后天", "大后天", "今晚", "今夜", "明晚", "今早", "明早", "昨天")


def asks_for_receipt(text: str) -> bool:
    """Does the text ask members to reply QR (or 确认)? meeting_notice does."""
    return bool(_ASKS_RECEIPT.search(text))


def relative_days(text: str) -> list[str]:
    """The words in a text that mean a day relative to when it is read (今天, 明天, 今晚, ...)."""
    found: list[str] = []
    for word in sorted(_RELATIVE_DAYS, key=len, reverse=True):
        if word in text and not any(word in f for f in found):
            found.append(word)
    return found


def _local(when: datetime) -> str:
    return when.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")


def campaign_name(name: str | None, template: str | None, text: str | None, variables: dict[str, str]) -> str:
    """How `campaign list` names it: the admin's --name, else its topic (the meeting's subject),
    else the first words of its text, else the template."""
    for candidate in (name, variables.get("topic"), variables.get("subject"), (text or "")[:20], template):
        if candidate and candidate.strip():
            return candidate.strip()
    return "broadcast"


def member_variables(m: Member | None, now: datetime, phone: str = "") -> dict[str, Any]:
    """What a template may use for one recipient (a number off the roster has only its phone)."""
    return _member_values(m, _day_values(now), phone)


def _day_values(now: datetime) -> tuple[int, dict[str, Any]]:
    """What is the same for every recipient of one send: the local year and the date words."""
    local = now.astimezone(LOCAL)
    return local.year, {
        "date": f"{local.year}年{local.month}月{local.day}日",
        "day": "今天",  # the anniversary greeting's day word; a late catch-up says 昨天
    }


def _member_values(m: Member | None, day: tuple[int, dict[str, Any]], phone: str = "") -> dict[str, Any]:
    year, words = day
    org = (m.org if m else None) or ""
    values: dict[str, Any] = {
        "name": m.name if m else "",
        "phone": m.phone if m else phone,
        "org_path": org,
        "org": org.split("/")[-1],
        "joined": (m.joined if m else None) or "",
        **words,
    }
    if m and m.joined:
        values["years"] = year - int(m.joined[:4])
    if m and m.extras not in ("{}", ""):
        values.update(m.extra)
    return values


def read_numbers(path: str | Path) -> list[str]:
    p = Path(path)
    if not p.exists():
        raise InputError("{path}: no such file", path=p)
    return numbers_in(p.read_text(encoding="utf-8-sig"), p)


def numbers_in(text: str, path: str | Path = "numbers") -> list[str]:
    """Numbers one a line (or separated by commas, as pasted in the console), normalised; '#' starts a comment."""
    p = path
    out, errors = [], []
    lines = text.replace("，", "\n").replace(",", "\n").replace("；", "\n").replace(";", "\n").splitlines()
    for line_no, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            out.append(normalise(line))
        except InputError as exc:
            errors.append(_("line {line}: {error}").format(line=line_no, error=exc))
    if errors:
        raise InputError(
            "{path}: {count} bad number(s): {errors}", path=p, count=len(errors), errors="; ".join(errors[:5])
        )
    return list(dict.fromkeys(out))


def _owner(store: Store, actor: Actor, owner: str | None, orgs: tuple[str, ...]) -> str | None:
    """Who pays: the org unit named, else the one org unit chosen, else the actor's own."""
    if owner:
        unit = store.members.resolve_org(owner)
        within(actor, unit)
        return unit
    return orgs[0] if len(orgs) == 1 else (actor.scope or None)


def plan(
    store: Store,
    cfg: Config,
    *,
    orgs: tuple[str, ...] = (),
    groups: tuple[str, ...] = (),
    numbers_file: str | None = None,
    numbers: Sequence[str] = (),
    everyone: bool = False,
    text: str | None = None,
    template: str | None = None,
    variables: dict[str, str] | None = None,
    at: str | None = None,
    urgent: bool = False,
    confirm: bool = False,
    owner: str | None = None,
    actor: Actor = CLI,
    now: datetime | None = None,
) -> Plan:
    """What a broadcast would queue (its recipients counted, its cost and ETA): the dry run, and
    what queue() turns into a campaign. owner: the org unit that pays (default: the one org unit
    chosen, if only one). An account with a part of the org tree broadcasts within it: everyone
    means its subtree, and a number outside it is refused."""
    now = now or utcnow()
    if (text is None) == (template is None):
        raise InputError(
            "give the message as a text or as a template (one of them)", field="text", msg_id="text_or_template"
        )
    if not (orgs or groups or numbers_file or numbers or everyone):
        raise InputError(
            "choose recipients: org units, groups, a file of numbers, or everyone",
            field="recipients",
            msg_id="no_recipients",
        )
    tmpl = tpl.load(cfg.templates_dir, template) if template else tpl.parse("text", text or "")
    if not tmpl.text.strip():
        raise InputError("the message text is empty")
    implied_confirm = not confirm and asks_for_receipt(tmpl.text)
    confirm = confirm or implied_confirm  # a text that asks members to reply QR must count their QR
    orgs = tuple(store.members.resolve_org(org) for org in orgs)  # 八桥镇 finds 大渡口区/八桥镇
    if actor.scope:
        allow(actor, "send")
        for unit in orgs:
            within(actor, unit)
        if everyone or (groups and not orgs):
            orgs, everyone = (actor.scope,), False
    numbers = read_numbers(numbers_file) if numbers_file else list(dict.fromkeys(numbers))
    for n in numbers:
        recipient(store, actor, n)
    selecting = bool(orgs or groups or everyone)

    def people(s: Store) -> Iterator[tuple[str, Member | None]]:
        seen: set[str] = set()
        if selecting:
            for m in s.members.iterate(orgs=orgs, tags=groups):
                seen.add(m.phone)
                yield m.phone, m
        for n in numbers:
            if n not in seen:
                seen.add(n)
                yield n, s.members.by_phone(n)

    day = _day_values(now)  # once, not for each of 100,000 members

    def rendered(s: Store, counts: list[int] | None = None) -> Iterator[Recipient]:
        for number, m in people(s):
            if m is not None and m.opted_out and not urgent:
                if counts is not None:
                    counts[0] += 1
                continue
            values = {**_member_values(m, day, number), **(variables or {})}
            try:  # a text that cannot be made or sent for one member names that member
                body = tmpl.render(values)
                if confirm and "QR" not in body.upper():
                    body += CONFIRM_SUFFIX
                encoding, parts = admin.check_text(body)
            except InputError as exc:
                who = f"{m.name} ({mask(number)})" if m else f"{mask(number)} (not a member)"
                raise InputError("{error} for {who}", error=exc, who=who) from None
            filed = tuple(sorted((k, str(v)) for k, v in values.items())) if template else ()
            yield Recipient(m.id if m else None, m.name if m else "", number, body, parts, encoding, template, filed)

    skipped_box = [0]
    count = total = 0
    low, high = 1 << 30, 0
    sample: list[Recipient] = []
    for r in rendered(store, skipped_box):
        count += 1
        total += r.segments
        low, high = min(low, r.segments), max(high, r.segments)
        if len(sample) < 10:
            sample.append(r)
    skipped = skipped_box[0]
    if not count:
        raise InputError("no recipients match this selection" + (f" ({skipped} opted out)" if skipped else ""))
    not_before = admin.parse_when(at, now) if at else None
    modems = [m for m in cfg.modems if m.enabled]
    prices = {m.price_fen for m in modems}
    notes = (
        []
        if len(prices) <= 1
        else [
            _("modems differ in price ({prices} fen): the estimate uses the highest").format(
                prices=", ".join(str(p) for p in sorted(prices))
            )
        ]
    )
    start = not_before or now
    priority = 9 if urgent else cfg.sending.broadcast_priority
    ahead = store.outbox.segments_ahead(priority)
    eta = queue_eta(store, cfg, total, ahead, start)
    if eta is None:
        notes.append(_("no finish time: no modem is enabled, or the queue would take more than a year"))
    starts_at, why = _first_send(store, cfg, ahead, start, now, urgent, not_before)
    days = max(0.0, ((eta - (starts_at or now)).total_seconds() / 86400) if eta else 0.0)
    if implied_confirm:
        notes.append(_("the text asks members to reply QR: their replies are counted as receipts (as with --confirm)"))
    relative = relative_days(" ".join([tmpl.text, *(variables or {}).values()]))
    read_on = {d.astimezone(LOCAL).date() for d in (starts_at or start, eta) if d is not None}
    if relative and read_on - {now.astimezone(LOCAL).date()}:
        last = max(read_on)
        notes.append(
            _(
                "the text says {words}, but members read it on {days}, not today: write the date instead "
                "(such as {example})"
            ).format(
                words="、".join(relative),
                days=" – ".join(sorted({f"{d.month}月{d.day}日" for d in read_on})),
                example=f"{(last + timedelta(days=1)).month}月{(last + timedelta(days=1)).day}日",
            )
        )
    return Plan(
        starts_at=starts_at,
        starts_why=why,
        days=days,
        hourly_segments=sum(m.hourly_cap for m in modems),
        source=lambda s: rendered(s),
        recipient_count=count,
        total_segments=total,
        segments_range=(low, high),
        sample=sample,
        ahead_segments=ahead,
        skipped_opted_out=skipped,
        text=text,
        template=template,
        selection={"orgs": list(orgs), "groups": list(groups), "numbers_file": numbers_file, "all": everyone},
        urgent=urgent,
        priority=priority,
        not_before=not_before,
        expires_at=(eta or start) + timedelta(hours=cfg.sending.expire_hours),
        srr=cfg.sending.status_reports,
        max_attempts=cfg.sending.max_attempts,
        price_fen=max(prices, default=0),
        eta=eta,
        modems=len(modems),
        owner_org=_owner(store, actor, owner, orgs),
        notes=notes,
        confirm=confirm,
    )


def _first_send(
    store: Store, cfg: Config, ahead: int, start: datetime, now: datetime, urgent: bool, not_before: datetime | None
) -> tuple[datetime | None, str]:
    """When the broadcast's first message would go, and why not now (None: now)."""
    if urgent:
        return (not_before, "at") if not_before and not_before > now else (None, "")
    first = queue_eta(store, cfg, 1, ahead, start)
    if first is None:
        return None, ""
    first -= timedelta(seconds=cfg.sending.seconds_per_segment)
    if first - now < timedelta(minutes=2):
        return None, ""
    modems = [m for m in cfg.modems if m.enabled]
    if not_before and not_before >= first - timedelta(minutes=2):
        return first, "at"
    if modems and cfg.pacing(modems[0]).is_quiet(start):
        return first, "quiet"
    return first, "queue" if ahead else "caps"


def queue_eta(store: Store, cfg: Config, segments: int, ahead: int, start: datetime) -> datetime | None:
    """The one ETA (dry run, campaign status, expiry): `segments` sent after the `ahead` already
    queued before them, on the enabled modems, from what each SIM has sent this hour and today,
    with quiet hours and caps."""
    modems = [m for m in cfg.modems if m.enabled]
    usage = [store.claims.usage(m.name, cfg.pacing(m), start)[:2] for m in modems]
    return pacing.eta(
        segments, [cfg.pacing(m) for m in modems], start, cfg.sending.seconds_per_segment, ahead=ahead, used=usage
    )


def campaign_eta(store: Store, cfg: Config, cid: int, now: datetime | None = None) -> datetime | None:
    """When a running campaign's last message should go, behind whatever is queued before it."""
    left, ahead, _ = store.campaigns.queue_position(cid)
    return queue_eta(store, cfg, left, ahead, now or utcnow()) if left else None


def budget_figures(store: Store, plan: Plan) -> dict[str, Any] | None:
    """The owner org's budget for the month it starts in: limit, spent, queued, left before and
    after this broadcast (fen). None when no budget governs it."""
    if not plan.owner_org:
        return None
    month = (plan.not_before or utcnow()).astimezone(LOCAL).strftime("%Y-%m")
    budget = store.ledger.budget_for(plan.owner_org, month)
    if budget is None:
        return None
    spent = store.ledger.sum(budget.org, month)
    queued = store.ledger.committed_fen(budget.org, plan.price_fen)
    left = budget.limit_fen - spent - queued
    return {
        "org": budget.org,
        "month": month,
        "limit_fen": budget.limit_fen,
        "spent_fen": spent,
        "queued_fen": queued,
        "left_before_fen": left,
        "left_after_fen": left - plan.cost_fen,
    }


def check_budget(store: Store, plan: Plan, override_reason: str | None) -> str | None:
    """Refuse a broadcast that would overrun its org's monthly budget, with the figures.

    Returns the note for the event log when an override reason lets it through.
    """
    if not plan.owner_org:
        return None
    start = (plan.not_before or utcnow()).astimezone(LOCAL)
    month = start.strftime("%Y-%m")
    budget = store.ledger.budget_for(plan.owner_org, month)
    if budget is None:
        return None
    spent = store.ledger.sum(budget.org, month)
    queued = store.ledger.committed_fen(budget.org, plan.price_fen)
    after = spent + queued + plan.cost_fen
    if after <= budget.limit_fen:
        return None
    params = {
        "org": budget.org,
        "month": month,
        "limit": f"{budget.limit_fen / 100:.2f}",
        "spent": f"{spent / 100:.2f}",
        "queued": f"{queued / 100:.2f}",
        "this": f"{plan.cost_fen / 100:.2f}",
        "over": f"{(after - budget.limit_fen) / 100:.2f}",
    }
    if not override_reason:
        raise BudgetError(
            "budget of {org} for {month}: {limit} yuan; spent {spent}, queued {queued}, this broadcast {this}: "
            '{over} yuan over; to send anyway add --over-budget "reason"',
            **params,
        )
    figures = (
        "budget of {org} for {month}: {limit} yuan; spent {spent}, queued {queued}, this broadcast {this}: "
        "{over} yuan over"
    ).format(**params)
    return f"{figures}; overridden: {override_reason}"


def queue(
    store: Store,
    plan: Plan,
    *,
    name: str,
    over_budget: str | None = None,
    actor: str = "cli",
    now: datetime | None = None,
) -> int:
    """Queue a planned broadcast as a campaign: the budget is checked in the transaction that
    queues it, so two broadcasts (from two doors) cannot both pass one budget. Returns its id."""
    with store.tx():
        note = check_budget(store, plan, over_budget)
        return store.campaigns.create(
            plan.draft(), plan.recipients(store), name=name, actor=actor, now=now, budget_note=note
        )
