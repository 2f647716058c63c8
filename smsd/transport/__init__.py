"""Transports: the ways a message leaves and arrives (a GSM modem, an SMSC over SMPP, an
in-process fake). Each kind is one module with its Transport, its settings and its ``KIND``;
smsd/transport/registry.py is the one table that lists them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smsd.transport.base import Transport
from smsd.transport.registry import KINDS, kind

if TYPE_CHECKING:
    from smsd.settings import ModemConfig


def make(cfg: ModemConfig, device: str | None = None) -> Transport:
    """The transport of one [modems.NAME] table (device: the emulator's pty, for an emulated modem)."""
    return kind(cfg.kind).build(cfg, device)


__all__ = ["KINDS", "Transport", "make"]
