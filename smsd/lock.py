"""Is a daemon running on this database? A lock file beside it, held for the daemon's life.

The daemon takes an exclusive flock on ``smsd.db.lock`` before it touches the queue (a second
daemon would requeue the first one's messages in flight and, when it stops, mark its modems
down) and writes its pid there. The kernel drops the lock with the process, after a stop or a
``kill -9`` alike, so ``smsd status``, ``send`` and ``doctor`` can tell "not running" from
"running" by trying the lock (read-only: any user who can read the folder can ask).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from smsd.errors import ConfigError


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


class DaemonLock:
    """Held by `smsd run` from start to exit."""

    def __init__(self, database: Path) -> None:
        self.path = lock_path(database)
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or refuse with the pid of the daemon that has it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(
                "cannot create the daemon's lock file {path}: {error}", path=self.path, error=exc.strerror or exc
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise ConfigError(
                "another smsd daemon (pid {pid}) already runs on this database; stop it first "
                "(systemctl stop smsd), or give this one another database",
                pid=pid or "?",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None


def running(database: Path) -> int | None:
    """The pid of the daemon running on this database, or None when none is."""
    try:
        fd = os.open(lock_path(database), os.O_RDONLY)
    except OSError:
        return None  # never started here (or the folder cannot be read: nothing to say it runs)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    return None
