"""SP 12 同意 / SP 12 不同意 理由: an approver answers a broadcast's approval request by SMS
(only with [approval] by_sms, and only from the phone on an approver's account)."""

import re

from smsd.actions import broadcasts
from smsd.registry import Command, Context, Reply

_ANSWER = re.compile(r"^\s*(\d{1,9})\s*(不同意|同意|批准|通过|退回|BTY|TY)\s*(.*)$", re.IGNORECASE | re.DOTALL)


def handle(ctx: Context) -> Reply:
    found = _ANSWER.match(ctx.raw_argument or ctx.argument)
    if found is None:
        return Reply("reply_approval_usage")
    number, word, reason = found.groups()
    yes = broadcasts.DECISIONS[word.upper() if word.isascii() else word]
    template, values = broadcasts.decide_by_sms(ctx.store, ctx.cfg, ctx.sender, int(number), yes, reason, ctx.now)
    return Reply(template, values)


COMMAND = Command("approve", ("SP", "审批"), "SP", "approve or refuse a broadcast", handle, strangers=True)
