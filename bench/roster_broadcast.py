"""Import a 5,000-member roster from XLSX and queue a 5,000-recipient broadcast.

Prints the time and peak memory of each step (issue 5). Run: .venv/bin/python bench/roster_broadcast.py
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import openpyxl  # noqa: E402

from bench._common import measure, report  # noqa: E402
from smsd import broadcast, config, roster  # noqa: E402
from smsd.store import Store  # noqa: E402
from tests.sql import one as sql_one  # noqa: E402

N = 5000
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="smsd-bench-"))
    (tmp / "config.toml").write_text(
        f'[daemon]\ndatabase = "smsd.db"\ntemplates_dir = "{ROOT / "templates"}"\n[modems.m1]\nport = "emulator"\n'
        '[modems.m2]\nport = "emulator"\n'
    )
    cfg = config.load(tmp / "config.toml")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["姓名", "手机", "组织", "角色", "入党日期"])
    for i in range(N):
        ws.append(
            [
                f"党员{i}",
                f"138{i:08d}",
                f"大渡口区/镇{i % 8}/第{i % 50}村党支部",
                "党员,支部书记" if i % 10 == 0 else "党员",
                datetime(1980 + i % 40, 1 + i % 12, 1 + i % 28),
            ]
        )
    wb.save(tmp / "roster.xlsx")
    rows = []
    parsed, r = measure("read 5,000-row XLSX", lambda: roster.read(tmp / "roster.xlsx"))
    rows.append(r)
    store = Store(cfg.database)
    _, r = measure("import into SQLite", lambda: store.members.upsert(parsed.rows))
    rows.append(r)
    text = "${name}同志：请于本周五下午三点到${org}参加年度组织生活会，会议讨论年度工作总结和明年计划，请准时参加。"
    plan, r = measure(
        "plan broadcast (render, segments, ETA)", lambda: broadcast.plan(store, cfg, everyone=True, text=text)
    )
    rows.append(r)
    cid, r = measure("queue 5,000-recipient campaign", lambda: broadcast.queue(store, plan, name="bench"))
    rows.append(r)
    queued = sql_one(store, "SELECT COUNT(*) AS n FROM outbox WHERE campaign_id = ?", (cid,))["n"]
    store.close()
    assert queued == N, queued
    report(
        "roster_broadcast",
        rows,
        {"members": N, "queued": queued, "segments": plan.total_segments, "cost_fen": plan.cost_fen},
    )


if __name__ == "__main__":
    main()
