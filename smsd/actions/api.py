"""The HTTP API's verbs: sends billed to a client (with idempotency keys and all-or-nothing
batches), and what a client may read back (its messages, its campaigns, inbound SMS it is
granted). The API's words are English (its clients are programs); refusals are typed values
the HTTP front end turns into status codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from smsd import admin, phone
from smsd.clock import parse_ts
from smsd.config import Config, HttpClient
from smsd.errors import InputError
from smsd.phone import mask
from smsd.store import OutboundMessage, Store


class Refusal(Exception):
    """A request the API refuses: what kind (conflict, not_found, forbidden), which field, why."""

    def __init__(self, what: Literal["conflict", "not_found", "forbidden"], field: str, message: str) -> None:
        super().__init__(message)
        self.what, self.field, self.message = what, field, message


@dataclass(frozen=True)
class ApiSend:
    """One message as a client asks for it."""

    to: str
    text: str
    priority: int | None = None
    at: str | None = None
    report: bool = True


def actor(client: HttpClient) -> str:
    return f"api:{client.name}"


def view(store: Store, message_id: int) -> dict[str, Any]:
    """A message as the API shows it to its client."""
    m = store.outbox.message_or_error(message_id)
    parts = store.outbox.parts(message_id)
    return {
        "id": message_id,
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


def record(store: Store, client: HttpClient, what: str) -> None:
    """The client's request, in the event log."""
    with store.tx():
        store.event("http", client.name, "request", what, actor(client))


def _queue(store: Store, cfg: Config, client: HttpClient, req: ApiSend, key: str | None) -> int:
    """The same verb as `smsd send`, billed to the client's account and org unit."""
    return admin.send(
        store,
        cfg,
        req.to,
        req.text,
        at=req.at,
        priority=req.priority,
        report=req.report,
        actor=actor(client),
        dedup_key=key,
        account=actor(client),
        org=client.org or None,
    ).id


def _same_options(cfg: Config, first: OutboundMessage, req: ApiSend) -> bool:
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


def _reused(store: Store, cfg: Config, key: str, req: ApiSend) -> OutboundMessage | None:
    """The message an Idempotency-Key already made, or None; a conflict when the request differs."""
    first = store.outbox.message_by_dedup_key(key)
    if first is None:
        return None
    try:
        same = first.to_number == phone.normalise(req.to) and first.text == req.text
    except InputError:
        same = False
    if same and not _same_options(cfg, first, req):
        raise Refusal(
            "conflict",
            "Idempotency-Key",
            "this Idempotency-Key was used for the same message with another at, priority or report; "
            "use a new key for a new request",
        )
    if not same:
        raise Refusal(
            "conflict",
            "Idempotency-Key",
            f"this Idempotency-Key was used for another message (to {mask(first.to_number)}, "
            f"{len(first.text)} characters); this request is to {mask(req.to)}, {len(req.text)} characters. "
            "Use a new key for a new message.",
        )
    return first


def send(
    store: Store, cfg: Config, client: HttpClient, req: ApiSend, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """Queue one message for a client: (its view, whether the key had made it before)."""
    # "1:" and "n:" keep the keys of single and batch sends apart (x never meets batch x's x:0).
    key = f"api:{client.name}:1:{idempotency_key}" if idempotency_key else None
    existed = key is not None and _reused(store, cfg, key, req) is not None
    with store.tx():  # the budget check and the insert in one transaction
        mid = _queue(store, cfg, client, req, key)
    shown = view(store, mid)
    record(store, client, f"POST /v1/messages id={mid} to={mask(req.to)}" + (" (repeat)" if existed else ""))
    return shown, existed


def send_batch(
    store: Store, cfg: Config, client: HttpClient, reqs: list[ApiSend], idempotency_key: str | None
) -> list[dict[str, Any]]:
    """Queue many messages for a client, all or nothing: every one is checked before any is written."""
    for i, m in enumerate(reqs):
        try:
            admin.check_send(cfg, m.to, m.text, m.at, m.priority)
        except InputError as exc:
            exc.field = f"messages.{i}.{exc.field or 'text'}"
            raise
    keys = [f"api:{client.name}:n:{idempotency_key}:{i}" for i in range(len(reqs))]
    if idempotency_key:
        found = [_reused(store, cfg, k, m) is not None for k, m in zip(keys, reqs, strict=True)]
        extra = store.outbox.message_by_dedup_key(f"api:{client.name}:n:{idempotency_key}:{len(reqs)}")
        if any(found) and (not all(found) or extra is not None):
            raise Refusal(
                "conflict",
                "Idempotency-Key",
                "this Idempotency-Key was used for a batch of another size; use a new key for a new batch",
            )
    with store.tx():
        ids = [_queue(store, cfg, client, m, keys[i] if idempotency_key else None) for i, m in enumerate(reqs)]
        store.event("http", client.name, "request", f"POST /v1/messages/batch n={len(ids)}", actor(client))
    return [view(store, i) for i in ids]


def message(store: Store, client: HttpClient, message_id: int) -> dict[str, Any]:
    """A message this client queued (other clients' are not found)."""
    if store.outbox.api_message(message_id, client.name) is None:
        raise Refusal("not_found", "message_id", f"no message {message_id} from this client")
    record(store, client, f"GET /v1/messages/{message_id}")
    return view(store, message_id)


def campaign(store: Store, client: HttpClient, campaign_id: int) -> dict[str, Any]:
    """Progress and cost of a campaign this client created."""
    row = store.campaigns.api_campaign(campaign_id, client.name)
    if row is None:
        raise Refusal("not_found", "campaign_id", f"no campaign {campaign_id} from this client")
    progress = store.campaigns.progress(campaign_id)
    record(store, client, f"GET /v1/campaigns/{campaign_id}")
    return {
        "id": campaign_id,
        "name": row.name,
        "state": row.state,
        "recipients": row.recipients,
        "states": progress.states.nonzero(),
        "segments_left": progress.segments_left,
        "cost_fen": progress.cost_fen,
    }


def inbound(store: Store, client: HttpClient, since: int, limit: int) -> dict[str, Any]:
    """Inbound SMS after a cursor that the client's grant covers, and the next cursor."""
    grant = client.inbound_grant
    if not grant:
        raise Refusal(
            "forbidden",
            "client",
            f'client {client.name} may not read inbound SMS (set inbound = "vote" or "*" in its table)',
        )
    rows = store.inbox.since(since, limit, grant)
    record(store, client, f"GET /v1/inbound since={since} n={len(rows)}")
    return {"messages": [r.as_dict() for r in rows], "next_cursor": rows[-1].id if rows else since}
