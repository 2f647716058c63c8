"""Issue 12 item 17: every daemon thread is supervised; a crash is restarted and visible."""

from __future__ import annotations

import threading

from smsd.supervise import UNHEALTHY_CRASHES, Supervised
from tests.conftest import wait_for


def test_a_crashing_thread_is_restarted_and_its_state_reported():
    stop = threading.Event()
    runs: list[int] = []
    states: list[tuple[str, int]] = []

    def target() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("database watcher lost its connection")
        stop.wait()

    s = Supervised("db-watch", target, stop, on_change=lambda x: states.append((x.state, x.crashes)))
    s.start()
    wait_for(lambda: len(runs) == 2, timeout=10)
    assert s.alive and s.healthy and s.crashes == 1
    assert "database watcher lost its connection" in s.last_error
    assert states[:3] == [("running", 0), ("restarting", 1), ("running", 1)]
    stop.set()
    wait_for(lambda: not s.alive, timeout=5)


def test_a_thread_that_keeps_crashing_is_unhealthy(monkeypatch):
    monkeypatch.setattr("smsd.supervise.MAX_BACKOFF_S", 0.0)
    stop = threading.Event()
    s = Supervised("dispatcher", lambda: 1 / 0, stop)
    monkeypatch.setattr(stop, "wait", lambda timeout=None: stop.is_set())  # no backoff wait in the test
    s.start()
    wait_for(lambda: s.crashes >= UNHEALTHY_CRASHES, timeout=10)
    assert not s.healthy
    stop.set()


def test_a_notification_nobody_reads_never_blocks_the_daemon(tmp_path, monkeypatch):
    """The kill tests' harness reads the notify socket only until READY: once its queue was full,
    sendto blocked the daemon's main thread, and SIGTERM with it (the test saw no "stopping" in
    30 s). A full queue now drops the status line instead."""
    import socket
    import threading

    from smsd import systemd

    path = tmp_path / "notify.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    results: list[bool] = []
    done = threading.Event()

    def send_many() -> None:
        results.extend(systemd.notify(f"STATUS={i} queued") for i in range(500))  # far beyond the queue's length
        done.set()

    threading.Thread(target=send_many, daemon=True).start()
    assert done.wait(10), "notify blocked on a socket nobody reads"
    assert results[0] is True and results[-1] is False  # the first were queued, the rest dropped
    assert receiver.recv(100) == b"STATUS=0 queued"
    receiver.close()
