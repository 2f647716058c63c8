"""The failure policy as a pure module (issue 23): outcome and counts in, decision out."""

from __future__ import annotations

import pytest

from smsd import policy
from smsd.policy import Fail, Requeue


@pytest.mark.parametrize(
    "permanent, attempts, max_attempts, expected",
    [
        (False, 1, 5, Requeue(30, "+CMS ERROR: 500")),
        (False, 2, 5, Requeue(60, "+CMS ERROR: 500")),
        (False, 4, 5, Requeue(240, "+CMS ERROR: 500")),
        (False, 5, 5, Fail("5 refusals: +CMS ERROR: 500", "+CMS ERROR: 500")),
        (True, 1, 5, Fail("permanent error: +CMS ERROR: 500", "+CMS ERROR: 500")),
    ],
    ids=["first", "second-doubles", "fourth", "last-attempt", "permanent"],
)
def test_a_refusal_counts_backs_off_doubling_and_fails_at_the_last_attempt(permanent, attempts, max_attempts, expected):
    decision = policy.after_refusal(
        error="+CMS ERROR: 500", permanent=permanent, attempts=attempts, max_attempts=max_attempts, backoff_s=30
    )
    assert decision == expected


def test_not_sent_waits_and_never_fails():
    assert policy.after_not_sent(error="m1 is disconnected", backoff_s=1) == Requeue(1, "m1 is disconnected")


def test_a_first_doubt_waits_for_a_late_answer_and_a_second_fails_flagged():
    first = policy.after_doubt(modem="m1", doubts={1: 1}, grace_s=60)
    assert first == Requeue(60, "no answer from m1: waiting for a late answer")
    second = policy.after_doubt(modem="m1", doubts={1: 1, 2: 2}, grace_s=60)
    assert isinstance(second, Fail) and second.maybe_arrived and "part 2" in second.why and "third" in second.why


def test_stops_resend_until_the_limit():
    assert policy.after_stop(seq=1, stops=policy.MAX_RESTART_DOUBTS - 1) is None
    failed = policy.after_stop(seq=3, stops=policy.MAX_RESTART_DOUBTS)
    assert failed is not None and failed.maybe_arrived and failed.why.startswith("part 3:")
