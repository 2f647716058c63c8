"""One worker per transport: take what arrived, claim the next messages, send their parts.

``loop()`` runs one iteration, so tests can drive a worker step by step. The worker knows no AT
and no PDU: ready? -> receive (the transport hands each item to the worker's sink, which commits
it, and acknowledges it after) -> a round: up to ``window`` parts submitted at once, then their
answers booked and the next round claimed in one transaction. A GSM modem is a window of one: one
path for every transport. It owns its transport and its own database connection; it sleeps on
the transport's Event, which the daemon's watcher also sets when the database changes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from smsd import phone
from smsd.answers import Answers
from smsd.clock import Clock, parse_ts, utcnow
from smsd.config import SendingConfig
from smsd.errors import SmsdError
from smsd.healthlog import HealthLog
from smsd.i18n import _
from smsd.pacing import Pacing
from smsd.settings import ModemConfig
from smsd.sink import StoreSink
from smsd.store import OutboundMessage, Store
from smsd.transport import Transport, make
from smsd.transport.base import InDoubt, NotSent, Outgoing, ProviderRef, Refused, Result, TransportOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Then:
    """What a booked part asks of the worker: go on with the message's next part (next), nothing
    (done), reconnect (lost), stop claiming for a while (pause; network: until it is back), or
    stop sending until an accepted part is recorded (hold)."""

    what: Literal["next", "done", "lost", "pause", "hold"]
    reason: str = ""
    network: bool = False


NEXT, DONE = Then("next"), Then("done")

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
        self.idle_wait_s = idle_wait_s
        self.stopping = threading.Event()
        self.store: Store | None = None
        self.transport = transport or make(cfg, device)
        self.sink = StoreSink(self.name, lambda: self.store, clock, cfg.price_fen, answers)
        self.transport.attach(self.sink)
        self.wake = self.transport.wake
        self.thread: threading.Thread | None = None
        self._paused_until = 0.0
        self._paused_for_network = False
        self._pause_s = cfg.pause_s
        self.pause_reason = ""
        self._was_ready = False
        self._active: list[tuple[OutboundMessage, list[int]]] = []  # a window's messages and parts to go
        self._unbooked: list[tuple[OutboundMessage, int, Result]] = []  # accepted, not yet recorded
        self._refusal_shown = False  # the modem's row says its last submit was refused
        self._paused_at = utcnow()
        self.others = others  # other transports can take this one's messages while it pauses
        self.health = HealthLog(self.name, self.transport, lambda: self.store, clock, self._is_paused)

    @property
    def answers(self) -> Answers | None:
        """The dispatcher's queue of answers to write (its sink asks it when SMS arrived)."""
        return self.sink.answers

    @answers.setter
    def answers(self, answers: Answers | None) -> None:
        self.sink.answers = answers

    def _is_paused(self) -> bool:
        return self._paused_until > time.monotonic()

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
            self.health.record()
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
        if self._unbooked and time.monotonic() >= self._paused_until:
            self._record_held()
        if not self._unbooked and self.pause_reason and time.monotonic() >= self._paused_until:
            self.pause_reason = ""  # the pause is over: `smsd status` shows it ready, without it
            self.transport.note_error("")
        try:
            self.sink.received_count = 0
            self.transport.receive()
            if self.sink.received_count and self.answers is not None:
                # The dispatcher thread answers; waiting for it (briefly) before the next claim
                # lets a reply jump ahead of a broadcast without running a handler on this thread.
                self.answers.wait_done(self.sink.ticket, REPLY_WAIT_S)
            # an accepted part not yet recorded: nothing more leaves until it is
            sending = not self._unbooked and time.monotonic() >= self._paused_until and not self.stopping.is_set()
            if sending and self._round():
                return
            if self.transport.next_tick_in() <= 0.05:
                self.transport.tick()
            self.health.record_if_changed()
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
                self.health.record()
            return True
        if self._was_ready:
            self._was_ready = False
            self.health.record()
        else:
            self.health.record_if_changed()  # a modem that never came up says why in `smsd status`
        self.wake.wait(min(max(self.transport.retry_in(), 0.05), 1.0))
        self.wake.clear()
        return False

    def _lost(self, reason: str) -> None:
        log.warning("modem.lost modem=%s error=%s", self.name, reason)
        self.transport.note_error(reason)
        self.transport.close()
        self.health.record()

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

    def _record(self, msg: OutboundMessage, seq: int, total: int, result: Result) -> Then:
        """Book what became of one part. Returns NEXT to go on with the message's next part, or
        what the worker must do once the round is booked (nothing, pause, reconnect, hold)."""
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
            self.health.incident(_("no answer to a submit: {reason}").format(reason=result.reason))
            # a hang or an unplug: reconnect; a late answer is still recognised
            return DONE if result.usable else Then("lost", result.reason)
        if isinstance(result, NotSent):
            self._unsent(mid, result.reason, backoff_s=1)
            return Then("lost", result.reason)
        if isinstance(result, Exception):
            raise result
        return self._record_accepted([(msg, seq, result)])

    def _record_accepted(self, parts: list[tuple[OutboundMessage, int, ProviderRef | None]]) -> Then:
        """Book accepted parts (message, seq, reference) together: NEXT, or hold when the booking
        failed (each of them is then held until it is recorded, never sent again)."""
        assert self.store is not None
        self._pause_s = self.cfg.pause_s
        if self.pause_reason or self._refusal_shown:
            self.pause_reason, self._refusal_shown = "", False
            self.transport.note_error("")
        try:
            done = set(
                self.store.submits.parts_sent(
                    [(msg.id, seq, ref, self._price(msg)) for msg, seq, ref in parts], modem=self.name, now=self.clock()
                )
            )
        except Exception as exc:  # noqa: BLE001 - whatever it was, the accepted parts must not be sent again
            log.exception(
                "sms.not_recorded id=%s modem=%s: holding it, sending stops",
                ",".join(str(m.id) for m, *_ in parts),
                self.name,
            )
            self._unbooked += parts
            return self._holding(exc)
        for msg, _seq, _ref in parts:
            if msg.id in done:
                log.info(
                    "sms.sent id=%s modem=%s to=%s segments=%s",
                    msg.id,
                    self.name,
                    phone.shown(msg.to_number),
                    msg.segments,
                )
        return NEXT

    @staticmethod
    def _holding(exc: BaseException) -> Then:
        why = _("an accepted submit could not be recorded ({error}); sending stops until it is")
        return Then("hold", why.format(error=type(exc).__name__ if not str(exc) else exc))

    def _record_held(self) -> None:
        """Try again to record the accepted parts that could not be recorded; nothing else is sent
        until then. A message with parts still to go goes back to the queue: the round that would
        have sent them did not happen."""
        assert self.store is not None
        held, self._unbooked = self._unbooked, []
        for i, (msg, seq, result) in enumerate(held):
            then = self._record(msg, seq, msg.segments, result)  # a failure holds it again
            if then.what == "hold":
                self._unbooked += held[i + 1 :]
                self._after(then)
                return
            current = self.store.outbox.message(msg.id)
            if then is NEXT and current is not None and current.state == "sending":
                self.store.submits.release(msg.id, "an accepted part was recorded late", f"worker:{self.name}")
            self._after(then)

    def _after(self, then: Then) -> None:
        if then.what == "lost":
            self._lost(then.reason)
        elif then.what == "hold":
            self._pause(then.reason, hold=True)
        elif then.what == "pause":
            self._pause(then.reason, network=then.network)

    # ------------------------------------------------------------ a round: up to a window of parts

    def _round(self) -> bool:
        """Send the next part of each claimed message at once (up to the window; a GSM modem's is
        one), then book the answers and claim the next round in one transaction: one durable
        commit per round. The parts of the next round are marked 'submitting' in that commit,
        before they are sent. Returns True when there was something to send."""
        assert self.store is not None
        store = self.store
        if not self._active:
            if self.transport.window > 1:
                with store.tx():  # a window's claims in one commit
                    self._refill(self.clock())
            else:
                self._refill(self.clock())  # one claim: its own commit
        if not self._active:
            return False
        live = [(msg, todo) for msg, todo in self._active if todo]
        results = self.transport.submit_many([(self._outgoing(msg), todo[0]) for msg, todo in live])
        try:
            trouble = self._book_round(live, results)
        except Exception as exc:  # noqa: BLE001 - the round's transaction failed: nothing of it is recorded
            log.error("sms.round_not_recorded modem=%s error=%s: holding its answers, sending stops", self.name, exc)
            # An accepted part is held until it is recorded, never sent again; a part without an
            # accepted answer stays 'submitting' and is recovered by the crash policy (its lease).
            self._unbooked = [
                (msg, todo[0], result)
                for (msg, todo), result in zip(live, results, strict=True)
                if not isinstance(result, TransportOutcome)
            ]
            self._active = []
            trouble = self._holding(exc)
        self._after(trouble)
        return True

    def _book_round(self, live: list[tuple[OutboundMessage, list[int]]], results: list[Result]) -> Then:
        assert self.store is not None
        thens: list[Then] = []
        keep: list[tuple[OutboundMessage, list[int]]] = []
        with self.store.tx():  # every answer of the round, and the next round's claims, in one commit
            # the accepted parts booked together (a window's answers in a few statements), then the rest
            accepted = [
                (msg, todo[0], result)
                for (msg, todo), result in zip(live, results, strict=True)
                if not isinstance(result, BaseException)
            ]
            booked = self._record_accepted(accepted) if accepted else NEXT
            for (msg, todo), result in zip(live, results, strict=True):
                then = self._record(msg, todo[0], msg.segments, result) if isinstance(result, BaseException) else booked
                if then is NEXT:
                    if todo[1:]:
                        keep.append((msg, todo[1:]))
                else:
                    thens.append(then)
            self._active = keep
            trouble = next((t for t in thens if t.what == "lost"), None) or next(
                (t for t in thens if t is not DONE), DONE
            )
            if trouble is not DONE or self.stopping.is_set():
                self._release_active("transport paused" if trouble is not DONE else "daemon stopping between parts")
            else:
                # The parts still to go, and the next message's first part, are marked 'submitting'
                # in this commit, before they leave: one commit per message on a modem (a crash
                # between this commit and the submit finds the part 'submitting' and resends it
                # flagged, as for any part in flight). A member's SMS waiting stops new claims: it is
                # stored and answered first, so a reply goes before the next broadcast message.
                claim = not self._inbound_waiting()
                self._refill(self.clock(), claim=claim)
        return trouble

    def _inbound_waiting(self) -> bool:
        """A member's SMS arrived: store and answer it first (a reply may jump ahead of the next round)."""
        return self.transport.messages_waiting()

    def _refill(self, now: datetime, *, claim: bool = True) -> None:
        """Claim messages up to the window (unless claim is False) and mark each one's next part
        'submitting' (in the caller's transaction): no part is ever sent unmarked."""
        assert self.store is not None
        store = self.store
        marked: set[int] = set()  # claimed now, the first part marked 'submitting' by the claim itself
        room = self.transport.window - len(self._active)
        if claim and room > 0 and not self.stopping.is_set():
            for c in store.claims.claim_many(
                self.name,
                room,
                now=now,
                lease_s=self.sending.lease_s,
                repin_after_s=self.sending.repin_after_s,
                pacing=self.pacing,
                reserved=sum(m.segments for m, _ in self._active),
                prices=self._prices(),
                segments_of=self.transport.segments,
            ):
                marked.add(c.message.id)
                self._active.append((c.message, list(c.todo)))
        for msg, todo in self._active:
            if todo and msg.id not in marked:
                store.submits.part_submitting(msg.id, todo[0], self.name, now, self._price(msg))

    def _release_active(self, reason: str) -> None:
        assert self.store is not None
        held = {m.id for m, _seq, _result in self._unbooked}
        for msg, _todo in self._active:
            if msg.id not in held:  # the network has its part: it must not go back to the queue
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

    def _refused(self, mid: int, exc: Refused) -> Then:
        assert self.store is not None
        if exc.kind == "transport":
            # The SIM, network or account is at fault, not the message: it goes back to the queue
            # for the other transports, uncharged, and this one pauses with the reason in `smsd status`.
            self._unsent(mid, exc.reason, backoff_s=0)
            log.warning("sms.modem_refused id=%s modem=%s error=%r: modem paused", mid, self.name, exc.reason)
            return Then("pause", exc.reason, exc.network)
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
        self.health.record()
        return DONE

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
        self.health.record()


__all__ = ["Worker"]
