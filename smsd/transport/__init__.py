"""Transports: the ways a message leaves and arrives (a GSM modem, an in-process fake, ...).

``make(cfg, port)`` builds the one a [modems.NAME] table asks for (``kind``); adding a kind is
adding a module here that implements ``smsd.transport.base.Transport`` and a line in KINDS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smsd.transport.base import Transport

if TYPE_CHECKING:
    from smsd.config import ModemConfig

KINDS = ("gsm", "smpp", "memory")


def make(cfg: ModemConfig, port: str) -> Transport:
    """The transport of one [modems.NAME] table (port: the device, or the emulator's pty)."""
    if cfg.kind == "memory":
        from smsd.transport.memory import MemoryTransport

        return MemoryTransport(cfg.name)
    if cfg.kind == "smpp":
        from smsd.transport.smpp import SmppTransport

        return SmppTransport(
            cfg.name,
            cfg.host,
            cfg.smpp_port,
            system_id=cfg.system_id,
            password=cfg.password,
            system_type=cfg.system_type,
            source_addr=cfg.source_addr,
            alphabet=cfg.smpp_alphabet,
            window=cfg.window,
            bind=cfg.smpp_bind,
            enquire_link_s=cfg.enquire_link_s,
            response_timeout_s=cfg.command_timeout_s * 2,
            connect_timeout_s=cfg.command_timeout_s,
        )
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
