"""Anniversary greetings: exactly one per due member per year, whatever fires how often."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from smsd import anniversary, config
from smsd.roster import MemberRow
from smsd.store import Store
from tests.conftest import write_config
from tests.sql import rows as sql_rows

CST = timezone(timedelta(hours=8))


@pytest.fixture
def env(tmp_path):
    cfg = config.load(write_config(tmp_path, {"m1": "emulator"}))
    with Store(cfg.database) as s:
        s.members.upsert(
            [
                MemberRow(2, "张三", "+8613800000001", "大渡口区/八桥镇/一村党支部", [], "2001-07-01"),
                MemberRow(3, "李四", "+8613800000002", "大渡口区/八桥镇", [], "1996-07-01"),
                MemberRow(4, "王五", "+8613800000003", "大渡口区", [], "2010-07-02"),
                MemberRow(5, "赵六", "+8613800000004", "大渡口区", [], "2004-02-29"),
                MemberRow(6, "钱七", "+8613800000005", "大渡口区", [], "2026-07-01"),  # joined this year: not yet
                MemberRow(7, "孙八", "+8613800000006", "大渡口区", [], "1990-07-01"),
            ]
        )
        s.members.set_opt_out(s.members.get("+8613800000006").id, True, "test")
    return cfg


def greetings(cfg) -> list[tuple[str, str]]:
    with Store(cfg.database) as s:
        return [
            (r["to_number"], r["text"])
            for r in sql_rows(s, "SELECT to_number, text FROM outbox WHERE account = 'anniversary' ORDER BY id")
        ]


def test_one_greeting_per_due_member_across_double_fire_and_restart(env):
    morning = datetime(2026, 7, 1, 8, 30, tzinfo=CST)
    with Store(env.database) as s:
        assert anniversary.queue_due(s, env, morning) == 2
        assert anniversary.queue_due(s, env, morning + timedelta(seconds=1)) == 0  # double fire
    with Store(env.database) as s:  # the daemon restarted
        assert anniversary.queue_due(s, env, morning + timedelta(hours=3)) == 0  # catch-up after restart
    sent = greetings(env)
    assert sent == [
        ("+8613800000001", "张三同志：今天是您入党25周年纪念日，一村党支部祝您政治生日快乐！不忘初心，牢记使命。"),
        ("+8613800000002", "李四同志：今天是您入党30周年纪念日，八桥镇祝您政治生日快乐！不忘初心，牢记使命。"),
    ]
    with Store(env.database) as s:  # a clock set back to yesterday evening and forward again changes nothing
        anniversary.queue_due(s, env, datetime(2026, 6, 30, 23, 0, tzinfo=CST))
        anniversary.queue_due(s, env, morning)
    assert len(greetings(env)) == 2
    with Store(env.database) as s:
        assert anniversary.queue_due(s, env, datetime(2027, 7, 1, 8, 30, tzinfo=CST)) == 3  # next year (钱七 too)
    assert len(greetings(env)) == 5


def test_greetings_expire_at_the_end_of_the_day(env):
    with Store(env.database) as s:
        anniversary.queue_due(s, env, datetime(2026, 7, 1, 8, 30, tzinfo=CST))
        rows = sql_rows(s, "SELECT expires_at FROM outbox WHERE account = 'anniversary'")
    assert {r["expires_at"] for r in rows} == {"2026-07-01T16:00:00.000Z"}  # midnight in Shanghai


def test_leap_day_members_are_greeted_on_the_28th(env):
    with Store(env.database) as s:
        assert anniversary.queue_due(s, env, datetime(2027, 2, 28, 8, 30, tzinfo=CST)) == 1
        assert anniversary.queue_due(s, env, datetime(2028, 2, 28, 8, 30, tzinfo=CST)) == 0
        assert anniversary.queue_due(s, env, datetime(2028, 2, 29, 8, 30, tzinfo=CST)) == 1
    assert [t for t, _ in greetings(env)] == ["+8613800000004", "+8613800000004"]


def test_a_missed_morning_is_noticed(env):
    assert anniversary.missed_today(env, datetime(2026, 7, 1, 9, 0, tzinfo=CST))
    assert not anniversary.missed_today(env, datetime(2026, 7, 1, 8, 0, tzinfo=CST))


def test_an_evening_catch_up_sends_next_morning_saying_yesterday_and_never_expires_unsent(env):
    """Issue 12 item 10: a box switched on at 22:00 on the day; quiet hours 21:00-08:00."""
    import dataclasses

    from smsd.pacing import Pacing

    env = dataclasses.replace(env, sending=dataclasses.replace(env.sending, quiet_hours="21:00-08:00"))
    evening = datetime(2026, 7, 1, 22, 0, tzinfo=CST)
    with Store(env.database) as s:
        assert anniversary.queue_due(s, env, evening) == 2
        rows = sql_rows(s, "SELECT not_before, expires_at, text FROM outbox WHERE account = 'anniversary'")
        assert {r["not_before"] for r in rows} == {"2026-07-02T00:00:00.000Z"}  # 08:00 the next morning
        assert {r["expires_at"] for r in rows} == {"2026-07-02T16:00:00.000Z"}  # the end of that day
        assert all("昨天是您入党" in r["text"] for r in rows)
        pacing = env.pacing(env.modems[0])
        assert isinstance(pacing, Pacing)
        midnight = datetime(2026, 7, 2, 0, 0, 1, tzinfo=CST)
        assert s.claims.expire_due(midnight) == 0  # today's midnight no longer takes them
        morning = datetime(2026, 7, 2, 8, 0, 1, tzinfo=CST)
        assert s.claims.claim_next("m1", now=morning, pacing=pacing) is not None


def test_an_expired_greeting_is_shown_in_status(env):
    """Issue 12 item 10: never expire silently."""
    from click.testing import CliRunner

    from smsd.cli import main

    now = datetime.now(CST)
    with Store(env.database) as s:
        mid = s.outbox.enqueue("+8613800000001", "过期的通知", expires_at=now - timedelta(minutes=1))
        assert s.claims.expire_due(now) == 1 and s.outbox.message(mid).state == "expired"
    out = CliRunner().invoke(main, ["status", "--config", str(env.path)])
    assert out.exit_code == 0, out.output
    assert "1 expired" in out.output and "1 message(s) expired unsent" in out.output


def test_a_greeting_keeps_its_template_and_the_variables_it_was_rendered_with(env):
    with Store(env.database) as s:
        anniversary.queue_due(s, env, datetime(2026, 7, 1, 8, 30, tzinfo=CST))
        [msg] = [m for m in s.outbox.messages() if m.to_number == "+8613800000001"]
    assert msg.template == "anniversary" and msg.template_variables["name"] == "张三"
    assert msg.template_variables["years"] == "25"
