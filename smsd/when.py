"""Times as county offices write them: `明天8点`, `今晚8点`, `后天下午3点`, `下周一上午9点`,
`12月1日`, `2026年12月1日 8:00`, `8：00`, `2026/12/01 08:00`, and the ISO forms.

Chinese numerals become digits with cn2an (`下午三点` -> `下午3点`, `二〇二六年` -> `2026年`),
full-width characters become ASCII (NFKC: `８：００` -> `8:00`); a small grammar reads what is
left: an optional day (a date, 今天/明天/后天/大后天, 今晚/明早, 周X/星期X, 下周X/本周X), an
optional part of the day (凌晨, 早上/上午, 中午, 下午, 晚上), and a time (8点, 8点半, 8点15分,
8:15). Everything is local time (Asia/Shanghai); the result is an aware datetime. Anything the
grammar does not read whole is refused, never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta

from smsd.clock import LOCAL
from smsd.errors import InputError
from smsd.i18n import _

WEEKDAYS = "一二三四五六日"
_WEEKDAY_NUM = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "日": 6, "天": 6}
_RELATIVE_DAYS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3, "今晚": 0, "明晚": 1,
                  "今早": 0, "明早": 1}  # fmt: skip
_EVENING_WORDS = ("今晚", "明晚")
_MORNING_WORDS = ("今早", "明早")
_PERIODS = {
    "凌晨": "early",
    "早上": "am",
    "早晨": "am",
    "清晨": "am",
    "上午": "am",
    "早": "am",
    "中午": "noon",
    "午后": "pm",
    "下午": "pm",
    "傍晚": "pm",
    "晚上": "night",
    "夜里": "night",
    "夜间": "night",
    "半夜": "night",
    "晚": "night",
}
MAX_AHEAD = timedelta(days=366)  # nothing an office schedules is further ahead (9999-12-31 once crashed the queue)

_DATE_FORMS = [
    re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"),
    re.compile(r"(?:(?P<y>\d{4})年)?(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]?"),
    re.compile(r"(?P<m>\d{1,2})/(?P<d>\d{1,2})"),
]
_TIME_FORMS = [
    re.compile(r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"),
    re.compile(r"(?P<h>\d{1,2})[点时](?:(?P<half>半)|(?P<q>[13])刻|(?P<mi>\d{1,2})分?)?(?:整)?"),
]


def _normalise(text: str) -> str:
    import cn2an  # a few ms to import: only when a time is given in words

    text = unicodedata.normalize("NFKC", text).strip()
    # 点 as the hour's mark: cn2an would read 三点一刻 as a decimal (3.1刻); 时 it leaves alone
    text = text.replace("礼拜", "星期").replace("周末", "周六").replace("点", "时")
    text = re.sub(r"\s+", " ", text)
    # T between a date and a time (ISO); keep the rest for the grammar
    text = re.sub(r"(\d)T(\d)", r"\1 \2", text)
    if re.search("[零〇一二两三四五六七八九十百千]", text):
        # cn2an reads 两 and 〇; 周一 -> 周1 (read back below); 日 of 周日 stays a character
        text = cn2an.transform(text.replace("两", "二"), "cn2an")
    return text


def _bad(text: str, why: str, field: str) -> InputError:
    return InputError(
        "time {text!r}: {why}; write it like 明天8点, 12月1日 下午3点, 下周一上午9点 or 2026-12-01 08:00",
        field=field,
        msg_id="time_format",
        value=text,
        text=text,
        why=why,
    )


def parse(text: str, now: datetime, *, field: str = "at", date_only_time: time | None = None) -> datetime:
    """An aware local datetime from an admin's words. A day without a time takes date_only_time
    (None: refused, "say the time"); a time without a day is the next such time from now."""
    original = text
    if not text or not text.strip():
        raise _bad(original, _("it is empty"), field)
    s = _normalise(text)
    local_now = now.astimezone(LOCAL)
    day: date | None = None
    relative_word = ""
    rest = s
    for word in sorted(_RELATIVE_DAYS, key=len, reverse=True):
        if rest.startswith(word):
            day = local_now.date() + timedelta(days=_RELATIVE_DAYS[word])
            relative_word, rest = word, rest[len(word) :]
            break
    if day is None:
        m = re.match(r"(?P<next>下下|下|本|这)?(?:周|星期)(?P<wd>[1-7日天])", rest)
        if m:
            target = _WEEKDAY_NUM[m.group("wd")]
            monday = local_now.date() - timedelta(days=local_now.weekday())
            weeks = {"下下": 2, "下": 1, "本": 0, "这": 0}.get(m.group("next") or "")
            if weeks is None:  # a bare 周三: the next Wednesday (today, if the time is still ahead)
                day = local_now.date() + timedelta(days=(target - local_now.weekday()) % 7)
                relative_word = "bare_weekday"
            else:
                day = monday + timedelta(days=7 * weeks + target)
            rest = rest[m.end() :]
    if day is None:
        for form in _DATE_FORMS:
            m = form.match(rest)
            if m:
                year = int(m.group("y")) if m.groupdict().get("y") else None
                try:
                    candidate = date(year or local_now.year, int(m.group("m")), int(m.group("d")))
                except ValueError:
                    raise _bad(original, _("that day does not exist"), field) from None
                if year is None and candidate < local_now.date():
                    candidate = candidate.replace(year=candidate.year + 1)  # 1月5日 in December: next year
                day, rest = candidate, rest[m.end() :]
                break
    rest = rest.strip(" ,，")
    period = ""
    if relative_word in _EVENING_WORDS:
        period = "night"
    elif relative_word in _MORNING_WORDS:
        period = "am"
    for word in sorted(_PERIODS, key=len, reverse=True):
        if rest.startswith(word):
            period, rest = _PERIODS[word], rest[len(word) :]
            break
    rest = rest.strip(" ,，")
    clock: time | None = None
    after_midnight = False
    if rest:
        for form in _TIME_FORMS:
            m = form.fullmatch(rest)
            if m:
                g = m.groupdict()
                hour = int(g["h"])
                minute = 30 if g.get("half") else 15 * int(g["q"]) if g.get("q") else int(g.get("mi") or 0)
                hour = _apply_period(hour, period, original, field)
                if hour == 24 and minute == 0:  # 晚上12点: midnight, the start of the next day
                    hour, after_midnight = 0, True
                if not (0 <= hour <= 23 and 0 <= minute <= 59):
                    raise _bad(original, _("that time does not exist"), field)
                clock = time(hour, minute)
                break
        else:
            raise _bad(original, _("it cannot be read"), field)
    elif period:
        raise _bad(original, _("say the hour too"), field)
    if clock is None:
        if day is None:
            raise _bad(original, _("it cannot be read"), field)
        if date_only_time is None:
            raise _bad(original, _("say the time of day too (明天8点, 12月1日 下午3点)"), field)
        clock = date_only_time
    if day is None:  # a time alone: the next such time
        at = datetime.combine(local_now.date(), clock, LOCAL) + timedelta(days=int(after_midnight))
        at = at if at > now else at + timedelta(days=1)
    else:
        at = datetime.combine(day, clock, LOCAL) + timedelta(days=int(after_midnight))
        if relative_word == "bare_weekday" and at <= now:
            at += timedelta(days=7)
    if at > now + MAX_AHEAD:
        raise _bad(original, _("that is more than a year ahead"), field)
    return at


def _apply_period(hour: int, period: str, original: str, field: str) -> int:
    if period in ("pm", "night") and 1 <= hour < 12:
        return hour + 12
    if period == "night" and hour == 12:
        return 24  # 晚上12点 is midnight, not noon
    if period == "noon" and 1 <= hour <= 2:
        return hour + 12
    if period in ("am", "early") and hour > 12:
        raise _bad(original, _("{hour} o'clock is not in the morning").format(hour=hour), field)
    if period == "pm" and hour == 12:
        return 12
    return hour


def parse_day(text: str, now: datetime, field: str = "from") -> date:
    """A day for a report range: 2026-12-01, 2026/12/01, 12月1日, 今天, 昨天, 上个月1日 is not read."""
    s = unicodedata.normalize("NFKC", text or "").strip()
    if s in ("昨天", "昨日"):
        return (now.astimezone(LOCAL) - timedelta(days=1)).date()
    try:
        at = parse(text, now, field=field, date_only_time=time(0, 0))
    except InputError:
        raise InputError(
            "date {text!r} cannot be read or does not exist; write it like 2026-12-01 or 12月1日",
            field=field,
            msg_id="date_format",
            value=text,
            text=text,
        ) from None
    if re.search(r"\d{1,2}\s*[:时]", _normalise(text)):
        raise InputError("date {text!r}: a day, not a time", field=field, msg_id="date_format", value=text, text=text)
    day = at.date()
    # a report asks about the past: 12月1日 written in January means last December
    if not re.search(r"\d{4}", s) and day > now.astimezone(LOCAL).date() + timedelta(days=1):
        day = day.replace(year=day.year - 1)
    return day


def describe(at: datetime) -> str:
    """2026-12-01（周二）08:00, in local time: how a resolved time is echoed to the admin."""
    local = at.astimezone(LOCAL)
    return f"{local:%Y-%m-%d}（周{WEEKDAYS[local.weekday()]}）{local:%H:%M}"


__all__ = ["parse", "parse_day", "describe"]
