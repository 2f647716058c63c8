"""HDZ <text> / 红段子 <text>: submit a red message to the open campaign."""

import hashlib
import re

from smsd.parse import normalise
from smsd.registry import Command, CommandError, Context, Reply


def handle(ctx: Context) -> Reply:
    assert ctx.member is not None
    campaign = ctx.store.red.current()
    if campaign is None:
        raise CommandError("reply_red_none")
    # The member's own words, as typed, not the case-folded form; the parser removed the keyword
    # (any alias, any width) and the separators after it.
    text = ctx.raw_argument.strip()
    if not text:
        raise CommandError("reply_red_empty")
    if len(text) > campaign.max_length:
        raise CommandError("reply_red_too_long", limit=campaign.max_length, length=len(text))
    key = hashlib.sha1(re.sub(r"[\W_]+", "", normalise(text)).encode()).hexdigest()
    if ctx.store.red.duplicate(campaign.id, key):
        raise CommandError("reply_red_duplicate")
    ctx.store.red.submit(campaign.id, ctx.member, text, key, ctx.inbox_id, ctx.now)
    return Reply("reply_red_ok", {"campaign": campaign.name})


COMMAND = Command("red", ("HDZ", "红段子"), "HDZ <内容>", "submit a red message", handle)
