"""What every command shares: --config, error handling, tables and JSON."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from smsd import config as configmod
from smsd import notes
from smsd.config import Config
from smsd.errors import NotAllowed, SmsdError
from smsd.i18n import _
from smsd.kick import kick
from smsd.roles import Actor
from smsd.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        envvar=configmod.ENV_VAR,
        default=None,
        type=click.Path(dir_okay=False),
        help=_(
            "Configuration file (or set SMSD_CONFIG; default /etc/smsd/config.toml if it exists, else ./config.toml)."
        ),
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help=_("Print JSON instead of a table."))(f)


# The option an error's field names, so the admin sees which flag to fix (the HTTP API names
# the JSON field instead; neither parses the text).
OPTION_OF = {
    "at": "--at",
    "priority": "--priority",
    "by": "--by",
    "closes": "--closes",
    "option": "--option",
    "reason": "--reason",
}


def acting(store: Store) -> Actor:
    """Who this command acts as: the account of `smsd --as LOGIN`, else the box's administrator
    (named in the audit trail by the OS user)."""
    import getpass

    from smsd.actions import accounts
    from smsd.roles import root

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "?"
    ctx = click.get_current_context(silent=True)
    login = ctx.find_root().params.get("as_login") if ctx is not None else None
    actor = accounts.acting(store, login, source=who) if login else root(source=who)
    if ctx is not None:  # a refusal of this command is audited with its actor (see handled)
        ctx.meta["smsd.actor"], ctx.meta["smsd.database"] = actor, store.path
    return actor


def _audit_refusal(exc: NotAllowed) -> None:
    ctx = click.get_current_context(silent=True)
    if ctx is None or "smsd.actor" not in ctx.meta:
        return
    from smsd.actions.scope import refused

    names, at = [], ctx
    while at.parent is not None:  # the command as typed, whatever the program was called
        names.append(at.info_name or "")
        at = at.parent
    command = " ".join(["smsd", *reversed(names)])
    with Store(ctx.meta["smsd.database"]) as store:
        refused(store, ctx.meta["smsd.actor"], f"`{command}`", exc)


@contextmanager
def handled() -> Iterator[None]:
    """A domain error becomes one line on stderr and exit code 1; never a traceback."""
    try:
        yield
    except NotAllowed as exc:
        _audit_refusal(exc)
        flag = OPTION_OF.get(exc.field or "")
        raise click.ClickException(f"{flag}: {exc}" if flag else str(exc)) from None
    except SmsdError as exc:
        flag = OPTION_OF.get(exc.field or "")
        raise click.ClickException(f"{flag}: {exc}" if flag else str(exc)) from None


def load(config_path: str) -> Config:
    with handled():
        return configmod.load(config_path)


def open_store(cfg: Config) -> Store:
    """The database; closing it wakes a running daemon (new work is picked up at once)."""
    with handled():
        return Store(cfg.database, on_close=lambda: kick(cfg.database))


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit(text: str, width: int) -> str:
    if _width(text) <= width:
        return text + " " * (width - _width(text))
    out, used = "", 0
    for ch in text:
        w = _width(ch)
        if used + w > width - 1:
            break
        out, used = out + ch, used + w
    return out + "…" + " " * (width - used - 1)


def shown(code: str | None) -> str:
    """A state or kind code (queued, delivered, vote, ...) as the admin reads it; JSON keeps codes."""
    return notes.state(code)


def shown_actor(actor: str | None) -> str:
    """Who did it, as the admin reads it: 命令行, 短信猫 m1, 守护进程, 接口 edu-platform, ..."""
    return notes.actor(actor)


YES = ("是", "是的", "好", "确认", "确定", "y", "yes", "s")
NO = ("否", "不", "不是", "取消", "n", "no", "")


def ask_yes(question: str) -> None:
    """Ask yes or no on the terminal (是/否, or y/n); anything but yes stops the command."""
    while True:
        answer = click.prompt(
            f"{question} [{_('yes')}/{_('no')}]", default="", show_default=False, prompt_suffix=" "
        ).strip()
        low = answer.lower()
        if low in YES or answer == _("yes"):
            return
        if low in NO or answer == _("no"):
            raise click.Abort()
        click.echo(_("answer {yes} or {no}").format(yes=_("yes"), no=_("no")), err=True)


def pad(text: str, width: int) -> str:
    """text and spaces to `width` columns (CJK counts double)."""
    return text + " " * max(0, width - _width(text))


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str, int]]) -> None:
    """Print rows as an aligned table; columns are (key, heading, max width); CJK counts double."""
    if not rows:
        click.echo(_("(nothing)"))
        return
    cells = [[("" if r.get(k) is None else str(r.get(k))).replace("\n", " ") for k, _h, _w in columns] for r in rows]
    widths = [min(w, max([_width(h)] + [_width(c[i]) for c in cells])) for i, (_k, h, w) in enumerate(columns)]
    click.echo("  ".join(_fit(h, widths[i]) for i, (_k, h, _w) in enumerate(columns)).rstrip())
    for c in cells:
        click.echo("  ".join(_fit(v, widths[i]) for i, v in enumerate(c)).rstrip())


PHONE_FIELDS = ("to_number", "sender", "phone", "recipient", "dedup_key")


def unmask_option(f: F) -> F:
    return click.option("--unmask", is_flag=True, help=_("Show full phone numbers."))(f)


def masked(data: Any, unmask: bool) -> Any:
    """Phone numbers masked (138****8000) in rows, views and nested lists, unless --unmask."""
    if unmask:
        return data
    if isinstance(data, list):
        return [masked(x, unmask) for x in data]
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if k in PHONE_FIELDS and isinstance(v, str) and v:
                out[k] = _mask_text(v)
            else:
                out[k] = masked(v, unmask) if isinstance(v, (list, dict)) else v
        return out
    return data


def _mask_text(value: str) -> str:
    """A number, or a key that holds one (campaign:3:+8613800138000), masked."""
    import re

    from smsd.phone import mask

    if re.fullmatch(r"\+?\d{7,15}", value):
        return mask(value)
    return re.sub(r"\+?\d{11,15}", lambda m: mask(m.group(0)), value)
