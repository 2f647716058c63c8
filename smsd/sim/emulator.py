"""A set of emulated modems in one directory, with a control socket for people and tests.

In-process::

    with Emulator(tmp, [ModemOptions("m1"), ModemOptions("m2")]) as emu:
        emu["m1"].deliver("+8613800000001", "TP 2")

From a shell: ``smsd sim --modems 2 --dir run/sim`` and ``smsd sim text --dir run/sim ...``.
The control protocol is one JSON object per line over ``DIR/control.sock``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from smsd import control
from smsd.control import ControlServer
from smsd.sim.modem import FAULTS, EmulatedModem, ModemOptions

log = logging.getLogger(__name__)


class Emulator:
    def __init__(self, directory: str | Path, modems: list[ModemOptions]) -> None:
        self.dir = Path(directory)
        self.modems = {o.name: EmulatedModem(self.dir, o) for o in modems}
        self._control: ControlServer | None = None

    def __getitem__(self, name: str) -> EmulatedModem:
        return self.modems[name]

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, control: bool = True) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for m in self.modems.values():
            m.start()
        if control:
            self._control = ControlServer(self.dir, self.handle, "sim")
            self._control.start()

    def stop(self) -> None:
        if self._control:
            self._control.stop()
        for m in self.modems.values():
            m.stop()

    def paths(self) -> dict[str, str]:
        return {name: str(m.link) for name, m in self.modems.items()}

    # ------------------------------------------------------------ control socket

    def handle(self, request: dict[str, Any]) -> Any:
        """Carry out one control request (also usable in-process)."""
        op = request.get("op")
        if op == "status":
            return {name: self._status(m) for name, m in self.modems.items()}
        name = request.get("modem", "m1")
        if name not in self.modems:
            raise ValueError(f"no modem {name!r}; this emulator has {', '.join(self.modems)}")
        modem = self.modems[name]
        if op == "text":
            parts = modem.deliver(
                request["from"],
                request["text"],
                ref_bits=int(request.get("ref_bits", 8)),
                placement=request.get("placement", "now"),
            )
            return {"parts": parts}
        if op == "pdu":
            modem.deliver_pdu(request["pdu"], request.get("placement", "now"))
            return {}
        if op == "fault":
            modem.fault(request["name"], request.get("value"))
            return {}
        raise ValueError(f"unknown op {op!r}")

    @staticmethod
    def _status(m: EmulatedModem) -> dict[str, Any]:
        return {
            "port": str(m.link),
            "profile": m.profile.name,
            "plugged": m.plugged,
            "registered": m.registered,
            "stored": {n: mem.used for n, mem in m.memories.items()},
            "waiting_in_network": len(m.network),
            **m.stats,
        }


def request(directory: str | Path, payload: dict[str, Any], timeout: float = 10) -> Any:
    """Send one control request to a running emulator; raise RuntimeError on refusal."""
    return control.request(directory, payload, timeout, "emulator")


__all__ = ["Emulator", "ModemOptions", "FAULTS", "request"]
