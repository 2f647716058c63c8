"""`smsd smsc`: run an SMPP SMSC emulator and talk to it (deliver MO, inject faults)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from smsd.cli.serving import ask, serve
from smsd.control import ControlServer
from smsd.i18n import _
from smsd.smsc.server import FAULTS, Account, Smsc, parse_account


def _accounts(specs: tuple[str, ...]) -> list[Account]:
    try:
        return [parse_account(s) for s in specs] or [Account("smsd", "secret")]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--account") from None


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help=_("Address to listen on."))
@click.option("--port", default=2775, show_default=True, type=click.IntRange(0, 65535), help=_("TCP port."))
@click.option(
    "--account",
    "accounts",
    multiple=True,
    metavar="ID:PASSWORD[:NUMBER]",
    help=_("An account that may bind (repeat for several); MO to NUMBER... goes to it. [default: smsd:secret]"),
)
@click.option(
    "--dir",
    "directory",
    default="run/smsc",
    show_default=True,
    type=click.Path(file_okay=False),
    help=_("Where the control socket and the submit log go."),
)
@click.option(
    "--receipt-delay-ms",
    default=1000,
    show_default=True,
    type=click.IntRange(0),
    help=_("Time until a requested delivery receipt is sent."),
)
@click.option(
    "--alphabet",
    type=click.Choice(["gsm7", "latin1", "ascii"]),
    default="gsm7",
    show_default=True,
    help=_("What data_coding 0 means here (Jasmin and many SMSCs: latin1)."),
)
@click.pass_context
def smsc(
    ctx: click.Context,
    host: str,
    port: int,
    accounts: tuple[str, ...],
    directory: str,
    receipt_delay_ms: int,
    alphabet: str,
) -> None:
    """Run an SMPP 3.4 SMSC emulator until Ctrl+C or SIGTERM.

    Every submit_sm it accepts is appended, decoded, to DIR/submits.jsonl; receipts follow
    after --receipt-delay-ms; a deliver_sm not acknowledged is delivered again at the next bind.
    Point an SMPP link of config.toml ([modems.NAME]) at it, or Kannel, or any SMPP client.

    \b
    Example:
        smsd smsc --port 2775 --account county_a:secret:1069000101
        smsd smsc text --from +8613800000001 --to 1069000101 "TP 2"
    """
    if ctx.invoked_subcommand is not None:
        return
    folder = Path(directory)
    server = Smsc(
        host,
        port,
        _accounts(accounts),
        log_path=folder / "submits.jsonl",
        receipt_delay_ms=receipt_delay_ms,
        alphabet=alphabet,
    )
    control = ControlServer(folder, server.handle, "smsc")

    def banner() -> Iterator[str]:
        yield _("SMPP on {host}:{port}").format(host=host, port=server.port)
        for acc in server.accounts.values():
            yield _("account {id} number {number}").format(id=acc.system_id, number=acc.number or "-")
        yield _("submit log: {path}").format(path=folder / "submits.jsonl")
        yield _("control socket: {path}").format(path=control.path)

    cannot_start = _("cannot start the SMSC emulator on {host}:{port}: {err}").format(host=host, port=port, err="{err}")
    serve(server, control, cannot_start, banner)


def _send(directory: str, payload: dict[str, Any]) -> Any:
    return ask(directory, payload, "SMSC emulator")


@smsc.command("text")
@click.option("--dir", "directory", default="run/smsc", show_default=True, help=_("The emulator's directory."))
@click.option("--from", "sender", required=True, help=_("The member's number."))
@click.option("--to", default="", help=_("The number it was sent to (picks the account by its NUMBER)."))
@click.option("--account", default="", help=_("The account that receives it (instead of --to)."))
@click.option(
    "--carry",
    type=click.Choice(["udh", "sar", "payload"]),
    default="udh",
    show_default=True,
    help=_("A long text as UDH parts, as parts with the sar_ TLVs, or whole in message_payload."),
)
@click.argument("text")
def smsc_text(directory: str, sender: str, to: str, account: str, carry: str, text: str) -> None:
    """Deliver an MO message (a member's SMS) to a bound client.

    \b
    Example:
        smsd smsc text --from +8613800000001 --to 1069000101 "TP 2"
        smsd smsc text --from +8613800000001 --carry payload "同意，……（128 个字）"
    """
    payload = {"op": "text", "from": sender, "to": to, "account": account, "text": text, "carry": carry}
    result = _send(directory, payload)
    click.echo(_("queued in {n} part(s)").format(n=result["parts"]))


@smsc.command("fault")
@click.option("--dir", "directory", default="run/smsc", show_default=True, help=_("The emulator's directory."))
@click.argument("name", type=click.Choice(sorted(FAULTS)))
@click.argument("values", nargs=-1)
def smsc_fault(directory: str, name: str, values: tuple[str, ...]) -> None:
    """Inject a fault into a running SMSC emulator.

    \b
    Faults and their values:
        throttle COUNT         the next COUNT submits get ESME_RTHROTTLED
        queue_full COUNT       the next COUNT submits get ESME_RMSGQFUL
        status COUNT CODE      the next COUNT submits get status CODE (0x0B: bad number, 0x08: over quota)
        no_response COUNT      the next COUNT submits are taken but never answered
        drop                   close every connection now
        down 1|0               close everything and refuse connections / come back
        refuse_binds 1|0       refuse binds / accept them again
        receipt_stat STAT      stat of the next receipts (DELIVRD, UNDELIV)
        receipt_delay_ms MS    time until a receipt is sent
        lose_ack COUNT         the next COUNT deliver_sm_resp are lost: the deliver_sm comes again
        receipt_id FORM        tlv (receipted_message_id), decimal or hex (the id in the receipt's text only)

    \b
    Example:
        smsd smsc fault throttle 5
    """
    value: Any = None
    if len(values) == 1:
        value = values[0]
    elif len(values) > 1:
        value = list(values)
    _send(directory, {"op": "fault", "name": name, "value": value})
    click.echo(_("fault {name} applied").format(name=name))


@smsc.command("status")
@click.option("--dir", "directory", default="run/smsc", show_default=True, help=_("The emulator's directory."))
def smsc_status(directory: str) -> None:
    """Show the SMSC emulator's sessions, counters and faults as JSON.

    \b
    Example:
        smsd smsc status
    """
    click.echo(json.dumps(_send(directory, {"op": "status"}), ensure_ascii=False, indent=2))
