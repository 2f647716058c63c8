"""Every long-running thread of the daemon runs under supervision.

A thread whose loop raises is logged with its traceback and restarted after a backoff
(1 s, doubling to 60 s); its state and crash count go to the database for `smsd status`.
The daemon stops pinging systemd's watchdog when a thread keeps crashing, so systemd
restarts the whole process (Restart=on-failure).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
UNHEALTHY_CRASHES = 5  # crashes within UNHEALTHY_WINDOW_S that make the daemon ask systemd for a restart
UNHEALTHY_WINDOW_S = 600.0


class Supervised:
    """Run target() on a thread until stop is set; restart it when it raises."""

    def __init__(
        self,
        name: str,
        target: Callable[[], None],
        stop: threading.Event,
        *,
        on_change: Callable[[Supervised], None] | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.stop = stop
        self.on_change = on_change or (lambda s: None)
        self.crashes = 0
        self.recent: list[float] = []
        self.last_error = ""
        self.state = "starting"
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def healthy(self) -> bool:
        now = time.monotonic()
        self.recent = [t for t in self.recent if now - t < UNHEALTHY_WINDOW_S]
        return (self.alive or self.stop.is_set()) and len(self.recent) < UNHEALTHY_CRASHES

    def _set(self, state: str) -> None:
        self.state = state
        try:
            self.on_change(self)
        except Exception:  # the database may be the reason we crashed: the log still says it
            log.warning("thread.state_not_saved name=%s state=%s", self.name, state)

    def _run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            self._set("running")
            try:
                self.target()
            except Exception as exc:
                self.crashes += 1
                self.recent.append(time.monotonic())
                self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
                log.exception("thread.crashed name=%s crashes=%s restart_in=%.0fs", self.name, self.crashes, backoff)
                self._set("restarting")
                if self.stop.wait(backoff):
                    break
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if not self.stop.is_set():  # a loop that returns by itself is a bug too: run it again
                self.last_error = "returned unexpectedly"
                log.error("thread.returned name=%s: restarting", self.name)
                self.recent.append(time.monotonic())
                if self.stop.wait(backoff):
                    break
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        self.state = "stopped"
