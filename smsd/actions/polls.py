"""Verbs on polls and red-message (红段子) campaigns (creation, reminders and reviews are in
smsd.interact, which these call)."""

from __future__ import annotations

from smsd.store import Poll, Store
from smsd.store.summaries import PollResults, RedSubmission


def polls(store: Store, actor: str = "cli") -> list[Poll]:
    return store.polls.all()


def poll(store: Store, poll_id: int, actor: str = "cli") -> Poll:
    return store.polls.get(poll_id)


def results(store: Store, poll_id: int, actor: str = "cli") -> PollResults:
    return store.polls.results(poll_id)


def close(store: Store, poll_id: int, actor: str = "cli") -> None:
    store.polls.close(poll_id, actor)


def red_submissions(store: Store, state: str | None, actor: str = "cli") -> list[RedSubmission]:
    return store.red.submissions(state)


def open_red(store: Store, name: str, max_length: int, actor: str = "cli") -> int:
    return store.red.open(name, max_length, actor)


def close_red(store: Store, campaign_id: int, actor: str = "cli") -> None:
    store.red.close(campaign_id, actor)
