"""Kannel (Debian `kannel`: bearerbox + smsbox) as an independent SMPP client of `smsd smsc`.

Used by tests/test_smsc_clients.py and bench/smpp.py. Messages go in through smsbox's sendsms
HTTP interface, out through bearerbox's `smsc = smpp` group to the emulator.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen


def free_port() -> int:
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return int(sk.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sk:
        return sk.connect_ex(("127.0.0.1", port)) == 0


def available() -> bool:
    return shutil.which("bearerbox") is not None and shutil.which("smsbox") is not None


class Kannel:
    def __init__(self, folder: Path, smsc_port: int, username: str, password: str, *, max_pending: int = 10) -> None:
        self.folder = folder
        self.smsc_port, self.username, self.password = smsc_port, username, password
        self.max_pending = max_pending
        self.procs: list[subprocess.Popen[bytes]] = []
        self.sendsms = free_port()
        self.admin = free_port()

    def start(self, wait: Callable[[Callable[[], object], float], object]) -> None:
        box = free_port()
        conf = self.folder / "kannel.conf"
        conf.write_text(f"""group = core
admin-port = {self.admin}
admin-password = test
admin-deny-ip = "*.*.*.*"
admin-allow-ip = "127.0.0.1"
smsbox-port = {box}
smsbox-interface = "127.0.0.1"
box-deny-ip = "*.*.*.*"
box-allow-ip = "127.0.0.1"
log-file = "{self.folder}/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = smsd
host = 127.0.0.1
port = {self.smsc_port}
transceiver-mode = true
smsc-username = {self.username}
smsc-password = {self.password}
system-type = ""
source-addr-ton = 0
source-addr-npi = 1
dest-addr-ton = 1
dest-addr-npi = 1
max-pending-submits = {self.max_pending}
enquire-link-interval = 30
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {self.sendsms}
sendsms-interface = "127.0.0.1"
log-file = "{self.folder}/smsbox.log"
log-level = 1

group = sendsms-user
username = test
password = test
max-messages = 10
concatenation = true
user-allow-ip = "127.0.0.1"
""")
        self.procs.append(
            subprocess.Popen(["bearerbox", "-v", "1", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        wait(lambda: listening(box), 30)  # smsbox must find bearerbox listening (Kannel's start order)
        self.procs.append(
            subprocess.Popen(["smsbox", "-v", "1", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        wait(lambda: listening(self.sendsms), 30)

    def send(self, to: str, text: str, sender: str = "1069000101") -> str:
        q = {
            "username": "test",
            "password": "test",
            "from": sender,
            "to": to,
            "text": text,
            "charset": "UTF-8",
            "coding": "0" if text.isascii() else "2",
        }
        with urlopen(f"http://127.0.0.1:{self.sendsms}/cgi-bin/sendsms?{urlencode(q)}", timeout=30) as r:
            return str(r.read().decode())

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()
