"""分级管理, acceptance 2: an operator's broadcast that needs approval queues nothing until an
approver above it approves, by the CLI or by SMS from the approver's own phone (the same SMS
from another phone is refused); a refusal reaches the author with its reason; an edit waits
for approval again. Inbound SMS take the real PDU path (tests/conversation.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from smsd import config
from smsd.actions import accounts, broadcasts
from smsd.config import Config
from smsd.dispatch import Dispatcher
from smsd.errors import InputError, NotAllowed
from smsd.roles import root
from smsd.store import Store
from smsd.store.records import MemberRow
from tests.conftest import write_config
from tests.conversation import Conversation
from tests.sql import rows as sql_rows

BAQIAO, TIAODENG = "大渡口区/八桥镇", "大渡口区/跳磴镇"
ZHANG, ZHAO, LI = "+8613800000001", "+8613800000003", "+8613800000002"
PHONES = {"bq-op": "+8613700000001", "bq-sp": "+8613700000002", "td-sp": "+8613700000003", "xq-sp": "+8613700000004"}


@dataclass
class Office:
    store: Store
    cfg: Config
    config_file: Path
    sms: Conversation

    def to(self, phone: str) -> list[str]:
        return [
            r["text"] for r in sql_rows(self.store, "SELECT text FROM outbox WHERE to_number = ? ORDER BY id", (phone,))
        ]


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    config_file = write_config(
        tmp_path, {"m1": "emulator"}, approval={"operators": True, "by_sms": True}, daemon={"language": "zh_CN"}
    )
    cfg = config.load(config_file)
    store = Store(tmp_path / "smsd.db")
    store.members.upsert(
        [
            MemberRow(2, "张三", ZHANG, f"{BAQIAO}/一村党支部", [], None),
            MemberRow(3, "李四", LI, f"{TIAODENG}/二村党支部", [], None),
            MemberRow(4, "赵七", ZHAO, f"{BAQIAO}/三村党支部", [], None),
        ]
    )
    for login, role, scope in (
        ("bq-op", "operator", "八桥镇"),
        ("bq-sp", "approver", "八桥镇"),
        ("td-sp", "approver", "跳磴镇"),
        ("xq-sp", "approver", ""),
    ):
        accounts.add(store, cfg, root(), login, name=login, role=role, scope=scope, phone=PHONES[login])
    yield Office(store, cfg, config_file, Conversation(store, Dispatcher(store, cfg)))
    store.close()


def _ask(o: Office, text: str = "${name}同志：周五开会。") -> int:
    started = broadcasts.start(
        o.store, o.cfg, broadcasts.Asked(orgs=("八桥镇",), text=text), accounts.acting(o.store, "bq-op")
    )
    assert started.campaign_id is None and started.because == ("operators",)
    assert started.approval_id is not None
    return started.approval_id


def test_a_waiting_broadcast_queues_nothing_and_its_approvers_are_told(office: Office):
    aid = _ask(office)
    assert office.store.campaigns.recent() == [] and office.to(ZHANG) == [] and office.to(ZHAO) == []
    waiting = office.store.approvals.get(aid)
    assert (waiting.state, waiting.scope, waiting.dry_run["recipients"]) == ("pending", BAQIAO, 2)
    for login in ("bq-sp", "xq-sp"):  # approvers whose part holds 八桥镇
        [notice] = office.to(PHONES[login])
        assert f"bq-op申请群发第{aid}号" in notice and "2人" in notice and f"回复 SP {aid} 同意" in notice
    assert office.to(PHONES["td-sp"]) == [] and office.to(PHONES["bq-op"]) == []


def test_only_an_approver_above_it_approves_and_never_its_author(office: Office):
    aid = _ask(office)
    with pytest.raises(NotAllowed, match="outside your part"):
        broadcasts.approve(office.store, office.cfg, aid, accounts.acting(office.store, "td-sp"))
    with pytest.raises(NotAllowed):  # an operator does not approve, its own or any
        broadcasts.approve(office.store, office.cfg, aid, accounts.acting(office.store, "bq-op"))
    assert office.store.approvals.get(aid).state == "pending" and office.store.campaigns.recent() == []
    cid = broadcasts.approve(office.store, office.cfg, aid, accounts.acting(office.store, "bq-sp"))
    assert office.store.campaigns.get(cid).recipients == 2 and office.to(ZHANG) == ["张三同志：周五开会。"]
    assert any(f"第{aid}号" in t and "已批准" in t for t in office.to(PHONES["bq-op"]))
    with pytest.raises(InputError, match="approved already"):
        broadcasts.approve(office.store, office.cfg, aid, accounts.acting(office.store, "xq-sp"))
    assert len(office.store.campaigns.recent()) == 1  # approved once, queued once


def test_an_approver_answers_by_sms_from_its_own_phone_only(office: Office):
    aid = _ask(office)
    office.sms.run(f"""
        {PHONES["td-sp"]} > SP {aid} 同意
        {PHONES["td-sp"]} < 本号码不能审批第{aid}号群发
        +8613900000009 > SP {aid} 同意
        +8613900000009 < 本号码不能审批第{aid}号群发
        {ZHANG} > SP {aid} 同意
        {ZHANG} < 本号码不能审批第{aid}号群发
    """)  # fmt: skip
    assert office.store.approvals.get(aid).state == "pending" and office.store.campaigns.recent() == []
    office.sms.run(f"""
        {PHONES["bq-sp"]} > sp {aid} 同意
        {PHONES["bq-sp"]} < 第{aid}号群发已批准，开始发送。
        {PHONES["xq-sp"]} > SP {aid} 不同意 太晚了
        {PHONES["xq-sp"]} < 第{aid}号群发已处理或已修改
    """)  # fmt: skip
    approved = office.store.approvals.get(aid)
    assert (approved.state, approved.decided_by) == ("approved", "user:bq-sp")
    assert office.to(ZHANG)[-1] == "张三同志：周五开会。" and len(office.store.campaigns.recent()) == 1
    trail = [(e.actor, e.action, e.result) for e in office.store.audit.entries()]
    assert ("bq-sp", "broadcast.approve", "ok") in trail and ("td-sp", "broadcast.decide", "refused") in trail
    assert ("?", "broadcast.decide", "refused") in trail  # the stranger and the member


def test_a_refusal_by_sms_reaches_the_author_with_its_reason_and_an_edit_waits_again(office: Office):
    aid = _ask(office, "周五开会。")
    office.sms.run(f"""
        {PHONES["xq-sp"]} > SP {aid} 不同意
        {PHONES["xq-sp"]} < 审批请回复：SP 编号 同意，或 SP 编号 不同意 理由。
        {PHONES["xq-sp"]} > SP {aid} 不同意 请写明会议地点
        {PHONES["xq-sp"]} < 第{aid}号群发已退回申请人。
    """)  # fmt: skip
    refused = office.store.approvals.get(aid)
    assert (refused.state, refused.reason) == ("refused", "请写明会议地点")
    assert any("未获批准：请写明会议地点" in t for t in office.to(PHONES["bq-op"]))
    bq = accounts.acting(office.store, "bq-op")
    assert broadcasts.edit(office.store, office.cfg, aid, text="周五在镇会议室开会。", actor=bq) == 2
    edited = office.store.approvals.get(aid)
    assert (edited.state, edited.asked["text"], edited.reason) == ("pending", "周五在镇会议室开会。", None)
    assert len(office.to(PHONES["bq-sp"])) == 2  # told again of the new revision
    cid = broadcasts.approve(office.store, office.cfg, aid, accounts.acting(office.store, "bq-sp"))
    assert office.store.campaigns.get(cid).text == "周五在镇会议室开会。" and office.to(ZHANG) == [
        "周五在镇会议室开会。"
    ]


def test_an_approval_by_sms_is_refused_when_by_sms_is_off(office: Office, tmp_path: Path):
    aid = _ask(office)
    cfg = config.load(write_config(tmp_path, {"m1": "emulator"}, approval={"operators": True}))
    Conversation(office.store, Dispatcher(office.store, cfg)).run(f"""
        {PHONES["bq-sp"]} > SP {aid} 同意
        {PHONES["bq-sp"]} < 本号码不能审批第{aid}号群发
    """)  # fmt: skip
    assert office.store.approvals.get(aid).state == "pending"


def test_the_command_line_lists_approves_and_refuses_in_chinese(office: Office):
    first, second = _ask(office), _ask(office, "第二条通知")
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}

    def run(login: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "smsd", "--as", login, *args, "--config", str(office.config_file)]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)

    asked = run("bq-op", "broadcast", "--org", "八桥镇", "--text", "第三条", "--yes")
    assert asked.returncode == 0 and "等待审批" in asked.stdout and office.to(ZHANG) == [], asked.stdout + asked.stderr
    listed = json.loads(run("bq-sp", "approval", "--json").stdout)
    assert [a["id"] for a in listed] == [first + 2, second, first]
    assert run("td-sp", "approval", "--json").stdout.strip() == "[]"  # 跳磴镇's approver sees none of them
    shown = run("bq-sp", "approval", "show", str(first))
    assert shown.returncode == 0 and "收件人" in shown.stdout and "待审批" in shown.stdout
    approved = run("bq-sp", "approval", "approve", str(first))
    assert approved.returncode == 0 and "已批准" in approved.stdout and len(office.to(ZHANG)) == 1
    beyond = run("td-sp", "approval", "approve", str(second))
    assert beyond.returncode == 1 and "不在您的管辖范围" in beyond.stderr and len(beyond.stderr.splitlines()) == 1
    refused = run("xq-sp", "approval", "refuse", str(second), "--reason", "内容重复")
    assert refused.returncode == 0 and office.store.approvals.get(second).reason == "内容重复"
    assert any("未获批准：内容重复" in t for t in office.to(PHONES["bq-op"]))
    trail = {(e.actor, e.action, e.target) for e in office.store.audit.entries()}
    assert {
        ("bq-sp", "broadcast.approve", f"approval:{first}"),
        ("xq-sp", "broadcast.refuse", f"approval:{second}"),
    } <= trail


def test_poll_invitations_are_a_broadcast_too_and_wait_for_the_same_rules(office: Office):
    from smsd.actions import polls

    bq = accounts.acting(office.store, "bq-op")
    with pytest.raises(NotAllowed, match="need approval"):
        polls.create(office.store, office.cfg, question="同意吗？", options=["同意", "反对"], orgs=("八桥镇",),
                     closes="2027-01-01", invite=True, actor=bq)  # fmt: skip
    assert office.store.polls.all() == [] and office.store.campaigns.recent() == []  # nothing written
    pid, cid = polls.create(office.store, office.cfg, question="同意吗？", options=["同意", "反对"], orgs=("八桥镇",),
                            closes="2027-01-01", actor=bq)  # fmt: skip
    assert cid is None and office.store.polls.get(pid).owner_org == BAQIAO
