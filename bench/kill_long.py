"""The long fault run (issue 8): 100 kill -9 while a backlog drains and members vote.

Runs the same test as CI with SMSD_KILLS=100 and prints what it counted.
Run: .venv/bin/python bench/kill_long.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    env = {**os.environ, "SMSD_KILLS": os.environ.get("SMSD_KILLS", "100")}
    sys.exit(
        subprocess.call(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-s",
                "-p",
                "no:cacheprovider",
                "-o",
                "addopts=",
                "--timeout=3600",
                str(ROOT / "tests" / "test_daemon.py"),
                "-k",
                "sigkill",
            ],
            env=env,
            cwd=ROOT,
        )
    )
