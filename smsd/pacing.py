"""Pacing: quiet hours (local time), per-SIM caps per hour and per day, and the ETA they imply."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from smsd.clock import LOCAL


@dataclass(frozen=True)
class Pacing:
    quiet: tuple[time, time] | None = (time(21, 0), time(8, 0))
    hourly_cap: int = 150
    daily_cap: int = 800
    tz: ZoneInfo = LOCAL

    def is_quiet(self, now: datetime) -> bool:
        if self.quiet is None:
            return False
        t = now.astimezone(self.tz).time()
        start, end = self.quiet
        return (start <= t or t < end) if start > end else (start <= t < end)

    def quiet_ends(self, now: datetime) -> datetime:
        """When the quiet period containing now ends (now itself when it is not quiet)."""
        if not self.is_quiet(now) or self.quiet is None:
            return now
        local = now.astimezone(self.tz)
        end = local.replace(hour=self.quiet[1].hour, minute=self.quiet[1].minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end

    @property
    def reserve(self) -> tuple[int, int]:
        """Segments of each cap (hour, day) kept for replies to members and single sends: a
        broadcast stops a tenth short of the cap, so it cannot hold a member's answer for an hour."""
        return self.hourly_cap // 10, self.daily_cap // 10

    def day_start(self, now: datetime) -> datetime:
        return now.astimezone(self.tz).replace(hour=0, minute=0, second=0, microsecond=0)


def parse_quiet(text: str) -> tuple[time, time] | None:
    """'21:00-08:00' -> (21:00, 08:00); '' -> None (no quiet hours)."""
    if not text:
        return None
    a, b = text.split("-")
    return time.fromisoformat(a), time.fromisoformat(b)


def eta(
    segments: int,
    modems: list[Pacing],
    start: datetime,
    seconds_per_segment: float,
    *,
    ahead: int = 0,
    used: list[tuple[int, int]] | None = None,
) -> datetime | None:
    """When the last of `segments` would be sent by these modems from `start`, after the `ahead`
    segments already queued before them, honouring quiet hours and caps.

    A simulation in steps of at most an hour: each modem sends min(its hourly cap, 3600 / seconds
    per segment) an hour while not quiet, and stops for the day at its daily cap. `used` gives
    each modem's (sent in the last hour, sent today) at `start`, so a SIM that already sent its
    day does not count until tomorrow.
    """
    if segments <= 0:
        return start
    if not modems:
        return None
    left: float = segments + max(0, ahead)
    t = start
    day_used = [day for _, day in used] if used else [0] * len(modems)
    hour_used = [hour for hour, _ in used] if used else [0] * len(modems)
    day = modems[0].day_start(t)
    for _ in range(24 * 366):
        if modems[0].day_start(t) != day:
            day, day_used = modems[0].day_start(t), [0] * len(modems)
        step_end = t.astimezone(LOCAL).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        span = (step_end - t).total_seconds()
        capacity = 0.0
        per_modem = []
        for i, p in enumerate(modems):
            in_hour, hour_used[i] = hour_used[i], 0  # sent before start: counts in the first step only
            if p.is_quiet(t):
                per_modem.append(0.0)
                continue
            hourly, daily = p.hourly_cap - p.reserve[0], p.daily_cap - p.reserve[1]  # a broadcast leaves the reserve
            rate = min(hourly / 3600, 1 / seconds_per_segment)
            per_modem.append(max(0.0, min(rate * span, daily - day_used[i], hourly - in_hour)))
        capacity = sum(per_modem)
        if capacity >= left:
            fraction = left / capacity
            return t + timedelta(seconds=math.ceil(span * fraction))
        left -= capacity
        for i, n in enumerate(per_modem):
            day_used[i] += int(n)
        t = step_end
    return None
