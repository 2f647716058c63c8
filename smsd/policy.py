"""What becomes of a message after a submit that did not succeed: pure decisions, no storage.

The store counts (refusals so far, answerless submits of a part, stops with a part in flight)
and applies the decision; the worker only says which outcome the transport gave. The rules
(README "What happens after a crash"):
- refused by the network: counts as an attempt; a permanent refusal or the last attempt fails
  the message, otherwise it waits backoff_s, doubling with each attempt;
- not sent (nothing reached the network): back to the queue after backoff_s, no attempt used;
- no answer (in doubt): the part waits grace_s for a late answer, then is sent again once,
  flagged; the second answerless submit of a part fails the message (never a third time);
- found in flight at a stop (a crash, a lease that ran out): sent again, flagged, until the
  MAX_RESTART_DOUBTS-th time, which fails it.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RESTART_DOUBTS = 10  # stops (or run-out leases) with the same part in flight before it is no longer sent


@dataclass(frozen=True)
class Requeue:
    """Back to the queue: try again in delay_s, with this as the message's last error."""

    delay_s: float
    error: str


@dataclass(frozen=True)
class Fail:
    """The message fails: why (the event), error (its last error); flagged when it may have arrived."""

    why: str
    error: str
    maybe_arrived: bool = False


Decision = Requeue | Fail


def after_refusal(*, error: str, permanent: bool, attempts: int, max_attempts: int, backoff_s: float) -> Decision:
    """`attempts` counts this refusal."""
    if permanent or attempts >= max_attempts:
        why = "permanent error" if permanent else f"{attempts} refusals"
        return Fail(f"{why}: {error}", error)
    return Requeue(backoff_s * 2 ** max(0, attempts - 1), error)


def after_not_sent(*, error: str, backoff_s: float) -> Decision:
    return Requeue(backoff_s, error)


def after_doubt(*, modem: str, doubts: dict[int, int], grace_s: float) -> Decision:
    """doubts: per part in doubt now, its answerless submits (this one included; stops not counted)."""
    for seq, n in sorted(doubts.items()):
        if n >= 2:
            reason = (
                f"part {seq}: no answer to two submits; it may have reached the member, so it is not sent a "
                "third time (`smsd outbox retry` sends it again)"
            )
            return Fail(reason, reason, maybe_arrived=True)
    return Requeue(grace_s, f"no answer from {modem}: waiting for a late answer")


def after_stop(*, seq: int, stops: int) -> Fail | None:
    """stops: how often this part was in flight at a stop, this one included (None: send it again)."""
    if stops < MAX_RESTART_DOUBTS:
        return None
    reason = (
        f"part {seq}: the daemon stopped {MAX_RESTART_DOUBTS} times while it was in flight; it may have reached "
        "the member, so it is not sent again by itself (`smsd outbox retry` sends it again)"
    )
    return Fail(reason, reason, maybe_arrived=True)
