"""`smsd sim`: run emulated modems and talk to them (deliver SMS, inject faults)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import click

from smsd.i18n import _
from smsd.sim.dialects import PROFILES
from smsd.sim.emulator import Emulator, request
from smsd.sim.modem import FAULTS, ModemOptions


@click.group(invoke_without_command=True)
@click.option("--modems", default=1, show_default=True, type=click.IntRange(1, 64), help=_("How many modems."))
@click.option(
    "--dir",
    "directory",
    default="run/sim",
    show_default=True,
    type=click.Path(file_okay=False),
    help=_("Where the port symlinks, sent logs and control socket go."),
)
@click.option(
    "--profile",
    default="generic",
    show_default=True,
    type=click.Choice(sorted(PROFILES)),
    help=_("Dialect of every modem (a real modem family)."),
)
@click.option(
    "--send-delay-ms",
    default=3000,
    show_default=True,
    type=click.IntRange(0),
    help=_("Time the network takes to accept one submit (real modems: 2000-6000)."),
)
@click.option(
    "--command-delay-ms",
    default=None,
    type=click.IntRange(0),
    help=_("Time the modem takes to answer any command [default: 20, or 0 with --send-delay-ms 0]."),
)
@click.option(
    "--status-report-delay-ms",
    default=5000,
    show_default=True,
    type=click.IntRange(0),
    help=_("Time until a requested delivery report arrives."),
)
@click.option("--pin", default=None, help=_("SIM PIN the modems ask for (none by default)."))
@click.option(
    "--config",
    "config_path",
    default=None,
    type=click.Path(dir_okay=False),
    help=_("Take the defaults of --dir, --profile and the delays from this config.toml's [emulator]."),
)
@click.pass_context
def sim(
    ctx: click.Context,
    config_path: str | None,
    modems: int,
    directory: str,
    profile: str,
    send_delay_ms: int,
    command_delay_ms: int | None,
    status_report_delay_ms: int,
    pin: str | None,
) -> None:
    """Run emulated GSM modems on pseudo-terminals until Ctrl+C or SIGTERM.

    Each modem is a pty published as DIR/m1, DIR/m2, ...: point smsd, gammu or
    any AT client at it. Every accepted SMS-SUBMIT is appended to DIR/mN.sent.jsonl.

    \b
    Example:
        smsd sim --modems 2 --dir run/sim --send-delay-ms 0
        gammu -c gammurc identify            # with device = run/sim/m1
        smsd sim text --dir run/sim --modem m1 --from +8613800000001 "TP 2"
    """
    if ctx.invoked_subcommand is not None:
        return
    if config_path:  # the config's [emulator] table, where the command line did not say otherwise
        from smsd.cli.common import load

        e = load(config_path).emulator

        def given(name: str) -> bool:
            return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE

        directory = directory if given("directory") else str(Path(config_path).parent / e.dir)
        profile = profile if given("profile") else e.profile
        send_delay_ms = send_delay_ms if given("send_delay_ms") else e.send_delay_ms
        command_delay_ms = command_delay_ms if given("command_delay_ms") else e.command_delay_ms
        status_report_delay_ms = status_report_delay_ms if given("status_report_delay_ms") else e.status_report_delay_ms
    _refuse_a_running_emulator(directory)
    options = [
        ModemOptions(
            f"m{i}",
            profile=profile,
            pin=pin,
            send_delay_ms=send_delay_ms,
            # --send-delay-ms 0 means an instant modem: no hidden per-command delay either
            command_delay_ms=command_delay_ms if command_delay_ms is not None else (20 if send_delay_ms else 0),
            status_report_delay_ms=status_report_delay_ms,
        )
        for i in range(1, modems + 1)
    ]
    emulator = Emulator(directory, options)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # threads inherit it; sigwait takes them
    try:
        emulator.start()
    except OSError as exc:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # as it was: the caller may live on (a test)
        raise click.ClickException(
            _("cannot start the emulator in {dir}: {err}").format(dir=directory, err=exc.strerror or exc)
        ) from None
    for name, path in emulator.paths().items():
        click.echo(f"{name} {path}")
    click.echo(_("control socket: {path}").format(path=Path(directory) / "control.sock"))
    click.echo(_("running; press Ctrl+C to stop"), err=True)
    try:
        signal.sigwait(stop_signals)
    finally:
        emulator.stop()


def _refuse_a_running_emulator(directory: str) -> None:
    """A second emulator in the same folder would replace the first's ptys (and delete them on
    exit, under a running daemon): refuse while the folder's control socket answers."""
    try:
        request(directory, {"op": "status"}, timeout=2)
    except (RuntimeError, OSError, ValueError):
        return
    raise click.ClickException(
        _("an emulator already runs in {dir} (its control socket answers); stop it, or use another --dir").format(
            dir=directory
        )
    )


def _send(directory: str, payload: dict[str, Any]) -> Any:
    try:
        return request(directory, payload)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None


@sim.command("text")
@click.option("--dir", "directory", default="run/sim", show_default=True, help=_("The emulator's directory."))
@click.option("--modem", default="m1", show_default=True, help=_("Which modem receives it."))
@click.option("--from", "sender", required=True, help=_("Sender: a number or a name such as 10086 or CMCC."))
@click.option(
    "--ref-bits",
    type=click.Choice(["8", "16"]),
    default="8",
    show_default=True,
    help=_("Concatenation reference size when the text needs several parts."),
)
@click.option(
    "--placement",
    type=click.Choice(["now", "answer", "prompt"]),
    default="now",
    show_default=True,
    help=_("Announce now, inside the next command's answer, or right after the next > prompt."),
)
@click.argument("text")
def sim_text(directory: str, modem: str, sender: str, ref_bits: str, placement: str, text: str) -> None:
    """Deliver an inbound SMS to a running emulator.

    \b
    Example:
        smsd sim text --dir run/sim --modem m1 --from +8613800000001 "ＴＰ　２"
    """
    result = _send(
        directory,
        {"op": "text", "modem": modem, "from": sender, "text": text, "ref_bits": int(ref_bits), "placement": placement},
    )
    click.echo(_("delivered to {modem} in {n} part(s)").format(modem=modem, n=result["parts"]))


@sim.command("fault")
@click.option("--dir", "directory", default="run/sim", show_default=True, help=_("The emulator's directory."))
@click.option("--modem", default="m1", show_default=True, help=_("Which modem."))
@click.argument("name", type=click.Choice(sorted(FAULTS)))
@click.argument("values", nargs=-1)
def sim_fault(directory: str, modem: str, name: str, values: tuple[str, ...]) -> None:
    """Inject a fault into a running emulated modem.

    \b
    Faults and their values:
        unplug / replug            the pty goes away / comes back
        hang SECONDS               answer nothing for a while, then everything in order
        cms COUNT CODE             the next COUNT AT+CMGS get +CMS ERROR: CODE
        busy COUNT CODE            SIM commands get +CME ERROR: CODE (515 or 14)
        sim_full 1|0               SIM storage full; the network holds new SMS
        registration 0|1           network registration lost / regained
        noise COUNT                a burst of the dialect's unsolicited lines
        garbage                    a line of non-UTF-8 bytes
        signal RSSI                the +CSQ value
        send_delay_ms / command_delay_ms / prompt_delay_ms MS
        status_report_status ST    TP-Status of the next reports (0 delivered, 65 failed)

    \b
    Example:
        smsd sim fault --dir run/sim --modem m2 cms 3 500
    """
    value: Any = None
    if len(values) == 1:
        value = values[0]
    elif len(values) > 1:
        value = list(values)
    if name in ("sim_full", "registration") and value is not None:
        value = str(value).lower() in ("1", "true", "on", "yes")
    _send(directory, {"op": "fault", "modem": modem, "name": name, "value": value})
    click.echo(_("fault {name} applied to {modem}").format(name=name, modem=modem))


@sim.command("status")
@click.option("--dir", "directory", default="run/sim", show_default=True, help=_("The emulator's directory."))
def sim_status(directory: str) -> None:
    """Show each emulated modem's port, storage and counters as JSON.

    \b
    Example:
        smsd sim status --dir run/sim
    """
    click.echo(json.dumps(_send(directory, {"op": "status"}), ensure_ascii=False, indent=2))
