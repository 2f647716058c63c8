"""Shared by the bench scripts: timing, memory, and a JSON record of the figures with the machine."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    packages = {}
    for name in ("pyserial", "sqlite-utils", "apscheduler", "click", "openpyxl", "phonenumbers"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    import sqlite3

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "sqlite": sqlite3.sqlite_version,
        "packages": packages,
    }


def measure(label: str, fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run fn once: wall and CPU seconds, and the process's peak RSS after it (a high-water mark)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result, {
        "step": label,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "peak_rss_mb": round(rss, 1),
        "rss_growth_mb": round(rss - before, 1),
    }


def report(name: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
    """Print a table and write bench/results/<name>.json."""
    keys = list(dict.fromkeys(k for r in rows for k in r))  # every row's columns, in the order first seen
    rows = [{k: r.get(k, "") for k in keys} for r in rows]
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths, strict=True)))
    load = [round(x, 2) for x in os.getloadavg()]
    print(f"load average (1, 5, 15 min) at the end: {load[0]}, {load[1]}, {load[2]}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(
        json.dumps(
            {
                "bench": name,
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": machine(),
                "load_average": load,
                "rows": rows,
                **(extra or {}),
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    print(f"figures written to {out}")
