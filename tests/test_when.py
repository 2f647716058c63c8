"""Times as people write them (issue 17): a table of forms with a fixed clock, refusals included.

The clock: Saturday 2026-11-28 10:00 in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from click.testing import CliRunner

from smsd import when
from smsd.clock import LOCAL
from smsd.errors import InputError

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # Saturday 10:00 local


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=LOCAL)


ACCEPTED = [
    ("明天8点", local(2026, 11, 29, 8)),
    ("明天早上8点", local(2026, 11, 29, 8)),
    ("明天上午八点半", local(2026, 11, 29, 8, 30)),
    ("明早7点", local(2026, 11, 29, 7)),
    ("今晚8点", local(2026, 11, 28, 20)),
    ("今晚八点", local(2026, 11, 28, 20)),
    ("明晚7点半", local(2026, 11, 29, 19, 30)),
    ("今天下午3点", local(2026, 11, 28, 15)),
    ("后天下午3点", local(2026, 11, 30, 15)),
    ("后天下午三点一刻", local(2026, 11, 30, 15, 15)),
    ("大后天上午9点", local(2026, 12, 1, 9)),
    ("下周一上午9点", local(2026, 11, 30, 9)),
    ("下星期三下午两点", local(2026, 12, 2, 14)),
    ("下礼拜五 10:00", local(2026, 12, 4, 10)),
    ("周一9点", local(2026, 11, 30, 9)),
    ("星期六下午4点", local(2026, 11, 28, 16)),  # today, still ahead
    ("周六9点", local(2026, 12, 5, 9)),  # today's 9:00 has passed: next Saturday
    ("本周日上午10点", local(2026, 11, 29, 10)),
    ("12月1日 8点", local(2026, 12, 1, 8)),
    ("12月1号下午3点", local(2026, 12, 1, 15)),
    ("十二月一日上午九点", local(2026, 12, 1, 9)),
    ("2026年12月1日 8:00", local(2026, 12, 1, 8)),
    ("二〇二六年十二月一日八点", local(2026, 12, 1, 8)),
    ("2026/12/01 08:00", local(2026, 12, 1, 8)),
    ("2026-12-01 08:30", local(2026, 12, 1, 8, 30)),
    ("2026-12-01T08:30", local(2026, 12, 1, 8, 30)),
    ("2026.12.01 08:30", local(2026, 12, 1, 8, 30)),
    ("1月5日 9点", local(2027, 1, 5, 9)),  # January, written in November: next year
    ("8：00", local(2026, 11, 29, 8)),  # full-width colon; 08:00 has passed today
    ("８：３０", local(2026, 11, 29, 8, 30)),
    ("20:15", local(2026, 11, 28, 20, 15)),
    ("晚上8点", local(2026, 11, 28, 20)),
    ("下午3点", local(2026, 11, 28, 15)),
    ("中午12点", local(2026, 11, 28, 12)),
    ("凌晨1点", local(2026, 11, 29, 1)),
    ("明天15点", local(2026, 11, 29, 15)),
    ("明天 8点整", local(2026, 11, 29, 8)),
]

REFUSED = [
    "tomorrow",
    "明天",  # no time of day for a send
    "明天下午",  # no hour
    "25点",
    "明天25点",
    "8点70分",
    "13月1日 8点",
    "2月30日 8点",
    "2026-02-30 08:00",
    "上午15点",
    "下下下周一9点",
    "8点半半",
    "",
    "   ",
    "明天8点 或者 9点",
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED, ids=[t for t, _ in ACCEPTED])
def test_accepted(text, expected):
    assert when.parse(text, NOW) == expected


@pytest.mark.parametrize("text", REFUSED, ids=[repr(t) for t in REFUSED])
def test_refused_with_a_hint(text):
    with pytest.raises(InputError) as err:
        when.parse(text, NOW)
    assert err.value.msg_id == "time_format" and "明天8点" in str(err.value)


def test_the_table_is_at_least_thirty_forms():
    assert len(ACCEPTED) + len(REFUSED) >= 30 and len(ACCEPTED) >= 30


def test_a_day_alone_takes_the_callers_time():
    assert when.parse("12月1日", NOW, date_only_time=time(23, 59)) == local(2026, 12, 1, 23, 59)
    assert when.parse("明天", NOW, date_only_time=time(23, 59)) == local(2026, 11, 29, 23, 59)


@pytest.mark.parametrize(
    ("text", "day"),
    [("2026-11-01", date(2026, 11, 1)), ("2026/11/01", date(2026, 11, 1)), ("11月1日", date(2026, 11, 1)),
     ("12月1日", date(2025, 12, 1)), ("今天", date(2026, 11, 28)), ("昨天", date(2026, 11, 27))],
)  # fmt: skip
def test_report_days(text, day):
    assert when.parse_day(text, NOW) == day


@pytest.mark.parametrize("text", ["2026-13-01", "2026-02-30", "13月1日", "someday", "明天8点"])
def test_report_days_refused(text):
    with pytest.raises(InputError) as err:
        when.parse_day(text, NOW)
    assert err.value.msg_id == "date_format"


def test_describe_echoes_the_resolved_time_in_full():
    assert when.describe(local(2026, 12, 1, 8)) == "2026-12-01（周二）08:00"


def test_send_echoes_the_resolved_time(tmp_path):
    from datetime import timedelta

    from smsd.cli import main
    from tests.conftest import write_config

    config = write_config(tmp_path, {"m1": "emulator"})
    day = date.today() + timedelta(days=200)
    out = CliRunner().invoke(
        main,
        [
            "send",
            "13800138000",
            "明天开会",
            "--at",
            f"{day.year}年{day.month}月{day.day}日 8:00",
            "--config",
            str(config),
        ],
    )
    assert out.exit_code == 0, out.output
    assert f"{day:%Y-%m-%d}（周{when.WEEKDAYS[day.weekday()]}）08:00" in out.output


@pytest.mark.parametrize("text", ["9999-12-31 23:59", "2200年1月1日 8:00"])
def test_a_time_more_than_a_year_ahead_is_refused_in_one_line(tmp_path, text):
    """9999-12-31 23:59 once crashed `send` (the expiry overflowed) and the HTTP API (500)."""
    from smsd.cli import main
    from tests.conftest import write_config

    config = write_config(tmp_path, {"m1": "emulator"})
    out = CliRunner().invoke(main, ["send", "13800138000", "开会", "--at", text, "--config", str(config)])
    assert out.exit_code == 1 and out.output.count("\n") == 1, out.output
    assert "Traceback" not in out.output


def test_midnight_in_words_is_midnight_not_noon():
    now = local(2026, 12, 1, 10)
    assert when.parse("晚上12点", now) == local(2026, 12, 2, 0)
    assert when.parse("今晚12点", now) == local(2026, 12, 2, 0)
    assert when.parse("明晚12点", now) == local(2026, 12, 3, 0)
    assert when.parse("中午12点", now) == local(2026, 12, 1, 12)
    assert when.parse("下午12点", now) == local(2026, 12, 1, 12)
