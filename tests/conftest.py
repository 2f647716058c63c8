"""Shared fixtures: a store in a tmp file, a config file and its Config, emulated modems on real
ptys, a raw serial probe to watch the line, and the daemon as a subprocess."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
import tracemalloc  # noqa: F401 - imported before any thread: pytest's unraisable hook imports it lazily, racily
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import serial

from smsd.config import Config, SendingConfig, load, modem_config
from smsd.sim.emulator import Emulator, ModemOptions
from smsd.store import Store
from smsd.transport.memory import MemoryTransport, Provider
from smsd.worker import Worker
from tests.sql import one as sql_one

ROOT = Path(__file__).resolve().parent.parent
FINAL = re.compile(rb"\r\n(OK|ERROR|COMMAND NOT SUPPORT|\+CM[ES] ERROR: [^\r]*)\r\n|\r\n> ")


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01) -> object:
    """Poll predicate until it is truthy; fail the test with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


class Probe:
    """A bare serial client that shows exactly what the emulator puts on the line."""

    def __init__(self, port: str) -> None:
        self.port = serial.Serial(port, 115200, timeout=0.05)
        self.buffer = b""

    def close(self) -> None:
        self.port.close()

    def _pump(self) -> None:
        self.buffer += self.port.read(self.port.in_waiting or 1)

    def read_until(self, pattern: bytes | re.Pattern[bytes], timeout: float = 5.0) -> bytes:
        """Everything up to and including the first match of pattern; consumes it."""
        regex = re.compile(re.escape(pattern)) if isinstance(pattern, bytes) else pattern
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.buffer)
            if m:
                out, self.buffer = self.buffer[: m.end()], self.buffer[m.end() :]
                return out
            if time.monotonic() > deadline:
                raise AssertionError(f"no {regex.pattern!r} on the line within {timeout}s; got {self.buffer!r}")
            self._pump()

    def at(self, command: str | bytes, timeout: float = 5.0) -> bytes:
        """Send a command line and return the answer up to its final result code."""
        data = command.encode() if isinstance(command, str) else command
        self.port.write(data + b"\r")
        return self.read_until(FINAL, timeout)

    def quiet(self, seconds: float = 0.2) -> bytes:
        """Whatever arrives within a short window (for 'nothing more was said')."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._pump()
        out, self.buffer = self.buffer, b""
        return out


@pytest.fixture
def make_emulator(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def make(*options: ModemOptions, **kw: object) -> Emulator:
        opts = list(options) or [ModemOptions("m1", **kw)]  # type: ignore[arg-type]
        emu = Emulator(tmp_path / f"sim{len(started)}", opts)
        emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def probe_for() -> Iterator[Callable[[Emulator, str], Probe]]:
    probes: list[Probe] = []

    def make(emu: Emulator, name: str = "m1", echo_off: bool = True) -> Probe:
        p = Probe(str(emu[name].link))
        probes.append(p)
        p.quiet(0.05)
        if echo_off:
            assert p.at("ATE0").endswith(b"OK\r\n")
        return p

    yield make
    for p in probes:
        with contextlib.suppress(Exception):
            p.close()


class Recorder:
    """Stands in for the store in driver tests: counts every PDU it is handed, by content."""

    def __init__(self) -> None:
        self.inbound: list = []
        self.reports: list = []
        self.refuse = 0  # refuse (raise) this many hand-overs, like a full disk

    def on_inbound(self, item) -> None:
        if self.refuse > 0:
            self.refuse -= 1
            raise OSError("disk full (simulated)")
        self.inbound.append(item)

    def on_report(self, modem: str, report) -> None:
        self.reports.append(report)

    def texts(self) -> list[str]:
        return [i.message.text for i in self.inbound if i.message is not None]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.inbound:
            out[i.pdu] = out.get(i.pdu, 0) + 1
        return out


@pytest.fixture
def driver_for() -> Iterator[Callable[..., tuple]]:
    from smsd.modem.driver import ModemDriver

    drivers: list = []

    def make(emu: Emulator, name: str = "m1", **kw: object) -> tuple:
        rec = Recorder()
        d = ModemDriver(name, str(emu[name].link), on_inbound=rec.on_inbound, on_report=rec.on_report, **kw)
        drivers.append(d)
        return d, rec

    yield make
    for d in drivers:
        d.close()


def write_config(
    directory: Path,
    ports: dict[str, str],
    *,
    smpp: dict[str, dict] | None = None,
    cmpp: dict[str, dict] | None = None,
    **sections: dict,
) -> Path:
    """A config.toml for tests: given modem ports (and SMPP or CMPP transports: name -> keys),
    fast timings, everything in directory."""
    base = {
        "daemon": {"database": "smsd.db", "log_level": "info", "poll_ms": 50},
        "sending": {"retry_backoff_s": 1, "quiet_hours": ""},
        "emulator": {"dir": "sim", "send_delay_ms": 0, "command_delay_ms": 0, "status_report_delay_ms": 0},
        "anniversary": {"enabled": False},  # a roster row born on the day of the run would get a greeting
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    lines = []
    for name, values in base.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
    for name, port in ports.items():
        lines += [
            f"[modems.{name}]",
            f"port = {_toml(port)}",
            "price_fen = 6",
            "command_timeout_s = 2.0",
            "send_timeout_s = 10.0",
            "hourly_cap = 100000",
            "daily_cap = 100000",
        ]
    for kind, tables in (("smpp", smpp), ("cmpp", cmpp)):
        for name, keys in (tables or {}).items():
            lines += [f"[modems.{name}]", f'kind = "{kind}"', "command_timeout_s = 2.0", "send_timeout_s = 10.0"]
            lines += [f"{k} = {_toml(v)}" for k, v in keys.items()]
    path = directory / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path  # no templates folder: the shipped templates are the package's


def _toml(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(v)


class DaemonProcess:
    """`smsd run` as a real subprocess; READY comes over a real sd_notify socket."""

    def __init__(self, config: Path, log: Path) -> None:
        import socket
        import subprocess
        import sys

        self.config = config
        # a short folder of its own: a socket path longer than 107 bytes cannot be bound
        self.notify_path = Path(tempfile.mkdtemp(prefix="smsd-n-")) / "notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(0.2)
        env = {**os.environ, "NOTIFY_SOCKET": str(self.notify_path)}
        self.log = open(log, "ab")  # noqa: SIM115 - closed in close(), outlives this method
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smsd", "run", "--config", str(config)], stdout=self.log, stderr=self.log, env=env
        )
        self.messages: list[str] = []

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"smsd run exited with {self.proc.returncode}"
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except OSError:
                continue
            if any("READY=1" in m for m in self.messages):
                return
        raise AssertionError("smsd run did not report READY=1")

    def wait_message(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> str:
        """The first sd_notify message (seen or to come) that satisfies predicate."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((m for m in self.messages if predicate(m)), None)
            if found is not None:
                return found
            try:
                self.messages.append(self.notify.recv(4096).decode())
            except OSError:
                continue
        raise AssertionError(f"no such sd_notify message; got {self.messages}")

    def kill(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.close()

    def terminate(self, timeout: float = 30.0) -> int:
        import signal

        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.close()
        return code

    def close(self) -> None:
        self.notify.close()
        self.notify_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.notify_path.parent.rmdir()
        self.log.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[[Path], DaemonProcess]]:
    procs: list[DaemonProcess] = []

    def start(config: Path, ready: bool = True) -> DaemonProcess:
        d = DaemonProcess(config, tmp_path / "daemon.log")
        procs.append(d)
        if ready:
            d.wait_ready()
        return d

    yield start
    for d in procs:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(10)


def assert_ledger_books(store, accepted: int, *, reports: bool, slack: int) -> None:
    """The ledger never under-counts what the far side accepted (issue 22). Submits left without
    an answer are booked in doubt (certain = 0): with delivery reports every accepted submit is
    confirmed, so the certain rows are exactly the accepted ones; without, certain <= accepted <=
    all rows. A part marked in flight when a kill came may never have left: that over-count is
    at most `slack` (the parts in flight at each kill)."""
    certain = sql_one(store, "SELECT COUNT(*) AS n FROM ledger WHERE certain = 1")["n"]
    total = sql_one(store, "SELECT COUNT(*) AS n FROM ledger")["n"]
    shown = f"ledger {total} rows ({certain} certain), the far side accepted {accepted}"
    if reports:
        assert certain == accepted, shown
    assert certain <= accepted <= total, shown
    assert total - accepted <= slack, shown
    print(f"\n{shown}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh database in tmp_path (smsd.db, where config_file's database is too)."""
    s = Store(tmp_path / "smsd.db")
    yield s
    s.close()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """config.toml in tmp_path: one emulated modem, the database beside it."""
    return write_config(tmp_path, {"m1": "emulator"})


@pytest.fixture
def cfg(config_file: Path) -> Config:
    return load(config_file)


class Clock:
    """An injected clock: tests move .now; workers and the store read it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 28, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def memory_workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """A world with a transport: make(name, ...) gives a worker on the in-memory transport over
    tmp_path/smsd.db (its own store connection), stepped by the test with w.loop(); closed after."""
    made: list[Worker] = []

    def make(
        name: str = "m1",
        *,
        clock: Callable[[], datetime] | None = None,
        provider: Provider | None = None,
        pacing: Any = None,
        idle_wait_s: float = 0.0,
        **keys: Any,
    ) -> Worker:
        w = Worker(
            modem_config(name, {"kind": "memory", **keys}),
            "",
            str(tmp_path / "smsd.db"),
            SendingConfig(retry_backoff_s=1),
            clock=clock or Clock(),
            idle_wait_s=idle_wait_s,
            pacing=pacing,
            transport=MemoryTransport(name, provider=provider),
        )
        w.store = Store(tmp_path / "smsd.db")
        made.append(w)
        return w

    yield make
    for w in made:
        w.transport.close()
        if w.store is not None:
            w.store.close()


def feedback_from(store: Store, sender: str, text: str, now: datetime) -> int:
    """An SMS a member (or a stranger) sent, stored and handled as feedback, as the dispatcher
    would file it (for tests of who may read it)."""
    from smsd.values import Received

    inbox_id, _dup = store.inbox.save("m1", Received(f"k-{sender}-{text}", sender, text, text, None, None), now)
    assert inbox_id is not None
    member = store.members.by_phone(sender)
    with store.tx():
        store.inbox.mark_handled(
            inbox_id, state="handled", kind="feedback", command="feedback", normalized=text,
            member_id=member.id if member else None, now=now,
        )  # fmt: skip
    return inbox_id
