"""Verbs on campaigns (broadcasts): the list, one's status, pause/resume/cancel, its receipts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from smsd import broadcast, interact
from smsd.actions.scope import allow, audited, within
from smsd.config import Config
from smsd.roles import CLI, Actor
from smsd.store import Campaign, OutboundMessage, Store
from smsd.store.summaries import CampaignProgress, ReceiptStatus


@dataclass(frozen=True)
class CampaignStatus:
    campaign: Campaign
    progress: CampaignProgress
    eta: datetime | None  # when its last message should go (running campaigns only)


def recent(store: Store, actor: Actor = CLI) -> list[Campaign]:
    """The newest campaigns the actor's part of the tree paid for (all of them for the county)."""
    return [c for c in store.campaigns.recent() if actor.covers(c.owner_org)]


def get(store: Store, actor: Actor, campaign_id: int) -> Campaign:
    """A campaign of the actor's part of the tree (paid for by it)."""
    row = store.campaigns.get(campaign_id)
    within(actor, row.owner_org)
    return row


def status(store: Store, cfg: Config, campaign_id: int, actor: Actor = CLI) -> CampaignStatus:
    row = get(store, actor, campaign_id)
    progress = store.campaigns.progress(campaign_id)
    eta = broadcast.campaign_eta(store, cfg, campaign_id) if row.state == "running" else None
    return CampaignStatus(row, progress, eta)


def transition(store: Store, campaign_id: int, action: str, actor: Actor = CLI) -> str:
    """Pause, resume or cancel a campaign; returns its new state."""
    allow(actor, "send")
    get(store, actor, campaign_id)
    with store.tx():
        state = store.campaigns.set_state(campaign_id, action, actor=actor.label)
        audited(store, actor, f"campaign.{action}", f"campaign:{campaign_id}")
    return state


def remind(store: Store, cfg: Config, campaign_id: int, *, again: bool = False, actor: Actor = CLI) -> int:
    """The notice again to those of a --confirm campaign who have not confirmed; how many."""
    allow(actor, "send")
    get(store, actor, campaign_id)
    n = interact.remind(store, cfg, campaign_id, actor=actor.label, again=again)
    audited(store, actor, "campaign.remind", f"campaign:{campaign_id}", f"{n} reminders")
    return n


def recipients(store: Store, campaign_id: int, actor: Actor = CLI, limit: int = 500) -> list[OutboundMessage]:
    """A campaign's messages (one per recipient), each with its state."""
    get(store, actor, campaign_id)
    return store.outbox.of_campaign(campaign_id, limit)


def receipts(store: Store, campaign_id: int, actor: Actor = CLI) -> ReceiptStatus:
    """Who confirmed a --confirm notice, and who has not yet."""
    get(store, actor, campaign_id)  # an unknown campaign is an InputError naming it
    return store.receipts.of_campaign(campaign_id)
