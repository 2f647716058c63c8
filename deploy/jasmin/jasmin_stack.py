#!/usr/bin/env python3
"""A city's Jasmin (SMS engine) for county smsd boxes: start it, add counties, set quotas.

Jasmin (PyPI `jasmin`, on Twisted, RabbitMQ and Redis) accepts one SMPP user per county, routes
MT to the carrier's SMSC and MO back to the county whose number it was sent to, and enforces each
county's quota. This script runs the three services in one folder on loopback ports, without
systemd (for demos and the two-county test), and talks to Jasmin's jcli console to configure it;
the same jcli commands configure a production Jasmin (README: "When one box's SIMs are not
enough").

    deploy/jasmin/install.sh                       # Debian packages + a venv with jasmin 0.11.0
    python3 deploy/jasmin/jasmin_stack.py up --dir run/jasmin --carrier 127.0.0.1:2775:carrier:pw
    python3 deploy/jasmin/jasmin_stack.py add-county --dir run/jasmin county_a pw_a 1069000101 --quota 5000
    python3 deploy/jasmin/jasmin_stack.py quota --dir run/jasmin county_a 8000
    python3 deploy/jasmin/jasmin_stack.py down --dir run/jasmin

jasmin 0.11.1 drops delivery receipts (jookies/jasmin#1236): install.sh pins 0.11.0.
Only the standard library here: it runs with any python3, beside Jasmin's own venv.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HOME = Path(os.environ.get("SMSD_JASMIN_HOME", Path.home() / ".cache" / "smsd-jasmin"))
VERSION = "0.11.0"
RABBIT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # the /usr/sbin wrapper switches user


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout:.0f}s")
        time.sleep(0.05)


def missing() -> list[str]:
    """What install.sh has not put in place yet (empty: ready)."""
    out = []
    if shutil.which("redis-server") is None:
        out.append("redis-server (apt-get install redis-server)")
    if not RABBIT.exists():
        out.append("rabbitmq-server (apt-get install rabbitmq-server)")
    if not (HOME / "venv" / "bin" / "jasmind.py").exists():
        out.append(f"jasmin {VERSION} in {HOME / 'venv'} (deploy/jasmin/install.sh)")
    if not (HOME / "resource" / "amqp0-9-1.xml").exists():
        out.append(f"{HOME / 'resource' / 'amqp0-9-1.xml'} (deploy/jasmin/install.sh)")
    return out


@dataclass
class Ports:
    redis: int = field(default_factory=free_port)
    amqp: int = field(default_factory=free_port)
    dist: int = field(default_factory=free_port)
    epmd: int = field(default_factory=free_port)
    smpp: int = field(default_factory=free_port)  # the counties bind here
    jcli: int = field(default_factory=free_port)
    http: int = field(default_factory=free_port)
    router: int = field(default_factory=free_port)
    ccm: int = field(default_factory=free_port)
    smpps_pb: int = field(default_factory=free_port)


class Stack:
    def __init__(self, folder: Path, ports: Ports | None = None) -> None:
        self.dir = folder.resolve()
        self.ports = ports or Ports()
        self.pids: dict[str, int] = {}

    # ------------------------------------------------------------ life

    def up(self, mo_retry_delay_s: int = 2) -> None:
        gone = missing()
        if gone:
            raise RuntimeError("missing: " + "; ".join(gone))
        for sub in ("redis", "rabbit", "jasmin/store", "jasmin/log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self._redis()
        self._rabbit()
        wait(lambda: listening(self.ports.amqp), 60, "RabbitMQ's AMQP port")  # jasmind waits 10 s otherwise
        self._jasmind(mo_retry_delay_s)
        wait(lambda: listening(self.ports.jcli) and listening(self.ports.smpp), 60, "jasmind")
        self.save()

    def _redis(self) -> None:
        subprocess.run(
            ["redis-server", "--port", str(self.ports.redis), "--bind", "127.0.0.1", "--daemonize", "yes",
             "--dir", str(self.dir / "redis"), "--save", "", "--pidfile", str(self.dir / "redis" / "redis.pid"),
             "--logfile", str(self.dir / "redis" / "redis.log")],
            check=True,
        )  # fmt: skip
        wait(lambda: (self.dir / "redis" / "redis.pid").exists() and listening(self.ports.redis), 20, "Redis")
        self.pids["redis"] = int((self.dir / "redis" / "redis.pid").read_text())

    def _rabbit(self) -> None:
        r = self.dir / "rabbit"
        env = {
            **os.environ,
            "HOME": str(r),
            "RABBITMQ_NODENAME": f"smsd{self.ports.amqp}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.ports.amqp),
            "RABBITMQ_DIST_PORT": str(self.ports.dist),
            "ERL_EPMD_PORT": str(self.ports.epmd),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(r / "mnesia"),
            "RABBITMQ_LOG_BASE": str(r / "log"),
            "RABBITMQ_PID_FILE": str(r / "rabbit.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(r / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(r / "rabbitmq"),
        }
        (r / "enabled_plugins").write_text("[].\n")
        (r / "rabbitmq.conf").write_text("loopback_users = none\n")
        p = subprocess.Popen(
            [str(RABBIT)], env=env, stdout=(r / "stdout.log").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.pids["rabbit"] = p.pid

    def _jasmind(self, mo_retry_delay_s: int) -> None:
        j = self.dir / "jasmin"
        p = self.ports
        cfg = f"""[smpp-server]
bind = 127.0.0.1
port = {p.smpp}
log_level = INFO

[smpp-server-pb]
bind = 127.0.0.1
port = {p.smpps_pb}

[client-management]
store_path = {j / "store"}
bind = 127.0.0.1
port = {p.ccm}

[router]
store_path = {j / "store"}
bind = 127.0.0.1
port = {p.router}
persistence_timer_secs = 5

[amqp-broker]
host = 127.0.0.1
port = {p.amqp}
spec = {HOME / "resource" / "amqp0-9-1.xml"}
connection_loss_retry_delay = 2

[http-api]
bind = 127.0.0.1
port = {p.http}

[redis-client]
host = 127.0.0.1
port = {p.redis}

[jcli]
bind = 127.0.0.1
port = {p.jcli}

[deliversm-thrower]
retry_delay = {mo_retry_delay_s}
max_retries = 50

[dlr-thrower]
retry_delay = {mo_retry_delay_s}
max_retries = 50
"""
        (j / "jasmin.cfg").write_text(cfg)
        env = {**os.environ, "CONFIG_PATH": str(j), "LOG_PATH": str(j / "log"), "ROOT_PATH": str(j)}
        proc = subprocess.Popen(
            [str(HOME / "venv" / "bin" / "python"), str(HOME / "venv" / "bin" / "jasmind.py"),
             "-c", str(j / "jasmin.cfg"), "--enable-dlr-lookup", "--enable-dlr-thrower"],
            env=env, stdout=(j / "log" / "jasmind.out").open("w"), stderr=subprocess.STDOUT, cwd=str(j),
            start_new_session=True,
        )  # fmt: skip
        self.pids["jasmind"] = proc.pid

    def down(self) -> None:
        for name in ("jasmind", "rabbit", "redis"):
            pid = self.pids.get(name)
            if not pid:
                continue
            try:
                os.killpg(pid, signal.SIGTERM) if name != "redis" else os.kill(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                with _suppress():
                    os.killpg(pid, signal.SIGKILL) if name != "redis" else os.kill(pid, signal.SIGKILL)
        # RabbitMQ leaves epmd behind: it was started for our port only
        subprocess.run(["pkill", "-f", f"epmd.*{self.ports.epmd}"], check=False)
        self.pids.clear()
        (self.dir / "stack.json").unlink(missing_ok=True)

    def save(self) -> None:
        (self.dir / "stack.json").write_text(json.dumps({"ports": asdict(self.ports), "pids": self.pids}))

    @classmethod
    def load(cls, folder: Path) -> Stack:
        data = json.loads((folder / "stack.json").read_text())
        stack = cls(folder, Ports(**data["ports"]))
        stack.pids = data["pids"]
        return stack

    # ------------------------------------------------------------ jcli

    def jcli(self, *commands: str, user: str = "jcliadmin", password: str = "jclipwd") -> str:
        """Run jcli commands (one per line, as typed); raise on an error answer."""
        with socket.create_connection(("127.0.0.1", self.ports.jcli), timeout=20) as s:
            _until(s, b"Authentication required.")  # then an empty line brings the prompt
            s.sendall(b"\r\n")
            _until(s, b"Username: ")
            s.sendall(user.encode() + b"\r\n")
            _until(s, b"Password: ")
            s.sendall(password.encode() + b"\r\n")
            buf = _until(s, b"jcli : ")
            out = []
            for line in commands:
                s.sendall(line.encode() + b"\r\n")
                buf = _until(s, (b"jcli : ", b"> "))
                text = buf.decode(errors="replace")
                out.append(text)
                if re.search(r"Unknown|Error|error|Invalid|not found|Cannot", text) and "Successfully" not in text:
                    raise RuntimeError(f"jcli refused {line!r}: {text.strip()}")
            s.sendall(b"quit\r\n")
        return "".join(out)

    def add_carrier(self, cid: str, host: str, port: int, username: str, password: str) -> None:
        """The upstream SMSC (the carrier's), as an SMPP client connector, and the MT route to it."""
        self.jcli(
            "smppccm -a", f"cid {cid}", f"host {host}", f"port {port}", f"username {username}",
            f"password {password}", "bind transceiver", "submit_throughput 0", "ok",
            f"smppccm -1 {cid}",
            "mtrouter -a", "type DefaultRoute", f"connector smppc({cid})", "rate 0.00", "ok",
            "persist",
        )  # fmt: skip

    def add_county(self, username: str, password: str, number: str, quota: int | None = None, order: int = 0) -> None:
        """A county: a user (its SMPP account) and an MO route by its number."""
        order = order or 10 + sum(1 for _ in self._counties())
        self.jcli(
            "group -a", f"gid {username}", "ok",
            "user -a", f"uid {username}", f"username {username}", f"password {password}", f"gid {username}",
            *([f"mt_messaging_cred quota sms_count {quota}"] if quota is not None else []),
            "ok",
            "filter -a", f"fid to_{username}", "type DestinationAddrFilter", f"destination_addr ^{number}\\d*$", "ok",
            "morouter -a", "type StaticMORoute", f"order {order}", f"filters to_{username}",
            f"connector smpps({username})", "ok",
            "persist",
        )  # fmt: skip
        counties = dict(self._counties())
        counties[username] = number
        (self.dir / "counties.json").write_text(json.dumps(counties))

    def set_quota(self, username: str, sms_count: int | None) -> None:
        """A county's remaining messages (None: no limit)."""
        value = "none" if sms_count is None else str(sms_count)
        self.jcli("user -u " + username, f"mt_messaging_cred quota sms_count {value}", "ok", "persist")

    def _counties(self) -> list[tuple[str, str]]:
        path = self.dir / "counties.json"
        return list(json.loads(path.read_text()).items()) if path.exists() else []


def _until(s: socket.socket, marks: bytes | tuple[bytes, ...]) -> bytes:
    marks = marks if isinstance(marks, tuple) else (marks,)
    buf = b""
    while not any(m in buf[-len(m) - 8 :] for m in marks):
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError(f"jcli closed the connection after {buf[-200:]!r}")
        buf += chunk
    return buf


def _alive(pid: int) -> bool:
    try:  # our own child (started in this process): reap it, or it stays a zombie that "exists"
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="run/jasmin", type=Path, help="folder for the services' data and logs")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start Redis, RabbitMQ and jasmind on free loopback ports")
    up.add_argument("--carrier", help="HOST:PORT:USERNAME:PASSWORD of the upstream SMSC (e.g. smsd smsc)")
    sub.add_parser("down", help="stop them")
    sub.add_parser("status", help="ports and process ids")
    add = sub.add_parser("add-county", help="a county's SMPP user, quota and MO route")
    add.add_argument("username")
    add.add_argument("password")
    add.add_argument("number", help="the county's number prefix, e.g. 1069000101")
    add.add_argument("--quota", type=int, default=None, help="messages it may send (default: no limit)")
    q = sub.add_parser("quota", help="set a county's remaining messages")
    q.add_argument("username")
    q.add_argument("sms_count", help="a number, or none")
    args = ap.parse_args()
    try:
        if args.cmd == "up":
            stack = Stack(args.dir)
            stack.up()
            if args.carrier:
                host, port, user, pw = args.carrier.split(":")
                stack.add_carrier("carrier", host, int(port), user, pw)
            print(json.dumps({"smpp_port": stack.ports.smpp, "jcli_port": stack.ports.jcli, "dir": str(stack.dir)}))
            return 0
        stack = Stack.load(args.dir)
        if args.cmd == "down":
            stack.down()
        elif args.cmd == "status":
            print(json.dumps({"ports": asdict(stack.ports), "pids": stack.pids}, indent=2))
        elif args.cmd == "add-county":
            stack.add_county(args.username, args.password, args.number, args.quota)
        elif args.cmd == "quota":
            stack.set_quota(args.username, None if args.sms_count == "none" else int(args.sms_count))
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"jasmin_stack: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
