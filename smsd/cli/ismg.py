"""`smsd ismg`: run a CMPP ISMG emulator and talk to it (deliver MO, inject faults)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from smsd.cli.serving import ask, serve
from smsd.control import ControlServer
from smsd.i18n import _
from smsd.ismg.server import FAULTS, Account, Ismg, parse_account


def _accounts(specs: tuple[str, ...]) -> list[Account]:
    try:
        return [parse_account(s) for s in specs] or [Account("901234", "secret", "10690001")]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--account") from None


def _mix(spec: str) -> dict[str, float]:
    """DELIVRD=0.9,UNDELIV=0.1 as weights."""
    try:
        out = {k.strip().upper(): float(v) for k, v in (item.split("=") for item in spec.split(",") if item.strip())}
    except ValueError:
        raise click.BadParameter(_("write it like DELIVRD=0.9,UNDELIV=0.1"), param_hint="--receipt-mix") from None
    if not out or any(w < 0 for w in out.values()) or not sum(out.values()):
        raise click.BadParameter(_("write it like DELIVRD=0.9,UNDELIV=0.1"), param_hint="--receipt-mix")
    return out


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help=_("Address to listen on."))
@click.option("--port", default=7890, show_default=True, type=click.IntRange(0, 65535), help=_("TCP port."))
@click.option(
    "--account",
    "accounts",
    multiple=True,
    metavar="SP_ID:SECRET[:SERVICE_CODE[:SERVICE_ID]]",
    help=_(
        "An account that may connect (repeat for several); its Src_Id must start with SERVICE_CODE, and MO to "
        "numbers under it goes to it. [default: 901234:secret:10690001]"
    ),
)
@click.option(
    "--dir",
    "directory",
    default="run/ismg",
    show_default=True,
    type=click.Path(file_okay=False),
    help=_("Where the control socket and the submit log go."),
)
@click.option(
    "--receipt-delay-ms",
    default=1000,
    show_default=True,
    type=click.IntRange(0),
    help=_("Time until a requested status report is sent."),
)
@click.option(
    "--receipt-mix",
    default="DELIVRD=1",
    show_default=True,
    help=_("The Stat values of status reports, with weights."),
)
@click.option(
    "--rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help=_("Submits per second per account before Result 8 (flow control); 0: no limit."),
)
@click.pass_context
def ismg(
    ctx: click.Context,
    host: str,
    port: int,
    accounts: tuple[str, ...],
    directory: str,
    receipt_delay_ms: int,
    receipt_mix: str,
    rate: float,
) -> None:
    """Run a CMPP 3.0/2.0 ISMG emulator (a carrier's SMS gateway) until Ctrl+C or SIGTERM.

    Every SUBMIT it accepts is appended, decoded, to DIR/submits.jsonl; status reports follow
    after --receipt-delay-ms; a DELIVER not acknowledged is delivered again at the next CONNECT.
    Point a kind = "cmpp" table of config.toml ([modems.NAME]) at it.

    \b
    Example:
        smsd ismg --port 7890 --account 901234:secret:10690001:MZB0010101
        smsd ismg text --from +8613800000001 --to 1069000101 "TP 2"
    """
    if ctx.invoked_subcommand is not None:
        return
    folder = Path(directory)
    server = Ismg(
        host,
        port,
        _accounts(accounts),
        log_path=folder / "submits.jsonl",
        receipt_delay_ms=receipt_delay_ms,
        receipt_mix=_mix(receipt_mix),
        rate=rate,
    )
    control = ControlServer(folder, server.handle, "ismg")

    def banner() -> Iterator[str]:
        yield _("CMPP on {host}:{port}").format(host=host, port=server.port)
        for acc in server.accounts.values():
            yield _("account {id} service code {code} Service_Id {service}").format(
                id=acc.sp_id, code=acc.service_code, service=acc.service_id or "-"
            )
        yield _("submit log: {path}").format(path=folder / "submits.jsonl")
        yield _("control socket: {path}").format(path=control.path)

    cannot_start = _("cannot start the ISMG emulator on {host}:{port}: {err}").format(host=host, port=port, err="{err}")
    serve(server, control, cannot_start, banner)


def _send(directory: str, payload: dict[str, Any]) -> Any:
    return ask(directory, payload, "ISMG emulator")


@ismg.command("text")
@click.option("--dir", "directory", default="run/ismg", show_default=True, help=_("The emulator's directory."))
@click.option("--from", "sender", required=True, help=_("The member's number."))
@click.option(
    "--to", default="", help=_("The number it was sent to: a service code and extension (picks the account).")
)
@click.option("--account", default="", help=_("The account that receives it (instead of --to)."))
@click.option(
    "--fmt",
    type=click.Choice(["ucs2", "gbk"]),
    default="ucs2",
    show_default=True,
    help=_("Msg_Fmt 8 (UCS-2; ASCII text goes as Msg_Fmt 0) or 15 (GBK)."),
)
@click.argument("text")
def ismg_text(directory: str, sender: str, to: str, account: str, fmt: str, text: str) -> None:
    """Deliver an MO message (a member's SMS) to a connected client.

    \b
    Example:
        smsd ismg text --from +8613800000001 --to 1069000101 "TP 2"
    """
    payload = {"op": "text", "from": sender, "to": to, "account": account, "text": text, "fmt": fmt}
    result = _send(directory, payload)
    click.echo(_("queued in {n} part(s)").format(n=result["parts"]))


@ismg.command("fault")
@click.option("--dir", "directory", default="run/ismg", show_default=True, help=_("The emulator's directory."))
@click.argument("name", type=click.Choice(sorted(FAULTS)))
@click.argument("values", nargs=-1)
def ismg_fault(directory: str, name: str, values: tuple[str, ...]) -> None:
    """Inject a fault into a running ISMG emulator.

    \b
    Faults and their values:
        status COUNT CODE        the next COUNT submits get Result CODE (8 flow control, 10 Src_Id, 13 number)
        no_response COUNT        the next COUNT submits are taken but never answered
        late_response COUNT MS   the next COUNT submits are answered MS milliseconds late
        duplicate_response COUNT the next COUNT submits are answered twice
        drop_after COUNT         close the link after taking the next COUNT submits
        drop                     close every connection now
        down 1|0                 close everything and refuse connections / come back
        refuse_connect STATUS    answer CONNECT with STATUS (3: authentication), 0: accept again
        silent_active_test 1|0   leave ACTIVE_TEST unanswered / answer it again
        terminate                the ISMG ends every session (TERMINATE)
        probe                    the ISMG sends ACTIVE_TEST to every connection
        receipt_stat STAT        Stat of the next reports (DELIVRD, UNDELIV, EXPIRED, MA:0001)
        receipt_delay_ms MS      time until a report is sent
        short_report COUNT       the next COUNT reports are 2.0-sized on a 3.0 link
        report_first COUNT       the next COUNT reports come before their SUBMIT_RESP
        lose_ack COUNT           the next COUNT DELIVER_RESP are lost: the DELIVER comes again

    \b
    Example:
        smsd ismg fault status 5 8
    """
    value: Any = None
    if len(values) == 1:
        value = values[0]
    elif len(values) > 1:
        value = list(values)
    _send(directory, {"op": "fault", "name": name, "value": value})
    click.echo(_("fault {name} applied").format(name=name))


@ismg.command("status")
@click.option("--dir", "directory", default="run/ismg", show_default=True, help=_("The emulator's directory."))
def ismg_status(directory: str) -> None:
    """Show the ISMG emulator's sessions, counters and faults as JSON.

    \b
    Example:
        smsd ismg status
    """
    click.echo(json.dumps(_send(directory, {"op": "status"}), ensure_ascii=False, indent=2))
