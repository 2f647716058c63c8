"""A big held backlog (issue 15): what 100,000 waiting messages cost while they wait.

1. `smsd broadcast --all --yes` to a 100,000-member roster through the CLI: wall time and the
   process's peak RSS (from the kernel's accounting of the child).
2. The daemon (a real subprocess, one instant emulated modem) with that campaign held by quiet
   hours covering now: its CPU per minute over two liveness periods (2 x 55 s), and its CPU per
   urgent message sent through the CLI (`smsd send --urgent`, 50 of them) while the backlog waits.
3. Drain rate without quiet hours (caps set high): the first 5,000 messages, and 5,000 after
   50,000 were sent (then the hourly and daily cap windows hold 50,000 parts, the case that used
   to slow every claim down), from the stored send times.

SMSD_BENCH_QUICK=1: 20,000 members, a 30 s idle window, 20 urgent sends, rates at 0 and 10,000.
Every figure is printed with the load average before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import report  # noqa: E402
from bench.throughput import proc_cpu, start_daemon  # noqa: E402
from smsd.clock import LOCAL  # noqa: E402
from smsd.roster import MemberRow  # noqa: E402
from smsd.sim.emulator import Emulator  # noqa: E402
from smsd.sim.modem import ModemOptions  # noqa: E402
from smsd.store import Store  # noqa: E402
from tests.sql import one as sql_one  # noqa: E402
from tests.sql import rows as sql_rows

QUICK = os.environ.get("SMSD_BENCH_QUICK") == "1"
MEMBERS = 20_000 if QUICK else 100_000
IDLE_S = 30 if QUICK else 120
URGENT = 20 if QUICK else 50
DRAIN = 1_000 if QUICK else 5_000
SENT_BEFORE = 10_000 if QUICK else 50_000
SMSD = [sys.executable, "-m", "smsd"]
TEXT = "${name}同志：请于本周五下午三点到${org}参加年度组织生活会，会议讨论年度工作总结和明年计划，请准时参加。"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def config(tmp: Path, port: str, quiet: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(
        "\n".join(
            [
                "[daemon]",
                'database = "smsd.db"',
                'log_level = "warning"',
                "[sending]",
                f'quiet_hours = "{quiet}"',
                "[anniversary]",
                "enabled = false",
                "[modems.m1]",
                f'port = "{port}"',
                "hourly_cap = 1000000",
                "daily_cap = 1000000",
            ]
        )
        + "\n"
    )
    return path


def quiet_now() -> str:
    """Quiet hours that cover the next three hours, whatever the time of day."""
    now = datetime.now(LOCAL)
    start, end = now - timedelta(minutes=30), now + timedelta(hours=3)
    return f"{start:%H:%M}-{end:%H:%M}"


def roster(db: Path) -> None:
    with Store(db) as store:
        store.members.upsert(
            [
                MemberRow(i + 2, f"党员{i}", f"+86139{i:08d}", f"大渡口区/镇{i % 8}/第{i % 50}村党支部", ["党员"], None)
                for i in range(MEMBERS)
            ]
        )


def broadcast(cfg: Path) -> dict:
    """Wall time and peak RSS of the CLI process, as GNU time reports it (getrusage of a child
    started from this big process would count the pages it shared with us before exec)."""
    report_file = cfg.parent / "time.txt"
    t0 = time.perf_counter()
    subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            "-o",
            str(report_file),
            *SMSD,
            "broadcast",
            "--config",
            str(cfg),
            "--all",
            "--text",
            TEXT,
            "--yes",
        ],
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - t0
    peak_mb = int(report_file.read_text().split()[-1]) / 1024
    return {
        "step": f"broadcast to {MEMBERS:,} (CLI)",
        "value": round(wall, 2),
        "unit": "s",
        "detail": f"peak RSS {peak_mb:.1f} MB",
        "load": load(),
    }


def count(db: Path, sql: str) -> int:
    with Store(db) as store:
        return int(sql_one(store, sql)["n"])


def held(tmp: Path, emu: Emulator) -> list[dict]:
    cfg = config(tmp, str(emu["m1"].link), quiet_now())
    proc = start_daemon(cfg, tmp)
    rows = []
    try:
        time.sleep(5)  # initialisation and the start-up sweep are not idling
        load0, cpu0, t0 = load(), proc_cpu(proc.pid), time.monotonic()
        time.sleep(IDLE_S)
        cpu = proc_cpu(proc.pid) - cpu0
        minutes = (time.monotonic() - t0) / 60
        rows.append(
            {
                "step": f"idle with {MEMBERS:,} held (quiet hours)",
                "value": round(cpu / minutes, 3),
                "unit": "CPU s/min",
                "detail": f"window {IDLE_S} s",
                "load": f"{load0} -> {load()}",
            }
        )
        load0, cpu0 = load(), proc_cpu(proc.pid)
        db = tmp / "smsd.db"
        for i in range(URGENT):
            subprocess.run(
                [*SMSD, "send", "--config", str(cfg), "--priority", "9", f"1370000{i:04d}", "紧急通知：今晚停电"],
                check=True,
                capture_output=True,
            )
            target = i + 1
            deadline = time.monotonic() + 30
            while (
                count(db, "SELECT COUNT(*) AS n FROM outbox WHERE priority = 9 AND state IN ('sent', 'delivered')")
                < target
            ):
                if time.monotonic() > deadline:
                    raise SystemExit("an urgent message was not sent within 30 s")
                time.sleep(0.01)  # the bench polls; the daemon's CPU is what is measured
        cpu = proc_cpu(proc.pid) - cpu0
        left = count(db, "SELECT COUNT(*) AS n FROM outbox WHERE state = 'queued'")
        rows.append(
            {
                "step": f"urgent send with {MEMBERS:,} held (CLI)",
                "value": round(cpu / URGENT * 1000, 2),
                "unit": "CPU ms/msg",
                "detail": f"{URGENT} sends; still held {left:,}",
                "load": f"{load0} -> {load()}",
            }
        )
    finally:
        proc.terminate()
        proc.wait(30)
    return rows


def drain(tmp: Path, emu: Emulator) -> list[dict]:
    """One daemon drains the held campaign; the rates come from the stored send times of the
    first DRAIN messages and of DRAIN messages after SENT_BEFORE were sent (the cap windows
    then hold that many parts)."""
    cfg = config(tmp, str(emu["m1"].link), "")
    db = tmp / "smsd.db"
    goal = SENT_BEFORE + DRAIN
    load0 = load()
    proc = start_daemon(cfg, tmp)
    try:
        cpu0 = proc_cpu(proc.pid)
        while (
            count(db, "SELECT COUNT(*) AS n FROM outbox WHERE state IN ('sent', 'delivered') AND priority <> 9") < goal
        ):
            time.sleep(0.2)
        cpu = proc_cpu(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(30)
    with Store(db) as store:
        times = [
            r["sent_at"]
            for r in sql_rows(
                store,
                "SELECT sent_at FROM outbox WHERE state IN ('sent', 'delivered') AND priority <> 9 ORDER BY sent_at",
            )
        ]
    from smsd.clock import parse_ts

    def rate(first: int) -> float:
        span = (parse_ts(times[first + DRAIN - 1]) - parse_ts(times[first])).total_seconds()
        return round((DRAIN - 1) / span, 1)

    detail = f"{DRAIN:,} messages; whole drain CPU {cpu / len(times) * 1000:.2f} ms/msg"
    return [
        {
            "step": "drain rate at the start",
            "value": rate(0),
            "unit": "msg/s",
            "detail": detail,
            "load": f"{load0} -> {load()}",
        },
        {
            "step": f"drain rate after {SENT_BEFORE:,} sent",
            "value": rate(SENT_BEFORE),
            "unit": "msg/s",
            "detail": detail + " (the last hour holds them all: caps are counted over them)",
            "load": load(),
        },
    ]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="smsd-backlog-"))
    emu = Emulator(tmp / "sim", [ModemOptions("m1", send_delay_ms=0, command_delay_ms=0, status_report_delay_ms=10**7)])
    emu.start(control=False)
    try:
        cfg = config(tmp, str(emu["m1"].link), quiet_now())
        roster(tmp / "smsd.db")
        rows = [broadcast(cfg)]
        rows += held(tmp, emu)
        rows += drain(tmp, emu)
    finally:
        emu.stop()
    report("backlog", rows, {"quick": QUICK, "note": "one instant emulated modem (0 ms submit, 0 ms per command)"})


if __name__ == "__main__":
    main()
