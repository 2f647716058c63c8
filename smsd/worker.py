"""One worker per modem: claim the next message, send it part by part, take what arrives.

``loop()`` runs one iteration, so tests can drive a worker step by step. The worker owns
its modem driver and its own database connection; it sleeps on an Event that the
daemon's watcher sets when the database changes and the driver sets when a URC arrives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from smsd import phone
from smsd.clock import Clock, parse_ts, utcnow
from smsd.config import ModemConfig, SendingConfig
from smsd.errors import CmsError, ModemError, ModemGone, ModemTimeout, SmsdError
from smsd.modem import cms
from smsd.modem.driver import Inbound, ModemDriver
from smsd.pacing import Pacing
from smsd.pdu import StatusReport
from smsd.store import Store

log = logging.getLogger(__name__)

HEALTH_EVERY_S = 600.0
SWEEP_EVERY_S = 600.0
MODEM_FAULT_PAUSE_S = 30.0
MODEM_FAULT_MAX_PAUSE_S = 1800.0


class Worker:
    def __init__(
        self,
        cfg: ModemConfig,
        port: str,
        db_path: str,
        sending: SendingConfig,
        *,
        pacing: Pacing | None = None,
        on_received: Callable[[], None] | None = None,
        dispatcher_factory: Callable[[Store], Any] | None = None,
        clock: Clock = utcnow,
        idle_wait_s: float = 60.0,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.db_path = db_path
        self.sending = sending
        self.clock = clock
        self.pacing = pacing
        self.on_received = on_received or (lambda: None)
        self.dispatcher_factory = dispatcher_factory
        self._dispatcher: Any = None
        self.idle_wait_s = idle_wait_s
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.store: Store | None = None
        self.driver = ModemDriver(
            cfg.name,
            port,
            on_inbound=self._on_inbound,
            on_report=self._on_report,
            wake=self.wake.set,
            on_deleted=self._on_deleted,
            on_late_submit=self._on_late_submit,
            pin=cfg.pin or None,
            smsc=cfg.smsc or None,
            baudrate=cfg.baudrate,
            command_timeout=cfg.command_timeout_s,
            send_timeout=cfg.send_timeout_s,
        )
        self.thread: threading.Thread | None = None
        self._paused_until = 0.0
        self._paused_for_network = False
        self._pause_s = MODEM_FAULT_PAUSE_S
        self.pause_reason = ""
        self._last_health = 0.0
        self._last_sweep = 0.0
        self._was_ready = False
        self._recorded: tuple = ()
        self.sent_parts = 0

    # ------------------------------------------------------------ thread

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"worker-{self.name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
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
                except SmsdError as exc:  # the store or modem refused: note it, keep going
                    log.error("worker.error modem=%s error=%s", self.name, exc)
                    self.stopping.wait(1.0)
                except Exception:
                    log.exception("worker.crash modem=%s: restarting the loop", self.name)
                    self.stopping.wait(1.0)
        finally:
            self.driver.close()
            self._record_health()
            self.store.close()

    # ------------------------------------------------------------ one iteration

    def loop(self) -> None:
        """Connect if needed, take inbound, send one message, or wait for something to do."""
        assert self.store is not None
        if not self._connected():
            return
        if self._paused_for_network and self.driver.health.registered:
            self._paused_until, self._paused_for_network = 0.0, False  # the network is back: no need to wait
        if self.pause_reason and time.monotonic() >= self._paused_until:
            self.pause_reason = ""  # the pause is over: `smsd status` shows the modem ready, without it
            self.driver.health.last_error = ""
        try:
            if self.driver.handle_events() and self.dispatcher_factory is not None:
                # Answer at once, before the next claim, so a reply jumps ahead of a broadcast.
                if self._dispatcher is None:
                    self._dispatcher = self.dispatcher_factory(self.store)
                self._dispatcher.run_once()
            if time.monotonic() >= self._paused_until and not self.stopping.is_set():
                msg = self.store.claim_next(
                    self.name,
                    now=self.clock(),
                    lease_s=self.sending.lease_s,
                    repin_after_s=self.sending.repin_after_s,
                    pacing=self.pacing,
                )
                if msg is not None:
                    self._send(msg)
                    return
            self._periodic()
        except ModemError as exc:
            self._lost(exc)
            return
        self.wake.wait(self._idle_timeout())
        self.wake.clear()

    def _connected(self) -> bool:
        if self.driver.needs_init:
            log.warning("modem.restarted modem=%s: initialising again", self.name)
            self.driver.close()
        if self.driver.ready:
            return True
        if self.driver.ensure_connected():
            self._was_ready = True
            self._last_sweep = self._last_health = time.monotonic()
            self._record_health()
            return True
        if self._was_ready:
            self._was_ready = False
            self._record_health()
        else:
            self._record_health_if_changed()  # a modem that never came up says why in `smsd status`
        self.wake.wait(min(max(self.driver.retry_in(), 0.05), 1.0))
        self.wake.clear()
        return False

    def _lost(self, exc: ModemError) -> None:
        log.warning("modem.lost modem=%s error=%s", self.name, exc)
        self.driver.health.last_error = str(exc)
        self.driver.close()
        self._record_health()

    def _idle_timeout(self) -> float:
        timeout = self.idle_wait_s
        channel = self.driver.channel
        if channel is not None:
            timeout = min(timeout, max(0.05, self.cfg.liveness_s - (time.monotonic() - channel.last_rx)))
        if self._paused_until > time.monotonic():
            timeout = min(timeout, self._paused_until - time.monotonic())
        now = self.clock()
        due = self.store.next_due() if self.store else None
        if due and parse_ts(due) > now:  # a due one that was not claimed is held by pacing or a pin
            timeout = min(timeout, (parse_ts(due) - now).total_seconds())
        if self.pacing and self.store:
            held = self.store.held_until(self.name, self.pacing, now)
            if held:
                timeout = min(timeout, max(0.01, (held - now).total_seconds()))
        return max(0.01, timeout)

    def _periodic(self) -> None:
        now = time.monotonic()
        channel = self.driver.channel
        if now - self._last_sweep >= SWEEP_EVERY_S:
            self._last_sweep = now
            self.driver.sweep()
        if now - self._last_health >= HEALTH_EVERY_S:
            self._last_health = now
            self.driver.refresh_health()
            self._record_health()
        elif channel is not None and now - channel.last_rx >= self.cfg.liveness_s:
            self.driver.ping()
        self._record_health_if_changed()

    # ------------------------------------------------------------ sending

    def _send(self, msg: dict) -> None:
        assert self.store is not None
        mid = msg["id"]
        parts = self.store.parts(mid)
        validity = self.sending.validity_hours * 60 if self.sending.validity_hours else None
        pdus = self.driver.encode(msg["to_number"], msg["text"], msg["concat_ref"], bool(msg["srr"]), validity)
        if len(pdus) != len(parts):  # the plan is deterministic; this would be a bug, not a modem fault
            self.store.send_failed(
                mid,
                error=f"planned {len(parts)} parts, encoded {len(pdus)}",
                permanent=True,
                maybe_sent=False,
                backoff_s=0,
                modem=self.name,
                now=self.clock(),
            )
            return
        for part in parts:
            if part["state"] not in ("pending", "submitting"):  # 'submitting': marked by the claim itself
                continue
            if self.stopping.is_set():
                self.store.release(mid, "daemon stopping between parts", f"worker:{self.name}", self.clock())
                return
            seq = part["seq"]
            if part["state"] == "pending":
                self.store.part_submitting(mid, seq, self.name, self.clock())
            try:
                mr = self.driver.send_part(pdus[seq - 1])
            except CmsError as exc:
                self._refused(mid, exc)
                return
            except ModemError as exc:
                self.store.send_failed(
                    mid,
                    error=str(exc),
                    permanent=False,
                    maybe_sent=exc.maybe_sent,
                    refused=False,
                    cause="gone" if isinstance(exc, ModemGone) else "timeout",
                    backoff_s=1,
                    grace_s=self.cfg.send_timeout_s,
                    modem=self.name,
                    now=self.clock(),
                )
                if isinstance(exc, ModemTimeout) and self.driver.in_sync:
                    # The modem answers again (a congested network, not a hang): keep the line; a late
                    # +CMGS for this submit is still recognised and recorded.
                    log.warning("sms.in_doubt id=%s modem=%s error=%s", mid, self.name, exc)
                    return
                raise
            self.sent_parts += 1
            self._pause_s = MODEM_FAULT_PAUSE_S
            if self.pause_reason:
                self.pause_reason = ""
                self.driver.health.last_error = ""
            done = self.store.part_sent(mid, seq, mr=mr, price_fen=self._price(msg), modem=self.name, now=self.clock())
            if done:
                log.info(
                    "sms.sent id=%s modem=%s to=%s segments=%s",
                    mid,
                    self.name,
                    phone.shown(msg["to_number"]),
                    len(parts),
                )

    def _price(self, msg: dict) -> int:
        """What this SIM pays for one segment to this number (abroad has its own price)."""
        return self.cfg.price_fen if phone.is_domestic(msg["to_number"]) else self.cfg.international_price_fen

    def _refused(self, mid: int, exc: CmsError) -> None:
        assert self.store is not None
        info = cms.classify(exc.code)
        error = f"+CMS ERROR: {exc.code} ({info.meaning})"
        if info.modem:
            # The SIM or network is at fault, not the message: it goes back to the queue for the
            # other modems, uncharged, and this modem pauses with the reason in `smsd status`.
            self.store.send_failed(
                mid,
                error=error,
                permanent=False,
                maybe_sent=False,
                refused=False,
                backoff_s=0,
                modem=self.name,
                now=self.clock(),
            )
            self._pause(error, network=exc.code == 331)
            log.warning("sms.modem_refused id=%s modem=%s error=%r: modem paused", mid, self.name, error)
            return
        state = self.store.send_failed(
            mid,
            error=error,
            permanent=info.permanent,
            maybe_sent=False,
            backoff_s=self.sending.retry_backoff_s,
            modem=self.name,
            now=self.clock(),
        )
        log.warning("sms.refused id=%s modem=%s error=%r now=%s", mid, self.name, error, state)

    def _pause(self, reason: str, *, network: bool = False) -> None:
        """Stop claiming for a while (30 s, doubling to 30 min while the fault repeats)."""
        self._paused_until = time.monotonic() + self._pause_s
        self._paused_for_network = network
        self.pause_reason = f"{reason}; paused {self._pause_s:.0f}s, its messages go to the other modems"
        self._pause_s = min(self._pause_s * 2, MODEM_FAULT_MAX_PAUSE_S)
        self.driver.health.last_error = self.pause_reason
        self._record_health()

    # ------------------------------------------------------------ receiving

    def _on_inbound(self, item: Inbound) -> None:
        assert self.store is not None
        inbox_id, duplicate = self.store.save_inbound(item.modem, item.pdu, item.message, item.error, self.clock())
        sender = item.message.sender if item.message else "?"
        if duplicate:
            log.info("sms.duplicate modem=%s from=%s", self.name, phone.shown(sender))
        elif inbox_id is not None:
            log.info("sms.received id=%s modem=%s from=%s", inbox_id, self.name, phone.shown(sender))
            self.on_received()

    def _on_late_submit(self, modem: str, mr: int | None) -> None:
        assert self.store is not None
        mid = self.store.late_answer(modem, mr, self.cfg.price_fen, now=self.clock())
        log.warning("sms.late_answer modem=%s mr=%s message=%s", modem, mr, mid if mid else "unmatched")

    def _on_deleted(self, modem: str, pdu_hex: str) -> None:
        assert self.store is not None
        self.store.mark_deleted_from_sim(modem, pdu_hex)

    def _on_report(self, modem: str, report: StatusReport) -> None:
        assert self.store is not None
        discharge: datetime | None = report.discharge
        match = self.store.apply_report(
            modem,
            report.mr,
            report.recipient,
            report.status,
            report.outcome,
            discharge,
            now=self.clock(),
            price_fen=self.cfg.price_fen,
        )
        log.info(
            "sms.report modem=%s mr=%s outcome=%s message=%s",
            modem,
            report.mr,
            report.outcome,
            match[0] if match else "unmatched",
        )

    # ------------------------------------------------------------ health

    def _health_snapshot(self) -> tuple:
        h = self.driver.health
        paused = self._paused_until > time.monotonic()
        return (self.driver.ready, paused, h.registered, h.storage_used, h.storage_total, h.last_error, h.signal)

    def _record_health_if_changed(self) -> None:
        if self._health_snapshot() != self._recorded:
            self._record_health()

    def _record_health(self) -> None:
        if self.store is None:
            return
        h = self.driver.health
        state = "ready" if self.driver.ready else "down"
        if state == "down" and not h.last_error:  # never "down" without the reason
            channel = self.driver.channel
            h.last_error = (channel.gone_reason if channel else "") or f"{self.driver.port} is not connected"
        self._recorded = self._health_snapshot()
        if self._paused_until > time.monotonic():
            state = "paused"
        try:
            self.store.update_modem(
                self.name,
                now=self.clock(),
                port=self.driver.port,
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


__all__ = ["Worker", "ModemGone"]
