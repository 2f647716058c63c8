"""An office's ordinary day at the command line, in Chinese (run by tests/test_i18n_output.py in a
subprocess with LANG=zh_CN.UTF-8): every command's usual output is collected as JSON.

Messages are driven through the store as a worker would (claim, submit, accept, report), so
the tables, `show` pages, reports and exports have sent, delivered, failed and in-doubt rows."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from smsd import i18n

i18n.select(None)

from smsd.cli import main  # noqa: E402
from smsd.store import Store  # noqa: E402
from tests.sql import rows as sql_rows  # noqa: E402

tmp, config = Path(sys.argv[1]), sys.argv[2]
runner = CliRunner()
outputs: dict[str, str] = {}


def run(name: str, *args: str, ok: bool = True, using: str | None = None) -> str:
    r = runner.invoke(main, [*args, "--config", using or config])
    text = r.output
    if ok and r.exit_code != 0:
        text = f"[exit {r.exit_code}] " + text
    outputs[name] = text
    return text


def drive(store: Store, now: datetime, *, doubt_every: int = 0) -> None:
    i = 0
    while (msg := store.claims.claim_next("m1", now=now, prices=(6, 0))) is not None:
        for part in store.outbox.parts(msg.id):
            store.submits.part_submitting(msg.id, part.seq, "m1", now, 6)
            if doubt_every and i % doubt_every == 1:
                store.submits.submit_in_doubt(msg.id, error="m1: no answer", cause="timeout", grace_s=1, modem="m1",
                                             now=now)  # fmt: skip
                break
            store.submits.part_sent(msg.id, part.seq, ref=100 + i, price_fen=6, modem="m1", now=now)
        i += 1


roster = tmp / "roster.csv"
roster.write_text(
    "姓名,手机,乡镇（街道）,村（社区）,所在党支部,角色,入党日期,备注\n"
    + "".join(
        f"党员{i},1380013{i:04d},八桥镇,{'一' if i % 2 else '二'}村,{'一' if i % 2 else '二'}村党支部,"
        f"{'支部书记' if i < 2 else '党员'},2001.07,\n"
        for i in range(12)
    )
    + "张三,13800139999,跳磴镇,,机关党支部,党员,七一那天,退休\n",
    encoding="utf-8",
)
run("members import", "members", "import", str(roster), "--under", "大渡口区")
outputs["members template"] = runner.invoke(main, ["members", "template", str(tmp / "t.xlsx")]).output
run("members list", "members", "list")
run("members show", "members", "show", "13800130001")
run("org tree", "org", "tree")
run("send", "send", "13800138000", "你好，测试")
run("send at", "send", "13800138001", "明天开会", "--at", "明天8点")
run("broadcast dry run", "broadcast", "--org", "八桥镇", "--text", "${name}同志：明天下午三点开会", "--dry-run")
run("broadcast", "broadcast", "--org", "八桥镇", "--template", "meeting_notice", "--var", "time=12月3日上午9点",
    "--var", "place=党群服务中心", "--var", "topic=支部书记会议", "--yes")  # fmt: skip
now = datetime.now(UTC)
with Store(tmp / "smsd.db") as store:
    drive(store, now, doubt_every=5)
    for p in sql_rows(store, "SELECT message_id, seq, provider_ref FROM outbox_parts WHERE state = 'sent' LIMIT 4"):
        to = store.outbox.message(p["message_id"]).to_number
        store.reports.apply_report("m1", p["provider_ref"], to, 0, "delivered", now=now)
    p = sql_rows(store, "SELECT message_id, seq, provider_ref FROM outbox_parts WHERE state = 'sent' LIMIT 1")[0]
    store.reports.apply_report("m1", p["provider_ref"], store.outbox.message(p["message_id"]).to_number, 0x45,
                              "failed", now=now)  # fmt: skip
run("outbox", "outbox")
run("outbox failed", "outbox", "--state", "失败")
run("outbox show", "outbox", "show", "1")
run("outbox show in doubt", "outbox", "show", "3")
run("outbox cancel", "outbox", "cancel", "2")
run("outbox retry", "outbox", "retry", "2")
run("status", "status")
run("doctor", "doctor", ok=False)
run("check-config", "check-config")
run("campaign list", "campaign")
run("campaign status", "campaign", "status", "1")
run("campaign receipts", "campaign", "receipts", "1")
run("campaign pause", "campaign", "pause", "1", ok=False)
run("campaign resume", "campaign", "resume", "1", ok=False)
run("campaign cancel", "campaign", "cancel", "1", ok=False)
run("templates list", "templates", "list")
run("templates preview", "templates", "preview", "meeting_notice", "--member", "13800130001", "--var", "time=明天",
    "--var", "place=会议室", "--var", "topic=学习")  # fmt: skip
run("poll create", "poll", "create", "--question", "同意吗？", "--option", "同意", "--option", "反对", "--org",
    "八桥镇", "--closes", "后天18点")  # fmt: skip
run("poll list", "poll")
run("poll results", "poll", "results", "1")
run("poll results csv", "poll", "results", "1", "--csv")
run("red open", "red", "open", "建党节红段子")
run("red list", "red")
run("red export", "red", "export", "--output", str(tmp / "red.csv"))
outputs["red export file"] = (tmp / "red.csv").read_text("utf-8-sig")
run("inbox", "inbox")
# 分级管理: accounts, an operator's broadcast waiting for approval, the approver's answer, the audit trail
run("user add", "user", "add", "bq-op", "--name", "王五", "--role", "operator", "--org", "八桥镇", "--phone",
    "13700000001")  # fmt: skip
run("user add approver", "user", "add", "bq-sp", "--name", "赵六", "--role", "approver", "--org", "八桥镇", "--phone",
    "13700000002")  # fmt: skip
run("user list", "user", "list")
run("user show", "user", "show", "bq-op")
run("user token", "user", "token", "bq-op")
run("as an operator, beyond its part", "--as", "bq-op", "send", "13800139999", "你好", ok=False)
approving = tmp / "approving.toml"
approving.write_text(Path(config).read_text() + "\n[approval]\noperators = true\nby_sms = true\n")
run("broadcast for approval", "--as", "bq-op", "broadcast", "--org", "八桥镇", "--text", "周五开会", "--yes",
    using=str(approving))  # fmt: skip
run("approval list", "--as", "bq-sp", "approval", using=str(approving))
run("approval show", "--as", "bq-sp", "approval", "show", "1", using=str(approving))
run("approval refuse", "--as", "bq-sp", "approval", "refuse", "1", "--reason", "请写明地点", using=str(approving))
run("approval list refused", "--as", "bq-op", "approval", "--state", "refused", using=str(approving))
run("approval edit", "--as", "bq-op", "approval", "edit", "1", "--text", "周五在镇会议室开会", using=str(approving))
run("approval approve", "--as", "bq-sp", "approval", "approve", "1", using=str(approving))
run("approval again", "--as", "bq-sp", "approval", "approve", "1", ok=False, using=str(approving))
run("user disable", "user", "disable", "bq-op")
run("as a disabled account", "--as", "bq-op", "members", "list", ok=False)
run("audit", "audit")
run("audit csv", "audit", "--csv")
run("report cost", "report", "cost", "--by", "org")
run("report cost month", "report", "cost", "--by", "campaign")
run("report cost csv", "report", "cost", "--by", "org", "--csv")
run("report delivery", "report", "delivery")
run("report delivery modem", "report", "delivery", "--by", "modem")
run("report messages csv", "report", "messages", "--csv")
run("budget set", "budget", "set", "八桥镇", "--month", now.strftime("%Y-%m"), "--yuan", "0.05")
run("budget list", "budget")
run("over budget", "broadcast", "--org", "八桥镇", "--text", "再通知", "--yes", ok=False)
run("purge", "purge", "--older-than", "3650d", "--yes")
run("resume", "resume", "m1")
print(json.dumps(outputs, ensure_ascii=False))
