"""TP <option> / 投票 <option> (or a bare option while exactly one poll is open): vote."""

import re

from smsd.registry import Command, CommandError, Context, Reply


def handle(ctx: Context) -> Reply:
    assert ctx.member is not None
    m = re.match(r"^(\d{1,4})(?:[\s,;:.\-]+(\d{1,3})\b)?", ctx.argument)
    numbers = [int(n) for n in m.groups() if n] if m else []
    polls = ctx.store.polls.polls_for(ctx.member.id, ctx.now)
    if not numbers:
        raise CommandError("reply_vote_usage")
    if len(numbers) == 2 and any(p.id == numbers[0] for p in polls):
        poll_id, option = numbers
        poll = next(p for p in polls if p.id == poll_id)
    else:
        option = numbers[0]
        if not polls:
            closed = ctx.store.polls.last_poll_for(ctx.member.id)
            if closed:
                raise CommandError("reply_vote_closed", question=closed.question)
            if ctx.store.polls.any_open(ctx.now):
                raise CommandError("reply_vote_not_audience")
            raise CommandError("reply_vote_no_poll")
        if len(polls) > 1:
            raise CommandError("reply_vote_which", example=f"{polls[0].id} 1")
        poll = polls[0]
    options = poll.options
    if not 1 <= option <= len(options):
        raise CommandError("reply_vote_bad_option", count=len(options))
    outcome, before = ctx.store.polls.record_vote(poll.id, ctx.member.id, option, ctx.inbox_id, poll.policy, ctx.now)
    if outcome == "duplicate" and before is not None:
        return Reply("reply_vote_duplicate", {"option": before, "label": options[before - 1]})
    template = "reply_vote_changed" if outcome == "changed" else "reply_vote_ok"
    return Reply(template, {"option": option, "label": options[option - 1], "question": poll.question})


def bare(ctx: Context, number: int) -> str | None:
    """A bare option counts as a vote while exactly one poll is open for the member."""
    if ctx.member is not None and len(ctx.store.polls.polls_for(ctx.member.id, ctx.now)) == 1:
        return ctx.argument or str(number)
    return None


COMMAND = Command("vote", ("TP", "投票"), "TP <选项>", "vote in an open poll", handle, bare=bare)
