"""Outbox verbs: queued -> sending -> sent -> delivered | failed, plus cancelled and expired.

Crash policy (README "What happens after a crash"): a part is marked 'submitting' and
committed before its AT+CMGS; it becomes 'sent' with its TP-MR after the modem answered.
A part found 'submitting' at start-up may or may not have reached the network: it is sent
again and its message is flagged possible_duplicate. That is the only way a message can be
doubled, and at most one part per modem is ever in that state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from smsd import pdu
from smsd.clock import LOCAL, parse_ts, ts, utcnow
from smsd.errors import InputError
from smsd.phone import mask

if TYPE_CHECKING:
    from smsd.pacing import Pacing
    from smsd.store import Store

OPEN_STATES = ("queued", "sending")


class OutboxVerbs:
    # ------------------------------------------------------------ queueing

    def enqueue(
        self: Store, to: str, text: str, *, created_by: str = "cli", now: datetime | None = None, **options: Any
    ) -> int:
        """Queue one message (its parts are planned now); a known dedup_key returns the first id.

        Options: priority, not_before, expires_at, srr, validity_minutes, max_attempts,
        campaign_id, member_id, account, dedup_key, quiet_ok.
        """
        now = now or utcnow()
        with self.tx():
            return self._insert_message(to, text, created_by, now, **options)

    def enqueue_many(
        self: Store,
        items: list[tuple[str, str, dict[str, Any]]],
        *,
        created_by: str = "cli",
        now: datetime | None = None,
    ) -> list[int]:
        """Queue many (to, text, options) in one transaction; dedup keys make it repeatable."""
        now = now or utcnow()
        with self.tx():
            return [self._insert_message(to, text, created_by, now, **options) for to, text, options in items]

    def _insert_message(
        self: Store,
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
    ) -> int:
        if dedup_key is not None:
            row = self.one("SELECT id FROM outbox WHERE dedup_key = ?", (dedup_key,))
            if row:
                return int(row["id"])
        plan = pdu.plan(text)
        values = {
            "to_number": to,
            "text": text,
            "encoding": plan.encoding,
            "segments": plan.segments,
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
            [(mid, seq, plan.segments) for seq in range(1, plan.segments + 1)],
        )
        when = f" not_before={ts(not_before)}" if not_before else ""
        self.event("outbox", mid, "queued", f"to={mask(to)} segments={plan.segments}{when}", created_by, now)
        return mid

    # ------------------------------------------------------------ claiming and sending

    def claim_next(
        self: Store,
        modem: str,
        *,
        now: datetime | None = None,
        lease_s: int = 300,
        repin_after_s: int = 3600,
        pacing: Pacing | None = None,
    ) -> dict[str, Any] | None:
        """Atomically take the next due message for this modem, with a lease.

        With pacing: nothing non-urgent during quiet hours, and never beyond the SIM's
        hourly or daily cap of segments. Messages of paused campaigns wait.
        """
        now = now or utcnow()
        quiet = int(pacing.is_quiet(now)) if pacing else 0
        with self.tx():
            room = self._room(modem, pacing, now) if pacing else 1 << 30
            if room <= 0:
                return None
            row = self.one(
                """SELECT o.* FROM outbox o
                   WHERE o.state = 'queued'
                     AND (o.not_before IS NULL OR o.not_before <= :now)
                     AND (o.retry_at IS NULL OR o.retry_at <= :now)
                     AND (o.expires_at IS NULL OR o.expires_at > :now)
                     AND (o.modem IS NULL OR o.modem = :modem OR o.pinned_at <= :repin
                          OR NOT EXISTS (SELECT 1 FROM outbox_parts p
                                         WHERE p.message_id = o.id AND p.state <> 'pending'))
                     AND (:quiet = 0 OR o.quiet_ok = 1)
                     AND (o.campaign_id IS NULL OR o.campaign_id NOT IN
                          (SELECT id FROM campaigns WHERE state = 'paused'))
                   ORDER BY o.priority DESC, o.id LIMIT 1""",
                {"now": ts(now), "modem": modem, "repin": ts(now - timedelta(seconds=repin_after_s)), "quiet": quiet},
            )
            if row is None or row["segments"] > room:
                return None
            ref = row["concat_ref"]
            if row["modem"] != modem or ref is None:
                if row["modem"] not in (None, modem) and self._has_sent_parts(row["id"]):
                    self._repin(row, modem, now)
                ref = self.next_counter(f"concat_ref:{modem}", 256)
            self.conn.execute(
                """UPDATE outbox SET state = 'sending', lease_owner = ?, lease_until = ?, attempts = attempts + 1,
                       modem = ?, concat_ref = ?, pinned_at = ?, updated_at = ? WHERE id = ?""",
                (modem, ts(now + timedelta(seconds=lease_s)), modem, ref, ts(now), ts(now), row["id"]),
            )
            # The first part to send is marked 'submitting' in the claim itself: one durable commit
            # fewer per message, and the crash policy is the same (it counts as maybe sent).
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'submitting', modem = ?, submitted_at = ? WHERE message_id = ? "
                "AND seq = (SELECT MIN(seq) FROM outbox_parts WHERE message_id = ? AND state = 'pending')",
                (modem, ts(now), row["id"], row["id"]),
            )
            self.event(
                "outbox", row["id"], "sending", f"modem={modem} attempt={row['attempts'] + 1}", f"worker:{modem}", now
            )
        claimed = self.message(row["id"])
        assert claimed is not None
        return claimed

    def usage(self: Store, modem: str, pacing: Pacing, now: datetime) -> tuple[int, int, str | None]:
        """Segments this modem sent in the last hour and today (local), and the oldest of the hour."""
        hour = self.one(
            "SELECT COUNT(*) AS n, MIN(sent_at) AS oldest FROM outbox_parts WHERE modem = ? AND sent_at > ?",
            (modem, ts(now - timedelta(hours=1))),
        )
        day = self.one(
            "SELECT COUNT(*) AS n FROM outbox_parts WHERE modem = ? AND sent_at >= ?",
            (modem, ts(pacing.day_start(now))),
        )
        assert hour is not None and day is not None
        return int(hour["n"]), int(day["n"]), hour["oldest"]

    def _room(self: Store, modem: str, pacing: Pacing, now: datetime) -> int:
        in_hour, in_day, _ = self.usage(modem, pacing, now)
        return min(pacing.hourly_cap - in_hour, pacing.daily_cap - in_day)

    def held_until(self: Store, modem: str, pacing: Pacing, now: datetime) -> datetime | None:
        """When pacing lets this modem send again (None: it is not held back)."""
        waits = []
        if pacing.is_quiet(now):
            waits.append(pacing.quiet_ends(now))
        in_hour, in_day, oldest = self.usage(modem, pacing, now)
        if in_day >= pacing.daily_cap:
            waits.append(pacing.day_start(now) + timedelta(days=1))
        elif in_hour >= pacing.hourly_cap and oldest:
            waits.append(parse_ts(oldest) + timedelta(hours=1, milliseconds=1))
        return max(waits) if waits else None

    def _has_sent_parts(self: Store, message_id: int) -> bool:
        return (
            self.one("SELECT 1 AS x FROM outbox_parts WHERE message_id = ? AND state <> 'pending'", (message_id,))
            is not None
        )

    def _repin(self: Store, row: dict[str, Any], modem: str, now: datetime) -> None:
        """Half-sent on a modem that stayed down: the handset cannot join parts from two SIMs,
        so every part is sent again from the new modem (flagged: the first parts may arrive twice)."""
        sent = self.rows(
            "SELECT seq, modem, price_fen FROM outbox_parts WHERE message_id = ? AND state <> 'pending'", (row["id"],)
        )
        self.conn.execute(
            "UPDATE outbox_parts SET state = 'pending', mr = NULL, submitted_at = NULL WHERE message_id = ?",
            (row["id"],),
        )
        self.conn.execute("UPDATE outbox SET possible_duplicate = 1 WHERE id = ?", (row["id"],))
        detail = f"from={row['modem']} to={modem} parts_already_sent={[s['seq'] for s in sent]}"
        self.event("outbox", row["id"], "possible_duplicate", "repinned: " + detail, f"worker:{modem}", now)

    def parts(self: Store, message_id: int) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM outbox_parts WHERE message_id = ? ORDER BY seq", (message_id,))

    def part_submitting(self: Store, message_id: int, seq: int, modem: str, now: datetime | None = None) -> None:
        """Committed before AT+CMGS: after a crash this part counts as 'maybe sent'."""
        with self.tx():
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'submitting', modem = ?, submitted_at = ? "
                "WHERE message_id = ? AND seq = ?",
                (modem, ts(now or utcnow()), message_id, seq),
            )

    def part_sent(
        self: Store, message_id: int, seq: int, *, mr: int, price_fen: int, modem: str, now: datetime | None = None
    ) -> bool:
        """The modem answered +CMGS: record TP-MR and price; True when the whole message is sent."""
        now = now or utcnow()
        with self.tx():
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'sent', mr = ?, price_fen = ?, modem = ?, sent_at = ? "
                "WHERE message_id = ? AND seq = ?",
                (mr, price_fen, modem, ts(now), message_id, seq),
            )
            self._book(message_id, seq, modem, price_fen, now)
            left = self.one(
                "SELECT COUNT(*) AS n FROM outbox_parts WHERE message_id = ? AND state IN ('pending', 'submitting')",
                (message_id,),
            )
            if left and left["n"] == 0:
                self.conn.execute(
                    "UPDATE outbox SET state = 'sent', sent_at = ?, lease_owner = NULL, lease_until = NULL, "
                    "last_error = NULL, updated_at = ? WHERE id = ?",
                    (ts(now), ts(now), message_id),
                )
                self.event("outbox", message_id, "sent", f"modem={modem}", f"worker:{modem}", now)
                return True
        return False

    def _book(self: Store, message_id: int, seq: int, modem: str, price_fen: int, now: datetime) -> None:
        """One ledger row per segment sent: price, campaign, paying org unit, account, modem, month."""
        row = self.one(
            """SELECT o.campaign_id, c.owner_org, o.account, u.path AS member_org FROM outbox o
               LEFT JOIN campaigns c ON c.id = o.campaign_id LEFT JOIN members m ON m.id = o.member_id
               LEFT JOIN org_units u ON u.id = m.org_id WHERE o.id = ?""",
            (message_id,),
        )
        assert row is not None
        account = row["account"] or ("campaign" if row["campaign_id"] else "direct")
        org = row["owner_org"] if row["campaign_id"] else (row["member_org"] if account == "anniversary" else None)
        local = now.astimezone(LOCAL)
        self.conn.execute(
            "INSERT OR IGNORE INTO ledger (message_id, seq, campaign_id, org, account, modem, price_fen, sent_at, "
            "month, day) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                seq,
                row["campaign_id"],
                org,
                account,
                modem,
                price_fen,
                ts(now),
                local.strftime("%Y-%m"),
                local.strftime("%Y-%m-%d"),
            ),
        )

    def send_failed(
        self: Store,
        message_id: int,
        *,
        error: str,
        permanent: bool,
        maybe_sent: bool,
        backoff_s: int,
        modem: str,
        now: datetime | None = None,
    ) -> str:
        """A submit failed: retry later (with backoff) or fail for good. Returns the new state."""
        now = now or utcnow()
        with self.tx():
            if maybe_sent:
                self._flag_in_flight(message_id, f"no answer to AT+CMGS on {modem} ({error})", modem, now)
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'submitting'", (message_id,)
            )
            msg = self.one("SELECT attempts, max_attempts FROM outbox WHERE id = ?", (message_id,))
            assert msg is not None
            if permanent or msg["attempts"] >= msg["max_attempts"]:
                state, extra = "failed", {"finished_at": ts(now)}
                why = "permanent error" if permanent else f"{msg['attempts']} attempts"
                self.event("outbox", message_id, "failed", f"{why}: {error}", f"worker:{modem}", now)
            else:
                delay = backoff_s * 2 ** max(0, msg["attempts"] - 1)
                state, extra = "queued", {"retry_at": ts(now + timedelta(seconds=delay))}
                self.event("outbox", message_id, "retry", f"in {delay}s: {error}", f"worker:{modem}", now)
            self.db["outbox"].update(
                message_id,
                {
                    "state": state,
                    "last_error": error,
                    "lease_owner": None,
                    "lease_until": None,
                    "updated_at": ts(now),
                    **extra,
                },
            )
        return state

    def release(self: Store, message_id: int, reason: str, actor: str = "daemon", now: datetime | None = None) -> None:
        """Give a claimed message back to the queue without charging an attempt."""
        now = now or utcnow()
        with self.tx():
            self.conn.execute(
                "UPDATE outbox SET state = 'queued', attempts = MAX(attempts - 1, 0), lease_owner = NULL, "
                "lease_until = NULL, updated_at = ? WHERE id = ? AND state = 'sending'",
                (ts(now), message_id),
            )
            # only called before anything was written to the modem: a part marked at claim goes back unflagged
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'submitting'", (message_id,)
            )
            self.event("outbox", message_id, "released", reason, actor, now)

    def _flag_in_flight(self: Store, message_id: int, why: str, actor: str, now: datetime) -> None:
        parts = self.rows(
            "SELECT seq, total FROM outbox_parts WHERE message_id = ? AND state = 'submitting'", (message_id,)
        )
        if not parts:
            return
        self.conn.execute("UPDATE outbox SET possible_duplicate = 1 WHERE id = ?", (message_id,))
        which = ", ".join(f"{p['seq']}/{p['total']}" for p in parts)
        self.event(
            "outbox",
            message_id,
            "possible_duplicate",
            f"part {which} may have been sent ({why}); it is sent again",
            actor,
            now,
        )

    # ------------------------------------------------------------ recovery and housekeeping

    def recover(self: Store, now: datetime | None = None, only_expired_leases: bool = False) -> int:
        """Return messages left 'sending' (by a crash, or a lease that ran out) to the queue."""
        now = now or utcnow()
        sql = "SELECT id FROM outbox WHERE state = 'sending'"
        if only_expired_leases:
            sql += " AND lease_until < ?"
        with self.tx():
            rows = self.rows(sql, (ts(now),) if only_expired_leases else ())
            for r in rows:
                self._flag_in_flight(r["id"], "the daemon stopped while the modem had it", "daemon", now)
                self.conn.execute(
                    "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'submitting'",
                    (r["id"],),
                )
                self.conn.execute(
                    "UPDATE outbox SET state = 'queued', lease_owner = NULL, lease_until = NULL, "
                    "updated_at = ? WHERE id = ?",
                    (ts(now), r["id"]),
                )
                self.event(
                    "outbox",
                    r["id"],
                    "recovered",
                    "lease expired" if only_expired_leases else "found in 'sending' at start-up",
                    "daemon",
                    now,
                )
        return len(rows)

    def expire_due(self: Store, now: datetime | None = None) -> int:
        now = now or utcnow()
        with self.tx():
            rows = self.rows("SELECT id FROM outbox WHERE state = 'queued' AND expires_at <= ?", (ts(now),))
            for r in rows:
                self.conn.execute(
                    "UPDATE outbox SET state = 'expired', finished_at = ?, updated_at = ? WHERE id = ?",
                    (ts(now), ts(now), r["id"]),
                )
                self.event("outbox", r["id"], "expired", "not sent before its expiry time", "daemon", now)
        return len(rows)

    def next_due(self: Store, now: datetime | None = None) -> str | None:
        """When the earliest scheduled or retrying message becomes due (None: nothing waiting)."""
        row = self.one(
            "SELECT MIN(MAX(COALESCE(not_before, ''), COALESCE(retry_at, ''))) AS t FROM outbox WHERE state = 'queued'"
        )
        return row["t"] if row and row["t"] else None

    # ------------------------------------------------------------ admin verbs

    def message(self: Store, message_id: int) -> dict[str, Any] | None:
        return self.one("SELECT * FROM outbox WHERE id = ?", (message_id,))

    def message_or_error(self: Store, message_id: int) -> dict[str, Any]:
        row = self.message(message_id)
        if row is None:
            raise InputError(f"no message with id {message_id} (see `smsd outbox`)")
        return row

    def messages(self: Store, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        if state:
            return self.rows("SELECT * FROM outbox WHERE state = ? ORDER BY id DESC LIMIT ?", (state, limit))
        return self.rows("SELECT * FROM outbox ORDER BY id DESC LIMIT ?", (limit,))

    def dedup_exists(self: Store, key: str) -> bool:
        return self.one("SELECT 1 AS x FROM outbox WHERE dedup_key = ?", (key,)) is not None

    def account_count(self: Store, account: str) -> int:
        row = self.one("SELECT COUNT(*) AS n FROM outbox WHERE account = ?", (account,))
        return int(row["n"]) if row else 0

    def queue_depth(self: Store) -> dict[str, int]:
        return {r["state"]: r["n"] for r in self.rows("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")}

    def cancel(self: Store, message_id: int, actor: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.tx():
            row = self.message_or_error(message_id)
            if row["state"] != "queued":
                hint = " (a modem is sending it right now)" if row["state"] == "sending" else ""
                raise InputError(f"message {message_id} is {row['state']}; only queued messages can be cancelled{hint}")
            self.conn.execute(
                "UPDATE outbox SET state = 'cancelled', finished_at = ?, updated_at = ? WHERE id = ?",
                (ts(now), ts(now), message_id),
            )
            self.event("outbox", message_id, "cancelled", "", actor, now)

    def retry(self: Store, message_id: int, actor: str, expire_hours: int = 72, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.tx():
            row = self.message_or_error(message_id)
            if row["state"] not in ("failed", "expired", "cancelled"):
                raise InputError(
                    f"message {message_id} is {row['state']}; only failed, expired or cancelled messages can be retried"
                )
            self.conn.execute(
                "UPDATE outbox SET state = 'queued', attempts = 0, retry_at = NULL, not_before = NULL, "
                "expires_at = ?, finished_at = NULL, updated_at = ? WHERE id = ?",
                (ts(now + timedelta(hours=expire_hours)), ts(now), message_id),
            )
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'failed'", (message_id,)
            )
            self.event("outbox", message_id, "queued", f"retry requested (was {row['state']})", actor, now)

    # ------------------------------------------------------------ status reports

    def apply_report(
        self: Store,
        modem: str,
        mr: int,
        recipient: str,
        status: int,
        outcome: str,
        discharge: datetime | None = None,
        *,
        window_days: int = 3,
        now: datetime | None = None,
    ) -> tuple[int, int] | None:
        """Match a status report to the newest sent part with (modem, TP-MR, recipient)."""
        now = now or utcnow()
        with self.tx():
            cands = self.rows(
                """SELECT p.message_id, p.seq, o.to_number FROM outbox_parts p JOIN outbox o ON o.id = p.message_id
                   WHERE p.modem = ? AND p.mr = ? AND p.sent_at >= ? AND p.state IN ('sent', 'delivered', 'failed')
                   ORDER BY p.sent_at DESC LIMIT 20""",
                (modem, mr, ts(now - timedelta(days=window_days))),
            )
            digits = recipient.lstrip("+")[-11:]
            match = next((c for c in cands if c["to_number"].lstrip("+")[-11:] == digits), None)
            self.conn.execute(
                "INSERT INTO status_reports (modem, mr, recipient, status, outcome, discharge, received_at, "
                "message_id, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    modem,
                    mr,
                    recipient,
                    status,
                    outcome,
                    ts(discharge) if discharge else None,
                    ts(now),
                    match["message_id"] if match else None,
                    match["seq"] if match else None,
                ),
            )
            if match is None or outcome == "pending":
                return (match["message_id"], match["seq"]) if match else None
            mid, seq = match["message_id"], match["seq"]
            self.conn.execute(
                "UPDATE outbox_parts SET state = ?, report_status = ?, report_at = ? WHERE message_id = ? AND seq = ?",
                (outcome, status, ts(now), mid, seq),
            )
            self._settle(mid, now, modem)
        return mid, seq

    def _settle(self: Store, message_id: int, now: datetime, modem: str) -> None:
        states = [p["state"] for p in self.parts(message_id)]
        msg = self.message(message_id)
        assert msg is not None
        if msg["state"] != "sent":
            return
        if "failed" in states:
            self.conn.execute(
                "UPDATE outbox SET state = 'failed', last_error = ?, finished_at = ?, updated_at = ? WHERE id = ?",
                ("the network reported it undelivered", ts(now), ts(now), message_id),
            )
            self.event("outbox", message_id, "failed", "status report: not delivered", f"worker:{modem}", now)
        elif all(s == "delivered" for s in states):
            self.conn.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?, finished_at = ?, updated_at = ? WHERE id = ?",
                (ts(now), ts(now), ts(now), message_id),
            )
            self.event("outbox", message_id, "delivered", "status report", f"worker:{modem}", now)
