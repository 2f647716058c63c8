"""Anniversary greetings (入党纪念日): each morning, one per due member per year, whatever happens.

The dedup key ``anniversary:<member>:<year>`` makes a double fire, a restart, a catch-up
after a missed morning and a clock change all harmless: the second enqueue finds the first.

A catch-up that runs in the evening's quiet hours (a box switched on at 22:00) does not queue
greetings that quiet hours would hold until they expire at midnight: they are sent when the
quiet hours end, the next morning, with ${day} = 昨天 instead of 今天, and expire at the end
of that day. A greeting that still expires unsent is counted in `smsd status`.
"""

from __future__ import annotations

import calendar
import logging
from datetime import datetime, time, timedelta

from smsd import template as tpl
from smsd.broadcast import member_variables
from smsd.clock import utcnow
from smsd.config import Config
from smsd.errors import InputError
from smsd.store import QueueOptions, Store

log = logging.getLogger(__name__)


def due_month_days(local: datetime) -> list[str]:
    days = [local.strftime("%m-%d")]
    if local.month == 2 and local.day == 28 and not calendar.isleap(local.year):
        days.append("02-29")  # members who joined on 29 February are greeted on the 28th
    return days


def queue_due(store: Store, cfg: Config, now: datetime | None = None) -> int:
    """Queue today's greetings; returns how many new messages were queued."""
    now = now or utcnow()
    tz = cfg.pacing(cfg.modems[0]).tz
    local = now.astimezone(tz)
    template = tpl.load(cfg.templates_dir, cfg.anniversary.template)
    send_at = cfg.pacing(cfg.modems[0]).quiet_ends(now).astimezone(tz)
    late = send_at.date() != local.date()  # the evening's quiet hours: the next morning, "yesterday"
    end_of_day = datetime.combine(send_at.date() + timedelta(days=1), time(0), tz)
    items: list[tuple[str, str, QueueOptions]] = []
    for md in due_month_days(local):
        for m in store.members.anniversaries(md):
            values = {**member_variables(m, now), "day": "昨天" if late else "今天"}
            if values.get("years", 0) < 1:
                continue
            try:
                text = template.render(values)
            except InputError as exc:
                log.error("anniversary.skipped member=%s error=%s", m.id, exc)
                continue
            items.append(
                (
                    m.phone,
                    text,
                    {
                        "dedup_key": f"anniversary:{m.id}:{local.year}",
                        "member_id": m.id,
                        "account": "anniversary",
                        "priority": cfg.sending.default_priority,
                        "expires_at": end_of_day,
                        "not_before": send_at if late else None,
                        "srr": cfg.sending.status_reports,
                        "max_attempts": cfg.sending.max_attempts,
                        "template": cfg.anniversary.template,
                        "variables": {k: str(v) for k, v in values.items()},
                    },
                )
            )
    before = store.outbox.account_count("anniversary")
    store.outbox.enqueue_many(items, created_by="scheduler:anniversary", now=now)
    queued = store.outbox.account_count("anniversary") - before
    log.info("anniversary.queued date=%s new=%s due=%s", local.date(), queued, len(items))
    return queued


def missed_today(cfg: Config, now: datetime) -> bool:
    """True when today's job time has passed (a box that was off catches up at start)."""
    local = now.astimezone(cfg.pacing(cfg.modems[0]).tz)
    return local.time() >= time.fromisoformat(cfg.anniversary.time)
