"""Claims: which message a transport sends next, under a lease, within the SIM's caps and quiet
hours (pacing), and when queued messages become due or expire."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from smsd.clock import parse_ts, ts, utcnow
from smsd.phone import is_domestic
from smsd.store.core import Core, Repo, _marks
from smsd.store.records import Claim, OutboundMessage
from smsd.store.submits import Submits

if TYPE_CHECKING:
    from smsd.pacing import Pacing


class ClaimOptions(TypedDict, total=False):
    """How a claim is made (claim_many's keyword arguments; each one's default is claim_many's)."""

    now: datetime | None
    lease_s: int
    repin_after_s: int
    pacing: Pacing | None
    reserved: int
    prices: tuple[int, int] | None
    segments_of: Callable[[str], int | None] | None


class Claims(Repo):
    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self._submits = Submits(core)

    def claim_next(self, modem: str, **options: Unpack[ClaimOptions]) -> OutboundMessage | None:
        """Atomically take the next due message for this modem, with a lease (claim_many's first)."""
        claims = self.claim_many(modem, 1, **options)
        return claims[0].message if claims else None

    def claim_many(
        self,
        modem: str,
        limit: int,
        *,
        now: datetime | None = None,
        lease_s: int = 300,
        repin_after_s: int = 3600,
        pacing: Pacing | None = None,
        reserved: int = 0,
        prices: tuple[int, int] | None = None,
        segments_of: Callable[[str], int | None] | None = None,
    ) -> list[Claim]:
        """Atomically take up to limit due messages for this modem, each with a lease: the same
        messages, in the same order, as limit calls of claim_next, in a few statements for all.

        With pacing: nothing non-urgent during quiet hours, and never beyond the SIM's
        hourly or daily cap of segments (less the reserved segments of messages already claimed
        and not yet sent: an SMPP window). Messages of paused campaigns wait. prices (at home,
        abroad) is what this transport pays per segment: each submit carries its price, so a submit
        that falls in doubt is booked at it. segments_of: how many parts this transport sends a
        text in when that is not smsd.segments' count (a carrier's signature it counts in); a
        message none of whose parts has left is planned again with it, so parts and cost are the
        carrier's.
        """
        now = now or utcnow()
        quiet = int(pacing.is_quiet(now)) if pacing else 0
        claims: list[Claim] = []
        with self._tx():
            if pacing:
                in_hour, in_day, _ = self.usage(modem, pacing, now)
                hour_res, day_res = pacing.reserve
                room = min(pacing.hourly_cap - in_hour, pacing.daily_cap - in_day) - reserved
                # A broadcast leaves the caps' reserve to replies and single sends: when it would
                # reach into it, the next message that is not a broadcast's is taken instead.
                bulk_room = min(pacing.hourly_cap - hour_res - in_hour, pacing.daily_cap - day_res - in_day) - reserved
            else:
                room = bulk_room = (1 << 30) - reserved
            not_bulk = False  # the next one only: a broadcast's message would reach into the reserve
            while len(claims) < limit and room > 0:
                bulk_ok = bulk_room > 0 and not not_bulk
                rows = self._next_due(modem, now, quiet, repin_after_s, bulk_ok, 1 if not_bulk else limit - len(claims))
                not_bulk = False
                picked: list[dict[str, Any]] = []
                for row in rows:
                    if bulk_ok and row["campaign_id"] is not None and row["segments"] > bulk_room:
                        not_bulk = True
                        break
                    if segments_of is not None:
                        row = self._resegment(row, segments_of(row["text"]))
                    if row["segments"] > room:
                        room = 0
                        break
                    picked.append(row)
                    room -= row["segments"]
                    bulk_room -= row["segments"]
                    if bulk_ok and bulk_room <= 0:  # what follows may be a broadcast's: ask again without them
                        break
                if not picked and not not_bulk:
                    break
                claims += self._take(picked, modem, now, lease_s, prices, segments_of)
        return claims

    def _take(
        self,
        rows: list[dict[str, Any]],
        modem: str,
        now: datetime,
        lease_s: int,
        prices: tuple[int, int] | None,
        segments_of: Callable[[str], int | None] | None,
    ) -> list[Claim]:
        """Claim the picked rows: lease, pin, concatenation reference, the first part marked
        'submitting' in the claim itself (one durable commit fewer per message; the crash policy is
        the same: it counts as maybe sent), and the event."""
        if not rows:
            return []
        fresh = []  # those that need a concatenation reference of this modem
        for i, row in enumerate(rows):
            if row["modem"] != modem or row["concat_ref"] is None:
                if row["modem"] not in (None, modem) and self._has_sent_parts(row["id"]):
                    self._repin(row, modem, now)
                    row = {**row, "possible_duplicate": 1}
                    if segments_of is not None:  # sent again whole from here: in this transport's parts
                        row = self._resegment(row, segments_of(row["text"]))
                    rows[i] = row
                fresh.append(i)
        if fresh:
            last = self._next_counter(f"concat_ref:{modem}", step=len(fresh))
            for n, i in enumerate(fresh):
                rows[i] = {**rows[i], "concat_ref": (last - len(fresh) + 1 + n) % 256}
        at, until = ts(now), ts(now + timedelta(seconds=lease_s))
        rows = [
            {**r, "state": "sending", "lease_owner": modem, "lease_until": until, "modem": modem, "pinned_at": at}
            | {"updated_at": at}
            for r in rows
        ]
        self.conn.executemany(
            """UPDATE outbox SET state = 'sending', lease_owner = ?, lease_until = ?,
                   modem = ?, concat_ref = ?, pinned_at = ?, updated_at = ? WHERE id = ?""",
            [(modem, until, modem, r["concat_ref"], at, at, r["id"]) for r in rows],
        )
        ids = [r["id"] for r in rows]
        parts: dict[int, list[tuple[int, str]]] = {}
        for p in self._rows(
            f"SELECT message_id, seq, state FROM outbox_parts WHERE message_id IN ({_marks(ids)}) "
            "AND state IN ('pending', 'submitting') ORDER BY message_id, seq",
            ids,
        ):
            parts.setdefault(p["message_id"], []).append((p["seq"], p["state"]))
        starts = []
        for r in rows:
            pending = [seq for seq, state in parts.get(r["id"], []) if state == "pending"]
            if pending:
                price = None if prices is None else prices[0 if is_domestic(r["to_number"]) else 1]
                starts.append((r["id"], pending[0], price))
        self._submits._start_submits(starts, modem, now)
        self._events(
            [
                (
                    "outbox",
                    r["id"],
                    "sending",
                    f"modem={modem} refusals={r['attempts']} resends={r['resends']}",
                    f"worker:{modem}",
                )
                for r in rows
            ],
            now,
        )
        return [Claim(OutboundMessage.of(r), tuple(seq for seq, _state in parts.get(r["id"], []))) for r in rows]

    def _resegment(self, row: dict[str, Any], parts: int | None) -> dict[str, Any]:
        """The message in parts parts, when none of them has left yet (a message partly sent keeps its plan)."""
        if parts is None or parts == row["segments"] or self._has_sent_parts(row["id"]):
            return row
        self.conn.execute("UPDATE outbox SET segments = ? WHERE id = ?", (parts, row["id"]))
        self.conn.execute("DELETE FROM outbox_parts WHERE message_id = ?", (row["id"],))
        self.conn.executemany(
            "INSERT INTO outbox_parts (message_id, seq, total) VALUES (?, ?, ?)",
            [(row["id"], seq, parts) for seq in range(1, parts + 1)],
        )
        return {**row, "segments": parts}

    def _next_due(
        self, modem: str, now: datetime, quiet: int, repin_after_s: int, bulk_ok: bool, limit: int = 1
    ) -> list[dict[str, Any]]:
        """The next message this modem may take. The partial index (outbox_claim, or
        outbox_claim_quiet in quiet hours) leaves out paused campaigns and, when quiet, everything
        not urgent: a held backlog is never walked. Without bulk_ok (only the caps' reserve is
        left) broadcasts' messages are passed over, so a reply or a single send behind them goes.
        Up to limit of them, in the order they go."""
        return self._rows(
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
                   ORDER BY o.priority DESC, o.id LIMIT :limit""",
            {"now": ts(now), "modem": modem, "repin": ts(now - timedelta(seconds=repin_after_s)), "limit": limit},
        )

    def usage(self, modem: str, pacing: Pacing, now: datetime) -> tuple[int, int, str | None]:
        """Segments this modem sent in the last hour and today (local), and the oldest of the hour.

        Two index seeks, whatever the volume: each sent part carries the modem's running number
        (modem_seq), so a window's count is the last number minus the first one inside it, plus one.
        """
        last = self._counter(f"sent:{modem}")
        hour = self._first_sent(modem, ">", now - timedelta(hours=1))
        day = self._first_sent(modem, ">=", pacing.day_start(now))
        in_hour = last - hour["modem_seq"] + 1 if hour else 0
        in_day = last - day["modem_seq"] + 1 if day else 0
        return in_hour, in_day, hour["sent_at"] if hour else None

    def _first_sent(self, modem: str, op: str, since: datetime) -> dict[str, Any] | None:
        return self._one(
            "SELECT sent_at, modem_seq FROM outbox_parts INDEXED BY outbox_parts_modem_sent "
            f"WHERE modem = ? AND sent_at {op} ? "
            "AND modem_seq IS NOT NULL ORDER BY sent_at, modem_seq LIMIT 1",
            (modem, ts(since)),
        )

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
            self._one("SELECT 1 AS x FROM outbox_parts WHERE message_id = ? AND state <> 'pending'", (message_id,))
            is not None
        )

    def _repin(self, row: dict[str, Any], modem: str, now: datetime) -> None:
        """Half-sent on a modem that stayed down: the handset cannot join parts from two SIMs,
        so every part is sent again from the new modem (flagged: the first parts may arrive twice)."""
        sent = self._rows(
            "SELECT seq, modem, price_fen FROM outbox_parts WHERE message_id = ? AND state <> 'pending'", (row["id"],)
        )
        self.conn.execute(
            "UPDATE outbox_parts SET state = 'pending', provider_ref = NULL, submitted_at = NULL WHERE message_id = ?",
            (row["id"],),
        )
        self.conn.execute("UPDATE outbox SET possible_duplicate = 1 WHERE id = ?", (row["id"],))
        detail = f"from={row['modem']} to={modem} parts_already_sent={[s['seq'] for s in sent]}"
        self._event("outbox", row["id"], "possible_duplicate", "repinned: " + detail, f"worker:{modem}", now)

    def next_due(self, now: datetime | None = None) -> str | None:
        """The next moment a scheduled or retrying message may become due (None: none waits).

        Two index seeks: the earliest future not_before and the earliest future retry_at. A message
        waiting for both may wake a worker early, once; never late."""
        at = ts(now or utcnow())
        row = self._one(
            "SELECT (SELECT MIN(not_before) FROM outbox INDEXED BY outbox_not_before "
            "WHERE state = 'queued' AND not_before > :at) AS nb, "
            "(SELECT MIN(retry_at) FROM outbox INDEXED BY outbox_retry_at "
            "WHERE state = 'queued' AND retry_at > :at) AS ra",
            {"at": at},
        )
        if not row:
            return None
        return min((t for t in (row["nb"], row["ra"]) if t), default=None)

    def expire_due(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        with self._tx():
            rows = self._rows(
                "SELECT id FROM outbox INDEXED BY outbox_expiry WHERE state = 'queued' "
                "AND expires_at IS NOT NULL AND expires_at <= ?",
                (ts(now),),
            )
            for r in rows:
                self.conn.execute(
                    "UPDATE outbox SET state = 'expired', finished_at = ?, updated_at = ? WHERE id = ?",
                    (ts(now), ts(now), r["id"]),
                )
                self._event("outbox", r["id"], "expired", "not sent before its expiry time", "daemon", now)
        return len(rows)
