"""Verbs of the two-way protocol: the inbox queue, polls and votes, receipts, red messages,
feedback, opt-outs, and the safety counters (rate limit, loop detection, flags)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smsd.clock import ts, utcnow
from smsd.errors import InputError
from smsd.store.core import Core

if TYPE_CHECKING:
    pass


class InteractionVerbs(Core):
    # ------------------------------------------------------------ the inbound queue

    def inbox_new(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM inbox WHERE state = 'new' ORDER BY id LIMIT ?", (limit,))

    def claim_inbound(self, inbox_id: int) -> dict[str, Any] | None:
        """Inside the dispatcher's transaction: the row, if nobody handled it yet."""
        return self.one("SELECT * FROM inbox WHERE id = ? AND state = 'new'", (inbox_id,))

    def mark_handled(
        self,
        inbox_id: int,
        *,
        state: str,
        kind: str,
        command: str | None,
        normalized: str,
        member_id: int | None,
        now: datetime,
    ) -> None:
        self.conn.execute(
            "UPDATE inbox SET state = ?, kind = ?, command = ?, normalized = ?, member_id = ?, handled_at = ? "
            "WHERE id = ?",
            (state, kind, command, normalized, member_id, ts(now), inbox_id),
        )

    def replies_since(self, phone: str, since: datetime) -> int:
        row = self.one(
            "SELECT COUNT(*) AS n FROM outbox WHERE to_number = ? AND created_by = 'dispatcher' AND created_at >= ?",
            (phone, ts(since)),
        )
        return int(row["n"]) if row else 0

    def same_text_since(self, phone: str, normalized: str, since: datetime) -> int:
        row = self.one(
            "SELECT COUNT(*) AS n FROM inbox WHERE sender = ? AND normalized = ? AND received_at >= ?",
            (phone, normalized, ts(since)),
        )
        return int(row["n"]) if row else 0

    def stranger_replies_since(self, since: datetime) -> int:
        """Automatic replies queued since a time to numbers outside the roster (all of them)."""
        row = self.one(
            "SELECT COUNT(*) AS n FROM outbox WHERE created_by = 'dispatcher' AND created_at >= ? "
            "AND member_id IS NULL",
            (ts(since),),
        )
        return int(row["n"]) if row else 0

    def ours_since(self, phone: str, since: datetime) -> bool:
        """Did smsd queue an SMS to this number since a time?"""
        return (
            self.one("SELECT 1 AS x FROM outbox WHERE to_number = ? AND created_at >= ? LIMIT 1", (phone, ts(since)))
            is not None
        )

    def quick_answers(self, raw_sender: str, phone: str, since: datetime, within_s: int) -> int:
        """Texts no command accepted from this sender since a time, each arriving within within_s
        seconds after smsd queued an SMS to it (the shape of an auto-responder ping-pong)."""
        row = self.one(
            """SELECT COUNT(*) AS n FROM inbox i
               WHERE i.sender = ? AND i.received_at >= ? AND i.command IS NULL AND i.kind IN ('feedback', 'stranger')
                 AND EXISTS (SELECT 1 FROM outbox o WHERE o.to_number = ? AND o.created_at <= i.received_at
                             AND o.created_at >= strftime('%Y-%m-%dT%H:%M:%fZ', i.received_at, ?))""",
            (raw_sender, ts(since), phone, f"-{int(within_s)} seconds"),
        )
        return int(row["n"]) if row else 0

    def flag_number(self, phone: str, reason: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO flagged_numbers (phone, reason, flagged_at) VALUES (?, ?, ?)",
            (phone, reason, ts(now)),
        )

    def is_flagged(self, phone: str) -> bool:
        return self.one("SELECT 1 AS x FROM flagged_numbers WHERE phone = ?", (phone,)) is not None

    def flagged(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM flagged_numbers ORDER BY flagged_at DESC")

    def unflag(self, phone: str, actor: str) -> None:
        with self.tx():
            if self.conn.execute("DELETE FROM flagged_numbers WHERE phone = ?", (phone,)).rowcount == 0:
                raise InputError(f"{phone} is not flagged")
            self.event("number", phone[-4:], "unflagged", "", actor)

    # ------------------------------------------------------------ opt-out (members and strangers)

    def set_phone_opt_out(self, phone: str, opted_out: bool, actor: str, now: datetime) -> None:
        member = self.one("SELECT id FROM members WHERE phone = ?", (phone,))
        if member:
            self.conn.execute(
                "UPDATE members SET opted_out = ?, opted_out_at = ?, updated_at = ? WHERE id = ?",
                (int(opted_out), ts(now) if opted_out else None, ts(now), member["id"]),
            )
        if opted_out:
            self.conn.execute("INSERT OR IGNORE INTO optouts (phone, opted_out_at) VALUES (?, ?)", (phone, ts(now)))
        else:
            self.conn.execute("DELETE FROM optouts WHERE phone = ?", (phone,))
        self.event(
            "members",
            member["id"] if member else None,
            "opted_out" if opted_out else "opted_in",
            f"by SMS from ...{phone[-4:]}",
            actor,
            now,
        )

    def is_opted_out(self, phone: str) -> bool:
        return self.one("SELECT 1 AS x FROM optouts WHERE phone = ?", (phone,)) is not None

    # ------------------------------------------------------------ polls

    def create_poll(
        self,
        question: str,
        options: list[str],
        member_ids: list[int],
        *,
        opens: datetime,
        closes: datetime,
        policy: str,
        announce: bool,
        audience: dict[str, Any],
        actor: str,
        now: datetime | None = None,
    ) -> int:
        now = now or utcnow()
        with self.tx():
            cur = self.conn.execute(
                "INSERT INTO polls (question, options, audience, opens_at, closes_at, policy, announce, created_by, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    question,
                    json.dumps(options, ensure_ascii=False),
                    json.dumps(audience, ensure_ascii=False),
                    ts(opens),
                    ts(closes),
                    policy,
                    int(announce),
                    actor,
                    ts(now),
                ),
            )
            pid = int(cur.lastrowid or 0)
            self.conn.executemany(
                "INSERT INTO poll_audience (poll_id, member_id) VALUES (?, ?)", [(pid, m) for m in member_ids]
            )
            self.event("poll", pid, "created", f"{len(options)} options, {len(member_ids)} members", actor, now)
        return pid

    def poll(self, pid: int) -> dict[str, Any]:
        row = self.one("SELECT * FROM polls WHERE id = ?", (pid,))
        if row is None:
            raise InputError(f"no poll with id {pid} (see `smsd poll list`)")
        row["options"] = json.loads(row["options"])
        return row

    def polls(self) -> list[dict[str, Any]]:
        return [{**r, "options": json.loads(r["options"])} for r in self.rows("SELECT * FROM polls ORDER BY id DESC")]

    def polls_for(self, member_id: int, now: datetime) -> list[dict[str, Any]]:
        """Polls open now whose audience includes the member."""
        rows = self.rows(
            "SELECT p.* FROM polls p JOIN poll_audience a ON a.poll_id = p.id WHERE a.member_id = ? "
            "AND p.opens_at <= ? AND p.closes_at > ? ORDER BY p.id",
            (member_id, ts(now), ts(now)),
        )
        return [{**r, "options": json.loads(r["options"])} for r in rows]

    def any_poll_open(self, now: datetime) -> bool:
        return (
            self.one("SELECT 1 AS x FROM polls WHERE opens_at <= ? AND closes_at > ?", (ts(now), ts(now))) is not None
        )

    def last_poll_for(self, member_id: int) -> dict[str, Any] | None:
        """The member's most recently closed (or closing) poll."""
        return self.one(
            "SELECT p.* FROM polls p JOIN poll_audience a ON a.poll_id = p.id WHERE a.member_id = ? "
            "ORDER BY p.closes_at DESC LIMIT 1",
            (member_id,),
        )

    def in_audience(self, pid: int, member_id: int) -> bool:
        return (
            self.one("SELECT 1 AS x FROM poll_audience WHERE poll_id = ? AND member_id = ?", (pid, member_id))
            is not None
        )

    def record_vote(
        self, pid: int, member_id: int, option: int, inbox_id: int, policy: str, now: datetime
    ) -> tuple[str, int | None]:
        """('new' | 'changed' | 'duplicate', the option counted before)."""
        prev = self.one("SELECT option FROM votes WHERE poll_id = ? AND member_id = ?", (pid, member_id))
        if prev is None:
            self.conn.execute(
                "INSERT INTO votes (poll_id, member_id, option, inbox_id, voted_at) VALUES (?, ?, ?, ?, ?)",
                (pid, member_id, option, inbox_id, ts(now)),
            )
            return "new", None
        if policy == "last" and prev["option"] != option:
            self.conn.execute(
                "UPDATE votes SET option = ?, inbox_id = ?, voted_at = ?, changes = changes + 1 "
                "WHERE poll_id = ? AND member_id = ?",
                (option, inbox_id, ts(now), pid, member_id),
            )
            return "changed", int(prev["option"])
        return "duplicate", int(prev["option"])

    def poll_results(self, pid: int) -> dict[str, Any]:
        poll = self.poll(pid)
        counts = {
            r["option"]: r["n"]
            for r in self.rows("SELECT option, COUNT(*) AS n FROM votes WHERE poll_id = ? GROUP BY option", (pid,))
        }
        total = sum(counts.values())
        audience = self.one("SELECT COUNT(*) AS n FROM poll_audience WHERE poll_id = ?", (pid,))
        assert audience is not None
        options = [
            {
                "option": i,
                "label": label,
                "votes": counts.get(i, 0),
                "percent": round(100 * counts.get(i, 0) / total, 1) if total else 0.0,
            }
            for i, label in enumerate(poll["options"], start=1)
        ]
        return {
            "id": pid,
            "question": poll["question"],
            "votes": total,
            "audience": int(audience["n"]),
            "closes_at": poll["closes_at"],
            "policy": poll["policy"],
            "options": options,
        }

    def close_poll(self, pid: int, actor: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.tx():
            poll = self.poll(pid)
            if poll["closes_at"] <= ts(now):
                raise InputError(f"poll {pid} is already closed")
            self.conn.execute("UPDATE polls SET closes_at = ? WHERE id = ?", (ts(now), pid))
            self.event("poll", pid, "closed", "", actor, now)

    # ------------------------------------------------------------ receipts

    def latest_notice(self, phone: str) -> dict[str, Any] | None:
        """The newest campaign message that reached this number, with its campaign's flags."""
        return self.one(
            "SELECT o.campaign_id, c.confirm, c.poll_id FROM outbox o JOIN campaigns c ON c.id = o.campaign_id "
            "WHERE o.to_number = ? AND o.state IN ('sent', 'delivered', 'sending') ORDER BY o.id DESC LIMIT 1",
            (phone,),
        )

    def latest_confirm_campaign(self, phone: str) -> dict[str, Any] | None:
        return self.one(
            "SELECT c.* FROM outbox o JOIN campaigns c ON c.id = o.campaign_id WHERE o.to_number = ? "
            "AND c.confirm = 1 AND o.state IN ('sent', 'delivered', 'sending') ORDER BY o.id DESC LIMIT 1",
            (phone,),
        )

    def record_receipt(self, cid: int, member_id: int | None, phone: str, inbox_id: int, now: datetime) -> bool:
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO receipts (campaign_id, member_id, phone, inbox_id, "
            "confirmed_at) VALUES (?, ?, ?, ?, ?)",
            (cid, member_id, phone, inbox_id, ts(now)),
        )
        return cur.rowcount == 1

    def receipts(self, cid: int) -> dict[str, list[dict[str, Any]]]:
        """Recipients of a confirm campaign, split into confirmed and not yet confirmed."""
        rows = self.rows(
            "SELECT DISTINCT o.to_number AS phone, o.member_id, m.name, r.confirmed_at FROM outbox o "
            "LEFT JOIN members m ON m.id = o.member_id LEFT JOIN receipts r ON r.campaign_id = o.campaign_id "
            "AND r.phone = o.to_number WHERE o.campaign_id = ? AND o.dedup_key NOT LIKE '%:remind:%' "
            "ORDER BY o.id",
            (cid,),
        )
        return {
            "confirmed": [r for r in rows if r["confirmed_at"]],
            "pending": [r for r in rows if not r["confirmed_at"]],
        }

    # ------------------------------------------------------------ red messages

    def open_red(self, name: str, max_length: int, actor: str, now: datetime | None = None) -> int:
        now = now or utcnow()
        with self.tx():
            cur = self.conn.execute(
                "INSERT INTO red_campaigns (name, max_length, created_by, created_at) VALUES (?, ?, ?, ?)",
                (name, max_length, actor, ts(now)),
            )
            rid = int(cur.lastrowid or 0)
            self.event("red", rid, "opened", name, actor, now)
        return rid

    def current_red(self) -> dict[str, Any] | None:
        return self.one("SELECT * FROM red_campaigns WHERE state = 'open' ORDER BY id DESC LIMIT 1")

    def close_red(self, rid: int, actor: str) -> None:
        with self.tx():
            if (
                self.conn.execute(
                    "UPDATE red_campaigns SET state = 'closed' WHERE id = ? AND state = 'open'", (rid,)
                ).rowcount
                == 0
            ):
                raise InputError(f"no open red-message campaign {rid}")
            self.event("red", rid, "closed", "", actor)

    def red_duplicate(self, rid: int, key: str) -> bool:
        return (
            self.one("SELECT 1 AS x FROM red_submissions WHERE red_campaign_id = ? AND text_key = ?", (rid, key))
            is not None
        )

    def submit_red(self, rid: int, member: dict[str, Any], text: str, key: str, inbox_id: int, now: datetime) -> int:
        cur = self.conn.execute(
            "INSERT INTO red_submissions (red_campaign_id, member_id, phone, org, text, text_key, inbox_id, "
            "submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rid, member["id"], member["phone"], member.get("org"), text, key, inbox_id, ts(now)),
        )
        return int(cur.lastrowid or 0)

    def red_submissions(self, state: str | None = None, rid: int | None = None) -> list[dict[str, Any]]:
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
        return self.rows(sql + " ORDER BY s.id", params)

    def review_red(
        self, sid: int, approve: bool, reason: str, actor: str, now: datetime | None = None
    ) -> dict[str, Any]:
        now = now or utcnow()
        with self.tx():
            row = self.one("SELECT * FROM red_submissions WHERE id = ?", (sid,))
            if row is None:
                raise InputError(f"no red-message submission {sid} (see `smsd red list`)")
            state = "approved" if approve else "rejected"
            self.conn.execute(
                "UPDATE red_submissions SET state = ?, reason = ?, reviewed_at = ?, reviewed_by = ? WHERE id = ?",
                (state, reason or None, ts(now), actor, sid),
            )
            self.event(
                "red",
                row["red_campaign_id"],
                state,
                f"submission {sid}" + (f": {reason}" if reason else ""),
                actor,
                now,
            )
        return {**row, "state": state}

    # ------------------------------------------------------------ feedback

    def feedback(self, unread_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        sql = (
            "SELECT i.*, m.name FROM inbox i LEFT JOIN members m ON m.id = i.member_id WHERE i.kind = 'feedback'"
            + (" AND i.feedback_read = 0" if unread_only else "")
            + " ORDER BY i.id DESC LIMIT ?"
        )
        return self.rows(sql, (limit,))

    def mark_feedback_read(self, inbox_id: int, actor: str) -> None:
        with self.tx():
            if (
                self.conn.execute(
                    "UPDATE inbox SET feedback_read = 1 WHERE id = ? AND kind = 'feedback'", (inbox_id,)
                ).rowcount
                == 0
            ):
                raise InputError(f"no feedback message {inbox_id} (see `smsd inbox --feedback`)")
            self.event("inbox", inbox_id, "read", "", actor)
