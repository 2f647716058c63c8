"""How fast an admin's command starts (issue 17: `smsd send` and `smsd outbox` under 0.25 s).

Runs each command 10 times against a database on the shipped config (the daemon need not run:
`send` only queues), prints the median and best wall time, the CPU time, and the five imports
that cost the most (python -X importtime), so a regression names its cause.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import report  # noqa: E402

COMMANDS = {
    "send": ["send", "13800138000", "明天上午九点开会"],
    "outbox": ["outbox"],
    "status": ["status"],
    "--help": ["--help"],
}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="smsd-cli-"))
    shutil.copy(ROOT / "config.toml", tmp / "config.toml")
    env = {**os.environ, "SMSD_CONFIG": str(tmp / "config.toml")}
    subprocess.run([sys.executable, "-m", "smsd", "send", "13800138000", "warm-up"], env=env, cwd=tmp, check=True,
                   capture_output=True)  # fmt: skip
    rows = []
    for name, args in COMMANDS.items():
        walls, cpus = [], []
        for _ in range(10):
            t0 = time.perf_counter()
            before = os.times()
            subprocess.run([sys.executable, "-m", "smsd", *args], env=env, cwd=tmp, check=True, capture_output=True)
            after = os.times()
            walls.append(time.perf_counter() - t0)
            cpus.append((after.children_user - before.children_user) + (after.children_system - before.children_system))
        trace = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "smsd", *args], env=env, cwd=tmp, capture_output=True, text=True
        ).stderr
        costs = []
        for line in trace.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            if m and len(m.group(3)) <= 3:  # top-level imports and their children's total
                costs.append((int(m.group(2)), m.group(4)))
        top = ", ".join(f"{mod} {us / 1000:.0f}" for us, mod in sorted(costs, reverse=True)[:5])
        rows.append(
            {
                "command": "smsd " + " ".join(args[:1]),
                "wall_median_s": round(statistics.median(walls), 3),
                "wall_best_s": round(min(walls), 3),
                "cpu_median_s": round(statistics.median(cpus), 3),
                "target_s": 0.25 if name in ("send", "outbox") else None,
                "top_imports_ms": top,
            }
        )
    report("cli_start", rows)


if __name__ == "__main__":
    main()
