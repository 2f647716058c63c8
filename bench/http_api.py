"""HTTP API throughput (issue 9): requests/s for single sends on loopback, and the latency each
request adds (median, p99), against the API on its own database (the queue grows, nothing is sent)."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench._common import report  # noqa: E402
from bench.throughput import proc_cpu  # noqa: E402
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
    report(
        "http_api",
        cases(),
        {"note": "each request commits the message, its part, an event and its audit row (durable)"},
    )


def serve(config_path: str, ready: Any, stop: Any, commits: Any) -> None:
    """The API as the daemon serves it (group commit on), in a process of its own: the clients'
    CPU is not the server's."""
    cfg = config.load(Path(config_path))
    Store(cfg.database).close()
    shared = store_group.enable(cfg.database)  # as the daemon does for every thread of its process
    server = HttpServer(cfg)
    server.start()
    ready.set()
    stop.wait()
    server.stop()
    commits.put(shared.commits)
    store_group.disable(cfg.database)


def cases() -> list[dict]:
    """Single sends with 1 and 4 concurrent clients against the API in its own process."""
    tmp = Path(tempfile.mkdtemp(prefix="smsd-http-"))
    port = free_port()
    (tmp / "config.toml").write_text(
        f'[daemon]\ndatabase = "smsd.db"\n[modems.m1]\nport = "emulator"\n[http]\nenabled = true\nport = {port}\n'
        f'[http.clients.bench]\ntoken_sha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"\n'
        "rate_per_minute = 10000000\n"
    )
    ctx = multiprocessing.get_context("spawn")
    ready, stop, commits = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=serve, args=(str(tmp / "config.toml"), ready, stop, commits))
    proc.start()
    if not ready.wait(60):
        raise SystemExit("bench: the API did not start within 60 s")
    rows = []
    try:
        for workers in (1, 4):
            latencies: list[float] = []
            clients = [
                httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"})
                for _ in range(workers)
            ]
            jobs = [(i + workers * N, clients[i % workers], latencies) for i in range(N)]
            cpu0 = proc_cpu(proc.pid or 0)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda job: send_one(*job), jobs))
            wall = time.perf_counter() - t0
            cpu = proc_cpu(proc.pid or 0) - cpu0
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
                    "server_cpu_ms_per_request": round(1000 * cpu / N, 2),
                }
            )
    finally:
        stop.set()
        proc.join(60)
    total = commits.get(timeout=10)
    for row in rows:
        row["commits_per_request"] = round(total / (2 * N), 2)  # over both cases
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    main()
