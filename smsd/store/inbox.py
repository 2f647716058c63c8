"""Inbox verbs: every PDU is stored (deduplicated) before the modem deletes it; parts of a
concatenated SMS are joined by (modem, sender, reference, total) once all are here, or
released flagged incomplete after a while."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from smsd.clock import ts, utcnow
from smsd.errors import InputError
from smsd.phone import mask
from smsd.segments import clean_text
from smsd.store.core import Repo
from smsd.store.records import InboundMessage
from smsd.store.summaries import ApiInbound, Feedback
from smsd.values import Received


def _storable(raw: str | None) -> str | bytes | None:
    """A part's text as stored until its message is joined: a lone surrogate (half an emoji
    split across two parts, or a corrupt UCS-2 part) is not valid UTF-8, so such a text is kept
    as its UTF-16 bytes instead (joined parts make the pair whole again)."""
    if raw is None:
        return None
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return raw.encode("utf-16-be", "surrogatepass")
    return raw


def _raw(stored: str | bytes | None) -> str:
    if isinstance(stored, bytes):
        return stored.decode("utf-16-be", "surrogatepass")
    return stored or ""


class Inbox(Repo):
    def save(self, modem: str, item: Received, now: datetime | None = None) -> tuple[int | None, bool]:
        """Persist one received message or part (any transport). Returns (inbox id when a message
        is complete, duplicate?). item.key (a PDU's bytes, an SMPP message id) drops a redelivery."""
        now = now or utcnow()
        pdu_hex, error = item.key, item.error
        decoded = item if item.sender is not None else None
        digest = hashlib.sha1(pdu_hex.upper().encode()).hexdigest()
        # A key still held "at the provider" (stored, not yet acknowledged) is a redelivery; with a
        # window (SMPP: a deliver_sm has no id of its own), only within it: an SMSC that never
        # redelivers after a crash must not swallow the member's identical message next week.
        window = getattr(item, "redelivery_window_s", None)
        since = ts(now - timedelta(seconds=window)) if window else ""
        # ... and, over SMPP, for a while after it was acknowledged: the acknowledgement may have been
        # lost on the way (the link dropped after it was written), and the SMSC then delivers it again
        after_ack = getattr(item, "redelivery_after_ack_s", None)
        acked_since = ts(now - timedelta(seconds=after_ack)) if after_ack else "9"
        with self._tx():
            if self._one(
                "SELECT id FROM inbox_parts WHERE modem = ? AND pdu_hash = ? "
                "AND ((sim_deleted = 0 AND received_at >= ?) OR received_at >= ?)",
                (modem, digest, since, acked_since),
            ):
                self._event("inbox", None, "duplicate_pdu", f"modem={modem} hash={digest[:12]}", f"worker:{modem}", now)
                return None, True
            c = decoded.concat if decoded else None
            cur = self.conn.execute(
                "INSERT INTO inbox_parts (modem, pdu, pdu_hash, sender, ref, total, seq, raw_text, scts, error, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    modem,
                    pdu_hex,
                    digest,
                    decoded.sender if decoded else None,
                    c.ref if c else None,
                    c.total if c else None,
                    c.seq if c else None,
                    _storable(decoded.raw_text) if decoded else None,
                    ts(decoded.sent_at) if decoded and decoded.sent_at else None,
                    error,
                    ts(now),
                ),
            )
            part_id = int(cur.lastrowid or 0)
            if decoded is None or decoded.sender is None:
                return self._assemble([part_id], modem, "", f"[undecodable PDU: {error}]", now, undecodable=True), False
            if c is None or c.total <= 1:
                return self._assemble([part_id], modem, decoded.sender, decoded.text, now), False
            group = self._rows(
                "SELECT id, seq, raw_text FROM inbox_parts WHERE inbox_id IS NULL AND modem = ? AND sender = ? "
                "AND ref = ? AND total = ? ORDER BY seq, id",
                (modem, decoded.sender, c.ref, c.total),
            )
            by_seq = {g["seq"]: g for g in group}
            if len(by_seq) < c.total:
                return None, False
            ids = [by_seq[s]["id"] for s in range(1, c.total + 1)]
            text = clean_text("".join(_raw(by_seq[s]["raw_text"]) for s in range(1, c.total + 1)))
            return self._assemble(ids, modem, decoded.sender, text, now), False

    def mark_deleted_from_sim(self, modem: str, pdu_hex: str) -> None:
        """The modem deleted its copy: an identical PDU from now on is a new message."""
        digest = hashlib.sha1(pdu_hex.upper().encode()).hexdigest()
        with self._tx():
            self.conn.execute(
                "UPDATE inbox_parts SET sim_deleted = 1 WHERE modem = ? AND pdu_hash = ? AND sim_deleted = 0",
                (modem, digest),
            )

    def _assemble(
        self,
        part_ids: list[int],
        modem: str,
        sender: str,
        text: str,
        now: datetime,
        *,
        incomplete: bool = False,
        undecodable: bool = False,
    ) -> int:
        first = self._one("SELECT scts FROM inbox_parts WHERE id = ?", (part_ids[0],))
        cur = self.conn.execute(
            "INSERT INTO inbox (modem, sender, text, parts, incomplete, undecodable, scts, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                modem,
                sender,
                text,
                len(part_ids),
                int(incomplete),
                int(undecodable),
                first["scts"] if first else None,
                ts(now),
            ),
        )
        inbox_id = int(cur.lastrowid or 0)
        self.conn.executemany("UPDATE inbox_parts SET inbox_id = ? WHERE id = ?", [(inbox_id, i) for i in part_ids])
        flags = " incomplete" if incomplete else (" undecodable" if undecodable else "")
        self._event(
            "inbox",
            inbox_id,
            "received",
            f"modem={modem} from={mask(sender)} parts={len(part_ids)}{flags}",
            f"worker:{modem}",
            now,
        )
        return inbox_id

    def release_incomplete(self, older_than_s: int, now: datetime | None = None) -> int:
        """Join what arrived of a concatenated SMS whose other parts never came."""
        now = now or utcnow()
        cutoff = ts(now - timedelta(seconds=older_than_s))
        released = 0
        with self._tx():
            groups = self._rows(
                "SELECT modem, sender, ref, total, MIN(received_at) AS first FROM inbox_parts WHERE inbox_id IS NULL "
                "AND total > 1 GROUP BY modem, sender, ref, total HAVING first <= ?",
                (cutoff,),
            )
            for g in groups:
                parts = self._rows(
                    "SELECT id, seq, raw_text FROM inbox_parts WHERE inbox_id IS NULL AND modem = ? AND sender = ? "
                    "AND ref = ? AND total = ? ORDER BY seq, id",
                    (g["modem"], g["sender"], g["ref"], g["total"]),
                )
                seen: dict[int, dict[str, Any]] = {}
                for p in parts:
                    seen.setdefault(p["seq"], p)
                text = clean_text("…".join(_raw(p["raw_text"]) for _, p in sorted(seen.items())))
                self._assemble([p["id"] for p in parts], g["modem"], g["sender"], text, now, incomplete=True)
                released += 1
        return released

    def recent(self, limit: int = 50, state: str | None = None) -> list[InboundMessage]:
        if state:
            return self._all_of(
                InboundMessage, "SELECT * FROM inbox WHERE state = ? ORDER BY id DESC LIMIT ?", (state, limit)
            )
        return self._all_of(InboundMessage, "SELECT * FROM inbox ORDER BY id DESC LIMIT ?", (limit,))

    def pending_parts(self) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM inbox_parts WHERE inbox_id IS NULL")
        return int(row["n"]) if row else 0

    def new(self, limit: int = 100) -> list[InboundMessage]:
        return self._all_of(InboundMessage, "SELECT * FROM inbox WHERE state = 'new' ORDER BY id LIMIT ?", (limit,))

    def claim(self, inbox_id: int) -> InboundMessage | None:
        """Inside the dispatcher's transaction: the message, if nobody handled it yet."""
        return self._one_of(InboundMessage, "SELECT * FROM inbox WHERE id = ? AND state = 'new'", (inbox_id,))

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

    def feedback(self, unread_only: bool = False, limit: int = 100) -> list[Feedback]:
        sql = (
            "SELECT i.*, m.name FROM inbox i LEFT JOIN members m ON m.id = i.member_id WHERE i.kind = 'feedback'"
            + (" AND i.feedback_read = 0" if unread_only else "")
            + " ORDER BY i.id DESC LIMIT ?"
        )
        return self._all_of(Feedback, sql, (limit,))

    def mark_feedback_read(self, inbox_id: int, actor: str) -> None:
        with self._tx():
            if (
                self.conn.execute(
                    "UPDATE inbox SET feedback_read = 1 WHERE id = ? AND kind = 'feedback'", (inbox_id,)
                ).rowcount
                == 0
            ):
                raise InputError("no feedback message {inbox_id} (see `smsd inbox --feedback`)", inbox_id=inbox_id)
            self._event("inbox", inbox_id, "read", "", actor)

    def since(self, cursor: int, limit: int, grant: tuple[str, ...] = ("*",)) -> list[ApiInbound]:
        """Inbound SMS after a cursor that a grant covers: '*' all, 'unhandled' text no command
        took, or command names (vote, receipt, red, feedback, ...)."""
        where, params = "", [str(cursor)]
        if "*" not in grant:
            names = [g for g in grant if g != "unhandled"]
            conds = [f"command IN ({', '.join('?' * len(names))})"] if names else []
            params += names
            if "unhandled" in grant:
                conds.append("(command IS NULL AND kind IN ('feedback', 'stranger'))")
            where = " AND (" + (" OR ".join(conds) or "0") + ")"
        return self._all_of(
            ApiInbound,
            "SELECT id, modem, sender, text, received_at, kind, command, parts, incomplete, member_id FROM inbox "
            f"WHERE id > ?{where} ORDER BY id LIMIT ?",
            (*params, limit),
        )
