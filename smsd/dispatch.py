"""The dispatcher: each stored inbound SMS, in order, is understood, counted and answered once.

For one message, in one transaction: the safety checks (non-mobile sender, flagged number,
loop, rate limit), the handler's effects, the reply (queued at priority 9) and "handled".
A refusal (CommandError) carries a reply meant for the member; any other exception rolls
the effects back, is logged with its traceback, and the member gets a fixed apology.
"""

from __future__ import annotations

import difflib
import logging
from datetime import datetime, timedelta

from smsd import phone
from smsd import registry as registry_mod
from smsd import template as tpl
from smsd.clock import Clock, utcnow
from smsd.config import Config
from smsd.errors import InputError
from smsd.parse import Parsed, parse
from smsd.registry import Command, CommandError, Context, Registry, Reply
from smsd.store import InboundMessage, Member, Store

log = logging.getLogger(__name__)

APOLOGY = "抱歉，系统暂时无法处理您的短信，请稍后再试。"  # when even reply_apology.txt cannot be rendered
PING_PONG_S = 60  # an answer this soon after our SMS, to text no command accepts, may be a machine's


class Dispatcher:
    def __init__(self, store: Store, cfg: Config, registry: Registry | None = None, clock: Clock = utcnow) -> None:
        self.store = store
        self.cfg = cfg
        self.registry = registry or registry_mod.load(cfg.aliases)
        self.clock = clock
        self._templates: dict[str, tpl.Template] = {}

    def run_once(self, limit: int = 200) -> int:
        """Handle every new inbound message (oldest first); returns how many were handled."""
        rows = self.store.inbox.new(limit)
        if rows:
            self._templates = tpl.load_all(self.cfg.templates_dir)  # admins may edit them while we run
        for row in rows:
            self.handle(row.id)
        return len(rows)

    # ------------------------------------------------------------ one message

    def handle(self, inbox_id: int) -> str:
        now = self.clock()
        try:
            with self.store.tx():
                row = self.store.inbox.claim(inbox_id)
                if row is None:
                    return "already handled"
                return self._decide(row, now)
        except Exception:
            log.exception("dispatch.crash inbox=%s: the member gets the fixed apology", inbox_id)
            with self.store.tx():
                row = self.store.inbox.claim(inbox_id)
                if row is None:
                    return "already handled"
                sender = phone_or_none(row.sender)
                if sender and not self.store.senders.is_flagged(sender):
                    self._queue_reply(inbox_id, sender, self._apology(), now)
                self.store.inbox.mark_handled(
                    inbox_id, state="error", kind="error", command=None, normalized=row.text, member_id=None, now=now
                )
                self.store.event("inbox", inbox_id, "handler_error", "see the daemon log", "dispatcher", now)
            return "error"

    def _decide(self, row: InboundMessage, now: datetime) -> str:
        parsed = parse(row.text, lambda k: self.registry.lookup(k) is not None)
        sender = phone_or_none(row.sender)
        member = self.store.members.by_phone(sender) if sender else None

        def done(kind: str, command: str | None = None, state: str = "handled") -> str:
            self.store.inbox.mark_handled(
                row.id,
                state=state,
                kind=kind,
                command=command,
                normalized=parsed.normalized,
                member_id=member.id if member else None,
                now=now,
            )
            for f in self.cfg.forwards:  # forwarding is part of handling: same transaction, exactly once
                keyword_hit = f.keyword != "*" and parsed.keyword == f.keyword.casefold()
                if keyword_hit or (f.keyword == "*" and command is None and kind != "flagged"):
                    self.store.webhooks.queue(f.name, row.id, now)
            return kind

        if row.undecodable or not parsed.normalized:
            return done("ignored")
        if sender is None:  # 10086, 106..., CMCC: never answer a machine
            return done("service")
        command, ctx = self._resolve(parsed, row, sender, member, now)
        is_command = command is not None and (member is not None or command.strangers)
        flagged = self.store.senders.is_flagged(sender)
        if not is_command:
            # Only text that no command accepts can be a machine's: a vote or a receipt never silences anyone.
            if flagged:
                return done("flagged")
            reason = self._machine_like(row.sender, sender, parsed, now)
            if reason:
                self.store.senders.flag(sender, reason, now)
                self.store.event("number", sender[-4:], "flagged", f"loop: {reason}", "dispatcher", now)
                log.warning("dispatch.loop_flagged from=%s reason=%s", phone.shown(sender), reason)
                return done("flagged")
        if command is None:
            if member is None:
                return done("stranger")
            self._reply(row.id, sender, self._feedback_reply(parsed), now, member=member)
            return done("feedback")
        if member is None and not command.strangers:
            return done("stranger", command.name)
        try:
            reply = command.handler(ctx)
        except CommandError as refusal:
            reply = refusal.reply
        if flagged:  # counted, but a flagged number (an auto-responder) is never answered
            self.store.event("inbox", row.id, "reply_suppressed", "the number is flagged", "dispatcher", now)
        elif member is not None or self.cfg.commands.answer_strangers:
            self._reply(row.id, sender, reply, now, member=member)
        return done(command.kind, command.name)

    def _machine_like(self, raw_sender: str, sender: str, parsed: Parsed, now: datetime) -> str | None:
        """Why this sender looks like an auto-responder, or None: the same unaccepted text more than
        loop_limit times an hour, or more than loop_limit unaccepted texts an hour each arriving
        within PING_PONG_S of an SMS of ours (a ping-pong, whatever its text)."""
        limit = self.cfg.commands.loop_limit
        hour_ago = now - timedelta(hours=1)
        repeats = self.store.senders.same_text_since(raw_sender, parsed.normalized, hour_ago) + 1
        if repeats > limit:
            return f"the same text {repeats} times in an hour"
        if self.store.senders.ours_since(sender, now - timedelta(seconds=PING_PONG_S)):
            quick = self.store.senders.quick_answers(raw_sender, sender, hour_ago, PING_PONG_S) + 1
            if quick > limit:
                return f"answered our SMS within {PING_PONG_S} s {quick} times in an hour"
        return None

    def _resolve(
        self, parsed: Parsed, row: InboundMessage, sender: str, member: Member | None, now: datetime
    ) -> tuple[Command | None, Context]:
        ctx = Context(
            self.store,
            self.cfg,
            now,
            row.id,
            sender,
            member,
            parsed.keyword,
            parsed.argument,
            row.text,
            parsed.raw_argument,
        )
        command = self.registry.lookup(parsed.keyword) if parsed.keyword else None
        number = parsed.bare_number
        if command is None and number is not None:
            ctx.argument = parsed.normalized
            found = self.registry.for_bare_number(ctx, number)
            if found is not None:
                command, ctx.argument = found
            else:
                ctx.argument = parsed.argument
        return command, ctx

    def _feedback_reply(self, parsed: Parsed) -> Reply:
        """Unrecognised text from a member is feedback; a near-miss keyword gets a suggestion."""
        first = parsed.normalized.split(" ")[0]
        if len(first) <= 4 and first.isascii():
            close = difflib.get_close_matches(
                first, [k for k in self.registry.keywords() if k.isascii()], n=1, cutoff=0.5
            )
            if close:
                return Reply("reply_suggest", {"suggestion": close[0].upper()})
        return Reply("reply_feedback_ok")

    # ------------------------------------------------------------ replies

    def _reply(self, inbox_id: int, sender: str, reply: Reply | None, now: datetime, *, member: Member | None) -> None:
        if reply is None:
            return
        if not phone.is_domestic(sender):  # the office's SIMs pay for replies: never an automatic one abroad
            self.store.event("inbox", inbox_id, "reply_suppressed", "the sender is abroad", "dispatcher", now)
            return
        if member is None:
            cap = self.cfg.commands.stranger_replies_per_hour
            if self.store.senders.stranger_replies_since(now - timedelta(hours=1)) >= cap:
                log.warning("dispatch.stranger_cap to=%s cap=%s/h", phone.shown(sender), cap)
                self.store.event(
                    "inbox",
                    inbox_id,
                    "reply_suppressed",
                    f"more than {cap} replies an hour to strangers",
                    "dispatcher",
                    now,
                )
                return
        limit = self.cfg.commands.replies_per_hour
        if self.store.senders.replies_since(sender, now - timedelta(hours=1)) >= limit:
            log.info("dispatch.rate_limited to=%s limit=%s/h", phone.shown(sender), limit)
            self.store.event(
                "inbox", inbox_id, "reply_suppressed", f"more than {limit} replies an hour", "dispatcher", now
            )
            return
        template = self._templates.get(reply.template) or tpl.load(self.cfg.templates_dir, reply.template)
        try:
            text = template.render(reply.variables)
        except InputError:
            log.exception("dispatch.bad_template template=%s", reply.template)
            text = self._apology()
        self._queue_reply(inbox_id, sender, text, now, member_id=member.id if member else None)

    def _apology(self) -> str:
        """templates/reply_apology.txt (an office may reword it); the built-in text if it cannot be read."""
        try:
            template = self._templates.get("reply_apology") or tpl.load(self.cfg.templates_dir, "reply_apology")
            return template.render({})
        except Exception:  # noqa: BLE001 - the apology itself must never fail
            log.exception("dispatch.bad_template template=reply_apology")
            return APOLOGY

    def _queue_reply(self, inbox_id: int, sender: str, text: str, now: datetime, member_id: int | None = None) -> None:
        self.store.outbox.enqueue(  # inside the dispatch transaction: a savepoint, one commit for all
            sender,
            text,
            created_by="dispatcher",
            now=now,
            priority=9,
            quiet_ok=True,
            account=self.cfg.commands.reply_account,
            srr=self.cfg.sending.status_reports,
            max_attempts=self.cfg.sending.max_attempts,
            dedup_key=f"reply:{inbox_id}",
            member_id=member_id,
            expires_at=now + timedelta(hours=self.cfg.sending.expire_hours),
        )


def phone_or_none(sender: str) -> str | None:
    """The normalised mobile number of a sender, or None for short codes and names."""
    try:
        return phone.normalise(sender)
    except InputError:
        return None
