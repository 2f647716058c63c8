"""Polls and votes (a vote is counted once per member, by the poll's policy)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from smsd.clock import ts, utcnow
from smsd.errors import InputError
from smsd.store.core import Repo
from smsd.store.records import Poll
from smsd.store.summaries import PollOption, PollResults


class Polls(Repo):
    """Polls, their audience and the votes."""

    def create(
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
        owner_org: str | None = None,
        now: datetime | None = None,
    ) -> int:
        now = now or utcnow()
        with self._tx():
            cur = self.conn.execute(
                "INSERT INTO polls (question, options, audience, opens_at, closes_at, policy, announce, created_by, "
                "created_at, owner_org) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    owner_org,
                ),
            )
            pid = int(cur.lastrowid or 0)
            self.conn.executemany(
                "INSERT INTO poll_audience (poll_id, member_id) VALUES (?, ?)", [(pid, m) for m in member_ids]
            )
            self._event("poll", pid, "created", f"{len(options)} options, {len(member_ids)} members", actor, now)
        return pid

    def get(self, pid: int) -> Poll:
        row = self._one_of(Poll, "SELECT * FROM polls WHERE id = ?", (pid,))
        if row is None:
            raise InputError("no poll with id {pid} (see `smsd poll list`)", pid=pid)
        return row

    def all(self) -> list[Poll]:
        return self._all_of(Poll, "SELECT * FROM polls ORDER BY id DESC")

    def polls_for(self, member_id: int, now: datetime) -> list[Poll]:
        """Polls open now whose audience includes the member."""
        return self._all_of(
            Poll,
            "SELECT p.* FROM polls p JOIN poll_audience a ON a.poll_id = p.id WHERE a.member_id = ? "
            "AND p.opens_at <= ? AND p.closes_at > ? ORDER BY p.id",
            (member_id, ts(now), ts(now)),
        )

    def any_open(self, now: datetime) -> bool:
        return (
            self._one("SELECT 1 AS x FROM polls WHERE opens_at <= ? AND closes_at > ?", (ts(now), ts(now))) is not None
        )

    def last_poll_for(self, member_id: int) -> Poll | None:
        """The member's most recently closed (or closing) poll."""
        return self._one_of(
            Poll,
            "SELECT p.* FROM polls p JOIN poll_audience a ON a.poll_id = p.id WHERE a.member_id = ? "
            "ORDER BY p.closes_at DESC LIMIT 1",
            (member_id,),
        )

    def record_vote(
        self, pid: int, member_id: int, option: int, inbox_id: int, policy: str, now: datetime
    ) -> tuple[str, int | None]:
        """('new' | 'changed' | 'duplicate', the option counted before)."""
        prev = self._one("SELECT option FROM votes WHERE poll_id = ? AND member_id = ?", (pid, member_id))
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

    def results(self, pid: int) -> PollResults:
        poll = self.get(pid)
        counts = {
            r["option"]: r["n"]
            for r in self._rows("SELECT option, COUNT(*) AS n FROM votes WHERE poll_id = ? GROUP BY option", (pid,))
        }
        total = sum(counts.values())
        audience = self._one("SELECT COUNT(*) AS n FROM poll_audience WHERE poll_id = ?", (pid,))
        assert audience is not None
        options = tuple(
            PollOption(
                option=i,
                label=label,
                votes=counts.get(i, 0),
                percent=round(100 * counts.get(i, 0) / total, 1) if total else 0.0,
            )
            for i, label in enumerate(poll.options, start=1)
        )
        return PollResults(
            id=pid,
            question=poll.question,
            votes=total,
            audience=int(audience["n"]),
            closes_at=poll.closes_at,
            policy=poll.policy,
            options=options,
        )

    def close(self, pid: int, actor: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self._tx():
            poll = self.get(pid)
            if poll.closes_at <= ts(now):
                raise InputError("poll {pid} is already closed", pid=pid)
            self.conn.execute("UPDATE polls SET closes_at = ? WHERE id = ?", (ts(now), pid))
            self._event("poll", pid, "closed", "", actor, now)
