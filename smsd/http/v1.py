"""The /v1 routes: each calls one verb of smsd.actions.api, with its store and client as
dependencies, and turns its answer into JSON (its refusals into status codes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from smsd.actions import api
from smsd.http.deps import Authenticated, Client, charge, this_store

MAX_ID = 2**63 - 1  # SQLite's INTEGER: a larger id or cursor is a 422, not a 500

router = APIRouter(prefix="/v1")


class SendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=32, description="Mobile number, e.g. +8613800138000")
    text: str = Field(min_length=1, max_length=1000)
    priority: int | None = Field(default=None, ge=0, le=9)
    at: str | None = Field(default=None, description="Send later: 'YYYY-MM-DD HH:MM' (Asia/Shanghai)")
    report: bool = True

    def value(self) -> api.ApiSend:
        return api.ApiSend(self.to, self.text, self.priority, self.at, self.report)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: list[SendRequest] = Field(min_length=1, max_length=1000)


@router.post("/messages", status_code=201, summary="Queue one SMS")
def send_one(
    request: Request,
    req: SendRequest,
    client: Client,
    idempotency_key: str | None = Header(default=None, max_length=128),
) -> Any:
    store = this_store(request)
    view, existed = api.send(store, request.app.state.cfg, client, req.value(), idempotency_key)
    request.app.state.notify()
    return JSONResponse(view, status_code=200 if existed else 201)


@router.post("/messages/batch", status_code=201, summary="Queue many SMS at once (all or nothing)")
def send_batch(
    request: Request,
    req: BatchRequest,
    client: Authenticated,
    idempotency_key: str | None = Header(default=None, max_length=128),
) -> Any:
    store = this_store(request)
    charge(request, client, len(req.messages))  # a batch of 50 counts as 50
    views = api.send_batch(store, request.app.state.cfg, client, [m.value() for m in req.messages], idempotency_key)
    request.app.state.notify()
    return {"messages": views}


@router.get("/messages/{message_id}", summary="Status, parts and cost of one message")
def get_message(request: Request, client: Client, message_id: int = Path(ge=1, le=MAX_ID)) -> Any:
    store = this_store(request)
    return api.message(store, client, message_id)


@router.get("/campaigns/{campaign_id}", summary="Progress and cost of a campaign this client created")
def get_campaign(request: Request, client: Client, campaign_id: int = Path(ge=1, le=MAX_ID)) -> Any:
    store = this_store(request)
    return api.campaign(store, client, campaign_id)


@router.get("/inbound", summary="Inbound SMS after a cursor (the id of the last one you have)")
def inbound(
    request: Request,
    client: Client,
    since: int = Query(default=0, ge=0, le=MAX_ID),
    limit: int = Query(default=100, ge=1, le=1000),
) -> Any:
    store = this_store(request)
    return api.inbound(store, client, since, limit)


class BroadcastRequest(BaseModel):
    """A broadcast as `smsd broadcast` takes it; an account's token only (its part of the tree)."""

    model_config = ConfigDict(extra="forbid")
    orgs: list[str] = Field(default_factory=list, max_length=100)
    groups: list[str] = Field(default_factory=list, max_length=100)
    numbers: list[str] = Field(default_factory=list, max_length=10_000)
    everyone: bool = False
    text: str | None = Field(default=None, min_length=1, max_length=1000)
    template: str | None = Field(default=None, max_length=64)
    variables: dict[str, str] | None = None
    at: str | None = Field(default=None, description="Start later: 'YYYY-MM-DD HH:MM' or 明天8点 (Asia/Shanghai)")
    urgent: bool = False
    confirm: bool = False
    name: str | None = Field(default=None, max_length=100)
    dry_run: bool = False

    def value(self) -> api.ApiBroadcast:
        return api.ApiBroadcast(
            tuple(self.orgs),
            tuple(self.groups),
            tuple(self.numbers),
            self.everyone,
            self.text,
            self.template,
            self.variables,
            self.at,
            self.urgent,
            self.confirm,
            self.name,
            self.dry_run,
        )


@router.get("/members", summary="Members of the account's part of the org tree (account tokens)")
def members(
    request: Request,
    client: Client,
    org: str | None = Query(default=None, max_length=200),
    group: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=1000, ge=1, le=100_000),
) -> Any:
    store = this_store(request)
    return api.members(store, client, org, group, limit)


@router.post("/broadcasts", status_code=201, summary="A broadcast within the account's part of the tree")
def broadcast(request: Request, req: BroadcastRequest, client: Client) -> Any:
    store = this_store(request)
    answer = api.broadcast(store, request.app.state.cfg, client, req.value())
    if answer.get("campaign"):
        request.app.state.notify()
    return JSONResponse(answer, status_code=200 if req.dry_run else (202 if answer.get("approval") else 201))


@router.get("/campaigns", summary="Campaigns of the account's part of the tree (account tokens)")
def campaigns(request: Request, client: Client) -> Any:
    store = this_store(request)
    return api.campaigns(store, client)


@router.get("/polls", summary="Polls of the account's part of the tree (account tokens)")
def polls(request: Request, client: Client) -> Any:
    store = this_store(request)
    return api.poll_list(store, client)


@router.get("/costs", summary="Cost of the account's part of the tree, grouped (account tokens)")
def costs(
    request: Request,
    client: Client,
    by: str = Query(default="org", pattern="^(org|month|campaign|account|modem)$"),
    date_from: str | None = Query(default=None, alias="from", max_length=32),
    date_to: str | None = Query(default=None, alias="to", max_length=32),
    org: str | None = Query(default=None, max_length=200),
) -> Any:
    store = this_store(request)
    return api.costs(store, client, by, date_from, date_to, org)
