"""SMPP and CMPP throughput, side by side in one run (issues 16 and 26): smsd -> `smsd smsc`
directly, smsd -> `smsd ismg` over CMPP 3.0 (window 16, the protocol's W), Kannel's bearerbox ->
the SMPP emulator, and smsd -> a city's Jasmin -> the emulator as the carrier.

Each case starts with a backlog already queued (smsd: in its outbox; Kannel: in bearerbox, fed
through sendsms while the SMSC refuses connections) and then lets it drain; the rate is taken
at the SMSC from its JSON log (first submit to last), so every client is timed by the same
clock. `smsd smsc` runs as its own process, so its CPU is not the client's. smsd commits every
state change durably (SQLite WAL, synchronous=FULL) and asks for a receipt of every message
(they come back during the run, 1 s after each submit). Window 10 for smsd and Kannel
(max-pending-submits). Jasmin's rate is bounded by its one upstream connector (one message
in flight: research/jasmin.md); smsd's acceptance rate into Jasmin is printed beside it.
SMSD_BENCH_QUICK=1 runs a smaller backlog.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "deploy" / "jasmin"))

import jasmin_stack  # noqa: E402

from bench._common import report  # noqa: E402
from bench.throughput import proc_cpu, proc_hwm_mb, start_daemon  # noqa: E402
from smsd.control import request  # noqa: E402
from smsd.store import Store  # noqa: E402
from tests import kannel  # noqa: E402
from tests.sql import rows as sql_rows  # noqa: E402

QUICK = os.environ.get("SMSD_BENCH_QUICK") == "1"
N = 600 if QUICK else 3000
N_JASMIN = 300 if QUICK else 1000
NUMBER = "1069000101"


def texts(n: int) -> list[tuple[str, str]]:
    """One segment each: two thirds GSM-7, one third Chinese."""
    return [
        (
            f"+86138{i:08d}",
            f"Notice {i}: branch meeting on Friday at 15:00." if i % 3 else f"第{i}号通知：周五开会。",
        )
        for i in range(n)
    ]


def start_smsc(folder: Path, account: str) -> tuple[subprocess.Popen, int]:
    port = kannel.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smsd", "smsc", "--port", str(port), "--dir", str(folder), "--account", account,
         "--receipt-delay-ms", "1000"],
        stdout=subprocess.DEVNULL, stderr=open(folder.parent / "smsc.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    wait(lambda: kannel.listening(port) and (folder / "control.sock").exists(), 30)
    return proc, port


def wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: condition not met within {timeout}s")
        time.sleep(0.02)  # a bench polling a counter; no test synchronises on this


def logged(folder: Path) -> list[dict]:
    path = folder / "submits.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def count(folder: Path) -> int:
    return int(request(folder, {"op": "status"}, what="SMSC emulator")["submitted"])


def rate(records: list[dict]) -> tuple[float, float]:
    stamps = sorted(datetime.fromisoformat(r["at"]).timestamp() for r in records)
    span = stamps[-1] - stamps[0]
    return (len(stamps) - 1) / span if span else float("inf"), span


def finish(
    smsc: subprocess.Popen, tmp: Path, client: str, path: str, n: int, cpu: float, rss: float | None, log: str = "smsc"
) -> dict:
    """Stop the emulator and read the case's row off its log (the one clock for every client)."""
    smsc.terminate()
    smsc.wait(30)
    records = logged(tmp / log)
    per_s, span = rate(records)
    return {
        "client": client,
        "path": path,
        "messages": n,
        "msg_per_s": round(per_s, 1),
        "seconds": round(span, 2),
        "client_cpu_ms_per_msg": round(1000 * cpu / n, 2),
        "client_peak_rss_mb": round(rss, 1) if rss is not None else None,
        "twice": n - len({r["to"] for r in records}),
    }


def smsd_config(tmp: Path, port: int, system_id: str, password: str) -> Path:
    lines = [
        "[daemon]", 'database = "smsd.db"', 'log_level = "warning"',
        "[sending]", 'quiet_hours = ""',
        "[anniversary]", "enabled = false",
        "[modems.city]", 'kind = "smpp"', 'host = "127.0.0.1"', f"smpp_port = {port}",
        f'system_id = "{system_id}"', f'password = "{password}"', f'source_addr = "{NUMBER}"', "window = 10",
        "price_fen = 4",
    ]  # fmt: skip
    (tmp / "config.toml").write_text("\n".join(lines) + "\n")
    return tmp / "config.toml"


def smsd_case(n: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="smsd-smpp-"))
    smsc, port = start_smsc(tmp / "smsc", f"county_a:pw:{NUMBER}")
    config = smsd_config(tmp, port, "county_a", "pw")
    with Store(tmp / "smsd.db") as store:
        store.outbox.enqueue_many([(to, text, {}) for to, text in texts(n)])
    proc = start_daemon(config, tmp)
    cpu0 = proc_cpu(proc.pid)
    wait(lambda: count(tmp / "smsc") >= n, 600)
    cpu = proc_cpu(proc.pid) - cpu0
    rss = proc_hwm_mb(proc.pid)
    proc.terminate()
    proc.wait(30)
    return finish(smsc, tmp, "smsd (smpp transport)", "-> smsd smsc", n, cpu, rss)


def cmpp_case(n: int) -> dict:
    """smsd's CMPP 3.0 transport into `smsd ismg` (its own process), the same backlog and reports."""
    tmp = Path(tempfile.mkdtemp(prefix="smsd-cmpp-"))
    port = kannel.free_port()
    folder = tmp / "ismg"
    ismg = subprocess.Popen(
        [sys.executable, "-m", "smsd", "ismg", "--port", str(port), "--dir", str(folder),
         "--account", "901234:pw:10690001:MZB0010101", "--receipt-delay-ms", "1000"],
        stdout=subprocess.DEVNULL, stderr=open(tmp / "ismg.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    wait(lambda: kannel.listening(port) and (folder / "control.sock").exists(), 30)
    lines = [
        "[daemon]", 'database = "smsd.db"', 'log_level = "warning"',
        "[sending]", 'quiet_hours = ""',
        "[anniversary]", "enabled = false",
        "[modems.carrier]", 'kind = "cmpp"', 'host = "127.0.0.1"', f"cmpp_port = {port}", 'sp_id = "901234"',
        'shared_secret = "pw"', 'service_id = "MZB0010101"', f'src_id = "{NUMBER}"', "cmpp_window = 16",
    ]  # fmt: skip
    (tmp / "config.toml").write_text("\n".join(lines) + "\n")
    with Store(tmp / "smsd.db") as store:
        store.outbox.enqueue_many([(to, text, {}) for to, text in texts(n)])
    proc = start_daemon(tmp / "config.toml", tmp)
    cpu0 = proc_cpu(proc.pid)
    wait(lambda: int(request(folder, {"op": "status"}, what="ISMG emulator")["submitted"]) >= n, 600)
    cpu = proc_cpu(proc.pid) - cpu0
    rss = proc_hwm_mb(proc.pid)
    proc.terminate()
    proc.wait(30)
    return finish(ismg, tmp, "smsd (cmpp transport, CMPP 3.0)", "-> smsd ismg", n, cpu, rss, log="ismg")


def kannel_case(n: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="kannel-smpp-"))
    smsc, port = start_smsc(tmp / "smsc", "kannel:pw")
    request(tmp / "smsc", {"op": "fault", "name": "down", "value": 1}, what="SMSC emulator")
    k = kannel.Kannel(tmp, port, "kannel", "pw")
    k.start(lambda p, t: wait(p, t))
    items = texts(n)
    chunks = [items[i::8] for i in range(8)]

    def feed(chunk: list[tuple[str, str]]) -> None:
        for to, text in chunk:
            k.send(to, text, sender=NUMBER)

    threads = [threading.Thread(target=feed, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu0 = sum(proc_cpu(p.pid) for p in k.procs)
    request(tmp / "smsc", {"op": "fault", "name": "down", "value": 0}, what="SMSC emulator")
    wait(lambda: count(tmp / "smsc") >= n, 600)
    cpu = sum(proc_cpu(p.pid) for p in k.procs) - cpu0
    rss = sum(proc_hwm_mb(p.pid) for p in k.procs)
    k.stop()
    return finish(smsc, tmp, "Kannel bearerbox (smsc = smpp)", "-> smsd smsc", n, cpu, rss)


def jasmin_case(n: int) -> dict | None:
    gone = jasmin_stack.missing()
    if gone:
        print(f"jasmin case skipped: {'; '.join(gone)} (deploy/jasmin/install.sh)")
        return None
    tmp = Path(tempfile.mkdtemp(prefix="jasmin-smpp-"))
    smsc, port = start_smsc(tmp / "smsc", "carrier:carrpw")
    stack = jasmin_stack.Stack(tmp / "jasmin")
    proc = None
    try:
        stack.up()
        stack.add_carrier("carrier", "127.0.0.1", port, "carrier", "carrpw")
        stack.add_county("county_a", "pw_a", NUMBER)
        config = smsd_config(tmp, stack.ports.smpp, "county_a", "pw_a")
        with Store(tmp / "smsd.db") as store:
            store.outbox.enqueue_many([(to, text, {}) for to, text in texts(n)])
        proc = start_daemon(config, tmp)
        cpu0 = proc_cpu(proc.pid)
        with Store(tmp / "smsd.db") as store:
            depth = store.outbox.queue_depth
            wait(lambda: depth().queued + depth().sending == 0, 600)
            stamps = [
                datetime.fromisoformat(r["sent_at"]).timestamp()
                for r in sql_rows(store, "SELECT sent_at FROM outbox_parts WHERE sent_at IS NOT NULL")
            ]
        accepted = (len(stamps) - 1) / (max(stamps) - min(stamps))
        cpu = proc_cpu(proc.pid) - cpu0
        wait(lambda: count(tmp / "smsc") >= n, 900)
        proc.terminate()
        proc.wait(30)
    except BaseException:
        smsc.terminate()
        if proc is not None and proc.poll() is None:  # never leave a daemon behind a failed case
            proc.kill()
        raise
    finally:
        stack.down()
    client = f"smsd -> Jasmin {jasmin_stack.VERSION} (accepted {accepted:.0f}/s)"
    return finish(smsc, tmp, client, "-> jasmind -> smsd smsc", n, cpu, None)


def main() -> None:
    if not kannel.available():
        raise SystemExit("bench/smpp.py needs Kannel (apt-get install kannel) for the peer's row")
    rows = [smsd_case(N), cmpp_case(N), kannel_case(N)]
    j = jasmin_case(N_JASMIN)
    if j:
        rows.append(j)
    report(
        "smpp",
        rows,
        {
            "target": ">= 500 msg/s through smsd smsc (window 10) and smsd ismg (window 16) with durable commits",
            "one_run": True,
        },
    )


if __name__ == "__main__":
    socket.setdefaulttimeout(60)
    main()
