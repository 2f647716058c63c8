"""TD / 退订: stop broadcasts to this number (urgent notices still go).

A bare "T" is not a keyword by default (one letter is too easy to type by mistake, and
"T P 2" is a vote); an office that wants it adds it in config.toml: [commands.aliases]
unsubscribe = ["T"], and it then counts only as the whole message."""

from smsd.registry import Command, Context, Reply


def handle(ctx: Context) -> Reply:
    ctx.store.senders.set_opt_out(ctx.sender, True, "sms", ctx.now)
    return Reply("reply_unsubscribed")


COMMAND = Command("unsubscribe", ("TD", "退订", "QXDY", "取消订阅"), "TD", "stop notices", handle, strangers=True)
