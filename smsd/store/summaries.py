"""Frozen records of what the store computes or joins: reports, progress, health, deliveries.

records.py holds one record per stored entity (a message, a member, a campaign); these are the
store's answers that are not one table's row: counts per state, a cost report, a poll's results,
a recipient's receipt, a modem's health. Each field is checked by mypy wherever it is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsd.store.records import Record

STATES = ("queued", "sending", "sent", "delivered", "failed", "cancelled", "expired")


@dataclass(frozen=True, slots=True)
class StateCounts(Record):
    """Messages per state (of the whole outbox, or of one campaign)."""

    queued: int = 0
    sending: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0

    @classmethod
    def of_pairs(cls, pairs: list[tuple[str, int]]) -> StateCounts:
        return cls(**{state: int(n) for state, n in pairs if state in STATES})

    @property
    def open(self) -> int:
        """Still to send: queued or being sent."""
        return self.queued + self.sending

    @property
    def total(self) -> int:
        return sum(getattr(self, s) for s in STATES)

    def nonzero(self) -> dict[str, int]:
        """The states that have messages, by name (for JSON and `smsd status`)."""
        return {s: getattr(self, s) for s in STATES if getattr(self, s)}


@dataclass(frozen=True, slots=True)
class CampaignProgress(Record):
    states: StateCounts
    segments_left: int
    cost_fen: int


@dataclass(frozen=True, slots=True)
class CostRow(Record):
    """One group of a cost report (an org unit, a month, a modem, ...), in fen; doubt_ counts
    what was booked without an answer from the network."""

    key: str
    segments: int
    fen: int
    doubt_segments: int = 0
    doubt_fen: int = 0
    name: str = ""


@dataclass(frozen=True, slots=True)
class CostReport(Record):
    by: str
    rows: tuple[CostRow, ...]
    total: CostRow  # the plain sum of the same rows (key "")


@dataclass(frozen=True, slots=True)
class DeliveryRow(Record):
    key: str
    messages: int
    sent: int
    delivered: int
    failed: int
    pending: int
    dropped: int


@dataclass(frozen=True, slots=True)
class ArchiveRow(Record):
    """One sent message for the archive export, with its recipient's name and org unit."""

    id: int
    to_number: str
    created_at: str
    state: str
    segments: int
    text: str
    cost_fen: int
    sent_at: str | None = None
    delivered_at: str | None = None
    campaign_id: int | None = None
    modem: str | None = None
    name: str | None = None
    member_org: str | None = None


@dataclass(frozen=True, slots=True)
class Budget(Record):
    org: str
    month: str
    limit_fen: int
    set_by: str
    set_at: str


@dataclass(frozen=True, slots=True)
class PollOption(Record):
    option: int
    label: str
    votes: int
    percent: float


@dataclass(frozen=True, slots=True)
class PollResults(Record):
    id: int
    question: str
    votes: int
    audience: int
    closes_at: str
    policy: str
    options: tuple[PollOption, ...]

    def as_json(self) -> dict[str, object]:
        return {**self.as_dict(), "options": [o.as_dict() for o in self.options]}


@dataclass(frozen=True, slots=True)
class Notice(Record):
    """The newest campaign message that reached a number, with its campaign's flags."""

    campaign_id: int
    confirm: int
    poll_id: int | None = None


@dataclass(frozen=True, slots=True)
class Recipient(Record):
    """A recipient of a confirm campaign and when they confirmed (None: not yet)."""

    phone: str
    member_id: int | None = None
    name: str | None = None
    confirmed_at: str | None = None


@dataclass(frozen=True, slots=True)
class ReceiptStatus(Record):
    confirmed: tuple[Recipient, ...]
    pending: tuple[Recipient, ...]


@dataclass(frozen=True, slots=True)
class RedCampaign(Record):
    id: int
    name: str
    state: str
    max_length: int
    created_by: str
    created_at: str
    owner_org: str | None = None  # the part of the org tree that opened it (None: the county)


@dataclass(frozen=True, slots=True)
class RedSubmission(Record):
    id: int
    red_campaign_id: int
    phone: str
    text: str
    text_key: str
    state: str
    submitted_at: str
    member_id: int | None = None
    org: str | None = None
    reason: str | None = None
    inbox_id: int | None = None
    reviewed_at: str | None = None
    reviewed_by: str | None = None
    name: str | None = None  # the member's
    campaign: str | None = None  # the red campaign's name


@dataclass(frozen=True, slots=True)
class FlaggedNumber(Record):
    phone: str
    reason: str
    flagged_at: str


@dataclass(frozen=True, slots=True)
class Feedback(Record):
    """A feedback SMS with the member's name."""

    id: int
    modem: str
    sender: str
    text: str
    received_at: str
    feedback_read: int = 0
    member_id: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ApiInbound(Record):
    """An inbound SMS as the HTTP API hands it to a client."""

    id: int
    modem: str
    sender: str
    text: str
    received_at: str
    parts: int
    incomplete: int = 0
    kind: str | None = None
    command: str | None = None
    member_id: int | None = None  # who sent it, when a member (not shown to clients)

    def shown(self) -> dict[str, object]:
        """What a client sees."""
        return {k: v for k, v in self.as_dict().items() if k != "member_id"}


@dataclass(frozen=True, slots=True)
class WebhookDue(Record):
    """A webhook delivery that is due, with the inbound SMS it forwards."""

    id: int
    forward: str
    inbox_id: int
    attempts: int
    sender: str
    text: str
    received_at: str
    modem: str
    command: str | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookStatus(Record):
    forward: str
    pending: int
    delivered: int
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ModemHealth(Record):
    """A modem's (or link's) health as last recorded by its worker."""

    name: str
    updated_at: str
    port: str | None = None
    state: str | None = None
    signal: int | None = None
    registered: int | None = None
    operator: str | None = None
    model: str | None = None
    imei: str | None = None
    imsi: str | None = None
    storage_used: int | None = None
    storage_total: int | None = None
    last_error: str | None = None
    last_incident: str | None = None
    last_incident_at: str | None = None
    resume_requested_at: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadState(Record):
    name: str
    state: str
    crashes: int
    updated_at: str
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ModemDay(Record):
    """What a modem sent (booked segments and their cost) and received since a time."""

    modem: str
    sent: int = 0
    cost_fen: int = 0
    received: int = 0


@dataclass(frozen=True, slots=True)
class Purged(Record):
    outbox: int
    inbox: int
    parts: int
    red: int
    audit: int = 0  # audit rows removed (only those older than 180 days)
