"""What every route depends on: the store of this thread, and the client a token names.

Routes take the client as a FastAPI dependency (``Depends``) and the store from this_store()
in their body (the thread they run on), so no route opens a store or checks a token itself;
both live on ``app.state`` (set by create_app).
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from smsd.actions import sessions
from smsd.actions.api import Caller
from smsd.config import Config
from smsd.errors import InputError
from smsd.http.auth import RateLimiter, find_client
from smsd.roles import Actor
from smsd.store import Store


class ApiError(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


class Stores:
    """One store per server thread (SQLite connections are not shared between threads)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._local = threading.local()

    def get(self) -> Store:
        s: Store | None = getattr(self._local, "store", None)
        if s is None:
            s = self._local.store = Store(self.cfg.database)
        return s


def this_store(request: Request) -> Store:
    """The store of the thread this runs on: call it in the route's body. FastAPI runs each sync
    dependency on a thread of its pool, not always the one the route then runs on, and a Store
    belongs to one thread (a connection shared by two sees one's read snapshot from the other:
    a message just queued was "not found")."""
    stores: Stores = request.app.state.stores
    return stores.get()


async def authenticated(request: Request, authorization: str | None = Header(default=None)) -> Caller:
    """The client whose token this is, or the account an account's token acts as (401 otherwise;
    403 when that account is disabled or locked); its requests are not yet counted.

    On the event loop: a client of [http.clients] is a hash compared in memory, with no hop to a
    thread of the pool; only an account's token is looked up in the store, on one."""
    token = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else None
    client = find_client(request.app.state.cfg, token)
    if client is not None:
        request.state.caller = found = Caller(client)
        return found
    if token:
        actor = await run_in_threadpool(_account, request, token)
        if actor is not None:
            request.state.caller = caller = Caller.of_account(actor)
            return caller
    raise ApiError(401, "Authorization", "missing or unknown token (Authorization: Bearer <token>)")


def _account(request: Request, token: str) -> Actor | None:
    source = request.client.host if request.client else ""
    try:
        return sessions.token_actor(this_store(request), token, source=source)
    except InputError as exc:
        raise ApiError(403, "Authorization", str(exc)) from None


def charge(request: Request, client: Caller, cost: int = 1) -> None:
    """Count cost messages (or requests) against the client's rate: 429 beyond it."""
    limiter: RateLimiter = request.app.state.limiter
    if not limiter.allow(client.name, client.rate_per_minute, cost):
        raise ApiError(429, "client", f"more than {client.rate_per_minute} messages a minute")


async def client(request: Request, found: Annotated[Caller, Depends(authenticated)]) -> Caller:
    """The client, with this request counted against its rate (in memory: on the event loop)."""
    charge(request, found)
    return found


Client = Annotated[Caller, Depends(client)]
Authenticated = Annotated[Caller, Depends(authenticated)]
