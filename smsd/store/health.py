"""What `smsd status` shows about the daemon itself: each modem's health and each thread's state."""

from __future__ import annotations

from datetime import datetime

from smsd.clock import LOCAL, ts, utcnow
from smsd.store.core import Repo
from smsd.store.summaries import ModemDay, ModemHealth, ThreadState
from smsd.values import Health as TransportHealth


class Health(Repo):
    """Modems and daemon threads, as last recorded."""

    def update(
        self, name: str, health: TransportHealth, *, state: str, where: str, now: datetime | None = None
    ) -> None:
        """The transport's health as its worker last saw it (state: ready, down or paused)."""
        row = {
            "name": name,
            "port": where,
            "state": state,
            "signal": health.signal,
            "registered": None if health.registered is None else int(health.registered),
            "operator": health.operator,
            "model": health.model,
            "imei": health.imei,
            "imsi": health.imsi,
            "storage_used": health.storage_used,
            "storage_total": health.storage_total,
            "last_error": health.last_error,
            "updated_at": ts(now or utcnow()),
        }
        with self._tx():
            self._db.table("modems").upsert(row, pk="name")

    def incident(self, name: str, text: str, now: datetime | None = None) -> None:
        """Something went wrong on this modem (it may heal at once): kept with its time for `smsd status`."""
        with self._tx():
            self.conn.execute(
                "INSERT INTO modems (name, last_incident, last_incident_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET last_incident = excluded.last_incident, "
                "last_incident_at = excluded.last_incident_at",
                (name, text, ts(now or utcnow()), ts(now or utcnow())),
            )

    def request_resume(self, name: str, actor: str, now: datetime | None = None) -> None:
        """Ask the daemon to end this modem's pause now (a raised quota, a SIM topped up)."""
        now = now or utcnow()
        with self._tx():
            self.conn.execute(
                "INSERT INTO modems (name, resume_requested_at, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET resume_requested_at = excluded.resume_requested_at",
                (name, ts(now), ts(now)),
            )
            self._event("modem", name, "resume", "asked to try again now", actor, now)

    def resume_requested(self, name: str, since: datetime) -> bool:
        row = self._one("SELECT resume_requested_at AS at FROM modems WHERE name = ?", (name,))
        return bool(row and row["at"] and row["at"] >= ts(since))

    def modems(self) -> list[ModemHealth]:
        return self._all_of(ModemHealth, "SELECT * FROM modems ORDER BY name")

    def record_thread(self, name: str, state: str, crashes: int, last_error: str, now: datetime | None = None) -> None:
        """The daemon's supervisor notes each thread's state for `smsd status`."""
        with self._tx():
            self.conn.execute(
                "INSERT INTO daemon_threads (name, state, crashes, last_error, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET state = excluded.state, crashes = excluded.crashes, "
                "last_error = excluded.last_error, updated_at = excluded.updated_at",
                (name, state, crashes, last_error, ts(now or utcnow())),
            )

    def threads(self) -> list[ThreadState]:
        return self._all_of(ThreadState, "SELECT * FROM daemon_threads ORDER BY name")

    def modem_counts(self, since: datetime) -> list[ModemDay]:
        """Segments booked and messages received per modem since a time (for `smsd status`).

        Sent is what the ledger holds, submits in doubt included: what the SIM most likely paid."""
        out: dict[str, dict[str, int]] = {}
        for r in self._rows(
            "SELECT modem, COUNT(*) AS n, COALESCE(SUM(price_fen), 0) AS fen FROM ledger INDEXED BY ledger_day "
            "WHERE day >= ? AND sent_at >= ? GROUP BY modem",
            (since.astimezone(LOCAL).date().isoformat(), ts(since)),
        ):
            out.setdefault(r["modem"], {})["sent"] = r["n"]
            out[r["modem"]]["cost_fen"] = r["fen"]
        for r in self._rows(
            "SELECT modem, COUNT(*) AS n FROM inbox WHERE received_at >= ? GROUP BY modem", (ts(since),)
        ):
            out.setdefault(r["modem"], {})["received"] = r["n"]
        return [ModemDay(modem=m, **c) for m, c in sorted(out.items())]
