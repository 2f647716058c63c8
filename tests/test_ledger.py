"""Cost accounting: every report's totals are the ledger's sums to the fen; budgets; retention; backup."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsd import broadcast, config
from smsd.cli import main
from smsd.roster import MemberRow
from smsd.store import Store
from tests.conftest import wait_for, write_config
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows

CST = timezone(timedelta(hours=8))
ORGS = ["大渡口区", "大渡口区/八桥镇", "大渡口区/八桥镇/一村党支部", "大渡口区/跳磴镇", "大渡口区/跳磴镇/二村党支部"]


def send_all(store, modem_prices, when):
    """Drive every queued message through claim -> submitting -> sent, like a worker would."""
    i = 0
    while True:
        modem = list(modem_prices)[i % len(modem_prices)]
        msg = store.claims.claim_next(modem, now=when)
        if msg is None:
            return
        for part in store.outbox.parts(msg.id):
            store.submits.part_submitting(msg.id, part.seq, modem, when)
            store.submits.part_sent(
                msg.id, part.seq, ref=part.seq, price_fen=modem_prices[modem], modem=modem, now=when
            )
        i += 1


campaigns = st.lists(
    st.tuples(
        st.sampled_from(ORGS + [None]), st.integers(1, 8), st.integers(1, 400), st.integers(0, 40), st.integers(0, 3)
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(campaigns, st.dictionaries(st.sampled_from(["m1", "m2", "m3"]), st.integers(0, 20), min_size=1))
def test_every_report_total_equals_the_ledger_sum(tmp_path_factory, specs, prices):
    tmp = tmp_path_factory.mktemp("ledger")
    cfg = config.load(write_config(tmp, {"m1": "emulator"}))
    with Store(cfg.database) as store:
        store.members.upsert(
            [MemberRow(i, f"m{i}", f"+86138{i:08d}", ORGS[i % len(ORGS)], [], None) for i in range(40)]
        )
        paid = 0
        for k, (owner, recipients, length, day, month_shift) in enumerate(specs):
            when = datetime(2026, 9 + month_shift, 1 + day % 28, 10, 0, tzinfo=CST)
            plan = broadcast.plan(store, cfg, everyone=True, text="通" * length, now=when)
            first = {m.phone for m in store.members.select(limit=recipients)}
            plan = plan.only(store, lambda r, first=first: r.phone in first)
            plan.owner_org = owner
            broadcast.queue(store, plan, name=f"c{k}", now=when)
            send_all(store, prices, when)
        rows = sql_rows(store, "SELECT price_fen FROM ledger")
        paid = sum(r["price_fen"] for r in rows)
        assert paid == store.ledger.sum()
        for by in ("org", "month", "day", "modem", "campaign", "account"):
            report = store.ledger.cost_report(by)
            assert sum(r.fen for r in report.rows) == report.total.fen == paid
            assert sum(r.segments for r in report.rows) == report.total.segments == len(rows)
        county = store.ledger.cost_report("org").total.fen
        towns = [store.ledger.cost_report("org", org=o).total.fen for o in ("大渡口区/八桥镇", "大渡口区/跳磴镇")]
        owned_by_county_itself = sum(
            r.fen for r in store.ledger.cost_report("org").rows if r.key in ("大渡口区", "(unassigned)")
        )
        assert sum(towns) + owned_by_county_itself == county


@pytest.fixture
def office(tmp_path):
    config_path = write_config(tmp_path, {"m1": "emulator"})
    cfg = config.load(config_path)
    with Store(cfg.database) as store:
        store.members.upsert(
            [MemberRow(i, f"党员{i}", f"+86138{i:08d}", ORGS[i % len(ORGS)], ["党员"], None) for i in range(50)]
        )
    return tmp_path, config_path, cfg


def cli(config_path, *args):
    return CliRunner().invoke(main, [*args, "--config", str(config_path)])


def test_township_report_shows_only_its_subtree(office):
    _, config_path, cfg = office
    when = datetime.now(CST)
    with Store(cfg.database) as store:
        for org in ("大渡口区/八桥镇", "大渡口区/跳磴镇", "大渡口区"):
            plan = broadcast.plan(store, cfg, orgs=(org,), text=f"{org}的通知", now=when)
            broadcast.queue(store, plan, name=org, now=when)
        send_all(store, {"m1": 6}, when)
    town = json.loads(cli(config_path, "report", "cost", "--by", "org", "--org", "大渡口区/八桥镇", "--json").output)
    county = json.loads(cli(config_path, "report", "cost", "--by", "org", "--json").output)
    assert {r["key"] for r in town["rows"]} == {"大渡口区/八桥镇"}
    assert town["total"]["fen"] == next(r["fen"] for r in county["rows"] if r["key"] == "大渡口区/八桥镇")
    assert town["total"]["fen"] < county["total"]["fen"]
    text = cli(config_path, "report", "cost", "--by", "org").output
    assert "TOTAL" in text and f"{county['total']['fen'] / 100:.2f}" in text
    csv_out = cli(config_path, "report", "cost", "--by", "month", "--csv").output
    assert csv_out.splitlines()[0] == "Month,Segments,Cost (fen),Cost (yuan),Of which unconfirmed"


def test_budget_refusal_and_override_with_reason(office):
    tmp_path, config_path, cfg = office
    month = datetime.now(CST).strftime("%Y-%m")
    assert cli(config_path, "budget", "set", "大渡口区/八桥镇", "--month", month, "--fen", "20").exit_code == 0
    args = ["broadcast", "--org", "大渡口区/八桥镇", "--text", "年终总结会议通知", "--yes"]
    refused = cli(config_path, *args)
    assert refused.exit_code == 1
    assert "budget of 大渡口区/八桥镇" in refused.stderr and "0.20 yuan" in refused.stderr
    assert 'add --over-budget "reason"' in refused.stderr
    with Store(cfg.database) as store:
        assert store.campaigns.recent() == []
    ok = cli(config_path, *args, "--over-budget", "县委紧急通知，经王部长批准")
    assert ok.exit_code == 0, ok.stderr
    with Store(cfg.database) as store:
        [c] = store.campaigns.recent()
        events = store.events("campaign", c.id)
    override = [e for e in events if e.event == "budget_override"]
    assert override and "县委紧急通知，经王部长批准" in override[0].detail and "over" in override[0].detail
    listing = json.loads(cli(config_path, "budget", "--json").output)
    assert listing[0]["limit_fen"] == 20


def test_purge_anonymises_but_keeps_the_cost(office):
    _, config_path, cfg = office
    old = datetime.now(CST) - timedelta(days=200)
    with Store(cfg.database) as store:
        store.outbox.enqueue("+8613800000001", "old secret", now=old)
        store.outbox.enqueue("+8613800000002", "recent", now=datetime.now(CST))
        send_all(store, {"m1": 6}, old)
        before = store.ledger.cost_report("month").total
    assert cli(config_path, "purge", "--older-than", "180d", "--yes").exit_code == 0
    with Store(cfg.database) as store:
        texts = {m.text for m in store.outbox.messages()}
        assert texts == {"[purged]", "recent"}
        assert "+8613800000001" not in {m.to_number for m in store.outbox.messages()}
        assert store.ledger.cost_report("month").total == before
    assert "use a number of days" in cli(config_path, "purge", "--older-than", "soon", "--yes").stderr


def test_backup_while_the_daemon_sends(tmp_path, make_emulator, daemon):
    from smsd.sim.modem import ModemOptions

    emu = make_emulator(ModemOptions("m1", send_delay_ms=10), ModemOptions("m2", send_delay_ms=10))
    config_path = write_config(tmp_path, {n: str(m.link) for n, m in emu.modems.items()})
    with Store(tmp_path / "smsd.db") as store:
        for i in range(400):
            store.outbox.enqueue(f"+86138{i:08d}", f"backup test {i}")
        d = daemon(config_path)
        wait_for(lambda: sql_one(store, "SELECT COUNT(*) AS n FROM ledger")["n"] >= 50, timeout=30)
        committed = sql_one(store, "SELECT COUNT(*) AS n FROM ledger")["n"]
        result = cli(config_path, "backup", str(tmp_path / "copy.db"))
        assert result.exit_code == 0, result.stderr
        still_sending = store.outbox.queue_depth().queued
        d.terminate()
    assert still_sending > 0  # the copy was taken mid-stream
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] >= committed
    assert copy.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 400
    copy.close()
    again = cli(config_path, "backup", str(tmp_path / "copy.db"))
    assert again.exit_code == 1 and "exists" in again.stderr


def test_archive_and_delivery_reports(office):
    import openpyxl

    tmp_path, config_path, cfg = office
    when = datetime.now(CST)
    with Store(cfg.database) as store:
        mid = store.outbox.enqueue("+8613800000001", "档案记实：会议通知", now=when)
        send_all(store, {"m1": 6}, when)
        store.reports.apply_report("m1", 1, "+8613800000001", 0, "delivered", now=when)
    out = cli(config_path, "report", "messages", "--csv").output.splitlines()
    # headers in the admin's language (this in-process run is in English), as in the Excel file
    assert out[0] == "ID,Number,Name,Org unit,Sent,Delivered,State,Segments,Cost (fen),Cost (yuan),Campaign,Modem,Text"
    assert out[1].startswith(f"{mid},138****0001,") and ",delivered,1,6,0.06,,m1,档案记实：会议通知" in out[1]
    assert "+8613800000001" in cli(config_path, "report", "messages", "--csv", "--unmask").output
    assert cli(config_path, "report", "messages", "--xlsx", "--output", str(tmp_path / "a.xlsx")).exit_code == 0
    ws = openpyxl.load_workbook(tmp_path / "a.xlsx").active
    assert [c.value for c in ws[3]][1] == "138****0001"  # row 1: the title, row 2: the headers
    delivery = json.loads(cli(config_path, "report", "delivery", "--by", "modem", "--json").output)
    assert delivery == [
        {"key": "m1", "messages": 1, "sent": 0, "delivered": 1, "failed": 0, "pending": 0, "dropped": 0}
    ]
    assert "does not exist" in cli(config_path, "report", "cost", "--from", "2026-11-31").stderr


def test_two_concurrent_broadcasts_cannot_both_pass_one_budget(office):
    """Issue 12 item 5: the budget check and the campaign are one transaction."""
    import threading

    from smsd.errors import InputError

    _, _, cfg = office
    month = datetime.now(CST).strftime("%Y-%m")
    with Store(cfg.database) as store:
        plan = broadcast.plan(store, cfg, orgs=("大渡口区/八桥镇",), text="年终总结会议通知")
        store.ledger.set_budget("大渡口区/八桥镇", month, plan.cost_fen * 3 // 2, "test")  # room for one, not two
    first_checking, second_started = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def run(name):
        try:
            with Store(cfg.database) as s:
                if name == "first":
                    # the first broadcast holds its write transaction while the second sets out, so
                    # the second's budget check must wait for it: queue() checks inside its transaction
                    with s.tx():
                        first_checking.set()
                        second_started.wait(5)
                        outcome[name] = broadcast.queue(s, plan, name=name)
                else:
                    first_checking.wait(5)
                    second_started.set()
                    outcome[name] = broadcast.queue(s, plan, name=name)
        except InputError as exc:
            outcome[name] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert isinstance(outcome["first"], int)
    assert isinstance(outcome["second"], InputError) and "budget of 大渡口区/八桥镇" in str(outcome["second"])
    with Store(cfg.database) as store:
        assert len(sql_rows(store, "SELECT id FROM campaigns")) == 1


def test_replies_to_a_townships_members_are_booked_to_that_township(office):
    """Issue 17: a township's own report once missed the replies its members got ("(unassigned)")."""
    _, config_path, cfg = office
    when = datetime.now(CST)
    with Store(cfg.database) as store:
        member = store.members.select(orgs=("大渡口区/八桥镇",))[0]
        store.outbox.enqueue(member.phone, "您的投票已收到", account="replies", member_id=member.id, now=when)
        store.outbox.enqueue("+8613900000000", "给非党员的回复", account="replies", now=when)
        store.outbox.enqueue(member.phone, "管理员直接发送", now=when)  # the county's own send
        send_all(store, {"m1": 6}, when)
    town = json.loads(
        cli(config_path, "report", "cost", "--by", "account", "--org", "大渡口区/八桥镇", "--json").output
    )
    assert [(r["key"], r["fen"]) for r in town["rows"]] == [("replies", 6)]
    county = json.loads(cli(config_path, "report", "cost", "--by", "org", "--json").output)
    assert {r["key"]: r["fen"] for r in county["rows"]} == {"大渡口区/八桥镇": 6, "(unassigned)": 12}


def test_cost_report_in_excel_adds_up(office):
    """Issue 17 acceptance 4: yuan are numbers (SUM works), headers in the admin's language."""
    import openpyxl

    tmp_path, config_path, cfg = office
    text = config_path.read_text().replace("[daemon]", '[daemon]\nlanguage = "zh_CN"', 1)
    config_path.write_text(text)
    when = datetime.now(CST)
    with Store(cfg.database) as store:
        for org in ("大渡口区/八桥镇", "大渡口区/跳磴镇"):
            plan = broadcast.plan(store, cfg, orgs=(org,), text="年终总结", now=when)
            broadcast.queue(store, plan, name=org, now=when)
        send_all(store, {"m1": 6}, when)
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "smsd", "report", "cost", "--by", "org", "--xlsx", "--output", str(tmp_path / "c.xlsx"),
         "--from", "2026-01-01", "--config", str(config_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "已将 3 行写入" in out.stderr  # two org units and the total; said in Chinese
    ws = openpyxl.load_workbook(tmp_path / "c.xlsx").active
    rows = list(ws.iter_rows(values_only=True))
    assert "短信费用" in rows[0][0] and "2026-01-01" in rows[0][0]  # a title with the period
    assert rows[1] == ("组织", "条数", "费用（分）", "费用（元）", "其中未确认")
    yuan = [r[3] for r in rows[2:]]
    assert all(isinstance(v, float) for v in yuan)
    assert round(sum(yuan[:-1]), 2) == yuan[-1]  # the total is the sum: numbers, not text
    assert ws.cell(row=3, column=4).number_format == "0.00"
