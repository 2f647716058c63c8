"""A set of emulated modems in one directory, with a control socket for people and tests.

In-process::

    with Emulator(tmp, [ModemOptions("m1"), ModemOptions("m2")]) as emu:
        emu["m1"].deliver("+8613800000001", "TP 2")

From a shell: ``smsd sim --modems 2 --dir run/sim`` and ``smsd sim text --dir run/sim ...``.
The control protocol is one JSON object per line over ``DIR/control.sock``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from smsd.sim.modem import FAULTS, EmulatedModem, ModemOptions

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"


class Emulator:
    def __init__(self, directory: str | Path, modems: list[ModemOptions]) -> None:
        self.dir = Path(directory)
        self.modems = {o.name: EmulatedModem(self.dir, o) for o in modems}
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

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
            self._serve()

    def stop(self) -> None:
        if self._server:
            with contextlib.suppress(OSError):
                self._server.close()
            (self.dir / SOCKET_NAME).unlink(missing_ok=True)
        for m in self.modems.values():
            m.stop()

    def paths(self) -> dict[str, str]:
        return {name: str(m.link) for name, m in self.modems.items()}

    # ------------------------------------------------------------ control socket

    def _serve(self) -> None:
        path = self.dir / SOCKET_NAME
        path.unlink(missing_ok=True)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(str(path))
        os.chmod(path, 0o600)
        srv.listen(8)
        self._server = srv
        self._thread = threading.Thread(target=self._accept, name="sim-control", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.settimeout(10)
                    request = json.loads(conn.makefile("r", encoding="utf-8").readline())
                    reply = {"ok": True, "result": self.handle(request)}
                except Exception as exc:  # the reply names it; the server keeps serving
                    reply = {"ok": False, "error": str(exc)}
                with contextlib.suppress(OSError):
                    conn.sendall((json.dumps(reply, ensure_ascii=False) + "\n").encode())

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
    path = Path(directory) / SOCKET_NAME
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except OSError as exc:
            raise RuntimeError(f"no emulator is running in {directory} ({exc.strerror})") from None
        s.sendall((json.dumps(payload, ensure_ascii=False) + "\n").encode())
        reply = json.loads(s.makefile("r", encoding="utf-8").readline() or "{}")
    if not reply.get("ok"):
        raise RuntimeError(reply.get("error", "the emulator gave no answer"))
    return reply["result"]


__all__ = ["Emulator", "ModemOptions", "FAULTS", "request"]
