"""分级管理, acceptance 1: a township's operator, through its API token and through `smsd --as`,
lists only its members, sends and broadcasts only within its township (refused in one line,
nothing queued), and sees only its township's campaigns, inbound SMS, polls, red messages and
costs. A test per kind of object, over a real HTTP server on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from smsd import config
from smsd.actions import accounts, broadcasts, polls, sessions
from smsd.config import Config
from smsd.errors import InputError
from smsd.http.server import HttpServer
from smsd.roles import root
from smsd.store import Store
from smsd.store.records import MemberRow
from tests.conftest import feedback_from, write_config

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
BAQIAO, TIAODENG = "大渡口区/八桥镇", "大渡口区/跳磴镇"
ZHANG, LI, ZHAO, STRANGER = "+8613800000001", "+8613800000002", "+8613800000003", "+8613900000009"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class County:
    store: Store
    cfg: Config
    config_file: Path
    api: httpx.Client
    ids: dict[str, int]


@pytest.fixture
def county(tmp_path: Path, memory_workers) -> Iterator[County]:
    """A county with two townships, their members, campaigns, polls, SMS and costs; an operator
    of 八桥镇 with an API token; the HTTP API on a real port."""
    port = free_port()
    config_file = write_config(tmp_path, {"m1": "emulator"}, http={"enabled": True, "port": port})
    cfg = config.load(config_file)
    store = Store(tmp_path / "smsd.db")
    store.members.upsert(
        [
            MemberRow(2, "张三", ZHANG, f"{BAQIAO}/一村党支部", [], None),
            MemberRow(3, "李四", LI, f"{TIAODENG}/二村党支部", [], None),
            MemberRow(4, "赵七", ZHAO, f"{BAQIAO}/三村党支部", [], None),
        ]
    )
    accounts.add(store, cfg, root(), "bq-op", name="王五", role="operator", scope="八桥镇")
    token = sessions.mint_token(store, root(), "bq-op")
    bq = accounts.acting(store, "bq-op")

    def poll(town: str) -> int:
        return polls.create(store, cfg, question=f"{town}？", options=["是", "否"], orgs=(town,), closes="2027-01-01")[
            0
        ]

    ids = {
        "campaign_bq": broadcasts.start(store, cfg, broadcasts.Asked(orgs=("八桥镇",), text="通知"), bq).campaign_id,
        "campaign_td": broadcasts.start(store, cfg, broadcasts.Asked(orgs=("跳磴镇",), text="通知")).campaign_id,
        "poll_bq": poll("八桥镇"),
        "poll_td": poll("跳磴镇"),
    }
    worker = memory_workers("m1", price_fen=6)  # the campaigns go out: the ledger books their cost
    for _ in range(20):
        worker.loop()
    assert store.outbox.queue_depth().open == 0, "the campaigns were not sent"
    for sender, text in ((ZHANG, "YJ 八桥镇的意见"), (LI, "YJ 跳磴镇的意见"), (STRANGER, "你好")):
        feedback_from(store, sender, text, NOW)
    server = HttpServer(cfg)
    server.start()
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as api:
            yield County(store, cfg, config_file, api, {k: int(v or 0) for k, v in ids.items()})
    finally:
        server.stop()
        store.close()


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 403, r.text
    assert "outside your part" in r.json()["error"]["message"] or "not a member" in r.json()["error"]["message"]


def test_members_through_the_token(county: County):
    assert sorted(m["name"] for m in county.api.get("/v1/members").json()["members"]) == ["张三", "赵七"]
    _refused(county.api.get("/v1/members", params={"org": "跳磴镇"}))


def test_single_sends_through_the_token(county: County):
    before = county.store.outbox.queue_depth().total
    _refused(county.api.post("/v1/messages", json={"to": LI, "text": "跳磴镇的人"}))
    _refused(county.api.post("/v1/messages", json={"to": STRANGER, "text": "陌生号码"}))
    _refused(
        county.api.post("/v1/messages/batch", json={"messages": [{"to": ZHANG, "text": "a"}, {"to": LI, "text": "b"}]})
    )
    assert county.store.outbox.queue_depth().total == before  # nothing queued, not even the batch's first
    ok = county.api.post("/v1/messages", json={"to": ZHANG, "text": "八桥镇的人"})
    assert ok.status_code == 201, ok.text
    [entry] = [e for e in county.store.audit.entries() if e.action == "send"]
    assert (entry.actor, entry.via, entry.target) == ("bq-op", "api", f"message:{ok.json()['id']}")
    assert entry.source == "127.0.0.1"  # from where: the caller's address
    refusals = [(e.actor, e.target, e.result) for e in county.store.audit.entries() if e.action == "refused"]
    assert refusals.count(("bq-op", "POST /v1/messages", "refused")) == 2
    assert ("bq-op", "POST /v1/messages/batch", "refused") in refusals


def test_broadcasts_through_the_token(county: County):
    before = county.store.outbox.queue_depth().total
    _refused(county.api.post("/v1/broadcasts", json={"orgs": ["跳磴镇"], "text": "越界"}))
    _refused(county.api.post("/v1/broadcasts", json={"numbers": [LI], "text": "越界"}))
    assert county.store.outbox.queue_depth().total == before
    plan = county.api.post("/v1/broadcasts", json={"everyone": True, "text": "全体", "dry_run": True}).json()
    assert plan["recipients"] == 2 and plan["needs_approval"] is False  # everyone, for 八桥镇, is 八桥镇
    queued = county.api.post("/v1/broadcasts", json={"everyone": True, "text": "全体"})
    assert queued.status_code == 201 and queued.json()["campaign"], queued.text
    assert county.store.campaigns.get(queued.json()["campaign"]).owner_org == BAQIAO


def test_campaigns_through_the_token(county: County):
    listed = county.api.get("/v1/campaigns").json()["campaigns"]
    assert [c["id"] for c in listed] == [county.ids["campaign_bq"]]
    _refused(county.api.get(f"/v1/campaigns/{county.ids['campaign_td']}"))
    assert county.api.get(f"/v1/campaigns/{county.ids['campaign_bq']}").json()["recipients"] == 2


def test_inbound_sms_through_the_token(county: County):
    got = county.api.get("/v1/inbound").json()
    assert [m["text"] for m in got["messages"]] == ["YJ 八桥镇的意见"]  # not 李四's, not the stranger's
    assert got["next_cursor"] >= 3 and "member_id" not in got["messages"][0]


def test_polls_through_the_token(county: County):
    assert [p["id"] for p in county.api.get("/v1/polls").json()["polls"]] == [county.ids["poll_bq"]]


def test_costs_through_the_token(county: County):
    report = county.api.get("/v1/costs", params={"by": "org"}).json()
    assert report["rows"] and all(r["key"].startswith(BAQIAO) for r in report["rows"]), report
    assert report["total"]["fen"] == 2 * 6  # 八桥镇's two members, one segment each
    _refused(county.api.get("/v1/costs", params={"org": "跳磴镇"}))


def test_a_disabled_or_locked_accounts_token_stops_at_once_and_a_revoked_one_is_unknown(county: County):
    assert county.api.get("/v1/polls").status_code == 200
    accounts.set_enabled(county.store, root(), "bq-op", False)
    assert county.api.get("/v1/polls").status_code == 403
    accounts.set_enabled(county.store, root(), "bq-op", True)
    for _ in range(county.cfg.accounts.lock_after):
        with pytest.raises(InputError):
            accounts.log_in(county.store, county.cfg, "bq-op", "not-it")
    locked = county.api.get("/v1/polls")
    assert locked.status_code == 403 and "locked" in locked.json()["error"]["message"]
    accounts.unlock(county.store, root(), "bq-op")
    sessions.revoke_tokens(county.store, root(), "bq-op")
    assert county.api.get("/v1/polls").status_code == 401


def test_a_config_client_is_no_account(county: County):
    """A client of [http.clients] keeps what it had (tests/test_http.py); the account verbs
    need an account's token."""
    from smsd.actions import api
    from smsd.config import HttpClient

    client = api.Caller(HttpClient(name="edu", org="大渡口区"))
    for verb in (api.members, api.campaigns, api.poll_list):
        with pytest.raises(api.Refusal, match="account's token"):
            verb(county.store, client, *((None, None, 10) if verb is api.members else ()))


def test_polls_and_red_messages_through_smsd_as(county: County):
    """The same through the command line, in Chinese (a subprocess, as an admin runs it)."""
    from smsd.actions import polls as poll_verbs

    rid = poll_verbs.open_red(county.store, "征集", 140)
    member = county.store.members.by_phone
    for phone, text in ((ZHANG, "八桥镇的红段子"), (LI, "跳磴镇的红段子")):
        found = member(phone)
        assert found is not None
        with county.store.tx():
            county.store.red.submit(rid, found, text, text, 0, NOW)
    config_file = county.config_file
    config_file.write_text(config_file.read_text().replace("[daemon]", '[daemon]\nlanguage = "zh_CN"', 1))
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "smsd", "--as", "bq-op", *args, "--config", str(config_file)]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)

    assert [p["id"] for p in json.loads(run("poll", "--json").stdout)] == [county.ids["poll_bq"]]
    other = run("poll", "results", str(county.ids["poll_td"]))
    assert other.returncode == 1 and "不在您的管辖范围" in other.stderr and len(other.stderr.splitlines()) == 1
    assert "不在您的管辖范围" in run("poll", "close", str(county.ids["poll_td"])).stderr
    assert county.store.polls.get(county.ids["poll_td"]).closes_at.startswith("2027")  # still open
    assert [r["text"] for r in json.loads(run("red", "--json").stdout)] == ["八桥镇的红段子"]
    [li_submission] = [r for r in county.store.red.submissions() if r.phone == LI]
    refused = run("red", "approve", str(li_submission.id))
    assert refused.returncode == 1 and "不在您的管辖范围" in refused.stderr
    assert county.store.red.submission(li_submission.id).state == "pending"
    assert "不在您的管辖范围" in run("red", "close", str(rid)).stderr  # the county opened it


def test_an_explicit_grant_opens_numbers_outside_the_roster_but_not_another_township(county: County):
    _refused(county.api.post("/v1/messages", json={"to": STRANGER, "text": "陌生号码"}))
    accounts.grant_any_number(county.store, root(), "bq-op", True)
    assert county.api.post("/v1/messages", json={"to": STRANGER, "text": "陌生号码"}).status_code == 201
    _refused(county.api.post("/v1/messages", json={"to": LI, "text": "跳磴镇的人"}))  # a member elsewhere: still no
    accounts.grant_any_number(county.store, root(), "bq-op", False)
    _refused(county.api.post("/v1/messages", json={"to": STRANGER, "text": "陌生号码"}))
    assert [e.action for e in county.store.audit.entries() if e.target == "bq-op"][:2] == ["user.ungrant", "user.grant"]
