"""The Kannel-compatible door: GET/POST /cgi-bin/sendsms with Kannel's parameters.

Systems written for Kannel's smsbox switch to smsd by changing the host. The text arrives
URL-encoded in the `charset` the client names (UTF-8 by default; UCS-2/UTF-16BE with
coding=2, GBK and Latin-1 too); answers are Kannel's plain-text ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from smsd import admin
from smsd.actions import api
from smsd.config import Config
from smsd.errors import BudgetError, InputError
from smsd.http.auth import find_client

MAX_RECIPIENTS = 1000  # as many as a /v1 batch

CHARSETS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "ucs-2": "utf-16-be",
    "ucs2": "utf-16-be",
    "utf-16be": "utf-16-be",
    "utf-16": "utf-16",
    "iso-8859-1": "latin-1",
    "latin1": "latin-1",
    "ascii": "ascii",
    "gbk": "gbk",
    "gb2312": "gbk",
    "gb18030": "gb18030",
    "windows-1252": "cp1252",
}


def mount_kannel(
    app: FastAPI, cfg: Config, store: Callable[..., Any], limiter: Any, notify: Callable[[], None]
) -> None:
    def answer(status: int, text: str) -> PlainTextResponse:
        return PlainTextResponse(text, status_code=status)

    async def sendsms(request: Request) -> PlainTextResponse:
        raw = request.url.query.encode("latin-1", "replace")
        body = await request.body()
        if request.method == "POST" and body and "form" in request.headers.get("content-type", "form"):
            raw = raw + b"&" + body if raw else body
        # Percent-decode to bytes (latin-1 keeps every byte), then decode the text in its charset.
        decoded = parse_qs(raw.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
        params = {k: v[-1].encode("latin-1") for k, v in decoded.items()}
        if request.method == "POST" and body and "text" not in params:
            params["text"] = body  # Kannel also takes the text as a plain POST body
        username = params.get("username", params.get("user", b"")).decode("latin-1")
        password = params.get("password", params.get("pass", b"")).decode("latin-1")
        client = find_client(cfg, password, username)
        if client is None:
            return answer(403, "Authorization failed for sendsms")
        coding = params.get("coding", b"0").decode("latin-1")
        charset = params.get("charset", b"").decode("latin-1").lower() or ("ucs-2" if coding == "2" else "utf-8")
        if charset not in CHARSETS:
            return answer(400, f"Unknown charset {charset!r}")
        try:
            text = params.get("text", b"").decode(CHARSETS[charset])
        except UnicodeDecodeError:
            return answer(400, f"Text is not valid {charset}")
        numbers = [n for n in params.get("to", b"").decode("latin-1").replace("+", " +").split() if n]
        if not numbers:
            return answer(400, "Missing receiver number, rejected")
        if len(numbers) > MAX_RECIPIENTS:
            return answer(400, f"Too many receivers ({len(numbers)}; at most {MAX_RECIPIENTS} a request), rejected")
        if not limiter.allow(client.name, client.rate_per_minute, len(numbers)):  # the limit counts messages
            return answer(503, "Too many messages, try again later")
        if not text:
            return answer(400, "Missing text, rejected")
        try:
            for n in numbers:  # check every number before queueing any
                admin.check_send(cfg, n, text, None, None)
        except InputError as exc:
            return answer(400, f"Invalid receiver or text: {exc}")
        try:
            with store() as s:
                api.kannel_send(s, cfg, api.Caller(client), numbers, text, report=bool(params.get("dlr-mask")))
        except BudgetError as exc:
            return answer(402, f"Budget exceeded: {exc}")
        notify()
        return answer(202, "0: Accepted for delivery")

    for method in ("GET", "POST"):
        app.add_api_route(
            "/cgi-bin/sendsms",
            sendsms,
            methods=[method],
            summary="Kannel sendsms (compatibility)",
            operation_id=f"kannel_sendsms_{method.lower()}",
            response_class=PlainTextResponse,
        )
