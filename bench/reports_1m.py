"""Reports over a database with 1,000,000 sent messages (issue 7).

Times `smsd report cost --by org` and `smsd report messages --csv` as an admin runs them
(real subprocesses). Set SMSD_BENCH_N for a smaller run. Run: .venv/bin/python bench/reports_1m.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlite_utils import Database  # noqa: E402

from bench._common import report  # noqa: E402
from smsd.store import Store  # noqa: E402

N = int(os.environ.get("SMSD_BENCH_N", "1000000"))
ORGS = [f"大渡口区/镇{t}/第{v}村党支部" for t in range(8) for v in range(25)]


def seed(path: Path) -> float:
    Store(path).close()  # the real schema and migrations
    db = Database(path)
    db.execute("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    batch = 50_000
    for start in range(0, N, batch):
        ids = range(start + 1, min(N, start + batch) + 1)
        day = lambda i: f"2026-{1 + i % 11:02d}-{1 + i % 28:02d}"  # noqa: E731
        db["outbox"].insert_all(
            (
                {
                    "id": i,
                    "to_number": f"+86138{i % 10**8:08d}",
                    "text": f"第{i}条通知：请按时参加组织生活会。",
                    "encoding": "ucs2",
                    "segments": 1,
                    "priority": 3,
                    "state": "delivered",
                    "created_by": "bench",
                    "created_at": f"{day(i)}T02:00:00.000Z",
                    "updated_at": f"{day(i)}T02:00:00.000Z",
                    "sent_at": f"{day(i)}T02:00:01.000Z",
                    "delivered_at": f"{day(i)}T02:00:05.000Z",
                    "modem": f"m{i % 4 + 1}",
                    "campaign_id": i % 50 + 1,
                }
                for i in ids
            ),
            batch_size=5000,
        )
        db["outbox_parts"].insert_all(
            (
                {
                    "message_id": i,
                    "seq": 1,
                    "total": 1,
                    "state": "delivered",
                    "modem": f"m{i % 4 + 1}",
                    "provider_ref": i % 256,
                    "price_fen": 6,
                    "sent_at": f"{day(i)}T02:00:01.000Z",
                }
                for i in ids
            ),
            batch_size=5000,
        )
        db["ledger"].insert_all(
            (
                {
                    "message_id": i,
                    "seq": 1,
                    "campaign_id": i % 50 + 1,
                    "org": ORGS[i % len(ORGS)],
                    "account": "campaign",
                    "modem": f"m{i % 4 + 1}",
                    "price_fen": 6,
                    "sent_at": f"{day(i)}T02:00:01.000Z",
                    "month": day(i)[:7],
                    "day": day(i),
                }
                for i in ids
            ),
            batch_size=5000,
        )
    return time.perf_counter() - t0


def timed(args: list[str], config: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "smsd", *args, "--config", str(config)], capture_output=True, text=True, check=True
    )
    return time.perf_counter() - t0, out.stdout + out.stderr


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="smsd-bench-"))
    config = tmp / "config.toml"
    config.write_text('[daemon]\ndatabase = "smsd.db"\n[modems.m1]\nport = "emulator"\n')
    seconds = seed(tmp / "smsd.db")
    rows = [{"step": f"seed {N:,} messages (outbox, parts, ledger)", "seconds": round(seconds, 1)}]
    t, out = timed(["report", "cost", "--by", "org"], config)
    assert f"{N * 6 / 100:.2f}" in out, out[-300:]
    rows.append({"step": "smsd report cost --by org", "seconds": round(t, 2)})
    t, _ = timed(["report", "cost", "--by", "month", "--org", "大渡口区/镇3"], config)
    rows.append({"step": "smsd report cost --by month --org <township>", "seconds": round(t, 2)})
    t, out = timed(["report", "messages", "--csv", "--output", str(tmp / "all.csv")], config)
    with open(tmp / "all.csv", encoding="utf-8-sig") as f:
        lines = sum(1 for _ in f) - 1
    assert lines == N, lines
    rows.append({"step": "smsd report messages --csv (all)", "seconds": round(t, 1)})
    size = (tmp / "smsd.db").stat().st_size
    report("reports_1m", rows, {"messages": N, "database_mb": round(size / 2**20)})


if __name__ == "__main__":
    main()
