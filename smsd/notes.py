"""What the record says about a message, shown in the admin's language.

The store writes event details and last errors in English: they are the log's and the JSON's
words, and a record must not change with the reader. Each has one of the forms below; `shown()`
reads a stored text back against them and renders the translated form, the parts inside
(an error inside a retry, a modem's refusal) translated in turn. A text of no known form is
shown as it was stored.
"""

from __future__ import annotations

import functools
import re

from smsd.i18n import _


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "extract this, translate later"
    return message


# Most specific first: the first form that matches the whole text wins.
FORMS = [
    N_("in {delay}s: {error}"),
    N_("no answer from {modem}: waiting for a late answer"),
    N_("part {which}: no answer from {modem} ({error}); the network may have it"),
    N_("part {seq} sent again: an earlier submit got no answer ({why}); it may arrive twice"),
    N_(
        "part {seq}: no answer to two submits; it may have reached the member, so it is not sent a third time "
        "(`smsd outbox retry` sends it again)"
    ),
    N_(
        "part {seq}: the daemon stopped {n} times while it was in flight; it may have reached the member, so it is "
        "not sent again by itself (`smsd outbox retry` sends it again)"
    ),
    N_(
        "part {seq}: {modem} accepted it without a message reference; its delivery report cannot be matched, "
        "so it stays 'sent'"
    ),
    N_("part {seq}: {how} shows {modem} sent it (ref={ref}); it was also sent again"),
    N_("part {seq}: {how} shows {modem} sent it (ref={ref})"),
    N_("part {which} may have been sent ({why}); it is sent again"),
    N_("{cause} on {modem}"),
    N_("permanent error: {error}"),
    N_("{n} refusals: {error}"),
    N_("+CMS ERROR: {code} ({meaning})"),
    N_("{modem}: no answer"),
    N_("{modem}: no answer yet"),
    N_("{modem}: refused ({kind})"),
    N_("{modem} is disconnected"),
    N_("{modem}: the line dropped before the part left"),
    N_("{modem}: not sent ({reason})"),
    N_("{modem}: not sent"),
    N_("status report: not delivered"),
    N_("status report"),
    N_("the network reported it undelivered"),
    N_("not sent before its expiry time"),
    N_("lease expired"),
    N_("found in 'sending' at start-up"),
    N_("the daemon stopped while the modem had it"),
    N_("daemon stopping between parts"),
    N_("transport paused"),
    N_("an accepted part was recorded late"),
    N_("a late answer"),
    N_("a delivery report"),
    N_("repinned: {detail}"),
    N_("by SMS from ...{digits}"),
    N_("more than {n} replies an hour to strangers"),
    N_("more than {n} replies an hour"),
    N_("submission {sid}: {reason}"),
    N_("submission {sid}"),
]
# key=value details (to=138****8000 segments=1): the keys in the admin's words
KEYS = {
    "to": N_("to"),
    "from": N_("from"),
    "segments": N_("segments"),
    "modem": N_("modem"),
    "refusals": N_("refusals"),
    "resends": N_("resends"),
    "not_before": N_("send at"),
    "parts": N_("parts"),
    "parts_already_sent": N_("parts already sent"),
    "hash": N_("hash"),
    "id": N_("id"),
    "n": N_("count"),
}
EVENTS = {
    "queued": N_("queued"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
    "retry": N_("retry later"),
    "resend": N_("sent again"),
    "in_doubt": N_("no answer"),
    "in_doubt_settled": N_("answer found"),
    "possible_duplicate": N_("may arrive twice"),
    "recovered": N_("back in the queue"),
    "released": N_("released"),
    "expired": N_("expired"),
    "cancelled": N_("cancelled"),
    "retried": N_("queued again"),
    "no_reference": N_("no reference"),
    "received": N_("received"),
    "duplicate_pdu": N_("duplicate"),
    "reply_suppressed": N_("reply held back"),
    "opted_out": N_("opted out"),
    "opted_in": N_("opted in"),
    "created": N_("created"),
    "reminded": N_("reminded"),
    "paused": N_("paused"),
    "resumed": N_("resumed"),
    "set": N_("set"),
    "purged": N_("purged"),
    "request": N_("request"),
    "resume": N_("resume"),
    "removed": N_("removed"),
}
_KEY_VALUE = re.compile(r"^(?:[a-z_]+=\S+)(?: [a-z_]+=\S+)*$")


@functools.cache
def _pattern(form: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", form)
    body = "".join(f"(?P<{p[1:-1]}>.+?)" if re.fullmatch(r"\{\w+\}", p) else re.escape(p) for p in parts)
    return re.compile(body, re.S)


def shown(text: str | None) -> str:
    """A stored note or error in the admin's language ("" for none)."""
    if not text:
        return ""
    if _KEY_VALUE.match(text):
        return " ".join(
            f"{_(KEYS[k]) if k in KEYS else k}={v}" for k, v in (pair.split("=", 1) for pair in text.split(" "))
        )
    for form in FORMS:
        m = _pattern(form).fullmatch(text)
        if m:
            values = {k: _value(k, v) for k, v in m.groupdict().items()}
            try:
                return _(form).format(**values)
            except (KeyError, IndexError, ValueError):
                return text
    return text


def _value(name: str, value: str) -> str:
    if name == "meaning":
        return _(value)  # the +CMS ERROR table's words are in the catalogue
    if name in ("error", "why", "reason", "how", "detail", "kind", "cause"):
        return ", ".join(shown(v) for v in value.split(", ")) if name == "why" else shown(value)
    return value


def event(name: str) -> str:
    return _(EVENTS[name]) if name in EVENTS else name
