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
    # the audit trail's details (smsd audit)
    N_("wrong password ({n} in a row); locked"),
    N_("wrong password ({n} in a row)"),
    N_("unknown login"),
    N_("locked"),
    N_("disabled"),
    N_("campaign {cid}; {detail}"),
    N_("revision {rev}; {detail}"),
    N_("{n} recipients, {segments} segments, {fen} fen; {rules}"),
    N_("{n} recipients, {segments} segments, {fen} fen"),
    N_("session {sid}; must change password"),
    N_("session {sid}"),
    N_("token {tid}"),
    N_("{n} sessions ended"),
    N_("{what} is outside your part of the organisation ({scope})"),
    N_(
        "{number} is not a member of your part of the organisation ({scope}); "
        "an administrator may grant numbers outside the roster (`smsd user grant`)"
    ),
    N_("{login} ({role}) may not do this"),
    N_("{added} added, {updated} updated"),
    N_("{n} units"),
    N_("{n} pages"),
    N_("{n} sessions"),
    N_("{n} tokens"),
    N_("{n} entries"),
    N_("{n} reminders"),
    N_("{n} rows"),
    N_("{n} options; campaign {cid}"),
    N_("{n} options"),
    N_("to {number}"),
    N_("sent"),
    N_("no phone"),
    N_("too many codes this hour"),
    N_("wrong code"),
    N_("expired or used"),
    N_("not an approver's phone"),
    N_("outside its part of the tree or not an approver"),
]
# What the audit trail's actions and results are, in the admin's words.
ACTIONS = {
    "login": N_("log in"),
    "act": N_("act as an account"),
    "refused": N_("refused"),
    "login.code": N_("login code"),
    "session.start": N_("session start"),
    "session.end": N_("log out"),
    "session.end_all": N_("end sessions"),
    "token.add": N_("mint API token"),
    "token.revoke": N_("revoke API tokens"),
    "user.add": N_("add account"),
    "user.enable": N_("enable account"),
    "user.disable": N_("disable account"),
    "user.unlock": N_("unlock account"),
    "user.grant": N_("grant numbers outside the roster"),
    "user.ungrant": N_("take back numbers outside the roster"),
    "user.reset_password": N_("reset password"),
    "user.change_password": N_("change password"),
    "audit.read": N_("read audit trail"),
    "send": N_("send"),
    "broadcast": N_("broadcast"),
    "broadcast.ask": N_("ask for approval"),
    "broadcast.approve": N_("approve broadcast"),
    "broadcast.refuse": N_("refuse broadcast"),
    "broadcast.edit": N_("edit broadcast"),
    "broadcast.withdraw": N_("withdraw broadcast"),
    "broadcast.decide": N_("decide by SMS"),
    "campaign.pause": N_("pause campaign"),
    "campaign.resume": N_("resume campaign"),
    "campaign.cancel": N_("cancel campaign"),
    "campaign.remind": N_("remind"),
    "message.cancel": N_("cancel message"),
    "message.retry": N_("retry message"),
    "members.import": N_("import members"),
    "members.export": N_("export members"),
    "members.remove": N_("remove member"),
    "org.remove": N_("remove org unit"),
    "budget.set": N_("set budget"),
    "report.export": N_("export report"),
    "poll.create": N_("create poll"),
    "poll.close": N_("close poll"),
    "red.open": N_("open red-message campaign"),
    "red.close": N_("close red-message campaign"),
    "red.approve": N_("approve submission"),
    "red.reject": N_("reject submission"),
    "red.export": N_("export submissions"),
    "inbox.unflag": N_("answer a flagged number again"),
    "modem.resume": N_("resume modem"),
    "purge": N_("purge"),
    "backup": N_("backup"),
}
# The roles of smsd.roles, in the admin's words.
ROLE_NAMES = {"operator": N_("operator"), "approver": N_("approver"), "admin": N_("admin"), "auditor": N_("auditor")}
RESULTS = {"ok": N_("ok"), "refused": N_("refused")}
VIAS = {"cli": N_("command line"), "api": "API", "web": N_("web"), "sms": N_("SMS"), "approval": N_("approval")}
TARGETS = {
    "message": N_("message"),
    "campaign": N_("campaign"),
    "approval": N_("approval"),
    "poll": N_("poll"),
    "red": N_("red-message campaign"),
    "red-submission": N_("submission"),
    "member": N_("member"),
}
RULES = {
    "operators": N_("an operator's broadcast"),
    "over_recipients": N_("recipients over"),
    "over_fen": N_("fen over"),
}


def target(text: str) -> str:
    """An audit line's target (campaign:3) in the admin's words; an account's login as it is."""
    kind, sep, rest = text.partition(":")
    return f"{_(TARGETS[kind])} {rest}" if sep and kind in TARGETS else text


# key=value details (to=138****8000 segments=1): the keys in the admin's words
KEYS = {
    "role": N_("role"),
    "scope": N_("scope"),
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
            f"{_(KEYS[k]) if k in KEYS else k}={_role(v) if k == 'role' else v}"
            for k, v in (pair.split("=", 1) for pair in text.split(" "))
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


def _role(value: str) -> str:
    return _(ROLE_NAMES[value]) if value in ROLE_NAMES else value


def _value(name: str, value: str) -> str:
    if name == "meaning":
        return _(value)  # the +CMS ERROR table's words are in the catalogue
    if name == "rules":
        return "、".join(
            f"{_(RULES[k])}{' ' + n if n else ''}" if k in RULES else k
            for k, _eq, n in (rule.strip().partition("=") for rule in value.split(","))
        )
    if name in ("error", "why", "reason", "how", "detail", "kind", "cause"):
        return ", ".join(shown(v) for v in value.split(", ")) if name == "why" else shown(value)
    return value


def event(name: str) -> str:
    return _(EVENTS[name]) if name in EVENTS else name


# Codes as the admin reads them: the command line's tables and the web console's pages.


def state(code: str | None) -> str:
    """A state or kind code (queued, delivered, vote, ...) as the admin reads it; JSON keeps codes."""
    labels = {
        "queued": _("queued"),
        "sending": _("sending"),
        "sent": _("sent"),
        "delivered": _("delivered"),
        "failed": _("failed"),
        "cancelled": _("cancelled"),
        "expired": _("expired"),
        "ready": _("ready"),
        "down": _("down"),
        "paused": _("paused"),
        "capped": _("at its cap"),
        "not_running": _("daemon not running"),
        "unknown": _("unknown"),
        "running": _("running"),
        "done": _("done"),
        "open": _("open"),
        "closed": _("closed"),
        "pending": _("pending"),
        "approved": _("approved"),
        "rejected": _("rejected"),
        "vote": _("vote"),
        "receipt": _("receipt"),
        "red": _("red message"),
        "feedback": _("feedback"),
        "unsubscribe": _("unsubscribe"),
        "resubscribe": _("resubscribe"),
        "help": _("help"),
        "incomplete": _("incomplete"),
        "undecodable": _("undecodable"),
        "read": _("read"),
    }
    return labels.get(code or "", code or "")


def actor(actor: str | None) -> str:
    """Who did it, as the admin reads it: 命令行, 短信猫 m1, 守护进程, 接口 edu-platform, ..."""
    actor = actor or ""
    kind, _sep, name = actor.partition(":")
    labels = {
        "cli": _("command line"),
        "daemon": _("daemon"),
        "dispatcher": _("replies"),
        "scheduler": _("scheduler"),
        "sms": _("member's SMS"),
    }
    if kind == "worker" and name:
        return _("modem {name}").format(name=name)
    if kind == "api" and name:
        return _("API {name}").format(name=name)
    if kind == "user" and name:
        return _("account {name}").format(name=name)
    return labels.get(actor, actor)
