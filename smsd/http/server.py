"""Run the HTTP API inside the daemon, on its own thread (uvicorn with one event loop)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import uvicorn

from smsd.config import Config
from smsd.http.app import create_app
from smsd.http.timeouts import TimedH11Protocol

log = logging.getLogger(__name__)


class HttpServer:
    def __init__(self, cfg: Config, on_queued: Callable[[], None] | None = None) -> None:
        self.cfg = cfg
        config = uvicorn.Config(
            create_app(cfg, on_queued),
            host=cfg.http.host,
            port=cfg.http.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http=TimedH11Protocol,  # request headers must arrive within 10 s: slow clients are cut off
            timeout_keep_alive=5,
            limit_concurrency=200,  # beyond that, 503 at once instead of a pile of slow connections
            # TLS of its own ([http] tls_cert and tls_key), or none behind the documented proxy
            ssl_certfile=str(cfg.resolve(cfg.http.tls_cert)) if cfg.http.tls_cert else None,
            ssl_keyfile=str(cfg.resolve(cfg.http.tls_key)) if cfg.http.tls_key else None,
        )
        self.server = uvicorn.Server(config)
        # The daemon owns SIGTERM/SIGINT: uvicorn (>= 0.29) installs signal handlers only when it
        # runs on the main thread, and here it runs on its own.
        self.thread = threading.Thread(target=self.server.run, name="http", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout * 100)):
            if self.server.started or not self.thread.is_alive():
                break
            deadline.wait(0.01)
        if not self.server.started:
            raise OSError(f"the HTTP API could not listen on {self.cfg.http.host}:{self.cfg.http.port}")
        log.info(
            "http.started address=%s:%s clients=%s",
            self.cfg.http.host,
            self.cfg.http.port,
            ",".join(c.name for c in self.cfg.http_clients) or "none",
        )

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
