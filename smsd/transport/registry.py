"""The one table of transport kinds: adding a transport is its module and a line here.

A kind's module (smsd/transport/gsm.py, ...) holds its Transport, its settings and a ``KIND``
describing them (smsd.transport.base.Kind). Modules are imported when a config first names
their kind, so a command line that uses no SMPP link never loads smpplib.
"""

from __future__ import annotations

import importlib

from smsd.transport.base import Kind

KINDS = {
    "gsm": "smsd.transport.gsm",  # a GSM modem on a serial port (or the built-in emulator)
    "smpp": "smsd.transport.smpp",  # an SMSC, or a city's Jasmin, over SMPP 3.4
    "cmpp": "smsd.transport.cmpp",  # a carrier's ISMG over CMPP 3.0 or 2.0 (the office's own 106... number)
    "memory": "smsd.transport.memory",  # in-process, for demos and tests
}


def kind(name: str) -> Kind:
    """The kind called name (a KeyError for an unknown one: config.py checks names first)."""
    found: Kind = importlib.import_module(KINDS[name]).KIND
    return found


__all__ = ["KINDS", "kind"]
