"""Keyword commands: what a command module declares, and the registry that refuses clashes."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smsd.parse import normalise

if TYPE_CHECKING:
    from smsd.config import Config
    from smsd.store import Member, Store


@dataclass(frozen=True)
class Reply:
    """A reply to a member: a template in templates/ and its variables."""

    template: str
    variables: dict[str, Any] = field(default_factory=dict)


class CommandError(Exception):
    """A refusal meant for the member (its reply is sent); not a crash."""

    def __init__(self, template: str, **variables: Any) -> None:
        super().__init__(template)
        self.reply = Reply(template, variables)


@dataclass
class Context:
    """What a handler gets: the message, who sent it, and the store (inside the dispatch transaction)."""

    store: Store
    cfg: Config
    now: datetime
    inbox_id: int
    sender: str
    member: Member | None
    keyword: str
    argument: str
    raw: str
    raw_argument: str = ""  # the argument as typed (keyword and separators removed by the parser)


Handler = Callable[[Context], Reply | None]
# A bare number (no keyword) the command takes: given the context and the number, the argument
# to handle it with, or None when the number is not for this command.
BareNumber = Callable[[Context, int], str | None]


@dataclass(frozen=True)
class Command:
    name: str
    keywords: tuple[str, ...]
    usage: str
    help: str
    handler: Handler
    strangers: bool = False  # may numbers outside the roster use it?
    bare: BareNumber | None = None  # does it take a bare "1" or "2"? (commands/__init__ order decides)
    kind: str = "command"  # how the inbox files a message it handled ("feedback" for the admins' inbox)


class DuplicateKeyword(ValueError):
    """Two commands claim the same keyword."""


class Registry:
    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self._by_keyword: dict[str, Command] = {}

    def add(self, command: Command, extra_keywords: tuple[str, ...] = ()) -> None:
        if command.name in self.commands:
            raise DuplicateKeyword(f"command {command.name!r} is registered twice")
        for kw in command.keywords + extra_keywords:
            key = normalise(kw)
            if key in self._by_keyword:
                raise DuplicateKeyword(
                    f"keyword {kw!r} of {command.name!r} is already {self._by_keyword[key].name!r}'s"
                )
            self._by_keyword[key] = command
        self.commands[command.name] = command

    def lookup(self, keyword: str) -> Command | None:
        return self._by_keyword.get(keyword)

    def for_bare_number(self, ctx: Context, number: int) -> tuple[Command, str] | None:
        """The first command (in commands/__init__.py order) that takes this bare number now."""
        for command in self.commands.values():
            if command.bare is not None:
                argument = command.bare(ctx, number)
                if argument is not None:
                    return command, argument
        return None

    def keywords(self) -> list[str]:
        return list(self._by_keyword)


def load(aliases: dict[str, list[str]] | None = None) -> Registry:
    """The commands listed in commands/__init__.py, plus keyword aliases from config.toml."""
    # commands/ of the repository is installed as smsd.commands (pyproject.toml's package-dir)
    commands = importlib.import_module("smsd.commands")
    names: tuple[str, ...] = tuple(commands.MODULES)
    registry = Registry()
    for module_name in names:
        module = importlib.import_module(f"smsd.commands.{module_name}")
        command: Command = module.COMMAND
        registry.add(command, tuple((aliases or {}).get(command.name, ())))
    unknown = set(aliases or {}) - set(registry.commands)
    if unknown:
        raise DuplicateKeyword(f"aliases for unknown command(s): {', '.join(sorted(unknown))}")
    return registry
