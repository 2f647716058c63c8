"""Throughput and modem utilisation (issue 8, bench 1).

A backlog (half GSM-7, half 2-part Chinese) drains through 1, 4 and 16 emulated modems with a
submit latency of 0 ms and of 2,000 ms. The daemon runs as a real subprocess (every state
change durably committed); the emulator runs here, so the daemon's CPU is its own.
Figures: messages/s, PDUs/s, the software's gap between the end of one submit and the start
of the next (median, p99), utilisation = modem-busy time / wall time, CPU ms per message,
peak RSS. SMSD_BENCH_QUICK=1 runs a smaller matrix.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import report  # noqa: E402
from smsd.sim.emulator import Emulator  # noqa: E402
from smsd.sim.modem import ModemOptions  # noqa: E402
from smsd.store import Store  # noqa: E402
from tests.sql import one as sql_one  # noqa: E402

QUICK = os.environ.get("SMSD_BENCH_QUICK") == "1"
CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_config(tmp: Path, ports: dict[str, str]) -> Path:
    templates = Path(__file__).resolve().parent.parent / "templates"
    lines = [
        "[daemon]",
        'database = "smsd.db"',
        'log_level = "warning"',
        f'templates_dir = "{templates}"',
        "[sending]",
        'quiet_hours = ""',
        "[anniversary]",
        "enabled = false",
    ]
    for name, port in ports.items():
        lines += [
            f"[modems.{name}]",
            f'port = "{port}"',
            "hourly_cap = 1000000",
            "daily_cap = 1000000",
            "send_timeout_s = 30.0",
        ]
    (tmp / "config.toml").write_text("\n".join(lines) + "\n")
    return tmp / "config.toml"


def start_daemon(config: Path, tmp: Path) -> subprocess.Popen:
    sock_path = tmp / "notify.sock"
    sock_path.unlink(missing_ok=True)  # a daemon started before in the same folder
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(30)
    proc = subprocess.Popen(
        [sys.executable, "-m", "smsd", "run", "--config", str(config)],
        env={**os.environ, "NOTIFY_SOCKET": str(sock_path)},
        stderr=open(tmp / "log", "w"),  # noqa: SIM115 - the daemon keeps it for its life
    )
    while b"READY=1" not in sock.recv(4096):
        pass
    sock.close()
    return proc


def run_case(modems: int, delay_ms: int, n: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="smsd-tp-"))
    emu = Emulator(
        tmp / "sim",
        [ModemOptions(f"m{i}", send_delay_ms=delay_ms, status_report_delay_ms=10**7) for i in range(1, modems + 1)],
    )
    emu.start(control=False)
    config = write_config(tmp, {name: str(m.link) for name, m in emu.modems.items()})
    with Store(tmp / "smsd.db") as store:
        store.outbox.enqueue_many(
            [
                (
                    f"+86138{i:08d}",
                    f"Notice {i}: branch meeting on Friday at 15:00, room 3."
                    if i % 2
                    else f"第{i}号通知：" + "请各支部书记于本周五下午三点到镇党委会议室参加年度工作总结会议。" * 2,
                    {"srr": False},
                )
                for i in range(n)
            ]
        )
        pdus = sql_one(store, "SELECT COUNT(*) AS n FROM outbox_parts")["n"]
    proc = start_daemon(config, tmp)
    cpu0 = proc_cpu(proc.pid)
    t0 = time.monotonic()
    while sum(m.stats["submits"] for m in emu.modems.values()) < pdus:
        time.sleep(0.02)  # the bench polls the emulator's counter; nothing here synchronises a test
        if time.monotonic() - t0 > 3600:
            raise SystemExit("backlog did not drain within an hour")
    wall = time.monotonic() - t0
    cpu = proc_cpu(proc.pid) - cpu0
    rss = proc_hwm_mb(proc.pid)
    proc.terminate()
    proc.wait(30)
    emu.stop()
    gaps, busy, span = [], 0.0, 0.0
    for m in emu.modems.values():
        recs = [json.loads(x) for x in m.sent_log.read_text().splitlines()]
        recs.sort(key=lambda r: r["t_start"])
        busy += sum(r["t_end"] - r["t_start"] for r in recs)
        span += recs[-1]["t_end"] - recs[0]["t_start"]  # from its first submit to its last
        gaps += [b["t_start"] - a["t_end"] for a, b in zip(recs, recs[1:], strict=False)]
    gaps.sort()
    p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))] if gaps else 0.0
    return {
        "modems": modems,
        "submit_ms": delay_ms,
        "messages": n,
        "pdus": pdus,
        "msg_per_s": round(n / wall, 1),
        "pdu_per_s": round(pdus / wall, 1),
        "gap_median_ms": round(statistics.median(gaps) * 1000, 1) if gaps else None,
        "gap_p99_ms": round(p99 * 1000, 1),
        "utilisation_pct": round(100 * busy / span, 2) if span else None,
        "cpu_ms_per_msg": round(1000 * cpu / n, 2),
        "peak_rss_mb": round(rss, 1),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    cases = [(1, 0, 1000), (4, 0, 1000), (16, 0, 1000), (1, 2000, 30), (4, 2000, 120), (16, 2000, 480)]
    if QUICK:
        cases = [(1, 0, 200), (4, 0, 200), (1, 2000, 5)]
    rows = [run_case(*c) for c in cases]
    report(
        "throughput",
        rows,
        {
            "note": "2,000 ms cases use a smaller backlog (about a minute of sending); "
            "peers: 0.43-2 msg/s, gaps 360-2,300 ms (research/peer-bench.md)"
        },
    )


if __name__ == "__main__":
    main()
