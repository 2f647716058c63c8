"""帮助 / BZ / HELP / ?: what a member can text."""

from smsd.registry import Command, Context, Reply


def handle(ctx: Context) -> Reply:
    return Reply("reply_help")


COMMAND = Command("help", ("帮助", "BZ", "HELP", "?", "求助"), "帮助", "list the commands", handle, strangers=True)
