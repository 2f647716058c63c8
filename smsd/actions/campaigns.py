"""Verbs on campaigns (broadcasts): the list, one's status, pause/resume/cancel, its receipts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from smsd import broadcast
from smsd.config import Config
from smsd.store import Campaign, Store
from smsd.store.summaries import CampaignProgress, ReceiptStatus


@dataclass(frozen=True)
class CampaignStatus:
    campaign: Campaign
    progress: CampaignProgress
    eta: datetime | None  # when its last message should go (running campaigns only)


def recent(store: Store, actor: str = "cli") -> list[Campaign]:
    return store.campaigns.recent()


def status(store: Store, cfg: Config, campaign_id: int, actor: str = "cli") -> CampaignStatus:
    row = store.campaigns.get(campaign_id)
    progress = store.campaigns.progress(campaign_id)
    eta = broadcast.campaign_eta(store, cfg, campaign_id) if row.state == "running" else None
    return CampaignStatus(row, progress, eta)


def transition(store: Store, campaign_id: int, action: str, actor: str = "cli") -> str:
    """Pause, resume or cancel a campaign; returns its new state."""
    return store.campaigns.set_state(campaign_id, action)


def receipts(store: Store, campaign_id: int, actor: str = "cli") -> ReceiptStatus:
    """Who confirmed a --confirm notice, and who has not yet."""
    store.campaigns.get(campaign_id)  # an unknown campaign is an InputError naming it
    return store.receipts.of_campaign(campaign_id)
