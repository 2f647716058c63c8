"""The admin's command line: a thin layer over the library (one call per command)."""

from __future__ import annotations

import sys

import click

from smsd import __version__
from smsd.cli.sim import sim
from smsd.i18n import _


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="smsd")
def main() -> None:
    """smsd: an SMS gateway for GSM modems, with a built-in modem emulator.

    \b
    Example:
        smsd sim --modems 2 --dir run/sim
    """


main.add_command(sim)


def run() -> None:
    """Console entry point: no traceback ever reaches an admin."""
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo(_("Interrupted."), err=True)
        sys.exit(130)
