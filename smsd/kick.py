"""Waking the daemon: the CLI sends one datagram to a socket beside the database after it
writes, so new work is picked up at once without the daemon polling the database often."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from pathlib import Path

MAX_PATH = 107  # sun_path holds 108 bytes with the final NUL


def kick_path(database: Path) -> Path:
    return database.with_name(database.name + ".kick")


def address(database: Path) -> str:
    """The socket beside the database; when that path is too long for a Unix socket, an
    abstract one (Linux) named after the database's full path, which both ends derive alike."""
    path = kick_path(database)
    if len(os.fsencode(str(path))) <= MAX_PATH:
        return str(path)
    digest = hashlib.sha1(os.fsencode(str(Path(database).resolve()))).hexdigest()[:20]
    return f"\0smsd-kick-{digest}"


def kick(database: Path) -> None:
    """Tell a running daemon that the database changed; silent when none is running."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        s.sendto(b"!", address(database))


class Listener:
    """The daemon's end: wait(timeout) returns True when kicked, False on timeout."""

    def __init__(self, database: Path) -> None:
        self.path = kick_path(database)
        self.address = address(database)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.address)
        if not self.address.startswith("\0"):
            os.chmod(self.path, 0o660)

    def wait(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            self.sock.recv(64)
        except (TimeoutError, BlockingIOError):  # BlockingIOError: a timeout of 0 and nothing there
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
