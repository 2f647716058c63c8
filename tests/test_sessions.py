"""分级管理, acceptance 3: sessions in the database with idle and absolute timeouts, revocable;
a disabled or locked account's sessions stop at once; the password must change at the first
login and after password_days; with the second factor on, a login needs the code sent by SMS
to the account's own phone (sent ahead of broadcasts, limited per hour)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smsd import config, passwords
from smsd.actions import accounts, broadcasts, sessions
from smsd.errors import InputError
from smsd.roles import root
from smsd.store.records import MemberRow
from tests.conftest import Clock, write_config
from tests.sql import rows as sql_rows

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PHONE = "+8613700000001"
GOOD = "Township-2026"


@pytest.fixture
def office(store, cfg):
    accounts.add(store, cfg, root(), "bq-op", name="王五", role="operator", scope="", phone=PHONE)
    store.accounts.set_password("bq-op", passwords.hashed(GOOD), must_change=False, now=NOW)
    return store, cfg


def test_a_session_lives_while_used_and_ends_when_idle(office):
    store, cfg = office
    started = sessions.begin(store, cfg, "bq-op", GOOD, source="10.0.0.5", now=NOW)
    assert started.token and not started.must_change and started.challenge is None
    idle = timedelta(minutes=cfg.accounts.idle_minutes)
    at = NOW
    for _ in range(3):  # used within the idle time, it lives on
        at += idle - timedelta(minutes=1)
        assert sessions.current(store, cfg, started.token, now=at).actor.login == "bq-op"
    with pytest.raises(InputError, match="session has ended"):
        sessions.current(store, cfg, started.token, now=at + idle)
    [ended] = [s for s in sql_rows(store, "SELECT ended_why FROM sessions")]
    assert ended["ended_why"] == "idle"
    assert store.sessions.find(sessions._digest(started.token)) is not None  # kept as a hash only
    assert sql_rows(store, "SELECT * FROM sessions WHERE token_sha256 = ?", (started.token,)) == []


def test_a_session_ends_after_session_hours_however_busy(office):
    store, cfg = office
    token = sessions.begin(store, cfg, "bq-op", GOOD, now=NOW).token
    assert token
    at = NOW
    while at < NOW + timedelta(hours=cfg.accounts.session_hours) - timedelta(minutes=20):
        at += timedelta(minutes=20)
        sessions.current(store, cfg, token, now=at)
    with pytest.raises(InputError, match="session has ended"):
        sessions.current(store, cfg, token, now=NOW + timedelta(hours=cfg.accounts.session_hours))


def test_disabling_locking_or_logging_out_ends_sessions_at_once(office):
    store, cfg = office
    first = sessions.begin(store, cfg, "bq-op", GOOD).token
    second = sessions.begin(store, cfg, "bq-op", GOOD).token
    assert first and second
    accounts.set_enabled(store, root(), "bq-op", False)
    for token in (first, second):
        with pytest.raises(InputError):
            sessions.current(store, cfg, token)
    accounts.set_enabled(store, root(), "bq-op", True)
    with pytest.raises(InputError):
        sessions.current(store, cfg, first)  # ended, not merely paused
    third = sessions.begin(store, cfg, "bq-op", GOOD).token
    assert third
    for _ in range(cfg.accounts.lock_after):
        with pytest.raises(InputError):
            sessions.begin(store, cfg, "bq-op", "wrong")
    with pytest.raises(InputError, match="locked"):
        sessions.current(store, cfg, third)  # locked by someone guessing: the live session stops too
    accounts.unlock(store, root(), "bq-op")
    fourth = sessions.begin(store, cfg, "bq-op", GOOD).token
    assert fourth
    sessions.end(store, fourth)
    with pytest.raises(InputError, match="session has ended"):
        sessions.current(store, cfg, fourth)
    fifth = sessions.begin(store, cfg, "bq-op", GOOD).token
    assert fifth and sessions.end_all(store, root(), "bq-op") == 1
    with pytest.raises(InputError):
        sessions.current(store, cfg, fifth)
    trail = [(e.action, e.result) for e in store.audit.entries()]
    assert ("user.disable", "ok") in trail and ("session.end", "ok") in trail and ("session.end_all", "ok") in trail


def test_the_password_must_change_at_the_first_login_and_after_password_days(store, cfg):
    _, initial = accounts.add(store, cfg, root(), "bq-op", name="王五", role="operator", phone=PHONE)
    first = sessions.begin(store, cfg, "bq-op", initial)
    assert first.must_change and first.token
    assert sessions.current(store, cfg, first.token).must_change
    accounts.change_password(store, cfg, "bq-op", initial, GOOD)
    assert not sessions.current(store, cfg, first.token).must_change
    later = datetime.now(UTC) + timedelta(days=cfg.accounts.password_days, minutes=1)
    assert sessions.begin(store, cfg, "bq-op", GOOD, now=later).must_change  # 90 days on: change it again
    with pytest.raises(InputError, match="three of"):
        accounts.change_password(store, cfg, "bq-op", GOOD, "township2026")


def test_with_the_second_factor_a_login_needs_the_code_sent_to_the_accounts_phone(office, tmp_path):
    store, _ = office
    cfg = config.load(write_config(tmp_path, {"m1": "emulator"}, accounts={"second_factor": True}))
    started = sessions.begin(store, cfg, "bq-op", GOOD, now=NOW)
    assert started.token is None and started.challenge  # the password alone gives no session
    [sms] = sql_rows(store, "SELECT to_number, text, priority, quiet_ok FROM outbox")
    assert (sms["to_number"], sms["priority"], sms["quiet_ok"]) == (PHONE, sessions.LOGIN_CODE_PRIORITY, 1)
    code = sms["text"].split("验证码：")[1][:6]
    assert code.isdigit() and code not in str(sql_rows(store, "SELECT * FROM login_codes"))
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(InputError, match="wrong or expired login code"):
        sessions.confirm(store, cfg, started.challenge, wrong, now=NOW)
    with pytest.raises(InputError, match="wrong or expired login code"):
        late = NOW + timedelta(minutes=cfg.accounts.code_minutes)
        sessions.confirm(store, cfg, started.challenge, code, now=late)
    again = sessions.begin(store, cfg, "bq-op", GOOD, now=NOW + timedelta(minutes=1))
    assert again.challenge
    newest = sql_rows(store, "SELECT text FROM outbox ORDER BY id DESC LIMIT 1")[0]["text"].split("验证码：")[1][:6]
    confirmed = sessions.confirm(store, cfg, again.challenge, newest, now=NOW + timedelta(minutes=2))
    assert confirmed.token and sessions.current(store, cfg, confirmed.token, now=NOW + timedelta(minutes=3))
    with pytest.raises(InputError):  # a code serves once
        sessions.confirm(store, cfg, again.challenge, newest, now=NOW + timedelta(minutes=2))
    trail = [(e.action, e.result, e.detail) for e in store.audit.entries()]
    assert ("login.code", "refused", "wrong code") in trail and ("login.code", "ok", "sent") in trail


def test_login_codes_are_limited_per_hour_and_go_before_a_broadcast(office, tmp_path, memory_workers):
    store, _ = office
    cfg = config.load(write_config(tmp_path, {"m1": "emulator"}, accounts={"second_factor": True, "codes_per_hour": 2}))
    store.members.upsert(
        [MemberRow(i, f"党员{i}", f"+86138000000{i:02d}", "大渡口区/八桥镇", [], None) for i in range(2, 12)]
    )
    broadcasts.start(store, cfg, broadcasts.Asked(everyone=True, text="全体党员：周五开会。"))
    for minute in range(2):
        sessions.begin(store, cfg, "bq-op", GOOD, now=datetime.now(UTC) + timedelta(minutes=minute))
    with pytest.raises(InputError, match="2 login codes"):
        sessions.begin(store, cfg, "bq-op", GOOD, now=datetime.now(UTC) + timedelta(minutes=3))
    worker = memory_workers("m1", clock=Clock(datetime.now(UTC) + timedelta(minutes=2)))  # both codes still good
    for _ in range(3):
        worker.loop()
    sent = [s.to for s in worker.transport.provider.sent]
    assert sent[:2] == [PHONE, PHONE], sent  # the codes left first, though the broadcast was queued before them


def test_a_page_refreshing_itself_does_not_keep_the_session_alive(office):
    """The console's live parts poll every few seconds; only the person's own requests count."""
    store, cfg = office
    token = sessions.begin(store, cfg, "bq-op", GOOD, now=NOW).token
    assert token
    idle = timedelta(minutes=cfg.accounts.idle_minutes)
    for minutes in range(1, cfg.accounts.idle_minutes):
        sessions.current(store, cfg, token, now=NOW + timedelta(minutes=minutes), touch=False)
    with pytest.raises(InputError, match="session has ended"):
        sessions.current(store, cfg, token, now=NOW + idle, touch=False)
