"""The control socket of an emulator (`smsd sim`, `smsd smsc`): one JSON object per line.

A request is ``{"op": ..., ...}``; the answer ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "..."}``. The socket is DIR/control.sock, readable by its owner only.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOCKET_NAME = "control.sock"


class ControlServer:
    def __init__(self, directory: Path, handle: Callable[[dict[str, Any]], Any], name: str) -> None:
        self.path = directory / SOCKET_NAME
        self.handle = handle
        self.name = name
        self._server: socket.socket | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(str(self.path))
        os.chmod(self.path, 0o600)
        srv.listen(8)
        self._server = srv
        threading.Thread(target=self._accept, name=f"{self.name}-control", daemon=True).start()

    def stop(self) -> None:
        if self._server:
            with contextlib.suppress(OSError):
                self._server.close()
            self._server = None
            self.path.unlink(missing_ok=True)

    def _accept(self) -> None:
        server = self._server
        assert server is not None
        while True:
            try:
                conn, _ = server.accept()
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


def request(directory: str | Path, payload: dict[str, Any], timeout: float = 10, what: str = "emulator") -> Any:
    """Send one control request; raise RuntimeError on refusal or when nothing runs there."""
    path = Path(directory) / SOCKET_NAME
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except OSError as exc:
            raise RuntimeError(f"no {what} is running in {directory} ({exc.strerror})") from None
        s.sendall((json.dumps(payload, ensure_ascii=False) + "\n").encode())
        reply = json.loads(s.makefile("r", encoding="utf-8").readline() or "{}")
    if not reply.get("ok"):
        raise RuntimeError(reply.get("error", f"the {what} gave no answer"))
    return reply["result"]
