"""Submits of parts and their outcomes, the ledger booking and crash recovery.

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

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from smsd import policy
from smsd.clock import LOCAL, ts, utcnow
from smsd.store.core import Repo, _marks
from smsd.values import ProviderRef


class Submits(Repo):
    def part_submitting(
        self, message_id: int, seq: int, modem: str, now: datetime | None = None, price_fen: int | None = None
    ) -> None:
        """Committed before AT+CMGS: after a crash this part counts as 'maybe sent' (and is booked
        at price_fen, what the submit would cost)."""
        with self._tx():
            self._start_submit(message_id, seq, modem, now or utcnow(), price_fen)

    def _start_submit(self, message_id: int, seq: int, modem: str, now: datetime, price_fen: int | None = None) -> None:
        """Mark the part submitting and log the submit in flight (idempotent); flag a resend."""
        self._start_submits([(message_id, seq, price_fen)], modem, now)

    def _start_submits(self, items: Sequence[tuple[int, int, int | None]], modem: str, now: datetime) -> None:
        """_start_submit for many parts (message id, seq, price) in a few statements: a window's claims."""
        if not items:
            return
        earlier: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for row in self._rows(
            f"SELECT message_id, seq, state, cause, modem FROM submits WHERE message_id IN ({_marks(items)}) "
            "AND state IN ('in_flight', 'in_doubt')",
            [mid for mid, _seq, _price in items],
        ):
            earlier.setdefault((row["message_id"], row["seq"]), []).append(row)
        at = ts(now)
        fresh: list[tuple[int, int, int, int | None]] = []
        for mid, seq, price in items:
            rows = earlier.get((mid, seq), [])
            if any(r["state"] == "in_flight" for r in rows):
                continue
            doubts = [r for r in rows if r["state"] == "in_doubt"]
            if doubts:
                why = ", ".join(sorted({f"{d['cause']} on {d['modem']}" for d in doubts}))
                self.conn.execute(
                    "UPDATE outbox SET possible_duplicate = 1, resends = resends + 1 WHERE id = ?", (mid,)
                )
                self._event(
                    "outbox",
                    mid,
                    "resend",
                    f"part {seq} sent again: an earlier submit got no answer ({why}); it may arrive twice",
                    f"worker:{modem}",
                    now,
                )
            fresh.append((mid, seq, int(bool(doubts)), price))
        self.conn.executemany(
            "UPDATE outbox_parts SET state = 'submitting', modem = ?, submitted_at = ? "
            "WHERE message_id = ? AND seq = ?",
            [(modem, at, mid, seq) for mid, seq, _resend, _price in fresh],
        )
        self.conn.executemany(
            "INSERT INTO submits (message_id, seq, modem, state, resend, started_at, price_fen) "
            "VALUES (?, ?, ?, 'in_flight', ?, ?, ?)",
            [(mid, seq, modem, resend, at, price) for mid, seq, resend, price in fresh],
        )

    def _finish_submit(
        self, message_id: int, seq: int, state: str, now: datetime, *, cause: str | None = None, ref: ProviderRef | None
    ) -> dict[str, Any] | None:
        row = self._one(
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
        return bool(self.parts_sent([(message_id, seq, ref, price_fen)], modem=modem, now=now))

    def parts_sent(
        self, items: Sequence[tuple[int, int, ProviderRef | None, int]], *, modem: str, now: datetime | None = None
    ) -> list[int]:
        """A window's accepted parts (message id, seq, reference, price) booked at once, as
        part_sent books one: the same rows in a few statements for all of them. Returns the ids of
        the messages now wholly sent."""
        now = now or utcnow()
        with self._tx():
            submits: dict[tuple[int, int], dict[str, Any]] = {}
            for row in self._rows(
                f"SELECT id, message_id, seq, resend FROM submits WHERE message_id IN ({_marks(items)}) "
                "AND state = 'in_flight' ORDER BY id",
                [mid for mid, *_rest in items],
            ):
                submits[(row["message_id"], row["seq"])] = row  # the newest one of a part, as _finish_submit takes
            at = ts(now)
            self.conn.executemany(
                "UPDATE submits SET state = 'accepted', cause = NULL, provider_ref = ?, finished_at = ? WHERE id = ?",
                [(ref, at, submits[(mid, seq)]["id"]) for mid, seq, ref, _price in items if (mid, seq) in submits],
            )
            for mid, seq, ref, _price in items:
                if ref is None:
                    self._event(
                        "outbox",
                        mid,
                        "no_reference",
                        f"part {seq}: {modem} accepted it without a message reference; its delivery report cannot "
                        "be matched, so it stays 'sent'",
                        f"worker:{modem}",
                        now,
                    )
            accepted = []
            for mid, seq, ref, price in items:
                submit = submits.get((mid, seq))
                accepted.append(
                    (mid, seq, ref, price, submit["id"] if submit else None, bool(submit and submit["resend"]))
                )
            return self._parts_accepted(accepted, modem, now)

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
        return bool(self._parts_accepted([(message_id, seq, ref, price_fen, submit_id, resend)], modem, now))

    def _parts_accepted(
        self, items: Sequence[tuple[int, int, ProviderRef | None, int, int | None, bool]], modem: str, now: datetime
    ) -> list[int]:
        """Parts (message id, seq, reference, price, submit id, resend) sent: each gets the modem's
        next running number and its ledger row; a message with no part left to send is sent."""
        if not items:
            return []
        at = ts(now)
        last = self._next_counter(f"sent:{modem}", step=len(items))
        first = last - len(items) + 1
        self.conn.executemany(
            "UPDATE outbox_parts SET state = 'sent', provider_ref = ?, provider_ref_unknown = ?, price_fen = ?, "
            "modem = ?, sent_at = ?, modem_seq = ? WHERE message_id = ? AND seq = ? "
            "AND state IN ('pending', 'submitting')",
            [
                (ref, int(ref is None), price, modem, at, first + i, mid, seq)
                for i, (mid, seq, ref, price, _submit, _resend) in enumerate(items)
            ],
        )
        self._book_many(
            [(mid, seq, price, submit, resend) for mid, seq, _ref, price, submit, resend in items], modem, now
        )
        rows = self._rows(
            f"""SELECT o.id, o.state, (SELECT COUNT(*) FROM outbox_parts p WHERE p.message_id = o.id
                                       AND p.state IN ('pending', 'submitting')) AS left
                FROM outbox o WHERE o.id IN ({_marks(items)})""",
            [mid for mid, *_rest in items],
        )
        done = [r["id"] for r in rows if r["left"] == 0 and r["state"] not in ("sent", "delivered")]
        self.conn.executemany(
            "UPDATE outbox SET state = 'sent', sent_at = ?, lease_owner = NULL, lease_until = NULL, "
            "retry_at = NULL, last_error = NULL, finished_at = NULL, updated_at = ? WHERE id = ?",
            [(at, at, mid) for mid in done],
        )
        self._events([("outbox", mid, "sent", f"modem={modem}", f"worker:{modem}") for mid in done], now)
        return done

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
        self._book_many([(message_id, seq, price_fen, submit_id, resend)], modem, now, certain=certain)

    def _book_many(
        self,
        items: Sequence[tuple[int, int, int, int | None, bool]],
        modem: str,
        now: datetime,
        *,
        certain: bool = True,
    ) -> None:
        """One ledger row per accepted submit (message id, seq, price, submit id, resend): price,
        campaign, paying org unit, account, modem, month.

        A submit booked in doubt (certain = 0) is made certain, not booked twice, when it is settled."""
        if not items:
            return
        if certain:
            ids = [submit for _mid, _seq, _price, submit, _resend in items if submit is not None]
            doubted = {
                r["submit_id"]
                for r in (
                    self._rows(f"SELECT submit_id FROM ledger WHERE certain = 0 AND submit_id IN ({_marks(ids)})", ids)
                    if ids
                    else ()
                )
            }
            if doubted:
                self.conn.executemany(
                    "UPDATE ledger SET certain = 1, price_fen = ? WHERE submit_id = ? AND certain = 0",
                    [(price, submit) for _mid, _seq, price, submit, _resend in items if submit in doubted],
                )
                items = [item for item in items if item[3] not in doubted]
        payers = {
            row["id"]: row
            for row in self._rows(
                f"""SELECT o.id, o.campaign_id, c.owner_org, o.account, o.org, u.path AS member_org FROM outbox o
                    LEFT JOIN campaigns c ON c.id = o.campaign_id LEFT JOIN members m ON m.id = o.member_id
                    LEFT JOIN org_units u ON u.id = m.org_id WHERE o.id IN ({_marks(items)})""",
                [mid for mid, *_rest in items],
            )
        }
        local = now.astimezone(LOCAL)
        month, day, at = local.strftime("%Y-%m"), local.strftime("%Y-%m-%d"), ts(now)
        rows = []
        for mid, seq, price, submit, resend in items:
            row = payers[mid]
            account = row["account"] or ("campaign" if row["campaign_id"] else "direct")
            # Who pays: the org named on the message, else the campaign's owner; a greeting or a reply
            # to a member is booked to the member's org unit (a township's report then shows the
            # replies its members got); an admin's direct send stays the county's.
            org = row["org"] or (
                row["owner_org"] if row["campaign_id"] else (row["member_org"] if account != "direct" else None)
            )
            rows.append(
                (
                    mid,
                    seq,
                    row["campaign_id"],
                    org,
                    account,
                    modem,
                    price,
                    at,
                    month,
                    day,
                    int(resend),
                    submit,
                    int(certain),
                )
            )
        self.conn.executemany(
            "INSERT OR IGNORE INTO ledger (message_id, seq, campaign_id, org, account, modem, price_fen, sent_at, "
            "month, day, resend, submit_id, certain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def submit_refused(
        self, message_id: int, *, error: str, permanent: bool, backoff_s: float, modem: str, now: datetime | None = None
    ) -> str:
        """The network refused the part in flight (it counts as an attempt). Returns the new state."""
        now = now or utcnow()
        with self._tx():
            self._close_submits(message_id, "refused", error, now)
            self.conn.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (message_id,))
            msg = self._one("SELECT attempts, max_attempts FROM outbox WHERE id = ?", (message_id,))
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
        with self._tx():
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
        with self._tx():
            seqs = self._submitting(message_id)
            for seq in seqs:
                self._finish_submit(message_id, seq, "in_doubt", now, cause=cause, ref=None)
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'submitting'", (message_id,)
            )
            which = ", ".join(str(s) for s in seqs) or "?"
            self._event(
                "outbox",
                message_id,
                "in_doubt",
                f"part {which}: no answer from {modem} ({error}); the network may have it",
                f"worker:{modem}",
                now,
            )
            doubts = {seq: self._doubts(message_id, seq, restart=False) for seq in seqs}
            return self._apply(message_id, policy.after_doubt(modem=modem, doubts=doubts, grace_s=grace_s), modem, now)

    def late_answer(
        self, modem: str, ref: ProviderRef | None, price_fen: int, now: datetime | None = None
    ) -> int | None:
        """A +CMGS that came after its submit timed out: the oldest submit in doubt on this modem
        was accepted. It is recorded and billed; a part not yet resent is sent. Returns the message id."""
        now = now or utcnow()
        with self._tx():
            row = self._one(
                "SELECT * FROM submits WHERE modem = ? AND state = 'in_doubt' AND cause <> 'restart' "
                "AND started_at >= ? ORDER BY id LIMIT 1",
                (modem, ts(now - timedelta(days=1))),
            )
            if row is None:
                return None
            self._settle_doubt(row, ref, price_fen, now, "a late answer")
            return int(row["message_id"])

    def release(self, message_id: int, reason: str, actor: str = "daemon", now: datetime | None = None) -> None:
        """Give a claimed message back to the queue (nothing of it was written to the modem)."""
        now = now or utcnow()
        with self._tx():
            self.conn.execute(
                "UPDATE outbox SET state = 'queued', lease_owner = NULL, "
                "lease_until = NULL, updated_at = ? WHERE id = ? AND state = 'sending'",
                (ts(now), message_id),
            )
            # only called before anything was written to the modem: a part marked at claim goes back unflagged
            for p in self._rows(
                "SELECT seq FROM outbox_parts WHERE message_id = ? AND state = 'submitting'", (message_id,)
            ):
                self._finish_submit(message_id, p["seq"], "not_sent", now, cause=reason, ref=None)
            self.conn.execute(
                "UPDATE outbox_parts SET state = 'pending' WHERE message_id = ? AND state = 'submitting'", (message_id,)
            )
            self._event("outbox", message_id, "released", reason, actor, now)

    def recover(self, now: datetime | None = None, only_expired_leases: bool = False) -> int:
        """Return messages left 'sending' (by a crash, or a lease that ran out) to the queue."""
        now = now or utcnow()
        sql = "SELECT id FROM outbox WHERE state = 'sending'"
        if only_expired_leases:
            sql += " AND lease_until < ?"
        with self._tx():
            rows = self._rows(sql, (ts(now),) if only_expired_leases else ())
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
                self._event(
                    "outbox",
                    r["id"],
                    "recovered",
                    "lease expired" if only_expired_leases else "found in 'sending' at start-up",
                    "daemon",
                    now,
                )
        return len(rows)

    def _submitting(self, message_id: int) -> list[int]:
        return [
            int(p["seq"])
            for p in self._rows(
                "SELECT seq FROM outbox_parts WHERE message_id = ? AND state = 'submitting'", (message_id,)
            )
        ]

    def _doubts(self, message_id: int, seq: int, *, restart: bool) -> int:
        """Answerless submits of a part: those of stops (restart) or the others."""
        row = self._one(
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
        self._event("outbox", message_id, "retry", f"in {delay:g}s: {error}", f"worker:{modem}", now)
        return "queued"

    def _settle_failed(self, message_id: int, why: str, error: str, modem: str, now: datetime) -> str:
        self.conn.execute(
            "UPDATE outbox SET state = 'failed', last_error = ?, lease_owner = NULL, lease_until = NULL, "
            "finished_at = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'sending')",
            (error, ts(now), ts(now), message_id),
        )
        self._event("outbox", message_id, "failed", why, f"worker:{modem}", now)
        return "failed"

    def _settle_doubt(
        self, submit: dict[str, Any], ref: ProviderRef | None, price_fen: int, now: datetime, how: str
    ) -> None:
        mid, seq, modem = submit["message_id"], submit["seq"], submit["modem"]
        self.conn.execute(
            "UPDATE submits SET state = 'accepted', provider_ref = ?, finished_at = ? WHERE id = ?",
            (ref, ts(now), submit["id"]),
        )
        others = self._one(
            "SELECT COUNT(*) AS n FROM submits WHERE message_id = ? AND seq = ? AND id <> ? "
            "AND state IN ('in_flight', 'accepted')",
            (mid, seq, submit["id"]),
        )
        also_resent = bool(others and others["n"])
        resend = bool(submit["resend"])  # the ledger flags the copies, not the first submit
        self._event(
            "outbox",
            mid,
            "in_doubt_settled",
            f"part {seq}: {how} shows {modem} sent it (ref={ref})"
            + ("; it was also sent again" if also_resent else ""),
            f"worker:{modem}",
            now,
        )
        part = self._one("SELECT state FROM outbox_parts WHERE message_id = ? AND seq = ?", (mid, seq))
        if part and part["state"] == "pending":
            self._part_accepted(mid, seq, ref, price_fen, modem, now, submit_id=submit["id"], resend=resend)
        else:
            self._book(mid, seq, modem, price_fen, now, submit_id=submit["id"], resend=resend)

    def _flag_in_flight(self, message_id: int, why: str, actor: str, now: datetime) -> None:
        parts = self._rows(
            "SELECT seq, total FROM outbox_parts WHERE message_id = ? AND state = 'submitting'", (message_id,)
        )
        if not parts:
            return
        self.conn.execute("UPDATE outbox SET possible_duplicate = 1 WHERE id = ?", (message_id,))
        which = ", ".join(f"{p['seq']}/{p['total']}" for p in parts)
        self._event(
            "outbox",
            message_id,
            "possible_duplicate",
            f"part {which} may have been sent ({why}); it is sent again",
            actor,
            now,
        )
        for p in parts:
            self._finish_submit(message_id, p["seq"], "in_doubt", now, cause="restart", ref=None)
