"""The admin's command line: a thin layer over the library (one call per command)."""

from __future__ import annotations

import inspect
import sys

import click

from smsd import __version__
from smsd.cli.broadcast import broadcast, campaign, templates
from smsd.cli.daemon import check_config, doctor, http, status
from smsd.cli.daemon import run as run_command
from smsd.cli.interact import poll, red
from smsd.cli.members import members, org
from smsd.cli.messages import inbox, outbox, send
from smsd.cli.report import backup, budget, purge, report
from smsd.cli.sim import sim
from smsd.cli.smsc import smsc
from smsd.i18n import _


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="smsd")
def main() -> None:
    """smsd: an SMS gateway for GSM modems, with a built-in modem emulator.

    \b
    Example:
        smsd run                      # the daemon, on the built-in emulator by default
        smsd send +8613800138000 "你好，测试"
        smsd outbox --json
    """


for command in (
    run_command,
    send,
    outbox,
    inbox,
    status,
    members,
    org,
    templates,
    broadcast,
    campaign,
    poll,
    red,
    check_config,
    doctor,
    sim,
    smsc,
    report,
    budget,
    purge,
    backup,
    http,
):
    main.add_command(command)


def _translate_help(command: click.Command) -> None:
    """Each command's help (its docstring, as click cleaned it) in the admin's language; the
    catalogue has them as msgids (extracted by smsd/locale/build.py)."""
    if command.help:
        command.help = _(inspect.cleandoc(command.help))
    if isinstance(command, click.Group):
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
