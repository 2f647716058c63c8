"""Peers side by side (issues 8 and 15): the same 300 messages, inbound test and idle window
through smsd, gammu-smsd, SMS Server Tools 3 and Kannel against the same emulator.

Every program is fed through its own front door, one message at a time: smsd by `smsd send`
(one process per message, like gammu-smsd-inject) and by its HTTP API (one POST per message,
like Kannel's sendsms GET); a third smsd row queues the batch through the library, for
comparison. The emulator is instant (0 ms per submit, 0 ms per command) for everyone. Inbound
latency is read from the emulator's own timeline: from the SMS arriving to the client taking it
off the SIM (+CMGD, or +CNMA when pushed), not from a polling loop here. The idle window lasts
two of smsd's liveness periods (2 x 55 s). smsd's figures are the slower of two runs; the peers
(10-15 minutes a run, paced by their own poll timers) run once. The load is printed.

Installs the Debian packages (gammu-smsd, smstools, kannel) when missing, as root.
SMSD_BENCH_QUICK=1 uses 40 messages, a 30 s idle window and one run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import report  # noqa: E402
from bench.throughput import start_daemon, write_config  # noqa: E402
from smsd.kick import kick  # noqa: E402
from smsd.pdu import segments  # noqa: E402
from smsd.sim.emulator import Emulator  # noqa: E402
from smsd.sim.modem import ModemOptions  # noqa: E402
from smsd.store import Store  # noqa: E402

QUICK = os.environ.get("SMSD_BENCH_QUICK") == "1"
N_ASCII, N_CN = (30, 10) if QUICK else (225, 75)
INBOUND, IDLE_S = (3, 30) if QUICK else (5, 120)
RUNS = 1 if QUICK else 2
TOKEN = "bench-token"
ASCII = "Branch meeting on Friday at 15:00 in room 3, please be on time."
CHINESE = "请各支部书记于本周五下午三点到镇党委会议室参加年度工作总结会议，会议讨论明年计划，请准时参加。" * 2


def ensure(packages: dict[str, str]) -> None:
    missing = [pkg for binary, pkg in packages.items() if shutil.which(binary) is None]
    if missing and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *missing],
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
        )


def messages() -> list[tuple[str, str]]:
    return [(f"+86138{i:08d}", f"{ASCII} #{i}") for i in range(N_ASCII)] + [
        (f"+86139{i:08d}", f"{CHINESE}#{i}") for i in range(N_CN)
    ]


def submits(emu: Emulator) -> int:
    return emu["m1"].stats["submits"]


def wait(predicate, timeout: float) -> float | None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


class Peer:
    name = ""

    def __init__(self, tmp: Path, port: str) -> None:
        self.tmp, self.port = tmp, port

    def start(self) -> None: ...
    def queue(self, items: list[tuple[str, str]]) -> None: ...
    def received(self) -> int: ...
    def stop(self) -> None: ...


class Smsd(Peer):
    name = "smsd (library batch)"

    def start(self) -> None:
        import hashlib
        import socket

        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            self.http_port = sk.getsockname()[1]
        self.config = write_config(self.tmp, {"m1": self.port})
        with open(self.config, "a") as f:
            f.write(
                f"[http]\nenabled = true\nport = {self.http_port}\n[http.clients.bench]\n"
                f'token_sha256 = "{hashlib.sha256(TOKEN.encode()).hexdigest()}"\nrate_per_minute = 1000000\n'
            )
        self.proc = start_daemon(self.config, self.tmp)

    def queue(self, items: list[tuple[str, str]]) -> None:
        with Store(self.tmp / "smsd.db") as s:
            s.outbox.enqueue_many([(to, text, {"srr": False}) for to, text in items])
        kick(self.tmp / "smsd.db")

    def received(self) -> int:
        with Store(self.tmp / "smsd.db") as s:
            return len(s.inbox.recent(10000))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


class SmsdCli(Smsd):
    name = "smsd (CLI, one per message)"

    def queue(self, items: list[tuple[str, str]]) -> None:
        for to, text in items:
            subprocess.run(
                [sys.executable, "-m", "smsd", "send", "--config", str(self.config), "--no-report", to, text],
                check=True,
                capture_output=True,
            )


class SmsdHttp(Smsd):
    name = "smsd (HTTP, one per message)"

    def queue(self, items: list[tuple[str, str]]) -> None:
        import httpx

        with httpx.Client(
            base_url=f"http://127.0.0.1:{self.http_port}", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as client:
            for to, text in items:
                r = client.post("/v1/messages", json={"to": to, "text": text, "report": False})
                r.raise_for_status()


class Gammu(Peer):
    name = "gammu-smsd"

    def start(self) -> None:
        for d in ("inbox", "outbox", "sent", "error"):
            (self.tmp / d).mkdir()
        self.rc = self.tmp / "gammu-smsdrc"
        t = self.tmp
        self.rc.write_text(
            f"[gammu]\ndevice = {self.port}\nconnection = at115200\n[smsd]\nservice = files\n"
            f"logfile = {t}/smsd.log\ninboxpath = {t}/inbox/\noutboxpath = {t}/outbox/\n"
            f"sentsmspath = {t}/sent/\nerrorsmspath = {t}/error/\n"
        )
        self.proc = subprocess.Popen(
            ["gammu-smsd", "-c", str(self.rc)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def queue(self, items: list[tuple[str, str]]) -> None:
        for to, text in items:
            extra = ["-unicode", "-autolen", "400"] if not text.isascii() else []
            subprocess.run(
                ["gammu-smsd-inject", "-c", str(self.rc), "TEXT", to, *extra, "-text", text],
                capture_output=True,
                check=False,
            )

    def received(self) -> int:
        return len(list((self.tmp / "inbox").iterdir()))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


class SmsTools(Peer):
    name = "smstools3"

    def start(self) -> None:
        for d in ("outgoing", "checked", "failed", "incoming", "sent", "stats"):
            (self.tmp / d).mkdir()
        conf = self.tmp / "smsd.conf"
        conf.write_text(
            f"devices = GSM1\nlogfile = {self.tmp}/smsd.log\nloglevel = 4\n"
            + "".join(f"{d} = {self.tmp}/{d}\n" for d in ("outgoing", "checked", "failed", "incoming", "sent", "stats"))
            + f"infofile = {self.tmp}/smsd.working\npidfile = {self.tmp}/smsd.pid\n"
            f"[GSM1]\ndevice = {self.port}\nincoming = yes\nbaudrate = 115200\n"
        )
        self.proc = subprocess.Popen(
            ["/usr/sbin/smsd", "-c", str(conf), "-t"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def queue(self, items: list[tuple[str, str]]) -> None:
        for i, (to, text) in enumerate(items):
            alphabet = "" if text.isascii() else "Alphabet: UTF\n"
            tmp = self.tmp / f"msg{i}.tmp"
            tmp.write_text(f"To: {to.lstrip('+')}\n{alphabet}\n{text}", encoding="utf-8")
            tmp.rename(self.tmp / "outgoing" / f"msg{i}")

    def received(self) -> int:
        return len(list((self.tmp / "incoming").iterdir()))

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)


class Kannel(Peer):
    name = "kannel"

    def start(self) -> None:
        import socket
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        def free() -> int:
            with socket.socket() as sk:
                sk.bind(("127.0.0.1", 0))
                return sk.getsockname()[1]

        self.hits = 0
        peer = self

        class Inbound(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                peer.hits += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.receiver = ThreadingHTTPServer(("127.0.0.1", 0), Inbound)
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()
        admin, box, self.sendsms = free(), free(), free()
        conf = self.tmp / "kannel.conf"
        conf.write_text(f"""group = core
admin-port = {admin}
admin-password = bench
admin-deny-ip = "*.*.*.*"
admin-allow-ip = "127.0.0.1"
smsbox-port = {box}
smsbox-interface = "127.0.0.1"
box-deny-ip = "*.*.*.*"
box-allow-ip = "127.0.0.1"
log-file = "{self.tmp}/bearerbox.log"
log-level = 1
include = "/usr/share/doc/kannel/examples/modems.conf"

group = smsc
smsc = at
smsc-id = atsim
modemtype = auto
device = {self.port}
speed = 115200
sim-buffering = true
keepalive = 60

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {self.sendsms}
sendsms-interface = "127.0.0.1"
log-file = "{self.tmp}/smsbox.log"
log-level = 1

group = sendsms-user
username = bench
password = bench
max-messages = 10
concatenation = true
user-allow-ip = "127.0.0.1"

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "http://127.0.0.1:{self.receiver.server_address[1]}/inbound?from=%p&text=%a"
""")
        self.bearer = subprocess.Popen(
            ["bearerbox", "-v", "1", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(1)  # bearerbox must listen before smsbox connects (Kannel's own start order)
        self.box = subprocess.Popen(
            ["smsbox", "-v", "1", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def listening() -> bool:
            with socket.socket() as sk:
                return sk.connect_ex(("127.0.0.1", self.sendsms)) == 0

        wait(listening, 60)

    def queue(self, items: list[tuple[str, str]]) -> None:
        from urllib.parse import urlencode
        from urllib.request import urlopen

        for to, text in items:
            q = {
                "username": "bench",
                "password": "bench",
                "from": "10690000",
                "to": to,
                "text": text,
                "charset": "UTF-8",
                "coding": "0" if text.isascii() else "2",
            }
            with urlopen(f"http://127.0.0.1:{self.sendsms}/cgi-bin/sendsms?{urlencode(q)}", timeout=30) as r:
                r.read()

    def received(self) -> int:
        return self.hits

    def stop(self) -> None:
        for p in (self.box, self.bearer):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.receiver.shutdown()


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def inbound_latencies(emu: Emulator) -> list[float | None]:
    """From the emulator's timeline: each arrival paired with the next time a message was taken."""
    timeline = list(emu["m1"].timeline)
    out: list[float | None] = []
    used: set[int] = set()
    for t, event, _ in timeline:
        if event != "arrived":
            continue
        taken = next((i for i, (u, e, _) in enumerate(timeline) if e == "taken" and u >= t and i not in used), None)
        if taken is None:
            out.append(None)
        else:
            used.add(taken)
            out.append(timeline[taken][0] - t)
    return out


def run(peer_cls: type[Peer]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="smsd-peer-"))
    emu = Emulator(tmp / "sim", [ModemOptions("m1", send_delay_ms=0, command_delay_ms=0, status_report_delay_ms=10**8)])
    emu.start(control=False)
    peer = peer_cls(tmp, str(emu["m1"].link))
    peer.start()
    try:
        wait(lambda: emu["m1"].stats["commands"] > 5, 60)
        time.sleep(5)  # let the peer finish its start-up chatter before the clock starts
        items = messages()
        pdus_expected = sum(segments(text) for _, text in items)
        t0 = time.monotonic()
        peer.queue(items)
        drained = wait(lambda: submits(emu) >= pdus_expected, 900)
        wall = (time.monotonic() - t0) if drained is not None else None
        for i in range(INBOUND):
            before = peer.received()
            emu["m1"].deliver(f"+8613700000{i:03d}", f"inbound test {i}")
            wait(lambda before=before: peer.received() > before, 60)  # one at a time; timed by the emulator
        latencies = inbound_latencies(emu)
        c0 = emu["m1"].stats["commands"]
        time.sleep(IDLE_S)  # an idle window: counting the AT commands the peer sends meanwhile
        idle = (emu["m1"].stats["commands"] - c0) * 60 / IDLE_S
    finally:
        peer.stop()
        emu.stop()
    ok = [x for x in latencies if x is not None]
    return {
        "peer": peer_cls.name,
        "messages": len(items),
        "pdus": pdus_expected,
        "msg_per_s": round(len(items) / wall, 2) if wall else None,
        "inbound_s_median": round(sorted(ok)[len(ok) // 2], 3) if ok else None,
        "inbound_missed": len(latencies) - len(ok),
        "idle_at_per_min": round(idle, 1),
    }


def twice(peer_cls: type[Peer], runs_wanted: int = RUNS) -> dict:
    """Two runs (or one): the slower rate, the slower inbound and the busier idle of them."""
    load0 = load()
    runs = [run(peer_cls) for _ in range(runs_wanted)]
    row = dict(runs[0])
    for key in ("msg_per_s", "inbound_s_median", "idle_at_per_min"):
        values = [r[key] for r in runs if r[key] is not None]
        row[key] = (min(values) if key == "msg_per_s" else max(values)) if values else None
    row["runs"] = " / ".join(str(r["msg_per_s"]) for r in runs)
    row["load"] = f"{load0} -> {load()}"
    return row


def main() -> None:
    """`peers.py smsd` or `peers.py others` runs one half (the halves may run side by side: the
    peers mostly sleep on their own timers); with no argument, both, one after the other."""
    half = sys.argv[1] if len(sys.argv) > 1 else "all"
    ensure({"gammu-smsd": "gammu-smsd", "/usr/sbin/smsd": "smstools", "bearerbox": "kannel"})
    rows = [twice(SmsdCli), twice(SmsdHttp), twice(Smsd)] if half in ("all", "smsd") else []
    for cls, binary in ((Gammu, "gammu-smsd"), (SmsTools, "/usr/sbin/smsd"), (Kannel, "bearerbox")):
        if half not in ("all", "others"):
            break
        if shutil.which(binary):
            rows.append(twice(cls, 1))  # minutes per run, paced by the peer's own timers: one run
        else:
            print(f"{cls.name} is not installed (apt-get install as root); skipped")
    if half != "all":
        report(f"peers_{half}", rows)
        return
    ours = rows[0]
    for r in rows[3:]:
        r["smsd_speedup"] = round(ours["msg_per_s"] / r["msg_per_s"], 1) if r["msg_per_s"] else None
        r["smsd_inbound_faster"] = (
            round(r["inbound_s_median"] / ours["inbound_s_median"], 1)
            if r["inbound_s_median"] and ours["inbound_s_median"]
            else None
        )
    report("peers", rows)
    print(json.dumps({r["peer"]: {k: v for k, v in r.items() if k.startswith("smsd_")} for r in rows[3:]}))


if __name__ == "__main__":
    main()
