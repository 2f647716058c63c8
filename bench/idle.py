"""Idle cost (issue 8, bench 3): AT commands per minute and CPU seconds per minute of the
daemon with 1 and 16 idle modems. SMSD_BENCH_QUICK=1 measures 20 s instead of 120 s."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import report  # noqa: E402
from bench.throughput import proc_cpu, proc_hwm_mb, start_daemon, write_config  # noqa: E402
from smsd.sim.emulator import Emulator  # noqa: E402
from smsd.sim.modem import ModemOptions  # noqa: E402

WINDOW = 20 if os.environ.get("SMSD_BENCH_QUICK") == "1" else 120


def run(modems: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="smsd-idle-"))
    emu = Emulator(tmp / "sim", [ModemOptions(f"m{i}") for i in range(1, modems + 1)])
    emu.start(control=False)
    proc = start_daemon(write_config(tmp, {n: str(m.link) for n, m in emu.modems.items()}), tmp)
    time.sleep(5)  # let every modem finish its initialisation: the window measures idling only
    commands0 = sum(m.stats["commands"] for m in emu.modems.values())
    cpu0 = proc_cpu(proc.pid)
    time.sleep(WINDOW)
    commands = sum(m.stats["commands"] for m in emu.modems.values()) - commands0
    cpu = proc_cpu(proc.pid) - cpu0
    rss = proc_hwm_mb(proc.pid)
    proc.terminate()
    proc.wait(30)
    emu.stop()
    return {
        "modems": modems,
        "window_s": WINDOW,
        "at_per_min_per_modem": round(commands / modems * 60 / WINDOW, 2),
        "cpu_s_per_min": round(cpu * 60 / WINDOW, 3),
        "peak_rss_mb": round(rss, 1),
    }


def main() -> None:
    report("idle", [run(1), run(16)], {"note": "peers: 2 (Kannel), 23 (gammu-smsd), 38 (smstools3) AT/min"})


if __name__ == "__main__":
    main()
