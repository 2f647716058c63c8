"""What the store hands out: frozen records, one type per concept, instead of dict rows.

A record is a snapshot of its row when it was read; to change it, call a repository verb and
read it again. Times are the stored UTC strings (smsd.clock.parse_ts turns them into datetimes);
flags stored as 0/1 stay ints where SQL sums them and are bools where a person reads them.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from smsd.values import ProviderRef

R = TypeVar("R", bound="Record")


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type[Record]) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclass(frozen=True, slots=True)
class Record:
    @classmethod
    def of(cls: type[R], row: Mapping[str, Any]) -> R:
        """The record of a row (columns the record does not name are ignored)."""
        keys = set(row.keys())  # a sqlite3.Row's `in` looks at values, not column names
        return cls(**{name: row[name] for name in _names(cls) if name in keys})

    @classmethod
    def each(cls: type[R], cursor: sqlite3.Cursor, batch: int = 1000) -> Iterator[R]:
        """The records of a query, read in batches; the column positions are worked out once."""
        names = set(_names(cls))
        picks = [(d[0], i) for i, d in enumerate(cursor.description or ()) if d[0] in names]
        while rows := cursor.fetchmany(batch):
            for row in rows:
                yield cls(**{name: row[i] for name, i in picks})

    def as_dict(self) -> dict[str, Any]:
        """For JSON and exports: every field by name."""
        return {name: getattr(self, name) for name in _names(type(self))}


class QueueOptions(TypedDict, total=False):
    """How a message is queued (Outbox.enqueue's options; each one's default is enqueue's)."""

    priority: int
    not_before: datetime | None
    expires_at: datetime | None
    srr: bool
    validity_minutes: int | None
    max_attempts: int
    campaign_id: int | None
    member_id: int | None
    account: str | None
    dedup_key: str | None
    quiet_ok: bool
    org: str | None
    template: str | None  # the template it was rendered from, with its variables (a template-based provider)
    variables: Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class OutboundMessage(Record):
    """One message to one number, with its sending state (the outbox row)."""

    id: int
    to_number: str
    text: str
    encoding: str
    segments: int
    priority: int
    state: str
    created_by: str
    created_at: str
    updated_at: str
    not_before: str | None = None
    expires_at: str | None = None
    retry_at: str | None = None
    attempts: int = 0
    max_attempts: int = 5
    resends: int = 0
    lease_owner: str | None = None
    lease_until: str | None = None
    modem: str | None = None
    concat_ref: int | None = None
    pinned_at: str | None = None
    srr: int = 1
    validity_minutes: int | None = None
    possible_duplicate: int = 0
    last_error: str | None = None
    campaign_id: int | None = None
    member_id: int | None = None
    org: str | None = None
    account: str | None = None
    dedup_key: str | None = None
    quiet_ok: int = 0
    held: int = 0
    purged: int = 0
    sent_at: str | None = None
    delivered_at: str | None = None
    finished_at: str | None = None
    template: str | None = None
    variables: str | None = None  # JSON object

    @property
    def template_variables(self) -> dict[str, str]:
        """The variables its template was rendered with ({} for a free text)."""
        value = json.loads(self.variables or "{}")
        return value if isinstance(value, dict) else {}

    @property
    def open(self) -> bool:
        return self.state in ("queued", "sending")


@dataclass(frozen=True, slots=True)
class Part(Record):
    """One segment of an outbound message, as submitted to a transport."""

    message_id: int
    seq: int
    total: int
    state: str
    modem: str | None = None
    provider_ref: ProviderRef | None = None
    provider_ref_unknown: int = 0
    price_fen: int | None = None
    submitted_at: str | None = None
    sent_at: str | None = None
    report_status: int | None = None
    report_at: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A message a transport claimed: its parts still to send, in order; the first is marked
    'submitting' (in flight) by the claim."""

    message: OutboundMessage
    todo: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class InboundMessage(Record):
    """One received SMS (its parts joined), and how the dispatcher handled it."""

    id: int
    modem: str
    sender: str
    text: str
    parts: int
    received_at: str
    state: str
    incomplete: int = 0
    undecodable: int = 0
    scts: str | None = None
    handled_at: str | None = None
    kind: str | None = None
    command: str | None = None
    normalized: str | None = None
    member_id: int | None = None
    feedback_read: int = 0


@dataclass(frozen=True, slots=True)
class Member(Record):
    """A person on the roster, with the path of their org unit and their tags."""

    id: int
    name: str
    phone: str
    created_at: str
    updated_at: str
    org_id: int | None = None
    org: str | None = None
    joined: str | None = None
    extras: str = "{}"
    tags: str | None = None
    opted_out: int = 0
    opted_out_at: str | None = None

    @property
    def extra(self) -> dict[str, Any]:
        """The roster's extra columns (template variables beyond name, org, joined)."""
        value = json.loads(self.extras or "{}")
        return value if isinstance(value, dict) else {}

    @property
    def tag_list(self) -> list[str]:
        return [t for t in (self.tags or "").split(",") if t]


@dataclass(frozen=True, slots=True)
class Campaign(Record):
    """A broadcast: one message per recipient, queued together."""

    id: int
    name: str
    kind: str
    selection: str
    state: str
    recipients: int
    segments: int
    estimate_fen: int
    created_by: str
    created_at: str
    updated_at: str
    template: str | None = None
    text: str | None = None
    urgent: int = 0
    not_before: str | None = None
    owner_org: str | None = None
    confirm: int = 0
    poll_id: int | None = None


@dataclass(frozen=True, slots=True)
class Poll(Record):
    """A poll: its options (1-based in SMS, a list here) and when it is open."""

    id: int
    question: str
    options: tuple[str, ...]
    audience: str
    opens_at: str
    closes_at: str
    policy: str
    created_by: str
    created_at: str
    announce: int = 0
    announced: int = 0
    owner_org: str | None = None  # the part of the org tree it belongs to (None: the county)

    def __post_init__(self) -> None:
        if isinstance(self.options, str):  # as stored: a JSON list
            object.__setattr__(self, "options", tuple(json.loads(self.options)))


@dataclass(frozen=True, slots=True)
class Event(Record):
    """One line of the append-only event log: what happened to which entity, by whom, when."""

    id: int
    at: str
    entity: str
    event: str
    entity_id: str | None = None
    detail: str = ""
    actor: str = "daemon"


@dataclass(frozen=True, slots=True)
class Rendered:
    """One recipient of a broadcast with the text rendered for them (what the store queues)."""

    member_id: int | None
    name: str
    phone: str
    text: str
    segments: int
    encoding: str = "ucs2"
    template: str | None = None  # rendered from this template, with these variables (None: a free text)
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CampaignDraft:
    """What a broadcast is, as the store records it: the plan's figures, not its callbacks."""

    template: str | None
    text: str | None
    selection: str  # JSON, as the admin chose the recipients
    urgent: bool
    recipients: int
    segments: int
    price_fen: int
    priority: int
    not_before: datetime | None
    expires_at: datetime
    srr: bool
    max_attempts: int
    owner_org: str | None = None
    confirm: bool = False
    poll_id: int | None = None

    @property
    def estimate_fen(self) -> int:
        return self.segments * self.price_fen


@dataclass
class MemberRow:
    """One member as a roster file gives them (line: where, for error messages): what
    Members.upsert takes."""

    line: int
    name: str
    phone: str
    org: str
    tags: list[str]
    joined: str | None
    extras: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Account(Record):
    """A person who uses smsd: a role within a subtree of the org tree (scope '' is the county)."""

    id: int
    login: str
    name: str
    role: str
    password_hash: str
    password_changed_at: str
    created_by: str
    created_at: str
    updated_at: str
    phone: str | None = None
    scope: str = ""
    enabled: int = 1
    must_change: int = 1
    failed_logins: int = 0
    locked_until: str | None = None
    any_number: int = 0  # granted: may send to numbers that are no member (a member elsewhere stays refused)


@dataclass(frozen=True, slots=True)
class AuditEntry(Record):
    """One line of the audit trail: who (actor, via, source) did what (action, target), with what result."""

    id: int
    at: str
    actor: str
    via: str
    action: str
    source: str = ""
    target: str = ""
    result: str = "ok"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Session(Record):
    """A login that is going on (the web console's): known by its token's hash, ended when
    revoked, idle too long or too old."""

    id: int
    login: str
    via: str
    created_at: str
    last_seen_at: str
    source: str = ""
    ended_at: str | None = None
    ended_why: str | None = None


@dataclass(frozen=True, slots=True)
class LoginCode(Record):
    """A one-time login code sent by SMS (its hash), for the login it challenges."""

    id: int
    login: str
    code_hash: str
    created_at: str
    expires_at: str
    source: str = ""
    used_at: str | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Approval(Record):
    """A broadcast waiting for an approver (待审批), or decided: what was asked (request, JSON)
    and its dry run when asked (summary, JSON)."""

    id: int
    author: str
    name: str
    request: str
    summary: str
    state: str
    created_at: str
    updated_at: str
    scope: str = ""
    revision: int = 1
    reason: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    campaign_id: int | None = None

    @property
    def asked(self) -> dict[str, Any]:
        return dict(json.loads(self.request))

    @property
    def dry_run(self) -> dict[str, Any]:
        return dict(json.loads(self.summary))
