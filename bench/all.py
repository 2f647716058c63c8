"""Every throughput figure in one table, from one run (issue 27): smsd and Kannel over SMPP to
the same emulator, CMPP beside SMPP, smsd on 1, 4 and 16 instant modems, HTTP single sends with
1 and 4 clients, and the 100,000-recipient broadcast; with the ratios, the load average, and the
commits per message where the daemon reports them (its `smsd.commits` line at stop). On the HTTP
rows both are per request, of the API's own process (the clients run in the bench's).

Each row comes from the bench script that owns it (bench/smpp.py, throughput.py, http_api.py,
backlog.py), called here in turn on the same machine. SMSD_BENCH_QUICK=1 runs smaller backlogs.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "deploy" / "jasmin"))

from bench import backlog, http_api, throughput  # noqa: E402
from bench import smpp as smpp_bench  # noqa: E402
from bench._common import report  # noqa: E402
from smsd.sim.emulator import Emulator  # noqa: E402
from smsd.sim.modem import ModemOptions  # noqa: E402
from tests import kannel  # noqa: E402

QUICK = os.environ.get("SMSD_BENCH_QUICK") == "1"
N_SMPP = 600 if QUICK else 3000
N_MODEMS = 300 if QUICK else 1000


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def commits_of(log: Path, messages: int) -> float | None:
    """Commits per message from the daemon's line at stop (None when it did not print one)."""
    found = re.findall(r"smsd\.commits transactions=(\d+) commits=(\d+)", log.read_text()) if log.exists() else []
    return round(int(found[-1][1]) / messages, 2) if found else None


def newest(prefix: str) -> Path:
    tmp = Path(tempfile.gettempdir())
    return max(tmp.glob(prefix + "*"), key=lambda p: p.stat().st_mtime)


def row(figure: str, value: float, unit: str, cpu: float | None = None, commits: float | None = None, **more) -> dict:
    return {
        "figure": figure,
        "value": value,
        "unit": unit,
        "cpu_ms_per_msg": cpu,
        "commits_per_msg": commits,
        "load": load(),
        **more,
    }


def main() -> None:
    if not kannel.available():
        raise SystemExit("bench/all.py needs Kannel (apt-get install kannel) for the peer's row")
    rows = []
    s = smpp_bench.smsd_case(N_SMPP)
    rows.append(
        row(
            "SMPP smsd -> smsd smsc (window 10, receipts)",
            s["msg_per_s"],
            "msg/s",
            s["client_cpu_ms_per_msg"],
            commits_of(newest("smsd-smpp-") / "log", N_SMPP),
        )
    )
    c = smpp_bench.cmpp_case(N_SMPP)
    rows.append(
        row(
            "CMPP 3.0 smsd -> smsd ismg (window 16, reports)",
            c["msg_per_s"],
            "msg/s",
            c["client_cpu_ms_per_msg"],
            commits_of(newest("smsd-cmpp-") / "log", N_SMPP),
        )
    )
    k = smpp_bench.kannel_case(N_SMPP)
    rows.append(row("SMPP Kannel bearerbox -> smsd smsc", k["msg_per_s"], "msg/s", k["client_cpu_ms_per_msg"]))
    rows.append(row("ratio smsd / Kannel (SMPP)", round(s["msg_per_s"] / k["msg_per_s"], 3), "x"))
    rows.append(row("ratio CMPP / SMPP (smsd)", round(c["msg_per_s"] / s["msg_per_s"], 3), "x"))
    one = None
    for modems in (1, 4, 16):
        t = throughput.run_case(modems, 0, N_MODEMS)
        one = one or t["msg_per_s"]
        rows.append(
            row(
                f"{modems} instant modem(s), {N_MODEMS} messages",
                t["msg_per_s"],
                "msg/s",
                t["cpu_ms_per_msg"],
                commits_of(newest("smsd-tp-") / "log", N_MODEMS),
                gap_median_ms=t["gap_median_ms"],
                gap_p99_ms=t["gap_p99_ms"],
            )
        )
    rows.append(row("ratio 16 modems / 1 modem", round(rows[-1]["value"] / one, 2), "x"))
    for h in http_api.cases():
        rows.append(
            row(
                f"HTTP API single sends, {h['concurrent_clients']} client(s)",
                h["requests_per_s"],
                "req/s",
                h["server_cpu_ms_per_request"],
                h["commits_per_request"],
                latency_median_ms=h["latency_median_ms"],
                latency_p99_ms=h["latency_p99_ms"],
            )
        )
    tmp = Path(tempfile.mkdtemp(prefix="smsd-all-backlog-"))
    emu = Emulator(tmp / "sim", [ModemOptions("m1", send_delay_ms=0, command_delay_ms=0, status_report_delay_ms=10**7)])
    emu.start(control=False)
    try:
        cfg = backlog.config(tmp, str(emu["m1"].link), backlog.quiet_now())
        backlog.roster(tmp / "smsd.db")
        b = backlog.broadcast(cfg)
    finally:
        emu.stop()
    rows.append(row(b["step"], b["value"], "s", detail=b["detail"]))
    report("all", rows, {"quick": QUICK})


if __name__ == "__main__":
    main()
