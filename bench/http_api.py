"""HTTP API throughput (issue 9): requests/s for single sends on loopback, and the latency each
request adds (median, p99), against the API on its own database (the queue grows, nothing is sent)."""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench._common import report  # noqa: E402
from smsd import config  # noqa: E402
from smsd.http.server import HttpServer  # noqa: E402
from smsd.store import Store  # noqa: E402
from smsd.store import group as store_group  # noqa: E402

N = 300 if os.environ.get("SMSD_BENCH_QUICK") == "1" else 2000
TOKEN = "bench-token"


def send_one(i: int, client: httpx.Client, latencies: list[float]) -> None:
    t0 = time.perf_counter()
    r = client.post("/v1/messages", json={"to": f"138{i % 10**8:08d}", "text": f"通知 {i}"})
    assert r.status_code == 201, r.text
    latencies.append(time.perf_counter() - t0)


def main() -> None:
    report("http_api", cases(), {"note": "each request commits the message, its part and an event (durable)"})


def cases() -> list[dict]:
    """Single sends with 1 and 4 concurrent clients, the API served as in the daemon (group commit on)."""
    tmp = Path(tempfile.mkdtemp(prefix="smsd-http-"))
    (tmp / "config.toml").write_text(
        '[daemon]\ndatabase = "smsd.db"\n[modems.m1]\nport = "emulator"\n[http]\nenabled = true\nport = 18999\n'
        f'[http.clients.bench]\ntoken_sha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"\n'
        "rate_per_minute = 10000000\n"
    )
    cfg = config.load(tmp / "config.toml")
    Store(cfg.database).close()
    shared = store_group.enable(cfg.database)  # as the daemon does for every thread of its process
    server = HttpServer(cfg)
    server.start()
    rows = []
    for workers in (1, 4):
        latencies: list[float] = []
        clients = [
            httpx.Client(base_url="http://127.0.0.1:18999", headers={"Authorization": f"Bearer {TOKEN}"})
            for _ in range(workers)
        ]
        jobs = [(i + workers * N, clients[i % workers], latencies) for i in range(N)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda job: send_one(*job), jobs))
        wall = time.perf_counter() - t0
        for c in clients:
            c.close()
        latencies.sort()
        rows.append(
            {
                "concurrent_clients": workers,
                "requests": N,
                "requests_per_s": round(N / wall, 1),
                "latency_median_ms": round(1000 * statistics.median(latencies), 2),
                "latency_p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2),
            }
        )
    server.stop()
    for row in rows:
        row["commits"] = shared.commits  # over both cases
    store_group.disable(cfg.database)
    return rows


if __name__ == "__main__":
    main()
