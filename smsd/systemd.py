"""sd_notify without a dependency: READY, STATUS, WATCHDOG and STOPPING datagrams."""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send one notification to systemd; False when not running under systemd, or when its
    socket's queue is full. Never blocks: a receiver that does not read (a stuck manager, a test
    harness) would otherwise hold the main thread in sendto, and SIGTERM with it (PEP 475 retries
    the call after the handler). A status line dropped is replaced by the next one."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            s.connect(address)
            s.send(message.encode())
        return True
    except OSError:
        return False


def watchdog_interval() -> float | None:
    """Half the watchdog period systemd asked for, in seconds (None: no watchdog)."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
