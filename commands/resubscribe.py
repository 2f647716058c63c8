"""DY / 订阅: receive broadcasts again."""

from smsd.registry import Command, Context, Reply


def handle(ctx: Context) -> Reply:
    ctx.store.senders.set_opt_out(ctx.sender, False, "sms", ctx.now)
    return Reply("reply_resubscribed")


COMMAND = Command("resubscribe", ("DY", "订阅", "恢复订阅"), "DY", "receive notices again", handle, strangers=True)
