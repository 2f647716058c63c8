"""TD / 退订: stop broadcasts to this number (urgent notices still go)."""

from smsd.registry import Command, Context, Reply


def handle(ctx: Context) -> Reply:
    ctx.store.set_phone_opt_out(ctx.sender, True, "sms", ctx.now)
    return Reply("reply_unsubscribed")


COMMAND = Command("unsubscribe", ("TD", "退订", "T", "QXDY", "取消订阅"), "TD", "stop notices", handle, strangers=True)
