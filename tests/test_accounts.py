"""Accounts and the audit trail (issue 24): roles within a part of the org tree, one-time
initial passwords, the password policy, lockout after wrong passwords, scope on members, sends,
broadcasts, campaigns, inbound SMS and budgets through `smsd --as`, and an audit trail nobody
can change. tests/test_scopes.py has the same through an account's API token, test_approval.py
the approval of broadcasts, test_sessions.py the logins."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from smsd import passwords
from smsd.actions import accounts
from smsd.errors import InputError, NotAllowed
from smsd.roles import Actor, root
from smsd.store.records import MemberRow
from tests.conftest import feedback_from, write_config

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
BAQIAO, TIAODENG = "大渡口区/八桥镇", "大渡口区/跳磴镇"


@pytest.fixture
def office(store, cfg):
    store.members.upsert(
        [
            MemberRow(2, "张三", "+8613800000001", f"{BAQIAO}/一村党支部", [], None),
            MemberRow(3, "李四", "+8613800000002", f"{TIAODENG}/二村党支部", [], None),
        ]
    )
    return store, cfg


def test_the_root_adds_an_operator_with_a_one_time_password_that_is_stored_hashed(office):
    store, cfg = office
    account, initial = accounts.add(store, cfg, root("zhang"), "bq-op", name="王五", role="operator", scope="八桥镇")
    assert (account.role, account.scope, account.must_change) == ("operator", BAQIAO, 1)
    assert passwords.problem(initial, cfg.accounts.password_min_length) == ""
    assert initial not in account.password_hash and passwords.matches(account.password_hash, initial)
    [entry] = [e for e in store.audit.entries() if e.action == "user.add"]
    assert (entry.actor, entry.source, entry.target) == ("root", "zhang", "bq-op")


def test_the_password_policy_names_its_rule():
    assert "8" in passwords.problem("Ab1!", 8)
    assert "three" in passwords.problem("abcdefghij", 8)
    assert passwords.problem("abcdefG1", 8) == ""


def test_five_wrong_passwords_lock_the_account_then_the_right_one_is_refused_too(office):
    store, cfg = office
    _, initial = accounts.add(store, cfg, root(), "bq-op", name="王五", role="operator", scope=BAQIAO)
    for _ in range(cfg.accounts.lock_after):
        with pytest.raises(InputError, match="wrong login or password"):
            accounts.log_in(store, cfg, "bq-op", "not-it", now=NOW)
    with pytest.raises(InputError, match="locked"):
        accounts.log_in(store, cfg, "bq-op", initial, now=NOW + timedelta(minutes=1))
    later = NOW + timedelta(minutes=cfg.accounts.lock_minutes + 1)
    assert accounts.log_in(store, cfg, "bq-op", initial, now=later).login == "bq-op"  # the lock ran out
    results = [(e.result, e.detail) for e in store.audit.entries() if e.action == "login"][::-1]
    assert results[cfg.accounts.lock_after - 1] == ("refused", "wrong password (5 in a row); locked")
    assert results[-2:] == [("refused", "locked"), ("ok", "")]


def test_a_disabled_account_cannot_log_in_and_an_unknown_login_says_nothing_more(office):
    store, cfg = office
    _, initial = accounts.add(store, cfg, root(), "bq-op", name="王五", role="operator", scope=BAQIAO)
    accounts.set_enabled(store, root(), "bq-op", False)
    with pytest.raises(InputError, match="disabled"):
        accounts.log_in(store, cfg, "bq-op", initial)
    with pytest.raises(InputError, match="wrong login or password"):
        accounts.log_in(store, cfg, "nobody", initial)


def test_a_township_admin_manages_only_its_township_and_cannot_read_the_audit_trail(office):
    store, cfg = office
    accounts.add(store, cfg, root(), "bq-admin", name="赵六", role="admin", scope=BAQIAO)
    township = Actor("bq-admin", "admin", BAQIAO)
    accounts.add(store, cfg, township, "bq-op", name="王五", role="operator", scope=f"{BAQIAO}/一村党支部")
    with pytest.raises(NotAllowed, match="outside your part"):
        accounts.add(store, cfg, township, "td-op", name="钱七", role="operator", scope=TIAODENG)
    with pytest.raises(NotAllowed):
        accounts.add(store, cfg, township, "bq-audit", name="孙八", role="auditor", scope=BAQIAO)
    assert [a.login for a in accounts.users(store, township)] == ["bq-admin", "bq-op"]
    with pytest.raises(NotAllowed):
        accounts.audit_trail(store, township)
    with pytest.raises(NotAllowed):
        accounts.users(store, Actor("bq-op", "operator", BAQIAO))
    auditor = Actor("audit", "auditor", "")
    assert any(e.action == "user.add" and e.target == "bq-op" for e in accounts.audit_trail(store, auditor))
    township_auditor = Actor("bq-audit", "auditor", BAQIAO)  # reads what 八桥镇's accounts did, not the county's
    assert {e.actor for e in accounts.audit_trail(store, township_auditor)} == {"bq-admin"}


def test_nobody_changes_or_removes_an_audit_row_and_purge_keeps_180_days(office, tmp_path):
    store, cfg = office
    old = datetime.now(UTC) - timedelta(days=181)
    store.audit.record("someone", "cli", "user.add", target="gone", now=old)  # older than six months
    accounts.add(store, cfg, root(), "bq-op", name="王五", role="operator", scope=BAQIAO)
    for sql in ("UPDATE audit SET actor = 'someone'", "DELETE FROM audit", "DELETE FROM audit WHERE target = 'bq-op'"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            store.conn.execute(sql)
    with pytest.raises(NotAllowed):  # a township's admin may not purge, nor read the trail
        from smsd.actions import reports

        reports.purge(store, datetime.now(UTC), Actor("bq-admin", "admin", BAQIAO))
    config_file = write_config(tmp_path, {"m1": "emulator"})
    done = subprocess.run(
        [sys.executable, "-m", "smsd", "purge", "--older-than", "0d", "--yes", "--config", str(config_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    targets = [e.target for e in store.audit.entries()]
    assert "gone" not in targets and "bq-op" in targets  # the young row stays, whatever --older-than says
    assert any(e.action == "purge" and e.actor == "root" for e in store.audit.entries())


def test_user_commands_in_chinese(office, tmp_path):
    """The box's command line (a subprocess, as an admin runs it, in Chinese)."""
    config_file = write_config(tmp_path, {"m1": "emulator"}, daemon={"language": "zh_CN"})
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "smsd", *args, "--config", str(config_file)]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)

    added = run("user", "add", "bq-op", "--name", "王五", "--role", "operator", "--org", "八桥镇")
    assert added.returncode == 0, added.stderr
    assert "已添加账号 bq-op：大渡口区/八桥镇的操作员" in added.stdout and "初始密码" in added.stdout
    listed = json.loads(run("user", "list", "--json").stdout)
    assert [(u["login"], u["role"]) for u in listed] == [("bq-op", "operator")] and "password_hash" not in listed[0]
    trail = run("audit")
    assert (
        trail.returncode == 0
        and "添加账号" in trail.stdout
        and "操作人" in trail.stdout
        and "user.add" not in trail.stdout
    )
    refused = run("user", "add", "bq-op", "--name", "王五", "--role", "operator")
    assert refused.returncode == 1 and "账号 'bq-op' 已存在" in refused.stderr and "Traceback" not in refused.stderr


def test_as_a_townships_operator_the_command_line_sees_and_sends_only_within_it(office, tmp_path):
    """`smsd --as LOGIN`: what a township's operator sees, refused in one Chinese line beyond it."""
    store, cfg = office
    accounts.add(store, cfg, root(), "bq-op", name="王五", role="operator", scope="八桥镇")
    config_file = write_config(tmp_path, {"m1": "emulator"}, daemon={"language": "zh_CN"})
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "smsd", "--as", "bq-op", *args, "--config", str(config_file)]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)

    listed = json.loads(run("members", "list", "--json").stdout)
    assert [m["name"] for m in listed] == ["张三"]  # not 李四 of 跳磴镇
    beyond = run("members", "list", "--org", "跳磴镇")
    assert beyond.returncode == 1 and "不在您的管辖范围" in beyond.stderr
    assert run("send", "13800000001", "明天开会").returncode == 0  # 张三, of 八桥镇
    refused = run("send", "13800000002", "明天开会")  # 李四, of 跳磴镇
    assert refused.returncode == 1 and "不在您的管辖范围" in refused.stderr and len(refused.stderr.splitlines()) == 1
    stranger = run("send", "13900000009", "你好")
    assert stranger.returncode == 1 and "不是您管辖范围" in stranger.stderr
    assert run("report", "cost", "--org", "跳磴镇").returncode == 1
    assert [m.to_number for m in store.outbox.messages()] == ["+8613800000001"]  # nothing else queued
    refusals = [(e.actor, e.via, e.target) for e in store.audit.entries() if e.action == "refused"]
    assert ("bq-op", "cli", "`smsd send`") in refusals and ("bq-op", "cli", "`smsd members list`") in refusals
    accounts.set_enabled(store, root(), "bq-op", False)
    assert "已停用" in run("members", "list").stderr  # a disabled account stops acting at once


def test_a_townships_operator_broadcasts_within_it_and_sees_only_its_campaigns(office, tmp_path):
    store, cfg = office
    accounts.add(store, cfg, root(), "bq-op", name="王五", role="operator", scope="八桥镇")
    config_file = write_config(tmp_path, {"m1": "emulator"}, daemon={"language": "zh_CN"})
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}

    def run(*args: str, who: tuple[str, ...] = ("--as", "bq-op")) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "smsd", *who, *args, "--config", str(config_file)]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)

    county = run("broadcast", "--org", "跳磴镇", "--text", "跳磴镇的通知", "--yes", who=())
    assert county.returncode == 0, county.stderr
    plan = json.loads(run("broadcast", "--all", "--text", "明天开会", "--dry-run", "--json").stdout)
    assert plan["recipients"] == 1  # everyone, for a township's operator, is its township
    beyond = run("broadcast", "--org", "跳磴镇", "--text", "明天开会", "--yes")
    assert beyond.returncode == 1 and "不在您的管辖范围" in beyond.stderr
    assert json.loads(run("campaign", "--json").stdout) == []  # the county's campaign for 跳磴镇 is not its
    [campaign] = store.campaigns.recent()
    assert "不在您的管辖范围" in run("campaign", "status", str(campaign.id)).stderr
    assert "不在您的管辖范围" in run("campaign", "cancel", str(campaign.id)).stderr
    assert store.campaigns.get(campaign.id).state == "running" and len(store.campaigns.recent()) == 1


def test_a_townships_account_reads_only_its_members_sms(office):
    from smsd.actions import messages

    store, _ = office
    for sender, text in (
        ("+8613800000001", "YJ 八桥镇的意见"),
        ("+8613800000002", "YJ 跳磴镇的意见"),
        ("+8613900000009", "你好"),
    ):
        feedback_from(store, sender, text, NOW)
    township = Actor("bq-op", "operator", BAQIAO)
    assert [m.text for m in messages.inbox(store, "recent", actor=township)] == ["YJ 八桥镇的意见"]
    assert [m.text for m in messages.inbox(store, "feedback", actor=township)] == ["YJ 八桥镇的意见"]
    assert messages.inbox(store, "flagged", actor=township) == []
    assert len(messages.inbox(store, "recent", actor=root())) == 3  # the county sees strangers' SMS too


def test_budgets_are_set_by_an_admin_within_its_part_and_listed_by_scope(office):
    from smsd.actions import reports

    store, _ = office
    reports.set_budget(store, "跳磴镇", "2026-12", 30000, root())
    bq_admin = Actor("bq-admin", "admin", BAQIAO)
    assert reports.set_budget(store, "八桥镇", "2026-12", 20000, bq_admin) == BAQIAO
    with pytest.raises(NotAllowed, match="outside your part"):
        reports.set_budget(store, "跳磴镇", "2026-12", 1, bq_admin)
    with pytest.raises(NotAllowed):
        reports.set_budget(store, "八桥镇", "2026-12", 1, Actor("bq-op", "operator", BAQIAO))
    assert [b.org for b, _spent in reports.budgets(store, bq_admin)] == [BAQIAO]
    assert {b.org for b, _spent in reports.budgets(store, root())} == {BAQIAO, TIAODENG}
    assert [b.limit_fen for b in store.ledger.budgets() if b.org == TIAODENG] == [30000]  # unchanged by the refusal


def test_the_first_change_of_password_follows_the_policy_and_ends_must_change(office):
    store, cfg = office
    _, initial = accounts.add(store, cfg, root(), "bq-op", name="王五", role="operator", scope=BAQIAO)
    with pytest.raises(InputError, match="three of"):
        accounts.change_password(store, cfg, "bq-op", initial, "abcdefghij")
    with pytest.raises(InputError, match="differ"):
        accounts.change_password(store, cfg, "bq-op", initial, initial)
    with pytest.raises(InputError, match="wrong login or password"):
        accounts.change_password(store, cfg, "bq-op", "not-it", "Township-2026")
    accounts.change_password(store, cfg, "bq-op", initial, "Township-2026")
    assert store.accounts.get("bq-op").must_change == 0
    assert accounts.log_in(store, cfg, "bq-op", "Township-2026").login == "bq-op"
    with pytest.raises(InputError):
        accounts.log_in(store, cfg, "bq-op", initial)  # the initial password is gone
    assert any(e.action == "user.change_password" for e in store.audit.entries())
