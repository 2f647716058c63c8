"""The local HTTP API: a front end of the same verbs as the CLI (smsd.actions), with no logic of its own.

create_app assembles it: the body guard (authenticate, then read a bounded body), the error
handlers that turn refusals into status codes, and the routers (/v1 in smsd/http/v1.py, the
Kannel door in smsd/http/kannel.py), whose routes get their store and client as dependencies.

Versioned JSON under /v1 (OpenAPI at /openapi.json, docs at /docs) and a Kannel-compatible
door at /cgi-bin/sendsms. Every client is declared in config.toml with a hashed token; a
request is authenticated (constant-time comparison), rate-limited, and recorded in the event
log with the client's name. A bad request gets a 4xx and a JSON error naming the field, and
never touches the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from smsd.actions import api, sessions
from smsd.config import Config
from smsd.errors import BudgetError, InputError, NotAllowed, SmsdError
from smsd.http import v1
from smsd.http.auth import RateLimiter, find_client, token_hash
from smsd.http.deps import ApiError, Stores
from smsd.http.timeouts import BODY_S
from smsd.store import Store

log = logging.getLogger(__name__)


def error(status: int, field: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=status)


KANNEL_PATH = "/cgi-bin/sendsms"
KANNEL_FORM_BYTES = 8192  # a sendsms form with its credentials: read this much at most before they are checked
OPEN_PATHS = ("/healthz", "/docs", "/openapi.json", "/docs/oauth2-redirect")
WEB_PREFIX = "/ui"  # the web console authenticates by its session cookie (smsd.web)


class BodyGuard:
    """ASGI middleware: authenticate first, then read at most max_body_bytes, streamed.

    A request to the API without a valid token is answered before one byte of its body is
    read; a body over the limit (declared or chunked) is refused as soon as it passes it. The
    app then gets the body from memory, never more than max_body_bytes of it."""

    def __init__(self, app: Any, cfg: Config, known: Callable[[str], bool] = lambda token: False) -> None:
        self.app, self.cfg, self.known = app, cfg, known

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, limit = scope.get("path", ""), self.cfg.http.max_body_bytes
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        web = path == WEB_PREFIX or path.startswith(WEB_PREFIX + "/")
        if web:
            limit = self.cfg.web.max_upload_bytes if path == WEB_PREFIX + "/members/upload" else limit
        if not web and path not in OPEN_PATHS and not self._authenticated(path, headers, scope):
            if path == KANNEL_PATH:
                await _plain(send, 403, "Authorization failed for sendsms")
            else:
                await _json(send, 401, "Authorization", "missing or unknown token (Authorization: Bearer <token>)")
            return
        if path == KANNEL_PATH and not self._authenticated(path, headers, scope, body_allowed=False):
            # credentials only in a form body: read at most a small form, briefly, then check them
            limit = min(limit, KANNEL_FORM_BYTES)
            if "x-www-form-urlencoded" not in headers.get("content-type", ""):
                await _plain(send, 403, "Authorization failed for sendsms")
                return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _json(send, 413, "body", f"the body is larger than {limit} bytes")
            return
        try:
            body = await asyncio.wait_for(_read_body(receive, limit), BODY_S)
        except TimeoutError:
            await _json(send, 408, "body", f"the body did not arrive within {BODY_S:g} s")
            return
        if body is None:
            return  # the client went away
        if len(body) > limit:
            await _json(send, 413, "body", f"the body is larger than {limit} bytes")
            return
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _authenticated(
        self, path: str, headers: dict[str, str], scope: dict[str, Any], *, body_allowed: bool = True
    ) -> bool:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if find_client(self.cfg, token) is not None or (token and path != KANNEL_PATH and self.known(token)):
            return True
        if path == KANNEL_PATH:
            from urllib.parse import parse_qs

            q = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            user = (q.get("username") or q.get("user") or [headers.get("x-kannel-username", "")])[-1]
            password = (q.get("password") or q.get("pass") or [headers.get("x-kannel-password", "")])[-1]
            if find_client(self.cfg, password, user) is not None:
                return True
            # Kannel clients may also put the credentials in a form body: a GET has none, a POST's
            # form is read (at most KANNEL_FORM_BYTES, within BODY_S) and checked by the door itself.
            return body_allowed and scope.get("method") == "POST"
        return False


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The request body, stopping as soon as it passes limit (None: the client disconnected)."""
    body, more = b"", True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        if len(body) > limit:
            return body
    return body


async def _json(send: Any, status: int, field: str, message: str) -> None:
    import json

    body = json.dumps({"error": {"field": field, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def _plain(send: Any, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": text.encode()})


def create_app(cfg: Config, on_queued: Callable[[], None] | None = None) -> FastAPI:
    app = FastAPI(
        title="smsd",
        version="1",
        description="Send SMS through the county's shared gateway.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.cfg = cfg
    app.state.stores = Stores(cfg)
    app.state.limiter = limiter = RateLimiter()
    app.state.notify = notify = on_queued or (lambda: None)

    @contextmanager
    def store() -> Iterator[Store]:
        yield app.state.stores.get()

    def known(token: str) -> bool:  # an account's token (checked in full by the route)
        return sessions.known_token(app.state.stores.get(), token)

    app.add_middleware(BodyGuard, cfg=cfg, known=known)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", [])[1:]] if first.get("loc") else []
        field = ".".join(loc) or "body"
        kind = first.get("type", "")
        if kind == "json_invalid":
            return error(400, "body", "the body is not valid JSON")
        if kind == "extra_forbidden":
            return error(422, field, f"unknown field {field!r}")
        return error(422, field, first.get("msg", "invalid value"))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.field, exc.message)

    @app.exception_handler(api.Refusal)
    async def refused(request: Request, exc: api.Refusal) -> JSONResponse:
        return error(REFUSALS[exc.what], exc.field, exc.message)

    @app.exception_handler(BudgetError)
    async def over_budget(request: Request, exc: BudgetError) -> JSONResponse:
        return error(402, "budget", str(exc))

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> JSONResponse:
        caller: api.Caller | None = getattr(request.state, "caller", None)
        if caller is not None:
            api.refusal(app.state.stores.get(), caller, f"{request.method} {request.url.path}", exc)
        return error(403, exc.field or "actor", str(exc))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return error(422, exc.field or "text", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, "path" if exc.status_code == 404 else "method", str(exc.detail))

    if cfg.http.enabled or not cfg.web.enabled:  # the JSON API and the Kannel door
        app.include_router(v1.router)

        from smsd.http.kannel import mount_kannel

        mount_kannel(app, cfg, store, limiter, notify)
    if cfg.web.enabled:
        from smsd.web.app import mount

        mount(app, cfg, app.state.stores.get, notify)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app


REFUSALS = {"conflict": 409, "not_found": 404, "forbidden": 403}

__all__ = ["create_app", "token_hash", "SmsdError"]
