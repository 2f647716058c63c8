"""Conversations as scripts, as RapidSMS tests them:

    +8613800000001 > ＴＰ　２
    +8613800000001 < 投票成功：您选择了2.赞成

'>' is an SMS the member sends (stored through the real PDU path, then dispatched);
'<' is the reply smsd queues (compared up to the length given); '<' followed by nothing
means "no reply". Every reply must be expected: an unexpected one fails the script.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from smsd import pdu
from smsd.dispatch import Dispatcher
from smsd.store import Store
from smsd.transport.gsm import received_from_pdu
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows

CST = timezone(timedelta(hours=8))
_SEQUENCE = itertools.count(1)  # distinct SCTS per SMS: an identical PDU would be (rightly) a duplicate


class Conversation:
    def __init__(self, store: Store, dispatcher: Dispatcher, modem: str = "m1") -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.modem = modem
        self.seen_reply_id = self._last_outbox_id()
        self.sent = 0

    def _last_outbox_id(self) -> int:
        row = sql_one(self.store, "SELECT MAX(id) AS n FROM outbox")
        return int(row["n"] or 0)

    def member_says(self, sender: str, text: str) -> None:
        self.sent = next(_SEQUENCE)
        when = datetime(2026, 11, 27, 10, 0, tzinfo=CST) + timedelta(seconds=self.sent)
        national = sender[3:] if sender.startswith("+86") else sender  # as a network delivers it
        for h in pdu.encode_deliver(national, text, when, ref=self.sent % 256):
            self.store.inbox.save(self.modem, received_from_pdu(h), now=self.dispatcher.clock())
        self.dispatcher.run_once()

    def replies(self) -> list[tuple[str, str]]:
        rows = sql_rows(
            self.store,
            "SELECT id, to_number, text FROM outbox WHERE id > ? AND created_by = 'dispatcher' ORDER BY id",
            (self.seen_reply_id,),
        )
        if rows:
            self.seen_reply_id = rows[-1]["id"]
        return [(r["to_number"], r["text"]) for r in rows]

    def run(self, script: str) -> None:
        pending: list[tuple[str, str]] = []
        for line_no, raw in enumerate(script.strip().splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            number, arrow, text = line.partition(" ")[0], line.split(" ", 2)[1], (line.split(" ", 2) + [""])[2]
            if arrow == ">":
                assert not pending, f"line {line_no}: unexpected replies before it: {pending}"
                self.member_says(number, text)
                pending = self.replies()
            elif arrow == "<":
                if not text:
                    assert not pending, f"line {line_no}: expected no reply, got {pending}"
                    continue
                assert pending, f"line {line_no}: expected a reply {text!r}, got none"
                to, body = pending.pop(0)
                assert to == number, f"line {line_no}: reply went to {to}, not {number}"
                assert body.startswith(text), f"line {line_no}: expected {text!r}..., got {body!r}"
            else:
                raise AssertionError(f"line {line_no}: use '>' or '<'")
        assert not pending, f"unexpected replies at the end: {pending}"
