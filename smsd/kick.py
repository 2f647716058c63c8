"""Waking the daemon: the CLI sends one datagram to a socket beside the database after it
writes, so new work is picked up at once without the daemon polling the database often."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def kick_path(database: Path) -> Path:
    return database.with_name(database.name + ".kick")


def kick(database: Path) -> None:
    """Tell a running daemon that the database changed; silent when none is running."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        s.sendto(b"!", str(kick_path(database)))


class Listener:
    """The daemon's end: wait(timeout) returns True when kicked, False on timeout."""

    def __init__(self, database: Path) -> None:
        self.path = kick_path(database)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o660)

    def wait(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            self.sock.recv(64)
        except TimeoutError:
            return False
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while self.sock.recv(64):  # drain a burst of kicks
                pass
        return True

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
