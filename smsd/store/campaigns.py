"""Campaigns: a broadcast queued as one message per recipient, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from smsd.clock import ts, utcnow
from smsd.errors import InputError
from smsd.store.core import Core, Repo
from smsd.store.outbox import Outbox
from smsd.store.records import Campaign, CampaignDraft, Rendered
from smsd.store.summaries import CampaignProgress, StateCounts

TRANSITIONS = {"pause": ("running", "paused"), "resume": ("paused", "running"), "cancel": (None, "cancelled")}


class Campaigns(Repo):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self._outbox = Outbox(core)

    def create(
        self,
        plan: CampaignDraft,
        recipients: Iterable[Rendered],
        *,
        name: str,
        actor: str = "cli",
        now: datetime | None = None,
        budget_note: str | None = None,
    ) -> int:
        """The campaign row and a message for each rendered recipient, atomically (all or nothing).

        The recipients are streamed in (an iterator of 100,000 costs the memory of one). A caller
        that checks a budget first does so in its own transaction around this one (``with
        store.tx():``), so no other broadcast is queued between the check and the insert."""
        now = now or utcnow()
        with self._tx():
            values = {
                "name": name,
                "template": plan.template,
                "text": plan.text,
                "selection": plan.selection,
                "urgent": int(plan.urgent),
                "recipients": plan.recipients,
                "segments": plan.segments,
                "estimate_fen": plan.estimate_fen,
                "not_before": ts(plan.not_before) if plan.not_before else None,
                "owner_org": plan.owner_org,
                "confirm": int(plan.confirm),
                "poll_id": plan.poll_id,
                "created_by": actor,
                "created_at": ts(now),
                "updated_at": ts(now),
            }
            cur = self.conn.execute(
                f"INSERT INTO campaigns ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})", values
            )
            cid = int(cur.lastrowid or 0)
            queued, segments = self._outbox._insert_campaign(
                cid,
                recipients,
                created_by=actor,
                now=now,
                priority=plan.priority,
                not_before=plan.not_before,
                expires_at=plan.expires_at,
                srr=plan.srr,
                max_attempts=plan.max_attempts,
                quiet_ok=plan.urgent,
            )
            if (queued, segments) != (plan.recipients, plan.segments):
                # the roster changed since the plan was shown: the campaign records what was queued
                self.conn.execute(
                    "UPDATE campaigns SET recipients = ?, segments = ?, estimate_fen = ? WHERE id = ?",
                    (queued, segments, segments * plan.price_fen, cid),
                )
            if budget_note:
                self._event("campaign", cid, "budget_override", budget_note, actor, now)
            self._event(
                "campaign",
                cid,
                "created",
                f"{name}: {queued} recipients, {segments} segments, estimate {segments * plan.price_fen} fen",
                actor,
                now,
            )
        return cid

    def first_text(self, cid: int, phone: str) -> str:
        row = self._one(
            "SELECT text FROM outbox WHERE campaign_id = ? AND to_number = ? ORDER BY id LIMIT 1", (cid, phone)
        )
        return row["text"] if row else ""

    def get(self, cid: int) -> Campaign:
        row = self._one_of(Campaign, "SELECT * FROM campaigns WHERE id = ?", (cid,))
        if row is None:
            raise InputError("no campaign with id {cid} (see `smsd campaign list`)", cid=cid)
        return row

    def recent(self, limit: int = 50) -> list[Campaign]:
        return self._all_of(Campaign, "SELECT * FROM campaigns ORDER BY id DESC LIMIT ?", (limit,))

    def progress(self, cid: int) -> CampaignProgress:
        """Messages per state, segments still to send, cost so far (fen)."""
        states = StateCounts.of_pairs(
            [
                (r["state"], r["n"])
                for r in self._rows(
                    "SELECT state, COUNT(*) AS n FROM outbox WHERE campaign_id = ? GROUP BY state", (cid,)
                )
            ]
        )
        cost = self._one(
            "SELECT COALESCE(SUM(p.price_fen), 0) AS fen FROM outbox_parts p JOIN outbox o ON o.id = "
            "p.message_id WHERE o.campaign_id = ? AND p.sent_at IS NOT NULL",
            (cid,),
        )
        parts_left = self._one(
            "SELECT COUNT(*) AS n FROM outbox_parts p JOIN outbox o ON o.id = p.message_id "
            "WHERE o.campaign_id = ? AND p.state IN ('pending', 'submitting') "
            "AND o.state IN ('queued', 'sending')",
            (cid,),
        )
        return CampaignProgress(
            states=states,
            segments_left=int(parts_left["n"] if parts_left else 0),
            cost_fen=int(cost["fen"] if cost else 0),
        )

    def queue_position(self, cid: int) -> tuple[int, int, int]:
        """(its segments left, segments queued ahead of its last message, its priority)."""
        last = self._one(
            "SELECT MAX(id) AS id, MAX(priority) AS priority FROM outbox WHERE campaign_id = ? "
            "AND state IN ('queued', 'sending')",
            (cid,),
        )
        if not last or last["id"] is None:
            return 0, 0, 0
        left = self.progress(cid).segments_left
        ahead = self._outbox.segments_ahead(int(last["priority"]), int(last["id"]), cid)
        return int(left), ahead, int(last["priority"])

    def set_state(self, cid: int, action: str, actor: str = "cli", now: datetime | None = None) -> str:
        """pause / resume / cancel; cancel also cancels every message not yet sent."""
        now = now or utcnow()
        src, dst = TRANSITIONS[action]
        with self._tx():
            row = self.get(cid)
            if row.state in ("cancelled", "done") or (src and row.state != src):
                raise InputError(
                    "campaign {cid} is {state}; cannot {action} it", cid=cid, state=row.state, action=action
                )
            self.conn.execute("UPDATE campaigns SET state = ?, updated_at = ? WHERE id = ?", (dst, ts(now), cid))
            # its queued messages leave (or rejoin) the claim index: a paused backlog is never walked
            self.conn.execute(
                "UPDATE outbox SET held = ? WHERE campaign_id = ? AND state = 'queued'", (int(dst == "paused"), cid)
            )
            detail = ""
            if action == "cancel":
                ids = [
                    r["id"]
                    for r in self._rows("SELECT id FROM outbox WHERE campaign_id = ? AND state = 'queued'", (cid,))
                ]
                self.conn.execute(
                    "UPDATE outbox SET state = 'cancelled', finished_at = ?, updated_at = ? "
                    "WHERE campaign_id = ? AND state = 'queued'",
                    (ts(now), ts(now), cid),
                )
                detail = f"{len(ids)} queued messages cancelled"
            self._event("campaign", cid, dst, detail, actor, now)
        return dst

    def finish_done(self, now: datetime | None = None) -> int:
        """Mark running campaigns with nothing left to send as done."""
        now = now or utcnow()
        with self._tx():
            rows = self._rows(
                "SELECT c.id FROM campaigns c WHERE c.state = 'running' AND NOT EXISTS (SELECT 1 FROM "
                "outbox o WHERE o.campaign_id = c.id AND o.state IN ('queued', 'sending'))"
            )
            for r in rows:
                self.conn.execute(
                    "UPDATE campaigns SET state = 'done', updated_at = ? WHERE id = ?", (ts(now), r["id"])
                )
                self._event("campaign", r["id"], "done", "", "daemon", now)
        return len(rows)

    def api_campaign(self, campaign_id: int, client: str) -> Campaign | None:
        """A campaign this API client created (others are not found)."""
        return self._one_of(
            Campaign, "SELECT * FROM campaigns WHERE id = ? AND created_by = ?", (campaign_id, f"api:{client}")
        )
