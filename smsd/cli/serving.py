"""What `smsd smsc` and `smsd ismg` share: run an emulator until Ctrl+C or SIGTERM, and ask a
running one over its control socket."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable
from typing import Any

import click

from smsd.control import ControlServer, request
from smsd.i18n import _


def serve(server: Any, control: ControlServer, cannot_start: str, banner: Callable[[], Iterable[str]]) -> None:
    """Start server and its control socket, print banner() (after start: it may name the port),
    then wait for a stop signal. cannot_start: the translated one-line error, with {err}."""
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # threads inherit it; sigwait takes them
    try:
        server.start()
        control.start()
    except OSError as exc:
        server.stop()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # as it was: the caller may live on (a test)
        raise click.ClickException(cannot_start.format(err=exc.strerror or exc)) from None
    for line in banner():
        click.echo(line)
    click.echo(_("running; press Ctrl+C to stop"), err=True)
    try:
        signal.sigwait(stop_signals)
    finally:
        control.stop()
        server.stop()


def ask(directory: str, payload: dict[str, Any], what: str) -> Any:
    """One request to a running emulator; its refusal (or its absence) as a one-line error."""
    try:
        return request(directory, payload, what=what)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
