"""Outbox verbs: queued -> sending -> sent -> delivered | failed, plus cancelled and expired.

Crash and timeout policy (README "What happens after a crash"): every submit of a part is a
row in ``submits``, committed 'in_flight' before its AT+CMGS; it becomes 'accepted' with its
TP-MR when the modem answers, and each accepted submit is one ledger row (what the SIM paid).

A submit without an answer is 'in_doubt': the network may have it.
- After a crash (found in flight at start-up) the part is sent again at once, flagged
  possible_duplicate. Each crash costs at most one resend of the one part in flight per modem.
- After a timeout the part waits one more answer time for a late +CMGS, which is recorded
  (the part was sent) instead of resending. Without it the part is resent once, flagged; if
  that resend gets no answer either, the message fails with the reason and is never sent a
  third time by itself (`smsd outbox retry` can).
- A status report for a submit we never heard back from settles it: accepted, and billed.
Only refusals by the network count as attempts (max_attempts); resends are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Unpack

from smsd import policy, segments
from smsd.clock import LOCAL, parse_ts, ts, utcnow
from smsd.errors import InputError
from smsd.i18n import _
from smsd.phone import is_domestic, mask
from smsd.store.core import Repo
from smsd.store.records import OutboundMessage, Part, ProviderRef, QueueOptions

if TYPE_CHECKING:
    from smsd.pacing import Pacing

OPEN_STATES = ("queued", "sending")


class Outbox(Repo):
    # ------------------------------------------------------------ queueing

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
        with self.tx():
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
        with self.tx():
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
    ) -> int:
        if dedup_key is not None:
            row = self.one("SELECT id FROM outbox WHERE dedup_key = ?", (dedup_key,))
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
        self.event("outbox", mid, "queued", f"to={mask(to)} segments={parts}{when}", created_by, now)
        return mid

    def _insert_campaign(
        self,
        cid: int,
        items: Iterable[tuple[str, str, int | None, str, int]],
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
            for to, text, member_id, encoding, parts in items:
                totals[0] += 1
                totals[1] += parts
                yield (to, text, encoding, parts, member_id, f"campaign:{cid}:{to}", *fixed)

        self.conn.executemany(
            "INSERT INTO outbox (to_number, text, encoding, segments, member_id, dedup_key, priority, not_before, "
            "expires_at, srr, max_attempts, campaign_id, quiet_ok, created_by, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        return self.one("SELECT 1 AS x FROM campaigns WHERE id = ? AND state = 'paused'", (campaign_id,)) is not None

    # ------------------------------------------------------------ claiming and sending

    def claim_next(
        self,
        modem: str,
        *,
        now: datetime | None = None,
        lease_s: int = 300,
        repin_after_s: int = 3600,
        pacing: Pacing | None = None,
        reserved: int = 0,
        prices: tuple[int, int] | None = None,
    ) -> OutboundMessage | None:
        """Atomically take the next due message for this modem, with a lease.

        With pacing: nothing non-urgent during quiet hours, and never beyond the SIM's
        hourly or daily cap of segments (less the reserved segments of messages already claimed
        and not yet sent: an SMPP window). Messages of paused campaigns wait. prices (at home,
        abroad) is what this transport pays per segment: each submit carries its price, so a submit
        that falls in doubt is booked at it.
        """
        now = now or utcnow()
        quiet = int(pacing.is_quiet(now)) if pacing else 0
        with self.tx():
            room = (self._room(modem, pacing, now) if pacing else 1 << 30) - reserved
            if room <= 0:
                return None
            # A broadcast leaves the caps' reserve to replies and single sends: when it would
            # reach into it, the next message that is not a broadcast's is taken instead.
            bulk_room = (self._bulk_room(modem, pacing, now) if pacing else 1 << 30) - reserved
            row = self._next_due(modem, now, quiet, repin_after_s, bulk_room > 0)
            if row is not None and row["campaign_id"] is not None and row["segments"] > bulk_room:
                row = self._next_due(modem, now, quiet, repin_after_s, False)
            if row is None or row["segments"] > room:
                return None
            ref = row["concat_ref"]
            if row["modem"] != modem or ref is None:
                if row["modem"] not in (None, modem) and self._has_sent_parts(row["id"]):
                    self._repin(row, modem, now)
                ref = self.next_counter(f"concat_ref:{modem}", 256)
            self.conn.execute(
                """UPDATE outbox SET state = 'sending', lease_owner = ?, lease_until = ?,
                       modem = ?, concat_ref = ?, pinned_at = ?, updated_at = ? WHERE id = ?""",
                (modem, ts(now + timedelta(seconds=lease_s)), modem, ref, ts(now), ts(now), row["id"]),
            )
            # The first part to send is marked 'submitting' in the claim itself: one durable commit
            # fewer per message, and the crash policy is the same (it counts as maybe sent).
            first = self.one(
                "SELECT MIN(seq) AS seq FROM outbox_parts WHERE message_id = ? AND state = 'pending'", (row["id"],)
            )
            if first and first["seq"] is not None:
                price = None if prices is None else prices[0 if is_domestic(row["to_number"]) else 1]
                self._start_submit(row["id"], int(first["seq"]), modem, now, price)
            self.event(
                "outbox",
                row["id"],
                "sending",
                f"modem={modem} refusals={row['attempts']} resends={row['resends']}",
                f"worker:{modem}",
                now,
            )
        claimed = self.message(row["id"])
        assert claimed is not None
        return claimed

    def _next_due(
        self, modem: str, now: datetime, quiet: int, repin_after_s: int, bulk_ok: bool
    ) -> dict[str, Any] | None:
        """The next message this modem may take. The partial index (outbox_claim, or
        outbox_claim_quiet in quiet hours) leaves out paused campaigns and, when quiet, everything
        not urgent: a held backlog is never walked. Without bulk_ok (only the caps' reserve is
        left) broadcasts' messages are passed over, so a reply or a single send behind them goes."""
        return self.one(
            f"""SELECT o.* FROM outbox o INDEXED BY {"outbox_claim_quiet" if quiet else "outbox_claim"}
                   WHERE o.state = 'queued' AND o.held = 0{" AND o.quiet_ok = 1" if quiet else ""}
                     {"" if bulk_ok else "AND o.campaign_id IS NULL"}
                     AND (o.not_before IS NULL OR o.not_before <= :now)
                     AND (o.retry_at IS NULL OR o.retry_at <= :now)
                     AND (o.expires_at IS NULL OR o.expires_at > :now)
                     AND (o.modem IS NULL OR o.modem = :modem OR o.pinned_at <= :repin
                          OR NOT EXISTS (SELECT 1 FROM outbox_parts p
                                         WHERE p.message_id = o.id AND p.state <> 'pending'))
                     AND (o.campaign_id IS NULL OR o.campaign_id NOT IN
                          (SELECT id FROM campaigns WHERE state = 'paused'))
                   ORDER BY o.priority DESC, o.id LIMIT 1""",
            {"now": ts(now), "modem": modem, "repin": ts(now - timedelta(seconds=repin_after_s))},
        )

    def usage(self, modem: str, pacing: Pacing, now: datetime) -> tuple[int, int, str | None]:
        """Segments this modem sent in the last hour and today (local), and the oldest of the hour.

        Two index seeks, whatever the volume: each sent part carries the modem's running number
        (modem_seq), so a window's count is the last number minus the first one inside it, plus one.
        """
        last = self.counter(f"sent:{modem}")
        hour = self._first_sent(modem, ">", now - timedelta(hours=1))
        day = self._first_sent(modem, ">=", pacing.day_start(now))
        in_hour = last - hour["modem_seq"] + 1 if hour else 0
        in_day = last - day["modem_seq"] + 1 if day else 0
        return in_hour, in_day, hour["sent_at"] if hour else None

    def _first_sent(self, modem: str, op: str, since: datetime) -> dict[str, Any] | None:
        return self.one(
            "SELECT sent_at, modem_seq FROM outbox_parts INDEXED BY outbox_parts_modem_sent "
            f"WHERE modem = ? AND sent_at {op} ? "
            "AND modem_seq IS NOT NULL ORDER BY sent_at, modem_seq LIMIT 1",
            (modem, ts(since)),
        )

    def _room(self, modem: str, pacing: Pacing, now: datetime) -> int:
        in_hour, in_day, _ = self.usage(modem, pacing, now)
        return min(pacing.hourly_cap - in_hour, pacing.daily_cap - in_day)

    def _bulk_room(self, modem: str, pacing: Pacing, now: datetime) -> int:
        """Segments a broadcast may still send now: the caps less their reserve for replies and single sends."""
        in_hour, in_day, _ = self.usage(modem, pacing, now)
        hour_res, day_res = pacing.reserve
        return min(pacing.hourly_cap - hour_res - in_hour, pacing.daily_cap - day_res - in_day)

    def held_until(self, modem: str, pacing: Pacing, now: datetime, *, bulk: bool = True) -> datetime | None:
        """When pacing lets this modem send again (None: it is not held back); bulk: a broadcast's
        message, which leaves the caps' reserve for replies and single sends (the hour's oldest
        send leaving the window is when to look again)."""
        waits = []
        if pacing.is_quiet(now):
            waits.append(pacing.quiet_ends(now))
        in_hour, in_day, oldest = self.usage(modem, pacing, now)
        hour_res, day_res = pacing.reserve if bulk else (0, 0)
        if in_day >= pacing.daily_cap - day_res:
            waits.append(pacing.day_start(now) + timedelta(days=1))
        elif in_hour >= pacing.hourly_cap - hour_res and oldest:
            waits.append(parse_ts(oldest) + timedelta(hours=1, milliseconds=1))
        return max(waits) if waits else None

    def _has_sent_parts(self, message_id: int) -> bool:
        return (
            self.one("SELECT 1 AS x FROM outbox_parts WHERE message_id = ? AND state <> 'pending'", (message_id,))
            is not None
        )

    def _repin(self, row: dict[str, Any], modem: str, now: datetime) -> None:
        """Half-sent on a modem that stayed down: the handset cannot join parts from two SIMs,
        so every part is sent again from the new modem (flagged: the first parts may arrive twice)."""
        sent = self.rows(
            "SELECT seq, modem, price_fen FROM outbox_parts WHERE message_id = ? AND state <> 'pending'", (row["id"],)
        )
        self.conn.execute(
            "UPDATE outbox_parts SET state = 'pending', provider_ref = NULL, submitted_at = NULL WHERE message_id = ?",
            (row["id"],),
        )
        self.conn.execute("UPDATE outbox SET possible_duplicate = 1 WHERE id = ?", (row["id"],))
        detail = f"from={row['modem']} to={modem} parts_already_sent={[s['seq'] for s in sent]}"
        self.event("outbox", row["id"], "possible_duplicate", "repinned: " + detail, f"worker:{modem}", now)

    def parts(self, message_id: int) -> list[Part]:
        return self.all_of(Part, "SELECT * FROM outbox_parts WHERE message_id = ? ORDER BY seq", (message_id,))

    def part_submitting(
        self, message_id: int, seq: int, modem: str, now: datetime | None = None, price_fen: int | None = None
    ) -> None:
        """Committed before AT+CMGS: after a crash this part counts as 'maybe sent' (and is booked
        at price_fen, what the submit would cost)."""
        with self.tx():
            self._start_submit(message_id, seq, modem, now or utcnow(), price_fen)

    def _start_submit(self, message_id: int, seq: int, modem: str, now: datetime, price_fen: int | None = None) -> None:
        """Mark the part submitting and log the submit in flight (idempotent); flag a resend."""
        if self.one(
            "SELECT 1 AS x FROM submits WHERE message_id = ? AND seq = ? AND state = 'in_flight'", (message_id, seq)
        ):
            return
        self.conn.execute(
            "UPDATE outbox_parts SET state = 'submitting', modem = ?, submitted_at = ? "
            "WHERE message_id = ? AND seq = ?",
            (modem, ts(now), message_id, seq),
        )
        doubts = self.rows(
            "SELECT cause, modem FROM submits WHERE message_id = ? AND seq = ? AND state = 'in_doubt'",
            (message_id, seq),
        )
        resend = int(bool(doubts))
        if resend:
            why = ", ".join(sorted({f"{d['cause']} on {d['modem']}" for d in doubts}))
            self.conn.execute(
                "UPDATE outbox SET possible_duplicate = 1, resends = resends + 1 WHERE id = ?", (message_id,)
            )
            self.event(
                "outbox",
                message_id,
                "resend",
                f"part {seq} sent again: an earlier submit got no answer ({why}); it may arrive twice",
                f"worker:{modem}",
                now,
            )
        self.conn.execute(
            "INSERT INTO submits (message_id, seq, modem, state, resend, started_at, price_fen) "
            "VALUES (?, ?, ?, 'in_flight', ?, ?, ?)",
            (message_id, seq, modem, resend, ts(now), price_fen),
        )

    def _finish_submit(
        self, message_id: int, seq: int, state: str, now: datetime, *, cause: str | None = None, ref: ProviderRef | None
    ) -> dict[str, Any] | None:
        row = self.one(
            "SELECT * FROM submits WHERE message_id = ? AND seq = ? AND state = 'in_flight' ORDER BY id DESC LIMIT 1",
            (message_id, seq),
        )
        if row is not None:
            self.conn.execute(
                "UPDATE submits SET state = ?, cause = ?, provider_ref = ?, finished_at = ? WHERE id = ?",
                (state, cause, ref, ts(now), row["id"]),
            )
            if state == "in_doubt":
                self._book_doubt(row, now)
        return row

    def _book_doubt(self, submit: dict[str, Any], now: datetime) -> None:
        """A submit without an answer is what the SIM most likely paid: booked now, marked in doubt
        (certain = 0), made certain if a report or a late answer settles it. The ledger may count a
        submit that never left; it never misses one that did."""
        if submit["price_fen"] is None:  # a submit started before prices were carried (or by a test)
            return
        self._book(
            submit["message_id"],
            submit["seq"],
            submit["modem"],
            int(submit["price_fen"]),
            now,
            submit_id=submit["id"],
            resend=bool(submit["resend"]),
            certain=False,
        )

    def part_sent(
        self,
        message_id: int,
        seq: int,
        *,
        ref: ProviderRef | None,
        price_fen: int,
        modem: str,
        now: datetime | None = None,
    ) -> bool:
        """The modem answered +CMGS: record TP-MR (None: the modem gave none) and book the segment.

        True when the whole message is sent."""
        now = now or utcnow()
        with self.tx():
            submit = self._finish_submit(message_id, seq, "accepted", now, ref=ref)
            if ref is None:
                self.event(
                    "outbox",
                    message_id,
                    "no_reference",
                    f"part {seq}: {modem} accepted it without a message reference; its delivery report cannot be "
                    "matched, so it stays 'sent'",
                    f"worker:{modem}",
                    now,
                )
            return self._part_accepted(
                message_id,
                seq,
                ref,
                price_fen,
                modem,
                now,
                submit_id=submit["id"] if submit else None,
                resend=bool(submit and submit["resend"]),
            )

    def _part_accepted(
        self,
        message_id: int,
        seq: int,
        ref: ProviderRef | None,
        price_fen: int,
        modem: str,
        now: datetime,
        *,
        submit_id: int | None,
        resend: bool,
    ) -> bool:
        self.conn.execute(
            "UPDATE outbox_parts SET state = 'sent', provider_ref = ?, provider_ref_unknown = ?, price_fen = ?, "
            "modem = ?, sent_at = ?, modem_seq = ? WHERE message_id = ? AND seq = ? "
            "AND state IN ('pending', 'submitting')",
            (ref, int(ref is None), price_fen, modem, ts(now), self.next_counter(f"sent:{modem}"), message_id, seq),
        )
        self._book(message_id, seq, modem, price_fen, now, submit_id=submit_id, resend=resend)
        left = self.one(
            "SELECT COUNT(*) AS n FROM outbox_parts WHERE message_id = ? AND state IN ('pending', 'submitting')",
            (message_id,),
        )
        msg = self.one("SELECT state FROM outbox WHERE id = ?", (message_id,))
        if left and left["n"] == 0 and msg and msg["state"] not in ("sent", "delivered"):
            self.conn.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, lease_owner = NULL, lease_until = NULL, "
                "retry_at = NULL, last_error = NULL, finished_at = NULL, updated_at = ? WHERE id = ?",
                (ts(now), ts(now), message_id),
            )
            self.event("outbox", message_id, "sent", f"modem={modem}", f"worker:{modem}", now)
            return True
        return False

    def _book(
        self,
        message_id: int,
        seq: int,
        modem: str,
        price_fen: int,
        now: datetime,
        *,
        submit_id: int | None = None,
        resend: bool = False,
        certain: bool = True,
    ) -> None:
        """One ledger row per accepted submit: price, campaign, paying org unit, account, modem, month.

        A submit booked in doubt (certain = 0) is made certain, not booked twice, when it is settled."""
        if submit_id is not None and certain:
            cur = self.conn.execute(
                "UPDATE ledger SET certain = 1, price_fen = ? WHERE submit_id = ? AND certain = 0",
                (price_fen, submit_id),
            )
            if cur.rowcount:
                return
        row = self.one(
            """SELECT o.campaign_id, c.owner_org, o.account, o.org, u.path AS member_org FROM outbox o
               LEFT JOIN campaigns c ON c.id = o.campaign_id LEFT JOIN members m ON m.id = o.member_id
               LEFT JOIN org_units u ON u.id = m.org_id WHERE o.id = ?""",
            (message_id,),
        )
        assert row is not None
        account = row["account"] or ("campaign" if row["campaign_id"] else "direct")
        # Who pays: the org named on the message, else the campaign's owner; a greeting or a reply
        # to a member is booked to the member's org unit (a township's report then shows the
        # replies its members got); an admin's direct send stays the county's.
        org = row["org"] or (
            row["owner_org"] if row["campaign_id"] else (row["member_org"] if account != "direct" else None)
        )
        local = now.astimezone(LOCAL)
        self.conn.execute(
            "INSERT OR IGNORE INTO ledger (message_id, seq, campaign_id, org, account, modem, price_fen, sent_at, "
            "month, day, resend, submit_id, certain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                int(resend),
                submit_id,
                int(certain),
            ),
        )

    def submit_refused(
        self, message_id: int, *, error: str, permanent: bool, backoff_s: float, modem: str, now: datetime | None = None
    ) -> str:
        """The network refused the part in flight (it counts as an attempt). Returns the new state."""
        now = now or utcnow()
        with self.tx():
            self._close_submits(message_id, "refused", error, now)
            self.conn.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (message_id,))
            msg = self.one("SELECT attempts, max_attempts FROM outbox WHERE id = ?", (message_id,))
            assert msg is not None
            decision = policy.after_refusal(
                error=error,
                permanent=permanent,
                attempts=msg["attempts"],
                max_attempts=msg["max_attempts"],
                backoff_s=backoff_s,
            )
            return self._apply(message_id, decision, modem, now)

    def submit_not_sent(
        self, message_id: int, *, error: str, backoff_s: float, modem: str, now: datetime | None = None
    ) -> str:
        """Nothing of the part reached the network: back to the queue, no attempt used, uncharged."""
        now = now or utcnow()
        with self.tx():
            self._close_submits(message_id, "not_sent", error, now)
            return self._apply(message_id, policy.after_not_sent(error=error, backoff_s=backoff_s), modem, now)

    def submit_in_doubt(
        self,
        message_id: int,
        *,
        error: str,
        cause: str,
        grace_s: float,
        modem: str,
        now: datetime | None = None,
    ) -> str:
        """No answer after the part was written: the network may have it (booked, unconfirmed)."""
        now = now or utcnow()
        with self.tx():
            seqs = self._submitting(message_id)
            for seq in seqs:
                self._finish_submit(message_id, seq, "in_doubt", now, cause=cause, ref=None)
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'submitting'", (message_id,)
            )
            which = ", ".join(str(s) for s in seqs) or "?"
            self.event(
                "outbox",
                message_id,
                "in_doubt",
                f"part {which}: no answer from {modem} ({error}); the network may have it",
                f"worker:{modem}",
                now,
            )
            doubts = {seq: self._doubts(message_id, seq, restart=False) for seq in seqs}
            return self._apply(message_id, policy.after_doubt(modem=modem, doubts=doubts, grace_s=grace_s), modem, now)

    def _submitting(self, message_id: int) -> list[int]:
        return [
            int(p["seq"])
            for p in self.rows(
                "SELECT seq FROM outbox_parts WHERE message_id = ? AND state = 'submitting'", (message_id,)
            )
        ]

    def _doubts(self, message_id: int, seq: int, *, restart: bool) -> int:
        """Answerless submits of a part: those of stops (restart) or the others."""
        row = self.one(
            "SELECT COUNT(*) AS n FROM submits WHERE message_id = ? AND seq = ? AND state = 'in_doubt' "
            f"AND cause {'=' if restart else '<>'} 'restart'",
            (message_id, seq),
        )
        return int(row["n"]) if row else 0

    def _close_submits(self, message_id: int, state: str, error: str, now: datetime) -> None:
        """The parts in flight did not leave (refused, or not sent): their submits close, they wait again."""
        for seq in self._submitting(message_id):
            self._finish_submit(message_id, seq, state, now, cause=error, ref=None)
        self.conn.execute(
            "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'submitting'", (message_id,)
        )

    def _apply(self, message_id: int, decision: policy.Decision, modem: str, now: datetime) -> str:
        if isinstance(decision, policy.Fail):
            if decision.maybe_arrived:
                self.conn.execute("UPDATE outbox SET possible_duplicate = 1 WHERE id = ?", (message_id,))
            return self._settle_failed(message_id, decision.why, decision.error, modem, now)
        return self._requeue(message_id, decision.error, modem, now, decision.delay_s)

    def _requeue(self, message_id: int, error: str, modem: str, now: datetime, delay: float) -> str:
        self.conn.execute(
            "UPDATE outbox SET state = 'queued', last_error = ?, lease_owner = NULL, lease_until = NULL, "
            "retry_at = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'sending')",
            (error, ts(now + timedelta(seconds=delay)), ts(now), message_id),
        )
        self.event("outbox", message_id, "retry", f"in {delay:g}s: {error}", f"worker:{modem}", now)
        return "queued"

    def _settle_failed(self, message_id: int, why: str, error: str, modem: str, now: datetime) -> str:
        self.conn.execute(
            "UPDATE outbox SET state = 'failed', last_error = ?, lease_owner = NULL, lease_until = NULL, "
            "finished_at = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'sending')",
            (error, ts(now), ts(now), message_id),
        )
        self.event("outbox", message_id, "failed", why, f"worker:{modem}", now)
        return "failed"

    def release(self, message_id: int, reason: str, actor: str = "daemon", now: datetime | None = None) -> None:
        """Give a claimed message back to the queue (nothing of it was written to the modem)."""
        now = now or utcnow()
        with self.tx():
            self.conn.execute(
                "UPDATE outbox SET state = 'queued', lease_owner = NULL, "
                "lease_until = NULL, updated_at = ? WHERE id = ? AND state = 'sending'",
                (ts(now), message_id),
            )
            # only called before anything was written to the modem: a part marked at claim goes back unflagged
            for p in self.rows(
                "SELECT seq FROM outbox_parts WHERE message_id = ? AND state = 'submitting'", (message_id,)
            ):
                self._finish_submit(message_id, p["seq"], "not_sent", now, cause=reason, ref=None)
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'submitting'", (message_id,)
            )
            self.event("outbox", message_id, "released", reason, actor, now)

    def late_answer(
        self, modem: str, ref: ProviderRef | None, price_fen: int, now: datetime | None = None
    ) -> int | None:
        """A +CMGS that came after its submit timed out: the oldest submit in doubt on this modem
        was accepted. It is recorded and billed; a part not yet resent is sent. Returns the message id."""
        now = now or utcnow()
        with self.tx():
            row = self.one(
                "SELECT * FROM submits WHERE modem = ? AND state = 'in_doubt' AND cause <> 'restart' "
                "AND started_at >= ? ORDER BY id LIMIT 1",
                (modem, ts(now - timedelta(days=1))),
            )
            if row is None:
                return None
            self._settle_doubt(row, ref, price_fen, now, "a late answer")
            return int(row["message_id"])

    def _settle_doubt(
        self, submit: dict[str, Any], ref: ProviderRef | None, price_fen: int, now: datetime, how: str
    ) -> None:
        mid, seq, modem = submit["message_id"], submit["seq"], submit["modem"]
        self.conn.execute(
            "UPDATE submits SET state = 'accepted', provider_ref = ?, finished_at = ? WHERE id = ?",
            (ref, ts(now), submit["id"]),
        )
        others = self.one(
            "SELECT COUNT(*) AS n FROM submits WHERE message_id = ? AND seq = ? AND id <> ? "
            "AND state IN ('in_flight', 'accepted')",
            (mid, seq, submit["id"]),
        )
        also_resent = bool(others and others["n"])
        resend = bool(submit["resend"])  # the ledger flags the copies, not the first submit
        self.event(
            "outbox",
            mid,
            "in_doubt_settled",
            f"part {seq}: {how} shows {modem} sent it (ref={ref})"
            + ("; it was also sent again" if also_resent else ""),
            f"worker:{modem}",
            now,
        )
        part = self.one("SELECT state FROM outbox_parts WHERE message_id = ? AND seq = ?", (mid, seq))
        if part and part["state"] == "pending":
            self._part_accepted(mid, seq, ref, price_fen, modem, now, submit_id=submit["id"], resend=resend)
        else:
            self._book(mid, seq, modem, price_fen, now, submit_id=submit["id"], resend=resend)

    def _flag_in_flight(self, message_id: int, why: str, actor: str, now: datetime) -> None:
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
        for p in parts:
            self._finish_submit(message_id, p["seq"], "in_doubt", now, cause="restart", ref=None)

    # ------------------------------------------------------------ recovery and housekeeping

    def recover(self, now: datetime | None = None, only_expired_leases: bool = False) -> int:
        """Return messages left 'sending' (by a crash, or a lease that ran out) to the queue."""
        now = now or utcnow()
        sql = "SELECT id FROM outbox WHERE state = 'sending'"
        if only_expired_leases:
            sql += " AND lease_until < ?"
        with self.tx():
            rows = self.rows(sql, (ts(now),) if only_expired_leases else ())
            for r in rows:
                stopped = None
                for seq in self._submitting(r["id"]):  # this stop counts too
                    stopped = policy.after_stop(seq=seq, stops=self._doubts(r["id"], seq, restart=True) + 1)
                    if stopped is not None:
                        break
                self._flag_in_flight(r["id"], "the daemon stopped while the modem had it", "daemon", now)
                self.conn.execute(
                    "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'submitting'",
                    (r["id"],),
                )
                if stopped is not None:
                    self._apply(r["id"], stopped, "daemon", now)
                    continue
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

    def expire_due(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        with self.tx():
            rows = self.rows(
                "SELECT id FROM outbox INDEXED BY outbox_expiry WHERE state = 'queued' "
                "AND expires_at IS NOT NULL AND expires_at <= ?",
                (ts(now),),
            )
            for r in rows:
                self.conn.execute(
                    "UPDATE outbox SET state = 'expired', finished_at = ?, updated_at = ? WHERE id = ?",
                    (ts(now), ts(now), r["id"]),
                )
                self.event("outbox", r["id"], "expired", "not sent before its expiry time", "daemon", now)
        return len(rows)

    def segments_ahead(self, priority: int, before_id: int | None = None, campaign_id: int | None = None) -> int:
        """Segments still to send of messages that go before a new one of this priority (or, with
        before_id, before that message; a campaign's own are not counted): what an ETA waits for."""
        row = self.one(
            "SELECT COUNT(*) AS n FROM outbox_parts p JOIN outbox o ON o.id = p.message_id "
            "WHERE o.state IN ('queued', 'sending') AND o.held = 0 AND p.state IN ('pending', 'submitting') "
            "AND (o.priority > :p OR (o.priority = :p AND (:before IS NULL OR o.id < :before))) "
            "AND (:cid IS NULL OR o.campaign_id IS NOT :cid)",
            {"p": priority, "before": before_id, "cid": campaign_id},
        )
        return int(row["n"]) if row else 0

    def next_due(self, now: datetime | None = None) -> str | None:
        """The next moment a scheduled or retrying message may become due (None: none waits).

        Two index seeks: the earliest future not_before and the earliest future retry_at. A message
        waiting for both may wake a worker early, once; never late."""
        at = ts(now or utcnow())
        row = self.one(
            "SELECT (SELECT MIN(not_before) FROM outbox INDEXED BY outbox_not_before "
            "WHERE state = 'queued' AND not_before > :at) AS nb, "
            "(SELECT MIN(retry_at) FROM outbox INDEXED BY outbox_retry_at "
            "WHERE state = 'queued' AND retry_at > :at) AS ra",
            {"at": at},
        )
        if not row:
            return None
        return min((t for t in (row["nb"], row["ra"]) if t), default=None)

    # ------------------------------------------------------------ admin verbs

    def message(self, message_id: int) -> OutboundMessage | None:
        return self.one_of(OutboundMessage, "SELECT * FROM outbox WHERE id = ?", (message_id,))

    def message_or_error(self, message_id: int) -> OutboundMessage:
        row = self.message(message_id)
        if row is None:
            raise InputError("no message with id {message_id} (see `smsd outbox`)", message_id=message_id)
        return row

    def messages(self, state: str | None = None, limit: int = 50) -> list[OutboundMessage]:
        if state:
            return self.all_of(
                OutboundMessage, "SELECT * FROM outbox WHERE state = ? ORDER BY id DESC LIMIT ?", (state, limit)
            )
        return self.all_of(OutboundMessage, "SELECT * FROM outbox ORDER BY id DESC LIMIT ?", (limit,))

    def message_by_dedup_key(self, key: str) -> OutboundMessage | None:
        return self.one_of(OutboundMessage, "SELECT * FROM outbox WHERE dedup_key = ?", (key,))

    def dedup_exists(self, key: str) -> bool:
        return self.one("SELECT 1 AS x FROM outbox WHERE dedup_key = ?", (key,)) is not None

    def account_count(self, account: str) -> int:
        row = self.one("SELECT COUNT(*) AS n FROM outbox WHERE account = ?", (account,))
        return int(row["n"]) if row else 0

    def queue_depth(self) -> dict[str, int]:
        return {r["state"]: r["n"] for r in self.rows("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")}

    def cancel(self, message_id: int, actor: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.tx():
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
            self.event("outbox", message_id, "cancelled", "", actor, now)

    def retry(self, message_id: int, actor: str, expire_hours: int = 72, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.tx():
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
            self.event("outbox", message_id, "queued", f"retry requested (was {row.state})", actor, now)

    # ------------------------------------------------------------ status reports

    def apply_report(
        self,
        modem: str,
        ref: ProviderRef,
        recipient: str,
        status: int,
        outcome: str,
        discharge: datetime | None = None,
        *,
        window_days: int = 3,
        now: datetime | None = None,
        price_fen: int | None = None,
        alternatives: Iterable[ProviderRef] = (),
    ) -> tuple[int, int] | None:
        """Match a status report to the newest sent part with (modem, TP-MR, recipient); the
        reference as written first, then its alternatives (an SMSC that writes a receipt's id in
        decimal and its submit_sm_resp's in hex, or the reverse).

        A report that matches no part but the recipient of a submit in doubt on this modem is the
        network saying it had that submit: it is settled as accepted (and billed at price_fen)."""
        now = now or utcnow()
        digits = recipient.lstrip("+")[-11:]
        with self.tx():
            match = None
            for form in (ref, *alternatives):
                cands = self.rows(
                    # the (modem, reference) index: a seek, not a walk over every part the modem sent in
                    # the window (the planner prefers (modem, sent_at) for the ORDER BY otherwise)
                    """SELECT p.message_id, p.seq, o.to_number FROM outbox_parts p INDEXED BY outbox_parts_report
                       JOIN outbox o ON o.id = p.message_id
                       WHERE p.modem = ? AND p.provider_ref = ? AND p.sent_at >= ?
                         AND p.state IN ('sent', 'delivered', 'failed')
                       ORDER BY p.sent_at DESC LIMIT 20""",
                    (modem, form, ts(now - timedelta(days=window_days))),
                )
                match = next((c for c in cands if c["to_number"].lstrip("+")[-11:] == digits), None)
                if match is not None:
                    break
            if match is None and price_fen is not None:
                match = self._report_settles_doubt(modem, ref, digits, price_fen, now, window_days)
            self.conn.execute(
                "INSERT INTO status_reports (modem, provider_ref, recipient, status, outcome, discharge, received_at, "
                "message_id, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    modem,
                    ref,
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

    def _report_settles_doubt(
        self, modem: str, ref: ProviderRef, digits: str, price_fen: int, now: datetime, window_days: int
    ) -> dict[str, Any] | None:
        doubts = self.rows(
            """SELECT s.*, o.to_number FROM submits s JOIN outbox o ON o.id = s.message_id
               WHERE s.modem = ? AND s.state = 'in_doubt' AND s.started_at >= ? ORDER BY s.id DESC LIMIT 20""",
            (modem, ts(now - timedelta(days=window_days))),
        )
        submit = next((d for d in doubts if d["to_number"].lstrip("+")[-11:] == digits), None)
        if submit is None:
            return None
        self._settle_doubt(submit, ref, price_fen, now, "a delivery report")
        part = self.one(
            "SELECT message_id, seq FROM outbox_parts WHERE message_id = ? AND seq = ? AND provider_ref = ? "
            "AND modem = ?",
            (submit["message_id"], submit["seq"], ref, modem),
        )
        return part

    def _settle(self, message_id: int, now: datetime, modem: str) -> None:
        states = [p.state for p in self.parts(message_id)]
        msg = self.message(message_id)
        assert msg is not None
        if msg.state != "sent":
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

    def api_message(self, message_id: int, client: str) -> OutboundMessage | None:
        """A message queued by this API client (other clients' messages are not found)."""
        return self.one_of(
            OutboundMessage, "SELECT * FROM outbox WHERE id = ? AND created_by = ?", (message_id, f"api:{client}")
        )

    def expired_since(self, since: datetime) -> int:
        """Messages that expired unsent since a time (for `smsd status`)."""
        row = self.one("SELECT COUNT(*) AS n FROM outbox WHERE state = 'expired' AND finished_at >= ?", (ts(since),))
        return int(row["n"]) if row else 0
