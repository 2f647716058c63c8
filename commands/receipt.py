"""QR / 确认 (and a bare 1 after a notice that asked for it): confirm receipt of a notice."""

from smsd.registry import Command, CommandError, Context, Reply


def handle(ctx: Context) -> Reply:
    campaign = ctx.store.receipts.latest_confirm_campaign(ctx.sender)
    if campaign is None:
        raise CommandError("reply_receipt_none")
    member_id = ctx.member.id if ctx.member else None
    if not ctx.store.receipts.record(campaign.id, member_id, ctx.sender, ctx.inbox_id, ctx.now):
        return Reply("reply_receipt_again")
    return Reply("reply_receipt_ok")


def bare(ctx: Context, number: int) -> str | None:
    """A bare 1 confirms the latest notice when that notice asked for a receipt."""
    latest = ctx.store.receipts.latest_notice(ctx.sender) if number == 1 and ctx.member is not None else None
    return "" if latest and latest.confirm else None


COMMAND = Command("receipt", ("QR", "确认", "收到", "回执"), "QR", "confirm a notice", handle, bare=bare)
