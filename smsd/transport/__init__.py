"""Transports: the ways a message leaves and arrives (a GSM modem, an in-process fake, ...).

``make(cfg, port)`` builds the one a [modems.NAME] table asks for (``kind``); adding a kind is
adding a module here that implements ``smsd.transport.base.Transport`` and a line in KINDS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smsd.transport.base import Transport

if TYPE_CHECKING:
    from smsd.config import ModemConfig

KINDS = ("gsm", "memory")


def make(cfg: ModemConfig, port: str) -> Transport:
    """The transport of one [modems.NAME] table (port: the device, or the emulator's pty)."""
    if cfg.kind == "memory":
        from smsd.transport.memory import MemoryTransport

        return MemoryTransport(cfg.name)
    from smsd.transport.gsm import GsmTransport

    return GsmTransport(
        cfg.name,
        port,
        pin=cfg.pin or None,
        smsc=cfg.smsc or None,
        baudrate=cfg.baudrate,
        command_timeout=cfg.command_timeout_s,
        send_timeout=cfg.send_timeout_s,
        liveness_s=cfg.liveness_s,
    )


__all__ = ["KINDS", "Transport", "make"]
