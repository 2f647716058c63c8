"""The HTTP API's verbs: sends billed to a client (with idempotency keys and all-or-nothing
batches), and what a client may read back (its messages, its campaigns, inbound SMS it is
granted). The API's words are English (its clients are programs); refusals are typed values
the HTTP front end turns into status codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from smsd import admin, phone
from smsd.actions import broadcasts as broadcast_verbs
from smsd.actions import campaigns as campaign_verbs
from smsd.actions import messages, polls, reports, roster
from smsd.actions.scope import allow, audited, refused
from smsd.clock import parse_ts
from smsd.config import Config, HttpClient
from smsd.errors import InputError, NotAllowed
from smsd.phone import mask
from smsd.roles import Actor
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


@dataclass(frozen=True)
class Caller:
    """Who calls the API: a client of [http.clients] (actor None: it sends as itself, billed to
    its org), or an account's token (smsd user token), which acts with the account's role and
    part of the org tree in every verb."""

    client: HttpClient
    actor: Actor | None = None

    @classmethod
    def of_account(cls, actor: Actor) -> Caller:
        return cls(HttpClient(name=f"user:{actor.login}", org=actor.scope, inbound="*"), actor)

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def rate_per_minute(self) -> int:
        return self.client.rate_per_minute

    def audit_actor(self) -> Actor:
        """Who the audit trail names: the account, or the client by its name."""
        return self.actor or Actor(self.client.name, "client", "", "api", self.client.name)

    def account(self) -> Actor:
        """The account behind the token; a client of [http.clients] has none (403)."""
        if self.actor is None:
            raise Refusal(
                "forbidden",
                "Authorization",
                f"client {self.client.name} of [http.clients] reads only its own messages; "
                "this needs an account's token (smsd user token LOGIN)",
            )
        return self.actor


def refusal(store: Store, client: Caller, route: str, exc: NotAllowed) -> None:
    """A request refused for its actor's role or scope, in the audit trail."""
    refused(store, client.audit_actor(), route, exc)


def actor(client: Caller) -> str:
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


def record(store: Store, client: Caller, what: str) -> None:
    """The client's request, in the event log."""
    with store.tx():
        store.event("http", client.name, "request", what, actor(client))


def _queue(store: Store, cfg: Config, client: Caller, req: ApiSend, key: str | None) -> int:
    """The same verb as `smsd send`, billed to the client's account and org unit (an account's
    token sends within its part of the tree, as `smsd --as` does)."""
    if client.actor is not None:
        allow(client.actor, "send")
        messages.check_recipient(store, client.actor, req.to)
    mid = admin.send(
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
        org=client.client.org or None,
    ).id
    audited(store, client.audit_actor(), "send", f"message:{mid}", f"to {mask(phone.normalise(req.to))}")
    return mid


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
    store: Store, cfg: Config, client: Caller, req: ApiSend, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """Queue one message for a client: (its view, whether the key had made it before)."""
    # "1:" and "n:" keep the keys of single and batch sends apart (x never meets batch x's x:0).
    key = f"api:{client.name}:1:{idempotency_key}" if idempotency_key else None
    existed = key is not None and _reused(store, cfg, key, req) is not None
    with store.tx():  # the budget check, the insert and the request's audit row: one commit
        mid = _queue(store, cfg, client, req, key)
        record(store, client, f"POST /v1/messages id={mid} to={mask(req.to)}" + (" (repeat)" if existed else ""))
        shown = view(store, mid)
    return shown, existed


def send_batch(
    store: Store, cfg: Config, client: Caller, reqs: list[ApiSend], idempotency_key: str | None
) -> list[dict[str, Any]]:
    """Queue many messages for a client, all or nothing: every one is checked before any is written."""
    for i, m in enumerate(reqs):
        try:
            admin.check_send(cfg, m.to, m.text, m.at, m.priority)
            if client.actor is not None:
                messages.check_recipient(store, client.actor, m.to)
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


def kannel_send(store: Store, cfg: Config, client: Caller, numbers: list[str], text: str, *, report: bool) -> list[int]:
    """The Kannel door's sendsms: one text to checked numbers, all in one transaction (the
    budget checked in it), each send audited."""
    with store.tx():
        ids = []
        for n in numbers:
            mid = admin.send(
                store,
                cfg,
                n,
                text,
                actor=actor(client),
                account=actor(client),
                org=client.client.org or None,
                report=report,
            ).id
            audited(store, client.audit_actor(), "send", f"message:{mid}", f"to {mask(phone.normalise(n))}")
            ids.append(mid)
        store.event("http", client.name, "request", f"sendsms to {len(numbers)} number(s)", actor(client))
    return ids


def message(store: Store, client: Caller, message_id: int) -> dict[str, Any]:
    """A message this client queued (other clients' are not found)."""
    if store.outbox.api_message(message_id, client.name) is None:
        raise Refusal("not_found", "message_id", f"no message {message_id} from this client")
    record(store, client, f"GET /v1/messages/{message_id}")
    return view(store, message_id)


def campaign(store: Store, client: Caller, campaign_id: int) -> dict[str, Any]:
    """Progress and cost of a campaign this client created (an account: of its part of the tree)."""
    if client.actor is not None:
        row = campaign_verbs.get(store, client.actor, campaign_id)
    else:
        found = store.campaigns.api_campaign(campaign_id, client.name)
        if found is None:
            raise Refusal("not_found", "campaign_id", f"no campaign {campaign_id} from this client")
        row = found
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


def inbound(store: Store, client: Caller, since: int, limit: int) -> dict[str, Any]:
    """Inbound SMS after a cursor that the client's grant covers, and the next cursor."""
    grant = client.client.inbound_grant
    if not grant:
        raise Refusal(
            "forbidden",
            "client",
            f'client {client.name} may not read inbound SMS (set inbound = "vote" or "*" in its table)',
        )
    rows = store.inbox.since(since, limit, grant)
    cursor = rows[-1].id if rows else since
    if client.actor is not None and client.actor.scope:  # its members' SMS only
        mine = messages.covered(store, client.actor, {r.member_id for r in rows})
        rows = [r for r in rows if r.member_id in mine]
    record(store, client, f"GET /v1/inbound since={since} n={len(rows)}")
    return {"messages": [r.shown() for r in rows], "next_cursor": cursor}


# What an account's token may do beyond a client's: the same verbs as the CLI's, with its scope.


@dataclass(frozen=True)
class ApiBroadcast:
    """A broadcast as an account asks for it through the API (the same as `smsd broadcast`)."""

    orgs: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    everyone: bool = False
    text: str | None = None
    template: str | None = None
    variables: dict[str, str] | None = None
    at: str | None = None
    urgent: bool = False
    confirm: bool = False
    name: str | None = None
    dry_run: bool = False


def members(store: Store, client: Caller, org: str | None, group: str | None, limit: int) -> dict[str, Any]:
    """Members of the account's part of the tree (of one org unit or group within it)."""
    found = roster.members(store, (org,) if org else (), (group,) if group else (), limit, client.account())
    record(store, client, f"GET /v1/members n={len(found)}")
    return {"members": [{"id": m.id, "name": m.name, "phone": m.phone, "org": m.org, "tags": m.tags} for m in found]}


def broadcast(store: Store, cfg: Config, client: Caller, req: ApiBroadcast) -> dict[str, Any]:
    """A broadcast within the account's part of the tree: queued, or waiting for approval."""
    who = client.account()
    asked = broadcast_verbs.Asked(
        orgs=req.orgs,
        groups=req.groups,
        numbers=tuple(phone.normalise(n) for n in req.numbers),
        everyone=req.everyone,
        text=req.text,
        template=req.template,
        variables=dict(req.variables or {}),
        at=req.at,
        urgent=req.urgent,
        confirm=req.confirm,
        name=req.name,
    )
    planned = broadcast_verbs.plan(store, cfg, asked, who)
    summary = planned.summary()
    figures = {k: summary[k] for k in ("recipients", "total_segments", "cost_fen", "starts", "eta", "notes")}
    waits = bool(broadcast_verbs.approval_rules(cfg, who, planned))
    if req.dry_run:
        return {**figures, "needs_approval": waits}
    started = broadcast_verbs.start(store, cfg, asked, who, planned=planned)
    record(store, client, f"POST /v1/broadcasts campaign={started.campaign_id} approval={started.approval_id}")
    return {**figures, "campaign": started.campaign_id, "approval": started.approval_id}


def campaigns(store: Store, client: Caller) -> dict[str, Any]:
    found = campaign_verbs.recent(store, client.account())
    return {"campaigns": [{"id": c.id, "name": c.name, "state": c.state, "recipients": c.recipients} for c in found]}


def poll_list(store: Store, client: Caller) -> dict[str, Any]:
    found = polls.polls(store, client.account())
    return {"polls": [{"id": p.id, "question": p.question, "options": list(p.options)} for p in found]}


def costs(
    store: Store, client: Caller, by: str, date_from: str | None, date_to: str | None, org: str | None
) -> dict[str, Any]:
    """What was spent within the account's part of the tree, grouped by org, month, campaign or account."""
    report = reports.cost(store, by, date_from=date_from, date_to=date_to, org=org, actor=client.account())
    return {
        "by": by,
        "rows": [r.as_dict() for r in report.rows],
        "total": report.total.as_dict(),
    }
