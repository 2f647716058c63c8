"""Time: stored as UTC text, shown and reasoned about in the office's time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

UTC = UTC  # re-exported: callers take both zones from here
__all__ = ["UTC", "LOCAL", "Clock", "utcnow", "ts", "parse_ts", "local", "later"]
LOCAL = ZoneInfo("Asia/Shanghai")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def ts(when: datetime) -> str:
    """The one text form of a time in the database: '2026-11-27T14:00:00.123Z' (sortable)."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: attach a time zone before storing")
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    return when.isoformat(timespec="milliseconds")[:-6] + "Z"  # C's formatter: a few times strftime's speed


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)  # 'Z' is UTC (Python 3.11)


def local(text: str | None, tz: ZoneInfo = LOCAL) -> str:
    """A stored time for people: '2026-11-27 22:00:00' in the office's zone."""
    if not text:
        return ""
    return parse_ts(text).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def local_iso(text: str | None, tz: ZoneInfo = LOCAL) -> str:
    """A stored time for files and logs: ISO 8601 with its offset, '2026-11-28T06:00:00+08:00'."""
    if not text:
        return ""
    return parse_ts(text).astimezone(tz).isoformat(timespec="seconds")


def later(when: datetime, seconds: float) -> datetime:
    return when + timedelta(seconds=seconds)
