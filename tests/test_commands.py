"""Conversations for every command, its aliases and its refusals; the parser under Hypothesis."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsd import config, registry
from smsd.dispatch import Dispatcher
from smsd.parse import normalise, parse
from smsd.pdu import plan
from smsd.roster import MemberRow
from smsd.store import Store
from tests.conftest import write_config
from tests.conversation import Conversation
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=CST)
A, B, C, STRANGER = "+8613800000001", "+8613800000002", "+8613800000003", "+8613900000009"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(tmp_path):
    cfg = config.load(write_config(tmp_path, {"m1": "emulator"}))
    store = Store(cfg.database)
    store.members.upsert(
        [
            MemberRow(2, "张三", A, "大渡口区/八桥镇/一村党支部", ["支部书记"], "2001-07-01"),
            MemberRow(3, "李四", B, "大渡口区/八桥镇/二村党支部", ["党员"], "1999-07-01"),
            MemberRow(4, "王五", C, "大渡口区/跳磴镇", ["党员"], "2010-07-01"),
        ]
    )
    clock = Clock()
    yield store, cfg, clock, Dispatcher(store, cfg, clock=clock)
    store.close()


def poll_for(store, members, closes=NOW + timedelta(days=1), policy="first"):
    ids = [store.members.get(m).id for m in members]
    return store.polls.create(
        "是否同意年度计划？",
        ["赞成", "反对", "弃权"],
        ids,
        opens=NOW - timedelta(hours=1),
        closes=closes,
        policy=policy,
        announce=False,
        audience={},
        actor="test",
        now=NOW,
    )


def test_help_and_its_aliases_strangers_included(world):
    store, _, _, d = world
    Conversation(store, d).run(f"""
        {A} > 帮助
        {A} < 可回复：TP+编号 投票
        {B} > ＢＺ
        {B} < 可回复：
        {C} > help
        {C} < 可回复：
        {STRANGER} > ？
        {STRANGER} < 可回复：
        {A} > 求助！
        {A} < 可回复：
    """)


def test_unsubscribe_and_resubscribe(world):
    store, _, _, d = world
    Conversation(store, d).run(f"""
        {A} > TD
        {A} < 已退订
        {A} > 订阅
        {A} < 已恢复订阅
        {B} > 退订
        {B} < 已退订
        {STRANGER} > td
        {STRANGER} < 已退订
    """)
    assert store.members.get(B).opted_out == 1 and store.members.get(A).opted_out == 0
    assert store.senders.is_opted_out(STRANGER)


def test_votes_in_every_spelling_and_the_refusals(world):
    store, _, clock, d = world
    pid = poll_for(store, [A, B])
    Conversation(store, d).run(f"""
        {A} > ＴＰ　２
        {A} < 投票成功：您选择了2.反对
        {A} > 投票，1
        {A} < 您已投过票（2.反对）
        {B} > 投票 9
        {B} < 请回复TP加选项编号（1-3）
        {B} > TP
        {B} < 请回复TP加选项编号，例如
        {B} > 3 李四
        {B} < 投票成功：您选择了3.弃权
        {C} > TP 1
        {C} < 您不在本次投票的范围内
        {STRANGER} > TP 1
        {STRANGER} <
    """)
    clock.now = NOW + timedelta(days=2)
    Conversation(store, d).run(f"""
        {B} > tp 1
        {B} < 投票“是否同意年度计划？”已结束
    """)
    results = store.polls.results(pid)
    assert [o.votes for o in results.options] == [0, 1, 1]


def test_keyword_aliases_from_config(world):
    store, cfg, clock, _ = world
    poll_for(store, [A])
    d = Dispatcher(store, cfg, registry=registry.load({"vote": ["TOUPIAO"]}), clock=clock)
    Conversation(store, d).run(f"""
        {A} > toupiao 2
        {A} < 投票成功：您选择了2.反对
    """)


def test_last_vote_wins_when_configured(world):
    store, _, _, d = world
    poll_for(store, [A], policy="last")
    Conversation(store, d).run(f"""
        {A} > TP 1
        {A} < 投票成功：您选择了1.赞成
        {A} > TP 3
        {A} < 已改为3.弃权
    """)


def test_two_open_polls_need_the_poll_number(world):
    store, _, _, d = world
    poll_for(store, [A])
    second = poll_for(store, [A])
    Conversation(store, d).run(f"""
        {A} > TP 1
        {A} < 目前有多个投票，请回复TP+投票编号+选项
        {A} > TP {second} 2
        {A} < 投票成功：您选择了2.反对
    """)


def _confirm_campaign(store, cfg, numbers):
    from smsd import broadcast

    plan_ = broadcast.plan(store, cfg, numbers_file=None, orgs=("大渡口区",), text="明天开会，收到请回复QR确认。")
    plan_ = plan_.only(store, lambda r: r.phone in numbers)
    cid = broadcast.queue(store, plan_, name="会议通知")
    store.conn.execute("UPDATE campaigns SET confirm = 1 WHERE id = ?", (cid,))
    for m in store.outbox.messages(limit=100):
        if m.campaign_id == cid:
            store.claims.claim_next("m1")
            store.submits.part_submitting(m.id, 1, "m1")
            store.submits.part_sent(m.id, 1, ref=1, price_fen=6, modem="m1")
    return cid


def test_receipts_qr_aliases_and_a_bare_one(world):
    store, cfg, _, d = world
    Conversation(store, d).run(f"""
        {A} > QR
        {A} < 目前没有需要您确认的通知
    """)
    cid = _confirm_campaign(store, cfg, {A, B, C})
    Conversation(store, d).run(f"""
        {A} > 确认！
        {A} < 回执已收到
        {A} > qr
        {A} < 您已确认过
        {B} > 1
        {B} < 回执已收到
        {C} > 收到【王五】
        {C} < 回执已收到
    """)
    assert len(store.receipts.of_campaign(cid).confirmed) == 3


def test_red_messages(world):
    store, _, _, d = world
    Conversation(store, d).run(f"""
        {A} > HDZ 春风十里不如党的政策暖人心
        {A} < 目前没有红段子征集活动
    """)
    store.red.open("建党节红段子征集", 30, "test")
    Conversation(store, d).run(f"""
        {A} > HDZ 春风十里不如党的政策暖人心
        {A} < 您的红段子已收到
        {B} > 红段子：春风十里，不如党的政策暖人心！
        {B} < 该内容已有人投稿
        {B} > 红段子不忘初心方得始终
        {B} < 您的红段子已收到
        {C} > hdz {"长" * 31}
        {C} < 投稿请不超过30字（本条31字）
        {C} > HDZ
        {C} < 请回复HDZ加内容投稿
    """)
    subs = store.red.submissions()
    assert [s.text for s in subs] == ["春风十里不如党的政策暖人心", "不忘初心方得始终"]
    assert subs[0].org == "大渡口区/八桥镇/一村党支部"


def test_feedback_explicit_and_implicit_and_suggestions(world):
    store, _, _, d = world
    Conversation(store, d).run(f"""
        {A} > YJ 建议增加学习资料
        {A} < 您的意见已收到
        {A} > 意见
        {A} < 请回复YJ加内容提意见
        {B} > 今天的会议开得很好，谢谢组织！
        {B} < 您的意见已收到
        {C} > TQ 2
        {C} < 您是不是要发送
        {STRANGER} > 你好，请问是哪位？
        {STRANGER} <
    """)
    assert [f.text for f in store.inbox.feedback()][:2] == ["TQ 2", "今天的会议开得很好，谢谢组织！"]


def test_machines_are_never_answered(world):
    store, _, _, d = world
    Conversation(store, d).run("""
        10086 > 帮助
        10086 <
        1065905512345 > TD
        1065905512345 <
        CMCC > 您的余额为12.34元
        CMCC <
    """)


def test_loop_detection_flags_an_auto_responder(world):
    store, _, _, d = world
    Conversation(store, d).run(f"""
        {A} > 您好，我正在开会，稍后回复。
        {A} < 您的意见已收到
        {A} > 您好，我正在开会，稍后回复。
        {A} < 您的意见已收到
        {A} > 您好，我正在开会，稍后回复。
        {A} < 您的意见已收到
        {A} > 您好，我正在开会，稍后回复。
        {A} <
        {A} > 帮助
        {A} <
    """)
    assert store.senders.is_flagged(A)


def test_reply_rate_limit(world):
    store, _, _, d = world
    script = "".join(f"{A} > YJ 第{i}条意见\n{A} < 您的意见已收到\n" for i in range(5))
    Conversation(store, d).run(script + f"{A} > YJ 第六条意见\n{A} <\n")
    assert len(store.inbox.feedback()) == 6  # stored and counted, just not answered


def test_a_crashing_handler_gets_the_fixed_apology(world):
    store, cfg, clock, _ = world

    def boom(ctx):
        raise RuntimeError("database exploded at /srv/secret.db")

    reg = registry.Registry()
    reg.add(registry.Command("boom", ("BOOM",), "BOOM", "crash", boom))
    d = Dispatcher(store, cfg, registry=reg, clock=clock)
    Conversation(store, d).run(f"""
        {A} > boom
        {A} < 抱歉，系统暂时无法处理您的短信，请稍后再试。
    """)
    [row] = store.inbox.recent(1)
    assert row.state == "error"


def test_an_offices_own_apology_is_the_one_sent(tmp_path):
    """templates/reply_apology.txt was never read: an office's rewording of it was ignored."""
    own = tmp_path / "own"
    own.mkdir()
    (own / "reply_apology.txt").write_text("八桥镇党委：系统忙，请稍后再发。\n", encoding="utf-8")
    cfg = config.load(write_config(tmp_path, {"m1": "emulator"}, daemon={"templates_dir": "own"}))

    def boom(ctx):
        raise RuntimeError("boom")

    reg = registry.Registry()
    reg.add(registry.Command("boom", ("BOOM",), "BOOM", "crash", boom))
    with Store(cfg.database) as store:
        store.members.upsert([MemberRow(2, "张三", A, "大渡口区", [], None)])
        Conversation(store, Dispatcher(store, cfg, registry=reg, clock=Clock())).run(f"""
            {A} > boom
            {A} < 八桥镇党委：系统忙，请稍后再发。
        """)


def test_registry_refuses_duplicate_keywords():
    reg = registry.load()
    with pytest.raises(registry.DuplicateKeyword, match="'TP' of 'x' is already 'vote'"):
        reg.add(registry.Command("x", ("TP",), "", "", lambda c: None))
    with pytest.raises(registry.DuplicateKeyword, match="already 'help'"):
        registry.load({"vote": ["BZ"]})


# ------------------------------------------------------------------ the parser under Hypothesis

KNOWN = set(registry.load({"vote": ["TOUPIAO"]}).keywords())
VALID = [
    ("TP", "2"),
    ("投票", "1"),
    ("QR", ""),
    ("确认", ""),
    ("TD", ""),
    ("HDZ", "春风十里"),
    ("YJ", "建议"),
    ("帮助", ""),
    ("BZ", ""),
    ("意见", "很好"),
    ("toupiao", "3"),
]
SEPS = st.sampled_from([" ", "  ", "\u3000", ",", "，", ":", "：", ";", "；", ""])
SIGNATURES = st.sampled_from(["", " 张三", "【张三】", " --李四", "（王五）"])


def fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in s)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), SEPS, SIGNATURES, st.booleans(), st.booleans(), st.text(" \t\u3000", max_size=3))
def test_parser_finds_the_same_command_however_it_is_typed(case, sep, sig, wide, upper, pad):
    keyword, arg = case
    if not sep and keyword.isascii() and arg and arg[0].isascii() and not arg[0].isdigit():
        sep = " "
    text = keyword + sep + arg
    text = text.upper() if upper else text.lower()
    text = pad + (fullwidth(text) if wide else text) + (sig if arg else "") + pad
    parsed = parse(text, lambda k: k in KNOWN)
    assert parsed.keyword == normalise(keyword)
    assert parsed.argument.startswith(normalise(arg))


@pytest.fixture(scope="module")
def fuzz_box(tmp_path_factory):
    """A config and a database made once (schema and roster); each example starts from a copy."""
    tmp = tmp_path_factory.mktemp("fuzz")
    cfg = config.load(write_config(tmp, {"m1": "emulator"}))
    with Store(cfg.database) as store:
        store.members.upsert([MemberRow(2, "张三", A, "大渡口区", [], None)])
    template = tmp / "template.db"
    shutil.copyfile(cfg.database, template)
    return cfg, template


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_dispatcher_never_raises_on_random_text(fuzz_box, text):
    cfg, template = fuzz_box
    for suffix in ("-wal", "-shm"):
        Path(f"{cfg.database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, cfg.database)  # a fresh box per example, without migrating one each time
    with Store(cfg.database) as store:
        d = Dispatcher(store, cfg, clock=Clock())
        plan(text)  # any text can be encoded
        store.conn.execute(
            "INSERT INTO inbox (modem, sender, text, parts, received_at) VALUES ('m1', ?, ?, 1, "
            "'2026-11-27T02:00:00.000Z')",
            (A, text),
        )
        d.run_once()
        assert store.inbox.recent(1)[0].state in ("handled", "error")


# ------------------------------------------------------------------ issue 12: never silenced, never misunderstood


def test_a_member_confirming_six_notices_then_voting_is_never_silenced(world):
    """Six receipts (收到) and a vote: all counted and answered; valid commands never flag anyone."""
    store, cfg, clock, d = world
    for i in range(6):
        clock.now = NOW + timedelta(minutes=20 * i)
        cid = _confirm_campaign(store, cfg, {A})
        Conversation(store, d).run(f"""
            {A} > 收到
            {A} < 回执已收到
        """)
        assert len(store.receipts.of_campaign(cid).confirmed) == 1
    clock.now = NOW + timedelta(minutes=105)
    poll_for(store, [A])
    Conversation(store, d).run(f"""
        {A} > TP 1
        {A} < 投票成功：您选择了1.赞成
    """)
    assert not store.senders.is_flagged(A)


def test_an_auto_responder_whose_text_changes_is_stopped_within_the_loop_limit(world):
    store, cfg, clock, d = world
    store.outbox.enqueue(A, "请于周五参加支部书记会议。", now=clock.now)
    script = "".join(f"{A} > 【自动回复{i}】我正在开会，稍后联系您\n{A} < 您的意见已收到\n" for i in range(3))
    Conversation(store, d).run(script + f"{A} > 【自动回复9】我正在开会，稍后联系您\n{A} <\n")
    assert store.senders.is_flagged(A)
    Conversation(store, d).run(f"{A} > 【自动回复10】我正在开会\n{A} <\n")


def test_a_flagged_number_still_has_its_commands_counted(world):
    store, _, _, d = world
    poll_for(store, [A])
    store.senders.flag(A, "test", NOW)
    Conversation(store, d).run(f"""
        {A} > TP 2
        {A} <
    """)
    assert sql_one(store, "SELECT option FROM votes")["option"] == 2


@pytest.mark.parametrize("text", ["T", "t", "T P 2", "Ｔ　Ｐ　２", "T 2", "TP2"])
def test_one_letter_never_unsubscribes_and_spelled_tp_is_a_vote(world, text):
    store, _, _, d = world
    poll_for(store, [A])
    Conversation(store, d).member_says(A, text)
    assert not store.senders.is_opted_out(A)
    vote = sql_one(store, "SELECT option FROM votes")
    assert (vote is not None) == ("p" in text.lower() or "Ｐ" in text)


def test_t_alone_unsubscribes_only_when_configured(tmp_path):
    cfg_path = write_config(tmp_path, {"m1": "emulator"})
    cfg_path.write_text(cfg_path.read_text() + '\n[commands.aliases]\nunsubscribe = ["T"]\n')
    cfg = config.load(cfg_path)
    with Store(cfg.database) as store:
        store.members.upsert([MemberRow(2, "张三", A, "大渡口区", [], None)])
        d = Dispatcher(store, cfg, clock=Clock())
        Conversation(store, d).member_says(A, "T 2")
        assert not store.senders.is_opted_out(A)
        Conversation(store, d).member_says(A, "T")
        assert store.senders.is_opted_out(A)


@pytest.mark.parametrize("text", ["【TP 2】", "TP#2", "tp*2", "[tp 2]", "“TP 2”", "投票：2"])
def test_how_members_really_type_a_vote(world, text):
    store, _, _, d = world
    poll_for(store, [A])
    Conversation(store, d).run(f"""
        {A} > {text}
        {A} < 投票成功：您选择了2.反对
    """)


@pytest.mark.parametrize(
    "text", ["ＨＤＺ　春风十里", "hdz：春风十里", "红段子 春风十里", "【HDZ 春风十里】", "红段子春风十里"]
)
def test_red_message_keyword_is_stripped_for_every_form_and_alias(world, text):
    store, _, _, d = world
    store.red.open("建党节红段子征集", 30, "test")
    Conversation(store, d).member_says(A, text)
    Conversation(store, d).member_says(B, "HDZ 春风十里")  # the same words: a duplicate whatever the keyword
    subs = sql_rows(store, "SELECT text FROM red_submissions")
    assert [s["text"] for s in subs] == ["春风十里"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("HDZ 《红岩》读后感：坚定信念", "《红岩》读后感：坚定信念"),
        ("HDZ “不忘初心”，方得始终", "“不忘初心”，方得始终"),
        ("红段子“不忘初心”", "“不忘初心”"),
        ("HDZ <b>春风</b>", "<b>春风</b>"),
        ("【HDZ 春风十里】", "春风十里"),
    ],
)
def test_a_red_message_keeps_its_own_opening_bracket_or_quote(world, text, kept):
    """A 红段子 that starts with a book title or a quotation kept only its closing half."""
    store, _, _, d = world
    store.red.open("建党节红段子征集", 60, "test")
    Conversation(store, d).member_says(A, text)
    assert [s["text"] for s in sql_rows(store, "SELECT text FROM red_submissions")] == [kept]


@pytest.mark.parametrize("text", ["退 订", "退　订", "退订。", "【退订】", "退 订！", "TD", "t d", "退订短信"])
def test_opt_outs_get_the_tolerance_votes_get(world, text):
    """Issue 22: 退 订 (with a space) was taken as feedback."""
    store, _, _, d = world
    Conversation(store, d).member_says(A, text)
    assert store.senders.is_opted_out(A), text


def test_a_spaced_chinese_vote_is_a_vote(world):
    store, _, _, d = world
    poll_for(store, [A])
    Conversation(store, d).member_says(A, "投 票 2")
    assert sql_one(store, "SELECT option FROM votes")["option"] == 2
