"""One worker per transport: take what arrived, claim the next message, send it part by part.

``loop()`` runs one iteration, so tests can drive a worker step by step. The worker knows no AT
and no PDU: ready? -> receive (the transport hands each item to this worker, which commits it,
and acknowledges it after) -> claim -> submit -> record. It owns its transport and its own
database connection; it sleeps on the transport's Event, which the daemon's watcher also sets
when the database changes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from smsd import phone
from smsd.answers import Answers
from smsd.clock import Clock, parse_ts, utcnow
from smsd.config import SendingConfig
from smsd.errors import SmsdError
from smsd.i18n import _
from smsd.pacing import Pacing
from smsd.settings import ModemConfig
from smsd.store import OutboundMessage, Store
from smsd.transport import Transport, make
from smsd.transport.base import (
    DeliveryReport,
    InDoubt,
    LateAccept,
    NotSent,
    Outgoing,
    Received,
    Refused,
    Result,
    TransportOutcome,
)

log = logging.getLogger(__name__)

# What a booked part asks of the worker: go on with the next part (_NEXT), nothing (None),
# ("lost", reason): reconnect, or ("pause", reason, network?): stop claiming for a while.
After = tuple[Any, ...] | None
_NEXT: After = ("next",)

REPLY_WAIT_S = 1.0  # how long a worker waits for the dispatcher to queue a reply before claiming
MODEM_FAULT_MAX_PAUSE_S = 1800.0


class Worker:
    def __init__(
        self,
        cfg: ModemConfig,
        device: str | None,
        db_path: str,
        sending: SendingConfig,
        *,
        pacing: Pacing | None = None,
        answers: Answers | None = None,
        clock: Clock = utcnow,
        idle_wait_s: float = 60.0,
        transport: Transport | None = None,
        others: bool = True,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.db_path = db_path
        self.sending = sending
        self.clock = clock
        self.pacing = pacing
        self.answers = answers
        self._ticket = 0
        self.idle_wait_s = idle_wait_s
        self.stopping = threading.Event()
        self.store: Store | None = None
        self.transport = transport or make(cfg, device)
        self.transport.attach(self)
        self.wake = self.transport.wake
        self.thread: threading.Thread | None = None
        self._paused_until = 0.0
        self._paused_for_network = False
        self._pause_s = cfg.pause_s
        self.pause_reason = ""
        self._was_ready = False
        self._recorded: tuple[Any, ...] = ()
        self._received = 0
        self.sent_parts = 0
        self._active: list[tuple[OutboundMessage, list[int]]] = []  # a window's messages and parts to go
        self._in_batch = False
        self._answer_wanted = False
        self._unbooked: tuple[OutboundMessage, int, Result] | None = None  # accepted, not yet recorded
        self._refusal_shown = False  # the modem's row says its last submit was refused
        self._paused_at = utcnow()
        self._busy_seen = 0
        self._last_incident = ""
        self.others = others  # other transports can take this one's messages while it pauses

    @property
    def driver(self) -> Any:
        """The GSM transport's modem driver (tests and `smsd doctor` look at it)."""
        return getattr(self.transport, "driver", None)

    # ------------------------------------------------------------ thread

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"worker-{self.name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.transport.interrupted.set()
        self.wake.set()

    def join(self, timeout: float | None = None) -> None:
        if self.thread:
            self.thread.join(timeout)

    def run(self) -> None:
        self.store = Store(self.db_path)
        try:
            while not self.stopping.is_set():
                try:
                    self.loop()
                except SmsdError as exc:  # the store refused: note it, keep going
                    log.error("worker.error modem=%s error=%s", self.name, exc)
                    self.stopping.wait(1.0)
                except Exception:
                    log.exception("worker.crash modem=%s: restarting the loop", self.name)
                    self.stopping.wait(1.0)
        finally:
            if self._active:
                self._release_active("daemon stopping between parts")
            self.transport.close()
            self._record_health()
            self.store.close()

    # ------------------------------------------------------------ one iteration

    def loop(self) -> None:
        """Connect if needed, take what arrived, send one message, or wait for something to do."""
        assert self.store is not None
        if not self._connected():
            return
        health = self.transport.health()
        if self._paused_for_network and health.registered:
            self._paused_until, self._paused_for_network = 0.0, False  # the network is back: no need to wait
        if self.pause_reason and self.store.health.resume_requested(self.name, self._paused_at):
            log.info("modem.resume modem=%s: an admin asked to try again now", self.name)
            self._paused_until, self._pause_s = 0.0, self.cfg.pause_s
        if self._unbooked is not None and time.monotonic() >= self._paused_until:
            self._record_held()
        if self._unbooked is None and self.pause_reason and time.monotonic() >= self._paused_until:
            self.pause_reason = ""  # the pause is over: `smsd status` shows it ready, without it
            self.transport.note_error("")
        try:
            self._received = 0
            self.transport.receive()
            if self._received and self.answers is not None:
                # The dispatcher thread answers; waiting for it (briefly) before the next claim
                # lets a reply jump ahead of a broadcast without running a handler on this thread.
                self.answers.wait_done(self._ticket, REPLY_WAIT_S)
            if self._unbooked is not None:
                pass  # an accepted part is not yet recorded: nothing more leaves until it is
            elif self.transport.window > 1:
                if time.monotonic() >= self._paused_until and not self.stopping.is_set() and self._window_round():
                    return
            elif time.monotonic() >= self._paused_until and not self.stopping.is_set():
                msg = self.store.claims.claim_next(
                    self.name,
                    now=self.clock(),
                    lease_s=self.sending.lease_s,
                    repin_after_s=self.sending.repin_after_s,
                    pacing=self.pacing,
                    prices=self._prices(),
                )
                if msg is not None:
                    self._send(msg)
                    return
            if self.transport.next_tick_in() <= 0.05:
                self.transport.tick()
            self._record_health_if_changed()
        except NotSent as exc:
            self._lost(exc.reason)
            return
        self.wake.wait(self._idle_timeout())
        self.wake.clear()

    def _connected(self) -> bool:
        if self.transport.restarted:
            log.warning("modem.restarted modem=%s: initialising again", self.name)
            self.transport.close()
        if self.transport.ensure_ready():
            if not self._was_ready:
                self._was_ready = True
                self._record_health()
            return True
        if self._was_ready:
            self._was_ready = False
            self._record_health()
        else:
            self._record_health_if_changed()  # a modem that never came up says why in `smsd status`
        self.wake.wait(min(max(self.transport.retry_in(), 0.05), 1.0))
        self.wake.clear()
        return False

    def _lost(self, reason: str) -> None:
        log.warning("modem.lost modem=%s error=%s", self.name, reason)
        self.transport.note_error(reason)
        self.transport.close()
        self._record_health()

    def _idle_timeout(self) -> float:
        timeout = min(self.idle_wait_s, self.transport.next_tick_in())
        if self._paused_until > time.monotonic():
            timeout = min(timeout, self._paused_until - time.monotonic())
        now = self.clock()
        due = self.store.claims.next_due(now) if self.store else None
        if due and parse_ts(due) > now:  # a due one that was not claimed is held by pacing or a pin
            timeout = min(timeout, (parse_ts(due) - now).total_seconds())
        if self.pacing and self.store:
            held = self.store.claims.held_until(self.name, self.pacing, now)
            if held:
                timeout = min(timeout, max(0.01, (held - now).total_seconds()))
        return max(0.01, timeout)

    # ------------------------------------------------------------ sending

    def _outgoing(self, msg: OutboundMessage) -> Outgoing:
        validity = self.sending.validity_hours * 60 if self.sending.validity_hours else None
        variables = tuple(sorted(msg.template_variables.items())) if msg.template else ()
        return Outgoing(
            msg.id, msg.to_number, msg.text, msg.concat_ref or 0, bool(msg.srr), validity, msg.template, variables
        )

    def _send(self, msg: OutboundMessage) -> None:
        """One message, part after part (a transport with a window of one: a GSM modem)."""
        assert self.store is not None
        mid = msg.id
        parts = self.store.outbox.parts(mid)
        outgoing = self._outgoing(msg)
        for part in parts:
            if part.state not in ("pending", "submitting"):  # 'submitting': marked by the claim itself
                continue
            if self.stopping.is_set():
                self.store.submits.release(mid, "daemon stopping between parts", f"worker:{self.name}", self.clock())
                return
            seq = part.seq
            if part.state == "pending":
                self.store.submits.part_submitting(mid, seq, self.name, self.clock(), self._price(msg))
            try:
                result: Result = self.transport.submit(outgoing, seq)
            except TransportOutcome as exc:
                result = exc
            after = self._record(msg, seq, len(parts), result)
            if after is not _NEXT:
                self._after(after)
                return

    def _record(self, msg: OutboundMessage, seq: int, total: int, result: Result) -> After:
        """Book what became of one part. Returns _NEXT to go on with the message's next part, or
        what the worker must do once the window is booked (nothing, pause, reconnect)."""
        assert self.store is not None
        mid = msg.id
        if isinstance(result, Refused):
            return self._refused(mid, result)
        if isinstance(result, InDoubt):
            self.store.submits.submit_in_doubt(
                mid,
                error=result.reason,
                cause=result.cause,
                grace_s=self.cfg.send_timeout_s,
                modem=self.name,
                now=self.clock(),
            )
            log.warning("sms.in_doubt id=%s modem=%s error=%s", mid, self.name, result.reason)
            self._incident(_("no answer to a submit: {reason}").format(reason=result.reason))
            # a hang or an unplug: reconnect; a late answer is still recognised
            return None if result.usable else ("lost", result.reason)
        if isinstance(result, NotSent):
            self._unsent(mid, result.reason, backoff_s=1)
            return ("lost", result.reason)
        if isinstance(result, Exception):
            raise result
        self.sent_parts += 1
        self._pause_s = self.cfg.pause_s
        if self.pause_reason or self._refusal_shown:
            self.pause_reason, self._refusal_shown = "", False
            self.transport.note_error("")
        try:
            done = self.store.submits.part_sent(
                mid, seq, ref=result, price_fen=self._price(msg), modem=self.name, now=self.clock()
            )
        except Exception as exc:  # noqa: BLE001 - whatever it was, the accepted part must not be sent again
            log.exception("sms.not_recorded id=%s modem=%s: holding it, sending stops", mid, self.name)
            self._unbooked = (msg, seq, result)
            return (
                "hold",
                _("an accepted submit could not be recorded ({error}); sending stops until it is").format(
                    error=type(exc).__name__ if not str(exc) else exc
                ),
            )
        if done:
            log.info("sms.sent id=%s modem=%s to=%s segments=%s", mid, self.name, phone.shown(msg.to_number), total)
        return _NEXT

    def _record_held(self) -> None:
        """Try again to record the accepted part that could not be recorded; nothing else is sent until then."""
        assert self._unbooked is not None
        msg, seq, result = self._unbooked
        self._unbooked = None
        self._after(self._record(msg, seq, msg.segments, result))

    def _after(self, after: After) -> None:
        if after is None or after is _NEXT:
            return
        what, reason = after[0], after[1]
        if what == "lost":
            self._lost(reason)
        elif what == "hold":
            self._pause(reason, hold=True)
        else:
            self._pause(reason, network=bool(after[2]) if len(after) > 2 else False)

    # ------------------------------------------------------------ sending in a window (SMPP)

    def _window_round(self) -> bool:
        """Send the next part of each claimed message at once (up to the window), then book the
        answers and claim the next round in one transaction: one durable commit per round. The
        parts of the next round are marked 'submitting' in that commit, before they are sent.
        Returns True when there was something to send."""
        assert self.store is not None
        store = self.store
        if not self._active:
            with store.tx():
                self._refill(self.clock())
        if not self._active:
            return False
        live = [(msg, todo) for msg, todo in self._active if todo]
        results = self.transport.submit_many([(self._outgoing(msg), todo[0]) for msg, todo in live])
        afters: list[After] = []
        keep: list[tuple[OutboundMessage, list[int]]] = []
        with store.tx():  # every answer of the window, and the next round's claims, in one commit
            for (msg, todo), result in zip(live, results, strict=True):
                after = self._record(msg, todo[0], msg.segments, result)
                if after is _NEXT:
                    if todo[1:]:
                        keep.append((msg, todo[1:]))
                else:
                    afters.append(after)
            self._active = keep
            trouble = next((a for a in afters if a is not None and a[0] == "lost"), None) or next(
                (a for a in afters if a is not None), None
            )
            if trouble is not None or self.stopping.is_set():
                self._release_active("transport paused" if trouble else "daemon stopping between parts")
            else:
                # A member's SMS waiting: store and answer it first (no new claims), but the parts
                # still to go are marked 'submitting' in this commit all the same, before they leave.
                self._refill(self.clock(), claim=not self._inbound_waiting())
        self._after(trouble)
        return True

    def _inbound_waiting(self) -> bool:
        """A member's SMS arrived: store and answer it first (a reply may jump ahead of the next round)."""
        return self.transport.messages_waiting()

    def _refill(self, now: Any, *, claim: bool = True) -> None:
        """Claim messages up to the window (unless claim is False) and mark each one's next part
        'submitting' (in the caller's transaction): no part is ever sent unmarked."""
        assert self.store is not None
        store = self.store
        reserved = sum(m.segments for m, _ in self._active)
        while claim and len(self._active) < self.transport.window and not self.stopping.is_set():
            msg = store.claims.claim_next(
                self.name,
                now=now,
                lease_s=self.sending.lease_s,
                repin_after_s=self.sending.repin_after_s,
                pacing=self.pacing,
                reserved=reserved,
                prices=self._prices(),
            )
            if msg is None:
                break
            reserved += msg.segments
            todo = [p.seq for p in store.outbox.parts(msg.id) if p.state in ("pending", "submitting")]
            self._active.append((msg, todo))
        for msg, todo in self._active:
            if todo:
                store.submits.part_submitting(msg.id, todo[0], self.name, now, self._price(msg))

    def _release_active(self, reason: str) -> None:
        assert self.store is not None
        held = self._unbooked[0].id if self._unbooked else None
        for msg, _todo in self._active:
            if msg.id != held:  # the network has its part: it must not go back to the queue
                self.store.submits.release(msg.id, reason, f"worker:{self.name}", self.clock())
        self._active = []

    def _unsent(self, mid: int, reason: str, *, backoff_s: int) -> None:
        """Nothing of the message left, through no fault of its own: back to the queue, uncharged."""
        assert self.store is not None
        self.store.submits.submit_not_sent(mid, error=reason, backoff_s=backoff_s, modem=self.name, now=self.clock())

    def _prices(self) -> tuple[int, int]:
        return (self.cfg.price_fen, self.cfg.international_price_fen)

    def _price(self, msg: OutboundMessage) -> int:
        """What this SIM pays for one segment to this number (abroad has its own price)."""
        return self.cfg.price_fen if phone.is_domestic(msg.to_number) else self.cfg.international_price_fen

    def _refused(self, mid: int, exc: Refused) -> After:
        assert self.store is not None
        if exc.kind == "transport":
            # The SIM, network or account is at fault, not the message: it goes back to the queue
            # for the other transports, uncharged, and this one pauses with the reason in `smsd status`.
            self._unsent(mid, exc.reason, backoff_s=0)
            log.warning("sms.modem_refused id=%s modem=%s error=%r: modem paused", mid, self.name, exc.reason)
            return ("pause", exc.reason, exc.network)
        state = self.store.submits.submit_refused(
            mid,
            error=exc.reason,
            permanent=exc.kind == "permanent",
            backoff_s=self.sending.retry_backoff_s,
            modem=self.name,
            now=self.clock(),
        )
        log.warning("sms.refused id=%s modem=%s error=%r now=%s", mid, self.name, exc.reason, state)
        # shown on the modem's row while refusals last (a +CMS ERROR burst), gone at the next success
        self._refusal_shown = True
        self.transport.note_error(_("last submit refused: {reason}").format(reason=exc.reason))
        self._record_health()
        return None

    def _pause(self, reason: str, *, network: bool = False, hold: bool = False) -> None:
        """Stop claiming for a while (30 s, doubling to 30 min while the fault repeats; `smsd
        resume NAME` ends it at once)."""
        self._paused_until = time.monotonic() + self._pause_s
        self._paused_at = self.clock()
        self._paused_for_network = network
        if hold:
            self.pause_reason = reason
        elif self.others:
            self.pause_reason = _("{reason}; paused {seconds}s, its messages go to the other modems").format(
                reason=reason, seconds=round(self._pause_s)
            )
        else:
            self.pause_reason = _("{reason}; paused {seconds}s, its messages wait").format(
                reason=reason, seconds=round(self._pause_s)
            )
        self._pause_s = min(self._pause_s * 2, MODEM_FAULT_MAX_PAUSE_S)
        self.transport.note_error(self.pause_reason)
        self._record_health()

    # ------------------------------------------------------------ the sink: what the transport hands over

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Several sink calls in one durable commit (an SMPP transport's burst of receipts and MO);
        the transport acknowledges them after this returns. The dispatcher is asked to answer only
        once the batch is committed, so it never looks before the messages are there."""
        assert self.store is not None
        self._in_batch = True
        try:
            with self.store.tx():
                yield
        finally:
            self._in_batch = False
            wanted, self._answer_wanted = self._answer_wanted, False
        if wanted and self.answers is not None:
            self._ticket = self.answers.request()

    def received(self, item: Received) -> None:
        assert self.store is not None
        inbox_id, duplicate = self.store.inbox.save(self.name, item, self.clock())
        sender = item.sender or "?"
        self._received += 1
        if duplicate:
            log.info("sms.duplicate modem=%s from=%s", self.name, phone.shown(sender))
        elif inbox_id is not None:
            log.info("sms.received id=%s modem=%s from=%s", inbox_id, self.name, phone.shown(sender))
            if self._in_batch:
                self._answer_wanted = True
            elif self.answers is not None:
                self._ticket = self.answers.request()

    def removed(self, key: str) -> None:
        assert self.store is not None
        self.store.inbox.mark_deleted_from_sim(self.name, key)

    def late_accept(self, item: LateAccept) -> None:
        assert self.store is not None
        mid = self.store.submits.late_answer(self.name, item.provider_ref, self.cfg.price_fen, now=self.clock())
        log.warning("sms.late_answer modem=%s ref=%s message=%s", self.name, item.provider_ref, mid or "unmatched")

    def report(self, item: DeliveryReport) -> None:
        assert self.store is not None
        match = self.store.reports.apply_report(
            self.name,
            item.provider_ref,
            item.recipient,
            item.status,
            item.outcome,
            item.discharge,
            now=self.clock(),
            price_fen=self.cfg.price_fen,
            alternatives=item.alternatives,
        )
        log.info(
            "sms.report modem=%s ref=%s outcome=%s message=%s",
            self.name,
            item.provider_ref,
            item.outcome,
            match[0] if match else "unmatched",
        )

    # ------------------------------------------------------------ health

    def _health_snapshot(self) -> tuple[Any, ...]:
        h = self.transport.health()
        paused = self._paused_until > time.monotonic()
        busy = h.counters.get("busy", 0)
        return (h.ready, paused, h.registered, h.storage_used, h.storage_total, h.last_error, h.signal, busy)

    def _record_health_if_changed(self) -> None:
        if self._health_snapshot() != self._recorded:
            self._record_health()

    def _incident(self, text: str) -> None:
        """Kept on the modem's row with its time, after the trouble is over too."""
        if self.store is None or not text:
            return
        try:
            self.store.health.incident(self.name, text, self.clock())
        except SmsdError as exc:
            log.error("worker.health_not_saved modem=%s error=%s", self.name, exc)

    def _record_health(self) -> None:
        if self.store is None:
            return
        h = self.transport.health()
        if h.last_error and h.last_error != self._last_incident:
            self._incident(h.last_error)
        self._last_incident = h.last_error
        busy = h.counters.get("busy", 0)
        if busy > self._busy_seen:
            self._incident(_("the SMSC asked to slow down ({n} time(s))").format(n=busy))
        self._busy_seen = busy
        self._recorded = self._health_snapshot()
        state = "ready" if h.ready else "down"
        if self._paused_until > time.monotonic():
            state = "paused"
        try:
            self.store.health.update(
                self.name,
                now=self.clock(),
                port=self.transport.where,
                state=state,
                signal=h.signal,
                registered=None if h.registered is None else int(h.registered),
                operator=h.operator,
                model=h.model,
                imei=h.imei,
                imsi=h.imsi,
                storage_used=h.storage_used,
                storage_total=h.storage_total,
                last_error=h.last_error,
            )
        except SmsdError as exc:
            log.error("worker.health_not_saved modem=%s error=%s", self.name, exc)


__all__ = ["Worker"]
