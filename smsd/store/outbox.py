"""Outbox verbs: queueing and the admin's look-ups and changes (cancel, retry).

A message is queued -> sending -> sent -> delivered | failed, or cancelled, or expired. Claiming
(claims.py), submitting and its outcomes (submits.py) and status reports (reports.py) are their
own repositories on the same connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Unpack

from smsd import segments
from smsd.clock import parse_ts, ts, utcnow
from smsd.errors import InputError
from smsd.i18n import _
from smsd.phone import mask
from smsd.store.core import Repo
from smsd.store.records import OutboundMessage, Part, QueueOptions, Rendered
from smsd.store.summaries import StateCounts


class Outbox(Repo):
    def enqueue(
        self,
        to: str,
        text: str,
        *,
        created_by: str = "cli",
        now: datetime | None = None,
        **options: Unpack[QueueOptions],
    ) -> int:
        """Queue one message (its parts are planned now); a known dedup_key returns the first id.

        The options (QueueOptions: priority, not_before, expires_at, srr, validity_minutes,
        max_attempts, campaign_id, member_id, account, dedup_key, quiet_ok, org) are typed: mypy
        refuses a misspelt one, and so does Python at the call.
        """
        now = now or utcnow()
        with self._tx():
            return self._insert_message(to, text, created_by, now, **options)

    def enqueue_many(
        self,
        items: list[tuple[str, str, QueueOptions]],
        *,
        created_by: str = "cli",
        now: datetime | None = None,
    ) -> list[int]:
        """Queue many (to, text, options) in one transaction; dedup keys make it repeatable."""
        now = now or utcnow()
        with self._tx():
            return [self._insert_message(to, text, created_by, now, **options) for to, text, options in items]

    def _insert_message(
        self,
        to: str,
        text: str,
        created_by: str,
        now: datetime,
        *,
        priority: int = 5,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
        srr: bool = True,
        validity_minutes: int | None = None,
        max_attempts: int = 5,
        campaign_id: int | None = None,
        member_id: int | None = None,
        account: str | None = None,
        dedup_key: str | None = None,
        quiet_ok: bool = False,
        org: str | None = None,
        template: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> int:
        if dedup_key is not None:
            row = self._one("SELECT id FROM outbox WHERE dedup_key = ?", (dedup_key,))
            if row:
                return int(row["id"])
        encoding, parts = segments.count(text)
        values = {
            "to_number": to,
            "text": text,
            "encoding": encoding,
            "segments": parts,
            "priority": priority,
            "not_before": ts(not_before) if not_before else None,
            "expires_at": ts(expires_at) if expires_at else None,
            "srr": int(srr),
            "validity_minutes": validity_minutes,
            "max_attempts": max_attempts,
            "campaign_id": campaign_id,
            "member_id": member_id,
            "account": account,
            "dedup_key": dedup_key,
            "quiet_ok": int(quiet_ok),
            "held": int(campaign_id is not None and self._campaign_paused(campaign_id)),
            "org": org,
            "template": template,
            "variables": json.dumps(dict(variables), ensure_ascii=False) if variables else None,
            "created_by": created_by,
            "created_at": ts(now),
            "updated_at": ts(now),
        }
        cur = self.conn.execute(
            f"INSERT INTO outbox ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})", values
        )
        mid = int(cur.lastrowid or 0)
        self.conn.executemany(
            "INSERT INTO outbox_parts (message_id, seq, total) VALUES (?, ?, ?)",
            [(mid, seq, parts) for seq in range(1, parts + 1)],
        )
        when = f" not_before={ts(not_before)}" if not_before else ""
        self._event("outbox", mid, "queued", f"to={mask(to)} segments={parts}{when}", created_by, now)
        return mid

    def _insert_campaign(
        self,
        cid: int,
        items: Iterable[Rendered],
        *,
        created_by: str,
        now: datetime,
        priority: int,
        not_before: datetime | None,
        expires_at: datetime | None,
        srr: bool,
        max_attempts: int,
        quiet_ok: bool,
    ) -> tuple[int, int]:
        """A campaign's messages (to, text, member id, encoding, segments), streamed in inside the
        caller's transaction: rows in batches, then their parts and 'queued' events set-wise.
        Returns (messages, segments)."""
        stamp, totals = ts(now), [0, 0]
        fixed = (
            priority,
            ts(not_before) if not_before else None,
            ts(expires_at) if expires_at else None,
            int(srr),
            max_attempts,
            cid,
            int(quiet_ok),
            created_by,
            stamp,
            stamp,
        )

        def rows() -> Iterator[tuple[Any, ...]]:
            for r in items:
                totals[0] += 1
                totals[1] += r.segments
                variables = json.dumps(dict(r.variables), ensure_ascii=False) if r.variables else None
                yield (r.phone, r.text, r.encoding, r.segments, r.member_id, f"campaign:{cid}:{r.phone}", r.template,
                       variables, *fixed)  # fmt: skip

        self.conn.executemany(
            "INSERT INTO outbox (to_number, text, encoding, segments, member_id, dedup_key, template, variables, "
            "priority, not_before, expires_at, srr, max_attempts, campaign_id, quiet_ok, created_by, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )
        self.conn.execute(
            "WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n "
            "WHERE seq < (SELECT MAX(segments) FROM outbox WHERE campaign_id = :cid)) "
            "INSERT INTO outbox_parts (message_id, seq, total) "
            "SELECT o.id, n.seq, o.segments FROM outbox o JOIN n ON n.seq <= o.segments WHERE o.campaign_id = :cid",
            {"cid": cid},
        )
        when = f" not_before={ts(not_before)}" if not_before else ""
        cur = self.conn.execute("SELECT id, to_number, segments FROM outbox WHERE campaign_id = ?", (cid,))
        while batch := cur.fetchmany(2000):
            self.conn.executemany(
                "INSERT INTO events (at, entity, entity_id, event, detail, actor) "
                "VALUES (?, 'outbox', ?, 'queued', ?, ?)",
                [
                    (stamp, str(r["id"]), f"to={mask(r['to_number'])} segments={r['segments']}{when}", created_by)
                    for r in batch
                ],
            )
        return totals[0], totals[1]

    def _campaign_paused(self, campaign_id: int) -> bool:
        return self._one("SELECT 1 AS x FROM campaigns WHERE id = ? AND state = 'paused'", (campaign_id,)) is not None

    def message(self, message_id: int) -> OutboundMessage | None:
        return self._one_of(OutboundMessage, "SELECT * FROM outbox WHERE id = ?", (message_id,))

    def message_or_error(self, message_id: int) -> OutboundMessage:
        row = self.message(message_id)
        if row is None:
            raise InputError("no message with id {message_id} (see `smsd outbox`)", message_id=message_id)
        return row

    def messages(self, state: str | None = None, limit: int = 50) -> list[OutboundMessage]:
        if state:
            return self._all_of(
                OutboundMessage, "SELECT * FROM outbox WHERE state = ? ORDER BY id DESC LIMIT ?", (state, limit)
            )
        return self._all_of(OutboundMessage, "SELECT * FROM outbox ORDER BY id DESC LIMIT ?", (limit,))

    def of_campaign(self, campaign_id: int, limit: int = 500, offset: int = 0) -> list[OutboundMessage]:
        """A campaign's messages, in the order they were queued."""
        return self._all_of(
            OutboundMessage,
            "SELECT * FROM outbox WHERE campaign_id = ? ORDER BY id LIMIT ? OFFSET ?",
            (campaign_id, limit, offset),
        )

    def message_by_dedup_key(self, key: str) -> OutboundMessage | None:
        return self._one_of(OutboundMessage, "SELECT * FROM outbox WHERE dedup_key = ?", (key,))

    def account_count(self, account: str) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM outbox WHERE account = ?", (account,))
        return int(row["n"]) if row else 0

    def parts(self, message_id: int) -> list[Part]:
        return self._all_of(Part, "SELECT * FROM outbox_parts WHERE message_id = ? ORDER BY seq", (message_id,))

    def queue_depth(self) -> StateCounts:
        """Messages per state, the whole outbox."""
        return StateCounts.of_pairs(
            [(r["state"], r["n"]) for r in self._rows("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")]
        )

    def segments_ahead(self, priority: int, before_id: int | None = None, campaign_id: int | None = None) -> int:
        """Segments still to send of messages that go before a new one of this priority (or, with
        before_id, before that message; a campaign's own are not counted): what an ETA waits for."""
        row = self._one(
            "SELECT COUNT(*) AS n FROM outbox_parts p JOIN outbox o ON o.id = p.message_id "
            "WHERE o.state IN ('queued', 'sending') AND o.held = 0 AND p.state IN ('pending', 'submitting') "
            "AND (o.priority > :p OR (o.priority = :p AND (:before IS NULL OR o.id < :before))) "
            "AND (:cid IS NULL OR o.campaign_id IS NOT :cid)",
            {"p": priority, "before": before_id, "cid": campaign_id},
        )
        return int(row["n"]) if row else 0

    def expired_since(self, since: datetime) -> int:
        """Messages that expired unsent since a time (for `smsd status`)."""
        row = self._one("SELECT COUNT(*) AS n FROM outbox WHERE state = 'expired' AND finished_at >= ?", (ts(since),))
        return int(row["n"]) if row else 0

    def api_message(self, message_id: int, client: str) -> OutboundMessage | None:
        """A message queued by this API client (other clients' messages are not found)."""
        return self._one_of(
            OutboundMessage, "SELECT * FROM outbox WHERE id = ? AND created_by = ?", (message_id, f"api:{client}")
        )

    def cancel(self, message_id: int, actor: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self._tx():
            row = self.message_or_error(message_id)
            if row.state != "queued":
                hint = _(" (a modem is sending it right now)") if row.state == "sending" else ""
                raise InputError(
                    "message {message_id} is {state}; only queued messages can be cancelled{hint}",
                    message_id=message_id,
                    state=row.state,
                    hint=hint,
                )
            self.conn.execute(
                "UPDATE outbox SET state = 'cancelled', finished_at = ?, updated_at = ? WHERE id = ?",
                (ts(now), ts(now), message_id),
            )
            self._event("outbox", message_id, "cancelled", "", actor, now)

    def retry(self, message_id: int, actor: str, expire_hours: int = 72, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self._tx():
            row = self.message_or_error(message_id)
            if row.state not in ("failed", "expired", "cancelled"):
                raise InputError(
                    "message {message_id} is {state}; only failed, expired or cancelled messages can be retried",
                    message_id=message_id,
                    state=row.state,
                )
            # The send time the admin chose stays: a notice for tomorrow 08:00 retried tonight still
            # waits for 08:00 (a time already past sends now, as it would have).
            start = max(now, parse_ts(row.not_before)) if row.not_before else now
            self.conn.execute(
                "UPDATE outbox SET state = 'queued', attempts = 0, retry_at = NULL, "
                "expires_at = ?, finished_at = NULL, updated_at = ? WHERE id = ?",
                (ts(start + timedelta(hours=expire_hours)), ts(now), message_id),
            )
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'failed'", (message_id,)
            )
            self._event("outbox", message_id, "queued", f"retry requested (was {row.state})", actor, now)
