"""Broadcasts that wait for an approver (待审批): what was asked, its dry run, who decided."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from smsd.clock import ts, utcnow
from smsd.errors import InputError
from smsd.store.core import Repo
from smsd.store.records import Approval


class Approvals(Repo):
    def add(
        self,
        author: str,
        scope: str,
        name: str,
        request: dict[str, Any],
        summary: dict[str, Any],
        now: datetime | None = None,
    ) -> int:
        stamp = ts(now or utcnow())
        with self._tx():
            cur = self.conn.execute(
                "INSERT INTO approvals (author, scope, name, request, summary, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (author, scope, name, _json(request), _json(summary), stamp, stamp),
            )
            aid = int(cur.lastrowid or 0)
            self._event("approval", aid, "asked", name, f"user:{author}", now)
            return aid

    def get(self, approval_id: int) -> Approval:
        row = self._one_of(Approval, "SELECT * FROM approvals WHERE id = ?", (approval_id,))
        if row is None:
            raise InputError("no broadcast {id} waiting for approval (see `smsd approval`)", field="id", id=approval_id)
        return row

    def waiting(self, approval_id: int) -> Approval:
        """A broadcast still waiting (refused with a one-line reason when it was decided)."""
        row = self.get(approval_id)
        if row.state != "pending":
            raise _decided(approval_id, row.state)
        return row

    def all(self, state: str | None = None, limit: int = 200) -> list[Approval]:
        sql, params = "SELECT * FROM approvals", []
        if state:
            sql, params = sql + " WHERE state = ?", [state]
        return self._all_of(Approval, sql + " ORDER BY id DESC LIMIT ?", [*params, limit])

    def revise(
        self, approval_id: int, request: dict[str, Any], summary: dict[str, Any], now: datetime | None = None
    ) -> int:
        """An edit: the new request and dry run, a new revision, pending again; returns the revision."""
        with self._tx():
            row = self.get(approval_id)
            if row.state not in ("pending", "refused"):
                raise _decided(approval_id, row.state)
            self.conn.execute(
                "UPDATE approvals SET request = ?, summary = ?, revision = revision + 1, state = 'pending', "
                "reason = NULL, decided_by = NULL, decided_at = NULL, updated_at = ? WHERE id = ?",
                (_json(request), _json(summary), ts(now or utcnow()), approval_id),
            )
            self._event("approval", approval_id, "edited", f"revision {row.revision + 1}", f"user:{row.author}", now)
            return row.revision + 1

    def decide(
        self,
        approval_id: int,
        state: str,
        by: str,
        *,
        revision: int,
        reason: str = "",
        campaign_id: int | None = None,
        now: datetime | None = None,
    ) -> None:
        """approved (with its campaign), refused (with a reason) or withdrawn; only a pending
        request at the revision the decider saw."""
        stamp = ts(now or utcnow())
        with self._tx():
            changed = self.conn.execute(
                "UPDATE approvals SET state = ?, reason = ?, decided_by = ?, decided_at = ?, campaign_id = ?, "
                "updated_at = ? WHERE id = ? AND state = 'pending' AND revision = ?",
                (state, reason or None, by, stamp, campaign_id, stamp, approval_id, revision),
            ).rowcount
            if changed == 0:
                row = self.get(approval_id)
                if row.state != "pending":
                    raise _decided(approval_id, row.state)
                raise InputError(
                    "broadcast {id} was edited since (revision {revision}): look at it again",
                    field="id",
                    id=approval_id,
                    revision=row.revision,
                )
            self._event("approval", approval_id, state, reason, by, now)


def _decided(approval_id: int, state: str) -> InputError:
    """Why a decided broadcast can be neither decided again nor edited."""
    if state == "approved":
        return InputError("broadcast {id} was approved already (its campaign is queued)", field="id", id=approval_id)
    if state == "refused":
        return InputError("broadcast {id} was refused already; its author may edit it", field="id", id=approval_id)
    return InputError("broadcast {id} was withdrawn by its author", field="id", id=approval_id)


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
