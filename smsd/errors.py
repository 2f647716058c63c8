"""Every error smsd raises on purpose. Messages are one line and say what to do."""

from __future__ import annotations


class SmsdError(Exception):
    """Base class: an expected failure with a message meant for a person.

    It also carries data, so that each front end renders it without parsing the text: ``field``
    (the input it is about: "to", "text", "at", ...; the CLI names its option, the HTTP API the
    JSON field), ``msg_id`` (a stable id for the message, for translations) and its ``params``.
    """

    def __init__(self, message: str = "", *, field: str | None = None, msg_id: str | None = None, **params: object):
        super().__init__(message)
        self.template = message  # the English message with {placeholders}: the catalogue's msgid
        self.field = field
        self.msg_id = msg_id
        self.params = params

    def __str__(self) -> str:
        """The message in the admin's language, rendered from its template and parameters."""
        from smsd.i18n import render

        return render(self.template, self.params)


class ConfigError(SmsdError):
    """config.toml is missing, malformed or names an impossible value."""


class InputError(SmsdError):
    """An admin gave a bad argument (number, id, template variable, file)."""


class BudgetError(InputError):
    """A send or broadcast would take an org unit over its monthly budget."""


class NotAllowed(InputError):
    """The actor's role may not do this, or what it names lies outside the actor's part of the
    org tree (不在您的管辖范围); nothing was changed."""


class StoreError(SmsdError):
    """The database cannot be opened or written."""


class PduError(SmsdError):
    """A PDU from the modem (or for it) cannot be decoded or encoded."""


class ModemError(SmsdError):
    """Base of every failure in the conversation with a modem."""

    maybe_sent = False  # set when a submit failed after its PDU was written


class ModemTimeout(ModemError):
    """The modem did not answer a command in time (lines: what it did say)."""

    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        self.lines = list(lines or [])
        super().__init__(message)


class ModemGone(ModemError):
    """The serial device disappeared or cannot be opened."""


class CommandFailed(ModemError):
    """The modem answered a plain ERROR (or a dialect's equivalent)."""


class CmsError(ModemError):
    """+CMS ERROR: a message-service failure reported by the modem or network."""

    def __init__(self, code: int, accepted_parts: int = 0, text: str = "") -> None:
        self.code = code
        self.accepted_parts = accepted_parts
        super().__init__(text or f"+CMS ERROR: {code}")


class CmeError(ModemError):
    """+CME ERROR: an equipment failure (SIM missing, PIN needed, busy, ...)."""

    def __init__(self, code: int, text: str = "") -> None:
        self.code = code
        super().__init__(text or f"+CME ERROR: {code}")
