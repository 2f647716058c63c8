"""No scheduling surprises (issue 17), each with an injected clock: a retried message keeps its
send time; a reminder never overtakes its notice; an urgent campaign's reminders are urgent; a
cancelled campaign's bar shows what was sent; a campaign is named by its topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from smsd import broadcast as bc
from smsd import interact
from smsd.cli import main
from smsd.clock import LOCAL
from smsd.config import load
from smsd.errors import InputError
from smsd.pacing import Pacing
from smsd.roster import MemberRow
from smsd.store import Store
from tests.conftest import write_config
from tests.sql import one as sql_one

NOW = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)  # 21:00 in Asia/Shanghai
TEXT = "${name}同志：请于周五下午三点到镇党委会议室参加支部书记会议。"


@pytest.fixture
def env(tmp_path):
    config = write_config(tmp_path, {"m1": "emulator"})
    cfg = load(config)
    store = Store(tmp_path / "smsd.db")
    store.members.upsert(
        [MemberRow(i, f"党员{i}", f"+86138{i:08d}", "大渡口区/八桥镇", ["支部书记"], None) for i in range(1, 6)]
    )
    yield cfg, store, config
    store.close()


def claim(store: Store, now: datetime, pacing: Pacing | None = None):
    return store.claims.claim_next("m1", now=now, pacing=pacing)


def drain(store: Store, now: datetime) -> int:
    n = 0
    while (msg := claim(store, now)) is not None:
        for part in store.outbox.parts(msg.id):
            store.submits.part_sent(msg.id, part.seq, ref=n % 256, price_fen=6, modem="m1", now=now)
        n += 1
    return n


def test_a_retried_message_keeps_its_send_time(env):
    cfg, store, _ = env
    tomorrow_8 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # 08:00 local
    mid = store.outbox.enqueue("+8613800138000", "明天八点的通知", not_before=tomorrow_8, now=NOW)
    chosen = store.outbox.message(mid).not_before
    store.outbox.cancel(mid, "test", now=NOW)
    store.outbox.retry(mid, "test", now=NOW + timedelta(minutes=5))
    msg = store.outbox.message(mid)
    assert msg.state == "queued" and chosen is not None and msg.not_before == chosen
    assert claim(store, NOW + timedelta(minutes=6)) is None  # not at once
    assert claim(store, tomorrow_8 + timedelta(seconds=1)).id == mid
    assert store.outbox.message(mid).expires_at > msg.not_before


def confirm_campaign(cfg, store, *, urgent: bool) -> int:
    plan = bc.plan(store, cfg, everyone=True, text=TEXT, confirm=True, urgent=urgent,
                   variables={"topic": "支部书记会议"}, now=NOW)  # fmt: skip
    name = bc.campaign_name(None, None, TEXT, {"topic": "支部书记会议"})
    return bc.queue(store, plan, name=name, actor="test", now=NOW)


def test_a_reminder_waits_until_its_notices_have_gone(env):
    cfg, store, _ = env
    cid = confirm_campaign(cfg, store, urgent=False)
    with pytest.raises(InputError) as err:
        interact.remind(store, cfg, cid, now=NOW)
    assert "5 message(s) waiting" in str(err.value) and err.value.msg_id == "remind_too_early"
    assert store.outbox.queue_depth().nonzero() == {"queued": 5}  # nothing queued by the refusal
    assert drain(store, NOW) == 5
    assert interact.remind(store, cfg, cid, now=NOW + timedelta(hours=1)) == 5
    reminders = [m for m in store.outbox.messages(state="queued") if m.campaign_id == cid]
    assert len(reminders) == 5 and {m.priority for m in reminders} == {cfg.sending.broadcast_priority}
    assert {m.quiet_ok for m in reminders} == {0}
    with pytest.raises(InputError):  # the first round's reminders are still waiting
        interact.remind(store, cfg, cid, now=NOW + timedelta(hours=2))


def test_an_urgent_campaigns_reminders_are_urgent(env):
    cfg, store, _ = env
    cid = confirm_campaign(cfg, store, urgent=True)
    night = NOW + timedelta(hours=1)  # 22:00 local: quiet hours
    pacing = Pacing(quiet=(datetime.min.time().replace(hour=21), datetime.min.time().replace(hour=8)))
    first = claim(store, night, pacing)
    assert first is not None  # urgent notices go at night
    store.submits.part_sent(first.id, 1, ref=0, price_fen=6, modem="m1", now=night)
    drain(store, night)
    interact.remind(store, cfg, cid, now=night)
    reminders = [m for m in store.outbox.messages(state="queued") if m.campaign_id == cid]
    assert {m.priority for m in reminders} == {9} and {m.quiet_ok for m in reminders} == {1}
    assert claim(store, night, pacing) is not None  # and so do their reminders


def test_a_cancelled_campaign_shows_what_was_sent_and_is_named_by_its_topic(env):
    cfg, store, config = env
    cid = confirm_campaign(cfg, store, urgent=False)
    first = claim(store, NOW)
    store.submits.part_sent(first.id, 1, ref=1, price_fen=6, modem="m1", now=NOW)
    out = CliRunner().invoke(main, ["campaign", "cancel", str(cid), "--config", str(config)])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(main, ["campaign", "status", str(cid), "--config", str(config)])
    assert "支部书记会议" in out.output.splitlines()[0]
    bar = out.output.splitlines()[1]
    assert bar.endswith("] 1/5") and bar.count("#") == 6  # 1 of 5 sent: a fifth of the bar, not all of it
    with pytest.raises(InputError):
        interact.remind(store, cfg, cid, now=NOW)


def test_campaign_name_prefers_the_admins_name_then_the_topic():
    assert bc.campaign_name("年终总结", "meeting_notice", None, {"topic": "支部书记会议"}) == "年终总结"
    assert bc.campaign_name(None, "meeting_notice", None, {"topic": "支部书记会议"}) == "支部书记会议"
    text = "请于周五下午三点到镇党委会议室参加支部书记会议。"
    assert bc.campaign_name(None, None, text, {}) == text[:20]
    assert bc.campaign_name(None, "general_notice", None, {}) == "general_notice"


def test_dry_run_tells_when_it_starts_the_budget_and_how_many_days(tmp_path):
    config = write_config(tmp_path, {"m1": "emulator", "m2": "emulator"}, sending={"quiet_hours": "21:00-08:00"})
    config.write_text(config.read_text().replace("hourly_cap = 100000", "hourly_cap = 150")
                      .replace("daily_cap = 100000", "daily_cap = 800"))  # fmt: skip
    cfg = load(config)
    with Store(tmp_path / "smsd.db") as store:
        store.members.upsert(
            [MemberRow(i, f"党员{i}", f"+86138{i:08d}", "大渡口区/八桥镇", [], None) for i in range(1, 5001)]
        )
        store.ledger.set_budget("大渡口区/八桥镇", "2026-11", 50_000, "test")
        this_month = datetime.now(UTC).astimezone(LOCAL).strftime("%Y-%m")  # for the CLI run below, on today's clock
        store.ledger.set_budget("大渡口区/八桥镇", this_month, 50_000, "test")
        plan = bc.plan(store, cfg, orgs=("大渡口区/八桥镇",), text="年终总结会议通知", now=NOW)  # 21:00 local
        s = plan.summary()
        assert s["starts"] == "2026-11-29 08:00" and s["starts_why"] == "quiet"
        assert 2.5 <= s["days"] <= 4  # 5,000 at 2 x 800 a day: the fourth morning
        b = bc.budget_figures(store, plan)
        assert b["left_before_fen"] == 50_000 and b["left_after_fen"] == 50_000 - 5000 * 6
        urgent = bc.plan(store, cfg, orgs=("大渡口区/八桥镇",), text="紧急通知", urgent=True, now=NOW)
        assert urgent.summary()["starts"] == "now"
    args = ["broadcast", "--org", "大渡口区/八桥镇", "--text", "年终总结会议通知", "--dry-run"]
    out = CliRunner().invoke(main, [*args, "--config", str(config)])
    assert out.exit_code == 0, out.output
    assert "warning: 5000 messages at 300/hour on 2 SIM(s): about" in out.output
    assert "budget of 大渡口区/八桥镇 for" in out.output and "left after" in out.output


# ------------------------------------------------------------------ issue 22: scheduling truths


def test_a_reminder_round_twice_needs_again(env):
    cfg, store, _ = env
    cid = confirm_campaign(cfg, store, urgent=False)
    drain(store, NOW)
    assert interact.remind(store, cfg, cid, now=NOW + timedelta(hours=1)) == 5
    drain(store, NOW + timedelta(hours=1))
    with pytest.raises(InputError) as err:
        interact.remind(store, cfg, cid, now=NOW + timedelta(hours=2))
    assert err.value.msg_id == "reminded_before" and "--again" in str(err.value)
    assert interact.remind(store, cfg, cid, now=NOW + timedelta(hours=2), again=True) == 5


def test_a_template_that_asks_for_a_receipt_counts_the_replies_without_confirm(env):
    from smsd.dispatch import Dispatcher
    from tests.conversation import Conversation

    cfg, store, _ = env
    plan = bc.plan(store, cfg, everyone=True, template="meeting_notice", now=NOW,
                   variables={"time": "12月3日上午9点", "place": "党群服务中心", "topic": "支部书记会议"})  # fmt: skip
    assert plan.confirm and any("QR" in n for n in plan.notes)
    cid = bc.queue(store, plan, name="会议", actor="test", now=NOW)
    drain(store, NOW)
    Conversation(store, Dispatcher(store, cfg, clock=lambda: NOW + timedelta(minutes=5))).member_says(
        "+8613800000001", "收到"
    )
    assert len(store.receipts.of_campaign(cid).confirmed) == 1


@pytest.mark.parametrize("text", ["明天下午3点开会", "今晚8点开会", "请于今天下班前上报"])
def test_a_relative_day_in_a_notice_held_to_another_day_is_warned_of(tmp_path, text):
    config = write_config(tmp_path, {"m1": "emulator"}, sending={"quiet_hours": "21:00-08:00"})
    cfg = load(config)
    with Store(tmp_path / "smsd.db") as store:
        store.members.upsert([MemberRow(1, "张三", "+8613800000001", "大渡口区", [], None)])
        late = bc.plan(store, cfg, everyone=True, text=text, now=NOW)  # 21:00: held until 08:00 tomorrow
        assert any("not today" in n for n in late.notes), late.notes
        morning = bc.plan(store, cfg, everyone=True, text=text, now=NOW - timedelta(hours=10))  # 11:00
        assert not any("not today" in n for n in morning.notes), morning.notes
        dated = bc.plan(store, cfg, everyone=True, text="12月3日下午3点开会", now=NOW)
        assert not any("not today" in n for n in dated.notes)


def test_poll_invitations_are_shown_and_asked_for_like_a_broadcast(env):
    cfg, store, config = env
    args = ["poll", "create", "--question", "同意吗？", "--option", "同意", "--option", "反对", "--all",
            "--closes", "后天18点", "--invite", "--config", str(config)]  # fmt: skip
    dry = CliRunner().invoke(main, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "recipients: 5" in dry.output and "cost: 0.30 yuan" in dry.output, dry.output
    assert sql_one(store, "SELECT COUNT(*) AS n FROM polls")["n"] == 0  # a dry run creates nothing
    asked = CliRunner().invoke(main, args)  # not a terminal, no --yes: nothing is created
    assert asked.exit_code == 1 and "--yes" in asked.output, asked.output
    assert store.outbox.queue_depth().nonzero() == {} and sql_one(store, "SELECT COUNT(*) AS n FROM polls")["n"] == 0
    done = CliRunner().invoke(main, [*args, "--yes"])
    assert done.exit_code == 0, done.output
    assert store.outbox.queue_depth().nonzero() == {"queued": 5}
