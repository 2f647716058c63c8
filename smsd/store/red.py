"""Red-message (红段子) campaigns: submissions by SMS and their review."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from smsd.clock import ts, utcnow
from smsd.errors import InputError
from smsd.store.core import Repo
from smsd.store.records import Member
from smsd.store.summaries import RedCampaign, RedSubmission


class Red(Repo):
    """Red-message campaigns and submissions."""

    def open(
        self, name: str, max_length: int, actor: str, owner_org: str | None = None, now: datetime | None = None
    ) -> int:
        now = now or utcnow()
        with self._tx():
            cur = self.conn.execute(
                "INSERT INTO red_campaigns (name, max_length, created_by, created_at, owner_org) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, max_length, actor, ts(now), owner_org),
            )
            rid = int(cur.lastrowid or 0)
            self._event("red", rid, "opened", name, actor, now)
        return rid

    def get(self, rid: int) -> RedCampaign:
        row = self._one_of(RedCampaign, "SELECT * FROM red_campaigns WHERE id = ?", (rid,))
        if row is None:
            raise InputError("no red-message campaign {rid}", rid=rid)
        return row

    def submission(self, sid: int) -> RedSubmission:
        row = self._one_of(RedSubmission, "SELECT * FROM red_submissions WHERE id = ?", (sid,))
        if row is None:
            raise InputError("no red-message submission {sid} (see `smsd red list`)", sid=sid)
        return row

    def current(self) -> RedCampaign | None:
        return self._one_of(RedCampaign, "SELECT * FROM red_campaigns WHERE state = 'open' ORDER BY id DESC LIMIT 1")

    def close(self, rid: int, actor: str) -> None:
        with self._tx():
            if (
                self.conn.execute(
                    "UPDATE red_campaigns SET state = 'closed' WHERE id = ? AND state = 'open'", (rid,)
                ).rowcount
                == 0
            ):
                raise InputError("no open red-message campaign {rid}", rid=rid)
            self._event("red", rid, "closed", "", actor)

    def duplicate(self, rid: int, key: str) -> bool:
        return (
            self._one("SELECT 1 AS x FROM red_submissions WHERE red_campaign_id = ? AND text_key = ?", (rid, key))
            is not None
        )

    def submit(self, rid: int, member: Member, text: str, key: str, inbox_id: int, now: datetime) -> int:
        cur = self.conn.execute(
            "INSERT INTO red_submissions (red_campaign_id, member_id, phone, org, text, text_key, inbox_id, "
            "submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rid, member.id, member.phone, member.org, text, key, inbox_id, ts(now)),
        )
        return int(cur.lastrowid or 0)

    def submissions(self, state: str | None = None, rid: int | None = None) -> list[RedSubmission]:
        sql = (
            "SELECT s.*, m.name, c.name AS campaign FROM red_submissions s LEFT JOIN members m ON m.id = "
            "s.member_id JOIN red_campaigns c ON c.id = s.red_campaign_id WHERE 1 = 1"
        )
        params: list[Any] = []
        if state:
            sql += " AND s.state = ?"
            params.append(state)
        if rid:
            sql += " AND s.red_campaign_id = ?"
            params.append(rid)
        return self._all_of(RedSubmission, sql + " ORDER BY s.id", params)

    def review(self, sid: int, approve: bool, reason: str, actor: str, now: datetime | None = None) -> RedSubmission:
        now = now or utcnow()
        with self._tx():
            row = self._one_of(RedSubmission, "SELECT * FROM red_submissions WHERE id = ?", (sid,))
            if row is None:
                raise InputError("no red-message submission {sid} (see `smsd red list`)", sid=sid)
            state = "approved" if approve else "rejected"
            self.conn.execute(
                "UPDATE red_submissions SET state = ?, reason = ?, reviewed_at = ?, reviewed_by = ? WHERE id = ?",
                (state, reason or None, ts(now), actor, sid),
            )
            self._event(
                "red",
                row.red_campaign_id,
                state,
                f"submission {sid}" + (f": {reason}" if reason else ""),
                actor,
                now,
            )
        return dataclasses.replace(row, state=state, reason=reason or None, reviewed_by=actor)
