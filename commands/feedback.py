"""YJ <text> / 意见 <text>: feedback for the admins (unrecognised text from members lands here too)."""

from smsd.registry import Command, CommandError, Context, Reply


def handle(ctx: Context) -> Reply:
    if not ctx.argument:
        raise CommandError("reply_feedback_empty")
    return Reply("reply_feedback_ok")


COMMAND = Command("feedback", ("YJ", "意见", "建议", "心声"), "YJ <内容>", "send feedback", handle, kind="feedback")
