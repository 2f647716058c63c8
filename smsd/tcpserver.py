"""What the carrier-side emulators share (`smsd smsc` over SMPP, `smsd ismg` over CMPP): a TCP
server with a thread per session, a timer thread for delayed deliveries (receipts, reports),
the items each account is still to acknowledge (delivered again on another session or at the
next login when the one they went out on closes), and the log of what the server saw.

A subclass makes its sessions (``_session``), reads them (``_serve``), sends what waits for an
account (``_flush``) and handles what falls due (``_due``).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from pathlib import Path
from typing import Any


class TcpServer:
    """The server's life: ``start()`` listens on host:port (0: any free port, see ``.port``)."""

    name = "emulator"

    def __init__(self, host: str, port: int, log_path: str | Path | None) -> None:
        self.host, self.port = host, port
        self.log_path = Path(log_path) if log_path else None
        self._lock = threading.Lock()
        self._sessions: list[Any] = []
        self._pending: dict[str, list[Any]] = {}  # per account: items sent and not yet acknowledged, or waiting
        self._timers: list[tuple[float, int, str, Any]] = []
        self._timer_seq = itertools.count()
        self._timer_cv = threading.Condition(self._lock)
        self._server: socket.socket | None = None
        self._stopping = threading.Event()
        self._log_file: Any = None
        self.events: list[dict[str, Any]] = []  # logins, acks, refusals, drops: what the server saw
        self.down = False

    # ------------------------------------------------------------ life

    def start(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.host, self.port))
        srv.listen(64)
        self.port = srv.getsockname()[1]
        self._server = srv
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self.log_path.open("a", encoding="utf-8")
        threading.Thread(target=self._accept, name=f"{self.name}-accept", daemon=True).start()
        threading.Thread(target=self._timer_loop, name=f"{self.name}-timers", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes the accept() blocked in its thread (Linux)
                self._server.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._server.close()
        self._drop_all()
        with self._timer_cv:
            self._timer_cv.notify_all()
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ sessions

    def _session(self, sock: socket.socket, peer: str) -> Any:
        raise NotImplementedError

    def _serve(self, s: Any) -> None:
        raise NotImplementedError

    def _flush(self, account: str) -> None:
        raise NotImplementedError

    def _due(self, account: str, item: Any) -> None:
        raise NotImplementedError

    def _live(self) -> list[Any]:
        with self._lock:
            return [s for s in self._sessions if s.alive]

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                sock, addr = self._server.accept()
            except OSError:
                return
            if self.down:
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = self._session(sock, f"{addr[0]}:{addr[1]}")
            with self._lock:
                self._sessions.append(session)
            threading.Thread(target=self._serve, args=(session,), name=f"{self.name}-session", daemon=True).start()

    def _drop_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for s in sessions:
            self._close(s, "dropped")

    def _close(self, s: Any, why: str) -> None:
        """Close a session; what went out on it unacknowledged goes again (another session of the
        account, or its next login)."""
        with self._lock:
            if not s.alive:
                return
            s.alive = False
            if s in self._sessions:
                self._sessions.remove(s)
            again = set()
            for account, items in self._pending.items():
                for p in items:
                    if p.sent_on is s:
                        p.sent_on, p.sequence = None, None
                        again.add(account)
        with contextlib.suppress(OSError):
            # What the client sent and we did not read is read now: closing a socket with unread
            # data sends a reset, which makes the client's kernel drop the answers we had already
            # sent (a drop "after two answers" lost them under load). A close is then a FIN.
            s.sock.setblocking(False)
            while s.sock.recv(65536):
                pass
        with contextlib.suppress(OSError):
            s.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.sock.close()
        self._event("closed", s, why=why)
        for account in again:
            self._flush(account)

    # ------------------------------------------------------------ later

    def _later(self, delay_s: float, account: str, item: Any) -> None:
        with self._timer_cv:
            heapq.heappush(self._timers, (time.monotonic() + delay_s, next(self._timer_seq), account, item))
            self._timer_cv.notify()

    def _timer_loop(self) -> None:
        while not self._stopping.is_set():
            with self._timer_cv:
                if not self._timers:
                    self._timer_cv.wait(1.0)
                    continue
                due = self._timers[0][0] - time.monotonic()
                if due > 0:
                    self._timer_cv.wait(due)
                    continue
                _, _, account, item = heapq.heappop(self._timers)
            self._due(account, item)

    def _event(self, what: str, s: Any, **detail: Any) -> None:
        with self._lock:
            self.events.append({"t": time.monotonic(), "what": what, "peer": s.peer, **detail})


def recv_exact(sock: socket.socket, n: int) -> bytes | None:
    """n octets, or None when the peer closed first."""
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def truthy(value: Any) -> bool:
    """A fault's on/off value as typed on a command line (no value: on)."""
    return str(value).lower() in ("1", "true", "on", "yes", "none")


__all__ = ["TcpServer", "recv_exact", "truthy"]
