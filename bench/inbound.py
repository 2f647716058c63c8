"""Inbound latency (issue 8, bench 2): from +CMTI to the message stored, and to the reply's
AT+CMGS, on an idle modem and on a modem busy with a broadcast (2,000 ms submits)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import report  # noqa: E402
from bench.throughput import start_daemon, write_config  # noqa: E402
from smsd.sim.emulator import Emulator  # noqa: E402
from smsd.sim.modem import ModemOptions  # noqa: E402
from smsd.store import Store  # noqa: E402
from tests.sql import one as sql_one  # noqa: E402

N = 10 if os.environ.get("SMSD_BENCH_QUICK") == "1" else 30


def iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run(busy: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="smsd-in-"))
    emu = Emulator(tmp / "sim", [ModemOptions("m1", send_delay_ms=2000 if busy else 0, status_report_delay_ms=10**7)])
    emu.start(control=False)
    config = write_config(tmp, {"m1": str(emu["m1"].link)})
    with Store(tmp / "smsd.db") as store:
        if busy:
            store.outbox.enqueue_many(
                [(f"+86138{i:08d}", f"broadcast {i}", {"priority": 3, "srr": False}) for i in range(200)]
            )
    proc = start_daemon(config, tmp)
    while emu["m1"].stats["submits"] < (1 if busy else 0) or not emu["m1"].sent_log.exists() and busy:
        time.sleep(0.05)
    stored, replied = [], []
    with Store(tmp / "smsd.db") as store:
        for i in range(N):
            sender = f"+86139{i:08d}"
            t0 = time.time()
            emu["m1"].deliver(sender, "帮助")  # +CMTI goes out now
            while True:
                row = sql_one(store, "SELECT received_at FROM inbox WHERE sender = ?", (sender,))
                if row:
                    stored.append(iso(row["received_at"]) - t0)
                    break
                time.sleep(0.002)
            deadline = time.time() + 30
            while time.time() < deadline:
                recs = (
                    [json.loads(x) for x in emu["m1"].sent_log.read_text().splitlines()]
                    if emu["m1"].sent_log.exists()
                    else []
                )
                mine = [r for r in recs if r["to"] == sender]
                if mine:
                    # the emulator logs the submit when it is accepted; its t_start is when ^Z arrived
                    submit_started = iso(mine[0]["time"]) - (mine[0]["t_end"] - mine[0]["t_start"])
                    replied.append(submit_started - t0)
                    break
                time.sleep(0.01)
            time.sleep(0.2 if not busy else 0.5)  # spacing between test SMS, not a synchronisation
    proc.terminate()
    proc.wait(30)
    emu.stop()

    def ms(values: list[float], q: float) -> float:
        values = sorted(values)
        return round(1000 * values[min(len(values) - 1, int(len(values) * q))], 1)

    return {
        "modem": "busy (2 s submits)" if busy else "idle",
        "samples": N,
        "stored_median_ms": round(1000 * statistics.median(stored), 1),
        "stored_p99_ms": ms(stored, 0.99),
        "reply_submit_median_ms": round(1000 * statistics.median(replied), 1),
        "reply_submit_p99_ms": ms(replied, 0.99),
    }


def main() -> None:
    report(
        "inbound",
        [run(False), run(True)],
        {"note": "peers: gammu-smsd and smstools3 ~10 s to notice an inbound SMS, Kannel 1.1 s"},
    )


if __name__ == "__main__":
    main()
