"""`smsd run`: config -> logging -> store -> modems -> workers -> scheduler -> wait.

SIGTERM or SIGINT stops gracefully: no new claims, a submit in flight finishes (or its
message is released), then everything closes. Under systemd the daemon reports READY,
STATUS and watchdog pings.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]

from smsd import anniversary, control, forward, kick, phone, systemd
from smsd import config as configmod
from smsd.answers import Answers
from smsd.clock import utcnow
from smsd.config import Config
from smsd.dispatch import Dispatcher
from smsd.errors import ConfigError, SmsdError, StoreError
from smsd.lock import DaemonLock
from smsd.sim.emulator import Emulator
from smsd.sim.modem import ModemOptions
from smsd.store import Store
from smsd.store import group as store_group
from smsd.supervise import Supervised
from smsd.transport.registry import kind as transport_kind
from smsd.worker import Worker

log = logging.getLogger("smsd.daemon")
stats = logging.getLogger("smsd.stats")  # one line at stop, whatever the log level: the run's commits
stats.setLevel(logging.INFO)

INCOMPLETE_AFTER_S = 24 * 3600


class _OfficeTime(logging.Formatter):
    """Log times in the office's zone, ISO 8601 with the offset (as exports and `smsd` show them)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        from datetime import datetime

        from smsd.clock import LOCAL

        return datetime.fromtimestamp(record.created, LOCAL).isoformat(timespec="milliseconds")


def setup_logging(level: str) -> None:
    """stderr only (journald under systemd, which adds its own timestamps)."""
    fmt = "%(levelname)s %(name)s %(message)s"
    if not os.environ.get("JOURNAL_STREAM"):
        fmt = "%(asctime)s " + fmt
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OfficeTime(fmt))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


class Daemon:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.stop_event = threading.Event()
        self.answers = Answers()  # the workers' handshake with the one dispatcher thread
        self._status_store: Store | None = None
        self._status_cache: tuple[int, int] = (-1, 0)
        self._status_lock = threading.Lock()
        self.emulator: Emulator | None = None
        self.workers: list[Worker] = []
        self.scheduler: BackgroundScheduler | None = None
        self.store: Store | None = None
        self.http: Any = None
        self.supervised: list[Supervised] = []
        self.lock = DaemonLock(cfg.database)

    # ------------------------------------------------------------ the top-to-bottom story

    def run(self) -> int:
        phone.PRIVACY = self.cfg.daemon.log_privacy
        with contextlib.suppress(OSError):  # a folder that cannot be made: the lock says so in one line
            self.cfg.database.parent.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()  # before anything touches the queue: a second daemon is refused here
        try:
            return self._run()
        finally:
            self.lock.release()

    def _run(self) -> int:
        self.store = Store(self.cfg.database)  # creates or migrates it, on its own connection
        recovered = self.store.submits.recover()
        if recovered:
            log.warning("outbox.recovered count=%s (messages found 'sending' at start-up are queued again)", recovered)
        if self.cfg.daemon.group_commit:
            # every thread's transactions from here on share commits (smsd/store/group.py)
            self.store.close()
            store_group.enable(self.cfg.database)
            self.store = Store(self.cfg.database)
        ports = self._start_emulator()
        self._start_workers(ports)
        self._start_scheduler()
        self._start_http()
        self._install_signals()
        systemd.notify("READY=1\nSTATUS=" + self._status_line())
        log.info("smsd.started modems=%s database=%s", ",".join(w.name for w in self.workers), self.cfg.database)
        self._wait()
        self._shutdown()
        return 0

    def _start_emulator(self) -> dict[str, str]:
        """Start the built-in emulator for the modems on it; their devices (its ptys), by name."""
        ports: dict[str, str] = {}
        emulated = [m for m in self.cfg.modems if m.enabled and transport_kind(m.kind).emulated(m)]
        if not emulated:
            return ports
        e = self.cfg.emulator
        options = [
            ModemOptions(
                m.name,
                profile=e.profile,
                send_delay_ms=e.send_delay_ms,
                command_delay_ms=e.command_delay_ms,
                status_report_delay_ms=e.status_report_delay_ms,
            )
            for m in emulated
        ]
        folder = self.cfg.resolve(e.dir)
        try:
            control.request(folder, {"op": "status"}, timeout=2)
        except (RuntimeError, OSError, ValueError):
            pass  # nobody answers: the folder is free
        else:
            raise ConfigError(
                "an emulator already runs in {dir} (`smsd sim`, or another daemon); stop it, or set another "
                "[emulator] dir",
                dir=folder,
            )
        self.emulator = Emulator(folder, options)
        try:
            self.emulator.start()
        except OSError as exc:
            raise ConfigError(
                "{path}: the emulator cannot use [emulator] dir {dir}: {error} (set dir to a writable folder, "
                "e.g. /var/lib/smsd/sim)",
                path=self.cfg.path,
                dir=folder,
                error=exc.strerror or exc,
            ) from None
        for m in emulated:
            ports[m.name] = str(self.emulator[m.name].link)
        log.info("emulator.started dir=%s modems=%s", self.cfg.resolve(e.dir), ",".join(m.name for m in emulated))
        return ports

    def _start_workers(self, ports: dict[str, str]) -> None:
        enabled = [m for m in self.cfg.modems if m.enabled]
        for m in enabled:
            if m.enabled:
                worker = Worker(
                    m,
                    ports.get(m.name),
                    str(self.cfg.database),
                    self.cfg.sending,
                    pacing=self.cfg.pacing(m),
                    answers=self.answers,
                    others=len(enabled) > 1,
                )
                self.workers.append(worker)
        for w in self.workers:
            w.start()
        self._supervise("db-watch", self._watch_database)
        self._supervise("dispatcher", self._dispatch)

    def _supervise(self, name: str, target: Any) -> None:
        s = Supervised(name, target, self.stop_event, on_change=self._thread_changed)
        self.supervised.append(s)
        s.start()

    def _thread_changed(self, s: Supervised) -> None:
        with Store(self.cfg.database) as store:
            store.health.record_thread(s.name, s.state, s.crashes, s.last_error)

    def _dispatch(self) -> None:
        """The one thread that answers inbound SMS, for every transport: woken by a worker that
        stored some (or by the watcher), it handles all that is new, then tells the workers."""
        store = Store(self.cfg.database)
        try:
            dispatcher = Dispatcher(store, self.cfg)
            while not self.stop_event.is_set():
                upto = self.answers.pending()
                try:
                    handled = dispatcher.run_once()
                except SmsdError as exc:
                    log.error("dispatch.failed error=%s", exc)
                    handled = 0
                self.answers.finished(upto)
                if handled:
                    self._wake_workers()  # replies were queued
                else:
                    self.answers.wait_request(5.0)
        finally:
            store.close()

    def _watch_database(self) -> None:
        """Wake the workers when another program wrote: at once when smsd's CLI kicks the socket
        beside the database, and within poll_ms for any other writer (data_version changes)."""
        store = Store(self.cfg.database)
        listener = kick.Listener(self.cfg.database)
        seen = store.data_version()
        try:
            while not self.stop_event.is_set():
                kicked = listener.wait(self.cfg.daemon.poll_ms / 1000)
                now = store.data_version()
                if kicked or now != seen:
                    seen = now
                    for w in self.workers:
                        w.wake.set()
                    self.answers.request()
        finally:
            listener.close()
            store.close()

    def _start_http(self) -> None:
        if self.cfg.http.enabled or self.cfg.web.enabled:
            from smsd.http.server import HttpServer  # FastAPI costs memory: load it only when used

            self.http = HttpServer(self.cfg, on_queued=self._wake_workers)
            self.http.start()
        if self.cfg.web.enabled and self.store is not None:
            from smsd.actions import accounts

            url = f"http://{self.cfg.http.host}:{self.cfg.http.port}/ui/"
            first = accounts.first_admin(self.store, self.cfg)
            if first:  # a new box: one account to log in with (its password changes at the first login)
                log.warning("web.first_login url=%s login=admin password=%s (change it at the first login)", url, first)
            else:
                log.info("web.ready url=%s", url)
        if self.cfg.forwards:
            self._supervise("webhooks", self._forward)

    def _wake_workers(self) -> None:
        for w in self.workers:
            w.wake.set()

    def _forward(self) -> None:
        """Deliver inbound SMS to the configured webhooks until each is acknowledged."""
        store = Store(self.cfg.database)
        try:
            import httpx

            with httpx.Client(timeout=10.0) as client:
                while not self.stop_event.wait(0.5):
                    forward.deliver_due(store, self.cfg, client)
        finally:
            store.close()

    def _start_scheduler(self) -> None:
        self.scheduler = BackgroundScheduler(
            timezone=self.cfg.daemon.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        self.scheduler.add_job(self._housekeeping, "interval", seconds=60, id="housekeeping")
        if self.cfg.anniversary.enabled:
            hour, minute = self.cfg.anniversary.time.split(":")
            self.scheduler.add_job(
                self._anniversaries,
                "cron",
                hour=int(hour),
                minute=int(minute),
                id="anniversary",
                misfire_grace_time=12 * 3600,
            )
            if anniversary.missed_today(self.cfg, utcnow()):
                self.scheduler.add_job(self._anniversaries, id="anniversary-catch-up")  # once, now
        self.scheduler.start()

    def _anniversaries(self) -> None:
        try:
            with Store(self.cfg.database) as store:
                anniversary.queue_due(store, self.cfg)
        except SmsdError as exc:
            log.error("anniversary.failed error=%s", exc)

    def _housekeeping(self) -> None:
        store = Store(self.cfg.database)
        try:
            expired = store.claims.expire_due()
            stale = store.submits.recover(only_expired_leases=True)
            joined = store.inbox.release_incomplete(INCOMPLETE_AFTER_S)
            store.campaigns.finish_done()
            if expired or stale or joined:
                log.info("housekeeping expired=%s stale_leases=%s incomplete_released=%s", expired, stale, joined)
        except StoreError as exc:
            log.error("housekeeping.failed error=%s", exc)
        finally:
            store.close()
        # systemd's status line is the main thread's (_wait, every second): its store is that
        # thread's, and a Store refuses a second one

    def _install_signals(self) -> None:
        def handler(signum: int, _frame: object) -> None:
            self.stop_event.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _wait(self) -> None:
        """Ping the watchdog while every thread is healthy; tell systemd each change of the status
        line (modems coming up or going down), checked every second."""
        interval = min(systemd.watchdog_interval() or 30.0, 5.0)
        shown, pinged = "", 0.0
        while not self.stop_event.wait(1.0):
            line = self._status_line()
            if line != shown:
                shown = line
                systemd.notify("STATUS=" + line)
            if time.monotonic() - pinged < interval:
                continue
            pinged = time.monotonic()
            sick = self.unhealthy()
            if not sick:
                systemd.notify("WATCHDOG=1")
            else:
                log.error("smsd.unhealthy threads=%s: not pinging the watchdog; systemd will restart smsd", sick)

    def unhealthy(self) -> list[str]:
        """Threads that are dead or keep crashing: workers, dispatcher, watcher, webhooks, HTTP."""
        sick = [w.name for w in self.workers if not (w.thread and w.thread.is_alive())]
        sick += [s.name for s in self.supervised if not s.healthy]
        if self.http is not None and not self.http.thread.is_alive():
            sick.append("http")
        return sick

    def _shutdown(self) -> None:
        systemd.notify("STOPPING=1")
        log.info("smsd.stopping")
        self.answers.request()
        for w in self.workers:
            w.stop()
        for w in self.workers:
            w.join(timeout=self.cfg.modems[0].send_timeout_s + 5)
        if self.scheduler:
            self.scheduler.shutdown(wait=False)
        if self.http:
            self.http.stop()
        if self.emulator:
            self.emulator.stop()
        if self.store:
            self.store.close()
        with self._status_lock:
            if self._status_store is not None:
                self._status_store.close()
                self._status_store = None
        shared = store_group.of(self.cfg.database)
        if shared is not None:
            stats.info("smsd.commits transactions=%s commits=%s", shared.written, shared.commits)
        store_group.disable(self.cfg.database)
        log.info("smsd.stopped")

    def _status_line(self) -> str:
        try:
            queued = self._queued_count()
        except StoreError:
            return "database unavailable"
        ready = sum(1 for w in self.workers if w.transport.health().ready)
        return f"{ready}/{len(self.workers)} modems ready, {queued} queued"

    def _queued_count(self) -> int:
        """The queue's length for systemd's status line, counted again only when the database
        changed (a held backlog of 100,000 is not recounted every minute)."""
        with self._status_lock:
            if self._status_store is None:
                self._status_store = Store(self.cfg.database)
            version = self._status_store.data_version()
            if version != self._status_cache[0]:
                self._status_cache = (version, self._status_store.outbox.queue_depth().queued)
            return self._status_cache[1]


def run(config_path: str | Path | None) -> int:
    cfg = configmod.load(config_path)
    setup_logging(cfg.daemon.log_level)
    started = time.monotonic()
    code = Daemon(cfg).run()
    log.debug("smsd.ran seconds=%.0f", time.monotonic() - started)
    return code
