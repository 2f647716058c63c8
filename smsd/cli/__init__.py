"""The admin's command line: a thin layer over the library (one call per command)."""

from __future__ import annotations

import importlib
import inspect
import sys

import click

from smsd import __version__
from smsd.i18n import _

# Each command is imported only when it runs (or when the full list's help is shown): `smsd send`
# must not pay for the daemon, the scheduler or the Excel library (bench/cli_start.py).
COMMANDS = {
    "run": "smsd.cli.daemon:run",
    "send": "smsd.cli.messages:send",
    "outbox": "smsd.cli.messages:outbox",
    "inbox": "smsd.cli.messages:inbox",
    "status": "smsd.cli.daemon:status",
    "resume": "smsd.cli.daemon:resume",
    "members": "smsd.cli.members:members",
    "org": "smsd.cli.members:org",
    "templates": "smsd.cli.broadcast:templates",
    "broadcast": "smsd.cli.broadcast:broadcast",
    "campaign": "smsd.cli.broadcast:campaign",
    "poll": "smsd.cli.interact:poll",
    "red": "smsd.cli.interact:red",
    "check-config": "smsd.cli.daemon:check_config",
    "doctor": "smsd.cli.daemon:doctor",
    "sim": "smsd.cli.sim:sim",
    "smsc": "smsd.cli.smsc:smsc",
    "ismg": "smsd.cli.ismg:ismg",
    "report": "smsd.cli.report:report",
    "budget": "smsd.cli.report:budget",
    "purge": "smsd.cli.report:purge",
    "backup": "smsd.cli.report:backup",
    "http": "smsd.cli.daemon:http",
    "user": "smsd.cli.users:user",
    "audit": "smsd.cli.users:audit",
    "approval": "smsd.cli.approvals:approval",
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name, on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attr = spec.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        _translate_help(command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="smsd")
@click.option(
    "--as",
    "as_login",
    metavar="LOGIN",
    help=_("Act as this account, with its role and part of the org tree (scripts, tests, what a township sees)."),
)
@click.pass_context
def main(ctx: click.Context, as_login: str | None) -> None:
    """smsd: an SMS gateway for GSM modems, with a built-in modem emulator.

    \b
    Example:
        smsd run                      # the daemon, on the built-in emulator by default
        smsd send +8613800138000 "你好，测试"
        smsd outbox --json
    """


def _translate_help(command: click.Command) -> None:
    """Each command's help (its docstring, as click cleaned it) in the admin's language; the
    catalogue has them as msgids (extracted by smsd/locale/build.py). Once per command."""
    if getattr(command, "_smsd_translated", False):
        return
    if command.help:
        command.help = _(inspect.cleandoc(command.help))
    command._smsd_translated = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group) and not isinstance(command, LazyGroup):
        for sub in command.commands.values():
            _translate_help(sub)


_translate_help(main)


def run() -> None:
    """Console entry point: no traceback ever reaches an admin."""
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo(_("Interrupted."), err=True)
        sys.exit(130)
