"""The local HTTP API: a client of the same library verbs as the CLI, with no logic of its own.

Versioned JSON under /v1 (OpenAPI at /openapi.json, docs at /docs) and a Kannel-compatible
door at /cgi-bin/sendsms. Every client is declared in config.toml with a hashed token; a
request is authenticated (constant-time comparison), rate-limited, and recorded in the event
log with the client's name. A bad request gets a 4xx and a JSON error naming the field, and
never touches the database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from smsd import admin, phone
from smsd.clock import parse_ts
from smsd.config import Config, HttpClient
from smsd.errors import BudgetError, InputError, SmsdError
from smsd.http.auth import RateLimiter, find_client, token_hash
from smsd.http.timeouts import BODY_S
from smsd.phone import mask
from smsd.store import OutboundMessage, Store

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


def error(status: int, field: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=status)


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=32, description="Mobile number, e.g. +8613800138000")
    text: str = Field(min_length=1, max_length=1000)
    priority: int | None = Field(default=None, ge=0, le=9)
    at: str | None = Field(default=None, description="Send later: 'YYYY-MM-DD HH:MM' (Asia/Shanghai)")
    report: bool = True


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[SendRequest] = Field(min_length=1, max_length=1000)


MAX_ID = 2**63 - 1  # SQLite's INTEGER: a larger id or cursor is a 422, not a 500
KANNEL_PATH = "/cgi-bin/sendsms"
KANNEL_FORM_BYTES = 8192  # a sendsms form with its credentials: read this much at most before they are checked
OPEN_PATHS = ("/healthz", "/docs", "/openapi.json", "/docs/oauth2-redirect")


class BodyGuard:
    """ASGI middleware: authenticate first, then read at most max_body_bytes, streamed.

    A request to the API without a valid token is answered before one byte of its body is
    read; a body over the limit (declared or chunked) is refused as soon as it passes it. The
    app then gets the body from memory, never more than max_body_bytes of it."""

    def __init__(self, app: Any, cfg: Config) -> None:
        self.app, self.cfg = app, cfg

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, limit = scope.get("path", ""), self.cfg.http.max_body_bytes
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if path not in OPEN_PATHS and not self._authenticated(path, headers, scope):
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
        if find_client(self.cfg, token) is not None:
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
    local = threading.local()
    limiter = RateLimiter()
    notify = on_queued or (lambda: None)

    @contextmanager
    def store() -> Iterator[Store]:
        s = getattr(local, "store", None)
        if s is None:
            s = local.store = Store(cfg.database)
        yield s

    app.add_middleware(BodyGuard, cfg=cfg)

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

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, "path" if exc.status_code == 404 else "method", str(exc.detail))

    def client_for(authorization: str | None, cost: int = 1) -> HttpClient:
        token = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else None
        client = find_client(cfg, token)
        if client is None:
            raise ApiError(401, "Authorization", "missing or unknown token (Authorization: Bearer <token>)")
        if not limiter.allow(client.name, client.rate_per_minute, cost):
            raise ApiError(429, "client", f"more than {client.rate_per_minute} messages a minute")
        return client

    def enqueue(s: Store, client: HttpClient, req: SendRequest, key: str | None) -> int:
        """The same verb as `smsd send`, billed to the client's account."""
        actor = f"api:{client.name}"
        return admin.send(
            s,
            cfg,
            req.to,
            req.text,
            at=req.at,
            priority=req.priority,
            report=req.report,
            actor=actor,
            dedup_key=key,
            account=actor,
            org=client.org or None,
        )

    def queue(s: Store, client: HttpClient, req: SendRequest, key: str | None) -> dict[str, Any]:
        try:
            with s.tx():  # the budget check and the insert in one transaction
                mid = enqueue(s, client, req, key)
        except BudgetError as exc:
            raise ApiError(402, "budget", str(exc)) from None
        except InputError as exc:
            raise ApiError(422, exc.field or "text", str(exc)) from None
        return message_view(s, mid)

    def message_view(s: Store, mid: int) -> dict[str, Any]:
        m = s.outbox.message_or_error(mid)
        parts = s.outbox.parts(mid)
        return {
            "id": mid,
            "to": m.to_number,
            "state": m.state,
            "segments": m.segments,
            "encoding": m.encoding,
            "possible_duplicate": bool(m.possible_duplicate),
            "created_at": m.created_at,
            "sent_at": m.sent_at,
            "delivered_at": m.delivered_at,
            "last_error": m.last_error,
            "cost_fen": sum(p.price_fen or 0 for p in parts),
            "parts": [{"seq": p.seq, "state": p.state, "modem": p.modem, "sent_at": p.sent_at} for p in parts],
        }

    def record(s: Store, client: HttpClient, what: str) -> None:
        with s.tx():
            s.event("http", client.name, "request", what, f"api:{client.name}")

    def _same_options(first: OutboundMessage, req: SendRequest) -> bool:
        """Was the first message made with this request's at, priority and report? The time is
        read again as of the first request (明天8点 then means the same day it meant then)."""
        priority = cfg.sending.default_priority if req.priority is None else req.priority
        if priority != first.priority or bool(req.report and cfg.sending.status_reports) != bool(first.srr):
            return False
        if not req.at:
            return first.not_before is None
        try:
            at = admin.parse_when(req.at, parse_ts(first.created_at))
        except InputError:
            return False
        return first.not_before is not None and parse_ts(first.not_before) == at

    def reused(s: Store, key: str, req: SendRequest) -> OutboundMessage | None:
        """The message an Idempotency-Key already made, or None; 409 when the body differs."""
        first = s.outbox.message_by_dedup_key(key)
        if first is None:
            return None
        try:
            same = first.to_number == phone.normalise(req.to) and first.text == req.text
        except InputError:
            same = False
        if same and not _same_options(first, req):
            raise ApiError(
                409,
                "Idempotency-Key",
                "this Idempotency-Key was used for the same message with another at, priority or report; "
                "use a new key for a new request",
            )
        if not same:
            raise ApiError(
                409,
                "Idempotency-Key",
                f"this Idempotency-Key was used for another message (to {mask(first.to_number)}, "
                f"{len(first.text)} characters); this request is to {mask(req.to)}, {len(req.text)} characters. "
                "Use a new key for a new message.",
            )
        return first

    @app.post("/v1/messages", status_code=201, summary="Queue one SMS")
    def send_one(
        req: SendRequest,
        authorization: str | None = Header(default=None),
        idempotency_key: str | None = Header(default=None, max_length=128),
    ) -> Any:
        client = client_for(authorization)
        with store() as s:
            # "1:" and "n:" keep the keys of single and batch sends apart (x never meets batch x's x:0).
            key = f"api:{client.name}:1:{idempotency_key}" if idempotency_key else None
            existed = key is not None and reused(s, key, req) is not None
            view = queue(s, client, req, key)
            record(s, client, f"POST /v1/messages id={view['id']} to={mask(req.to)}" + (" (repeat)" if existed else ""))
        notify()
        return JSONResponse(view, status_code=200 if existed else 201)

    @app.post("/v1/messages/batch", status_code=201, summary="Queue many SMS at once (all or nothing)")
    def send_batch(
        req: BatchRequest,
        authorization: str | None = Header(default=None),
        idempotency_key: str | None = Header(default=None, max_length=128),
    ) -> Any:
        client = client_for(authorization, cost=len(req.messages))
        with store() as s:
            for i, m in enumerate(req.messages):  # check everything before writing anything
                try:
                    admin.check_send(cfg, m.to, m.text, m.at, m.priority)
                except InputError as exc:
                    raise ApiError(422, f"messages.{i}.{exc.field or 'text'}", str(exc)) from None
            keys = [f"api:{client.name}:n:{idempotency_key}:{i}" for i in range(len(req.messages))]
            if idempotency_key:
                found = [reused(s, k, m) is not None for k, m in zip(keys, req.messages, strict=True)]
                extra = s.outbox.message_by_dedup_key(f"api:{client.name}:n:{idempotency_key}:{len(req.messages)}")
                if any(found) and (not all(found) or extra is not None):
                    raise ApiError(
                        409,
                        "Idempotency-Key",
                        "this Idempotency-Key was used for a batch of another size; use a new key for a new batch",
                    )
            ids = []
            try:
                with s.tx():
                    for i, m in enumerate(req.messages):
                        ids.append(enqueue(s, client, m, keys[i] if idempotency_key else None))
                    s.event(
                        "http", client.name, "request", f"POST /v1/messages/batch n={len(ids)}", f"api:{client.name}"
                    )
            except BudgetError as exc:
                raise ApiError(402, "budget", str(exc)) from None
            views = [message_view(s, i) for i in ids]
        notify()
        return {"messages": views}

    @app.get("/v1/messages/{message_id}", summary="Status, parts and cost of one message")
    def get_message(message_id: int = Path(ge=1, le=MAX_ID), authorization: str | None = Header(default=None)) -> Any:
        client = client_for(authorization)
        with store() as s:
            if s.outbox.api_message(message_id, client.name) is None:
                raise ApiError(404, "message_id", f"no message {message_id} from this client")
            record(s, client, f"GET /v1/messages/{message_id}")
            return message_view(s, message_id)

    @app.get("/v1/campaigns/{campaign_id}", summary="Progress and cost of a campaign this client created")
    def get_campaign(campaign_id: int = Path(ge=1, le=MAX_ID), authorization: str | None = Header(default=None)) -> Any:
        client = client_for(authorization)
        with store() as s:
            row = s.campaigns.api_campaign(campaign_id, client.name)
            if row is None:
                raise ApiError(404, "campaign_id", f"no campaign {campaign_id} from this client")
            progress = s.campaigns.progress(campaign_id)
            record(s, client, f"GET /v1/campaigns/{campaign_id}")
        return {
            "id": campaign_id,
            "name": row.name,
            "state": row.state,
            "recipients": row.recipients,
            "states": progress.states.nonzero(),
            "segments_left": progress.segments_left,
            "cost_fen": progress.cost_fen,
        }

    @app.get("/v1/inbound", summary="Inbound SMS after a cursor (the id of the last one you have)")
    def inbound(
        since: int = Query(default=0, ge=0, le=MAX_ID),
        limit: int = Query(default=100, ge=1, le=1000),
        authorization: str | None = Header(default=None),
    ) -> Any:
        client = client_for(authorization)
        grant = client.inbound_grant
        if not grant:
            raise ApiError(
                403,
                "client",
                f'client {client.name} may not read inbound SMS (set inbound = "vote" or "*" in its table)',
            )
        with store() as s:
            rows = s.inbox.since(since, limit, grant)
            record(s, client, f"GET /v1/inbound since={since} n={len(rows)}")
        return {"messages": [r.as_dict() for r in rows], "next_cursor": rows[-1].id if rows else since}

    from smsd.http.kannel import mount_kannel

    mount_kannel(app, cfg, store, limiter, notify)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app


__all__ = ["create_app", "token_hash", "SmsdError"]
