"""config.toml: one schema (name, type, default, help), parsed with tomllib into frozen dataclasses.

Unknown keys, wrong types and impossible values fail with a ConfigError that names the key,
the file and what to do. Nothing falls back silently to a default on a typo.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smsd.errors import ConfigError
from smsd.i18n import _
from smsd.pacing import Pacing, parse_quiet
from smsd.settings import ModemConfig, between, opt, positive, price, priority, seconds, tcp_port
from smsd.transport.registry import KINDS, kind

ENV_VAR = "SMSD_CONFIG"
DEFAULT_PATH = "config.toml"
SYSTEM_PATH = "/etc/smsd/config.toml"


_between, _positive, _price, _priority, _tcp_port, _seconds = between, positive, price, priority, tcp_port, seconds


def _hhmm_range(v: str) -> str | None:
    if v == "" or re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", v):
        return None
    return _('must look like "21:00-08:00" (or "" for none)')


@dataclass(frozen=True)
class DaemonConfig:
    database: str = opt("run/smsd.db", "SQLite database file (relative paths are relative to this file).")
    log_level: str = opt("info", "Log level on stderr.", choices=("debug", "info", "warning", "error"))
    log_privacy: bool = opt(True, "Mask phone numbers (138****8000) and message text in logs.")
    timezone: str = opt("Asia/Shanghai", "Time zone for display, quiet hours and month boundaries.")
    poll_ms: int = opt(
        1000,
        "How often the daemon looks for work written by other programs (ms); smsd's own CLI and API wake it at once.",
        _positive,
    )
    language: str = opt(
        "",
        'Language of the command line and its errors: "zh_CN" or "en"; "" follows the environment (LANG).',
        choices=("", "zh_CN", "en"),
    )
    templates_dir: str = opt(
        "",
        "Folder of your own templates (NAME.txt with ${placeholders}) that override the shipped ones file by "
        "file; empty: the shipped templates.",
    )
    group_commit: bool = opt(
        True,
        "Commit the daemon's state changes in shared transactions: each caller still goes on only after the "
        "commit that holds its change, and one fsync covers many (false: one commit each).",
    )


@dataclass(frozen=True)
class SendingConfig:
    status_reports: bool = opt(True, "Ask the network for a delivery report of every part.")
    validity_hours: int = opt(
        24, "How long the network keeps trying to deliver (TP-VP; 1 to 10,584 hours).", _between(1, 10_584)
    )
    expire_hours: int = opt(
        72, "A message still queued this long after its send time expires (1 to 8,760).", _between(1, 8_760)
    )
    max_attempts: int = opt(5, "Tries per message before it fails (transient errors only; 1 to 100).", _between(1, 100))
    retry_backoff_s: int = opt(30, "Wait before the first retry; doubles each time (1 to 3,600).", _between(1, 3_600))
    lease_s: int = opt(
        300, "A claimed message not finished by then returns to the queue (60 to 86,400).", _between(60, 86_400)
    )
    repin_after_s: int = opt(
        3600,
        "A multipart message half-sent on a modem that stays down this long is "
        "resent whole on another modem (flagged possible duplicate).",
        _between(60, 30 * 86_400),
    )
    default_priority: int = opt(5, "Priority of `smsd send` (0-9, higher first); replies use 9.", _priority)
    broadcast_priority: int = opt(3, "Priority of broadcast messages (below single sends and replies).", _priority)
    quiet_hours: str = opt("21:00-08:00", "Local hours when non-urgent messages wait ('' for none).", _hhmm_range)
    seconds_per_segment: float = opt(
        4.0, "Submit time of one segment, for ETAs (real modems: 2-6 s).", _between(0, 600, open_low=True)
    )
    international: bool = opt(
        False, "Allow numbers abroad (not +86); each modem then needs its international_price_fen."
    )


@dataclass(frozen=True)
class EmulatorConfig:
    dir: str = opt("run/sim", "Where the built-in emulator puts its ptys, sent logs and control socket.")
    profile: str = opt(
        "generic", "Dialect of the emulated modems.", choices=("generic", "huawei", "wavecom", "simcom", "quectel")
    )
    send_delay_ms: int = opt(
        3000, "Time the emulated network takes per submit (real: 2000-6000).", _between(0, 600_000)
    )
    command_delay_ms: int = opt(20, "Time the emulated modem takes per command.", _between(0, 60_000))
    status_report_delay_ms: int = opt(5000, "Time until an emulated delivery report arrives.", _between(0, 86_400_000))


def _hhmm(v: str) -> str | None:
    return None if re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v) else _('must look like "08:30"')


@dataclass(frozen=True)
class AnniversaryConfig:
    enabled: bool = opt(True, "Greet each member on the anniversary of joining (入党纪念日).")
    time: str = opt("08:30", "Local time of the morning job that queues the day's greetings.", _hhmm)
    template: str = opt("anniversary", "Template of the greeting (templates/anniversary.txt).")


@dataclass(frozen=True)
class CommandsConfig:
    answer_strangers: bool = opt(
        True,
        "Answer numbers outside the roster with the commands that allow it "
        "(help, TD, DY); false: store their SMS and stay silent.",
    )
    replies_per_hour: int = opt(5, "At most this many automatic replies to one number per hour.", _positive)
    loop_limit: int = opt(
        3,
        "Text no command accepts, more often than this in an hour from one number (the same text, "
        "or any text within 60 s of our SMS), flags it as an auto-responder: no more replies.",
        _positive,
    )
    reply_account: str = opt("replies", "The account that replies to members are billed to.")
    stranger_replies_per_hour: int = opt(
        30, "At most this many automatic replies an hour to all numbers outside the roster together.", _positive
    )


@dataclass(frozen=True)
class AccountsConfig:
    lock_after: int = opt(5, "Wrong passwords in a row that lock an account (1 to 100).", _between(1, 100))
    lock_minutes: int = opt(30, "How long a locked account stays locked (1 to 1,440 minutes).", _between(1, 1440))
    password_min_length: int = opt(
        8, "A password's least length (it also needs three of: lower, upper, digits, punctuation).", _between(8, 128)
    )
    password_days: int = opt(90, "A password must be changed after this many days (0: never).", _between(0, 3650))
    idle_minutes: int = opt(30, "A session unused this long ends (1 to 1,440 minutes).", _between(1, 1440))
    session_hours: int = opt(
        12, "A session ends this long after its login, used or not (1 to 720 hours).", _between(1, 720)
    )
    second_factor: bool = opt(False, "After the password, a one-time code by SMS to the account's phone.")
    code_minutes: int = opt(5, "How long a login code is good for (1 to 60 minutes).", _between(1, 60))
    codes_per_hour: int = opt(5, "Login codes an account may be sent in an hour (1 to 60).", _between(1, 60))


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = opt(False, "Serve the web console at /ui/ (on [http]'s host and port).")
    max_upload_bytes: int = opt(
        10 * 1024 * 1024,
        "A roster uploaded in the console larger than this is refused.",
        _between(1024, 200 * 1024 * 1024),
    )


@dataclass(frozen=True)
class ApprovalConfig:
    operators: bool = opt(False, "Every broadcast by an operator waits for an approver (待审批).")
    over_recipients: int = opt(
        0, "A broadcast to more members than this waits for an approver (0: no such rule).", _between(0, 10_000_000)
    )
    over_fen: int = opt(
        0, "A broadcast costing more than this (fen) waits for an approver (0: no such rule).", _between(0, 10**12)
    )
    by_sms: bool = opt(False, "Approvers may answer by SMS from their account's phone: SP 12 同意 / SP 12 不同意 理由.")


@dataclass(frozen=True)
class HttpConfig:
    enabled: bool = opt(False, "Serve the local HTTP API (and the Kannel-compatible /cgi-bin/sendsms).")
    host: str = opt("127.0.0.1", "Address to listen on; keep 127.0.0.1 unless a firewall protects the box.")
    port: int = opt(13013, "TCP port (13013 is Kannel's sendsms port: old clients only change the host).", _tcp_port)
    tls_cert: str = opt(
        "", "A PEM certificate (with its chain): the server speaks HTTPS itself (the console on the LAN)."
    )
    tls_key: str = opt("", "The certificate's PEM private key (readable by smsd only).")
    max_body_bytes: int = opt(262144, "Larger request bodies are refused with 413.", _between(1024, 64 * 1024 * 1024))
    webhook_backoff_s: float = opt(
        5.0, "First retry of a failed webhook delivery; doubles up to an hour.", _between(0, 3_600, open_low=True)
    )


@dataclass(frozen=True)
class HttpClient:
    name: str = opt("", "The client's name (the table's key); appears in the event log.")
    token_sha256: str = opt("", "SHA-256 (hex) of the client's token; `smsd http token NAME` makes both.")
    org: str = opt("", "The org unit its messages are billed to.")
    rate_per_minute: int = opt(
        120, "Messages (and requests) a minute before 429: a batch of 50 counts as 50.", _positive
    )
    kannel_username: str = opt(
        "", "username= for /cgi-bin/sendsms (default: the client's name); the password is the token."
    )
    inbound: str = opt(
        "",
        "Inbound SMS this client may read at /v1/inbound: command names (vote, receipt, red, feedback), "
        "'unhandled' (text no command took), or '*' (all); comma-separated; empty: none.",
        lambda v: (
            None
            if re.fullmatch(r"\s*(\*|[a-z_]+(\s*,\s*[a-z_]+)*)?\s*", v)
            else "must be command names separated by commas, or *"
        ),
    )

    @property
    def inbound_grant(self) -> tuple[str, ...]:
        return tuple(x.strip() for x in self.inbound.split(",") if x.strip())


@dataclass(frozen=True)
class Forward:
    name: str = opt("", "The forward's name (the table's key).")
    keyword: str = opt("*", "Forward inbound SMS with this keyword (e.g. TP), or * for everything unhandled.")
    url: str = opt("", "Where to POST the JSON (http://...).")
    secret: str = opt("", "HMAC-SHA256 key; the signature goes in the X-Smsd-Signature header.")


@dataclass(frozen=True)
class Config:
    path: Path
    daemon: DaemonConfig
    sending: SendingConfig
    emulator: EmulatorConfig
    modems: tuple[ModemConfig, ...]
    anniversary: AnniversaryConfig = AnniversaryConfig()
    commands: CommandsConfig = CommandsConfig()
    aliases: dict[str, list[str]] = field(default_factory=dict)
    http: HttpConfig = HttpConfig()
    http_clients: tuple[HttpClient, ...] = ()
    forwards: tuple[Forward, ...] = ()
    accounts: AccountsConfig = AccountsConfig()
    approval: ApprovalConfig = ApprovalConfig()
    web: WebConfig = WebConfig()

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.path.parent / p)

    @property
    def database(self) -> Path:
        return self.resolve(self.daemon.database)

    @property
    def templates_dir(self) -> Path | None:
        return self.resolve(self.daemon.templates_dir) if self.daemon.templates_dir else None

    def pacing(self, modem: ModemConfig) -> Pacing:
        return Pacing(
            parse_quiet(self.sending.quiet_hours), modem.hourly_cap, modem.daily_cap, ZoneInfo(self.daemon.timezone)
        )

    def modem(self, name: str) -> ModemConfig:
        for m in self.modems:
            if m.name == name:
                return m
        raise ConfigError("{path}: no modem named {name!r}", path=self.path, name=name)


SECTIONS: dict[str, type] = {
    "daemon": DaemonConfig,
    "sending": SendingConfig,
    "emulator": EmulatorConfig,
    "anniversary": AnniversaryConfig,
    "commands": CommandsConfig,
    "http": HttpConfig,
    "accounts": AccountsConfig,
    "approval": ApprovalConfig,
    "web": WebConfig,
}


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def config_path(given: str | None = None) -> Path:
    """--config, else $SMSD_CONFIG, else /etc/smsd/config.toml on an installed box, else ./config.toml."""
    if given or os.environ.get(ENV_VAR):
        return Path(given or os.environ[ENV_VAR])
    system = Path(SYSTEM_PATH)
    return system if system.is_file() else Path(DEFAULT_PATH)


def _text_of(p: Path) -> str:
    """The file as text: UTF-8, with or without the BOM Windows Notepad adds. GBK is refused
    with the way out (the file would otherwise fail on its first Chinese character)."""
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        raise ConfigError("{path}: not a text file in UTF-8", path=p) from None
    raise ConfigError(
        "{path}: saved in GBK (ANSI), not UTF-8; open it in Notepad, choose Save As and Encoding UTF-8", path=p
    )


FULL_WIDTH = "“”‘’＝【】［］：，（）"  # what a Chinese input method types for " = [ ] : , ( )


def _toml_line(exc: tomllib.TOMLDecodeError) -> int:
    m = re.search(r"at line (\d+)", str(exc))
    return int(m.group(1)) if m else 0


def _shown_line(p: Path, line: int) -> str:
    try:
        text = p.read_bytes().decode("utf-8-sig").splitlines()[line - 1].strip()
    except (OSError, UnicodeDecodeError, IndexError):
        return ""
    return f": {text[:80]}" if text else ""


def load(path: str | Path | None = None) -> Config:
    """Read and check a config file; every problem is a ConfigError of one line."""
    p = config_path(str(path) if path else None)
    try:
        raw = tomllib.loads(_text_of(p))
    except FileNotFoundError:
        raise ConfigError(
            "{path}: config file not found (pass --config or set {ENV_VAR})", path=p, ENV_VAR=ENV_VAR
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            "{path}: cannot read config file: {value}", path=p, value=getattr(exc, "strerror", None) or exc
        ) from None
    except tomllib.TOMLDecodeError as exc:
        shown = _shown_line(p, _toml_line(exc))
        wide = "".join(dict.fromkeys(ch for ch in shown if ch in FULL_WIDTH))
        if wide:
            raise ConfigError(
                "{path}: not valid TOML at line {line}{shown}: {chars} were typed by a Chinese input method; "
                'type quotes, = and brackets in English mode ("..." and [...])',
                path=p,
                line=_toml_line(exc),
                shown=shown,
                chars=" ".join(wide),
            ) from None
        raise ConfigError(
            "{path}: not valid TOML at line {line}: {error}{shown}",
            path=p,
            line=_toml_line(exc),
            error=str(exc).split(" (at line")[0],
            shown=shown,
        ) from None
    return parse(raw, p.resolve())


def parse(raw: dict[str, Any], path: Path) -> Config:
    known = set(SECTIONS) | {"modems"}
    for key in raw:
        if key not in known:
            raise ConfigError(
                "{path}: unknown section [{key}]; known: {known}", path=path, key=key, known=", ".join(sorted(known))
            )
    commands_raw = dict(raw.get("commands", {})) if isinstance(raw.get("commands", {}), dict) else raw["commands"]
    aliases = _aliases(commands_raw.pop("aliases", {}), path) if isinstance(commands_raw, dict) else {}
    raw = {**raw, "commands": commands_raw}
    http_raw = dict(raw.get("http", {})) if isinstance(raw.get("http", {}), dict) else raw["http"]
    clients: tuple[HttpClient, ...] = ()
    forwards: tuple[Forward, ...] = ()
    if isinstance(http_raw, dict):
        clients = _named(HttpClient, http_raw.pop("clients", {}), path, "http.clients")
        forwards = _named(Forward, http_raw.pop("forwards", {}), path, "http.forwards")
        raw = {**raw, "http": http_raw}
    for c in clients:
        if not re.fullmatch(r"[0-9a-f]{64}", c.token_sha256):
            raise ConfigError(
                "{path}: token_sha256 in [http.clients.{name}] must be 64 hex digits (make one "
                "with `smsd http token {name}`)",
                path=path,
                name=c.name,
            )
    for f in forwards:
        if not f.url.startswith(("http://", "https://")):
            raise ConfigError(
                "{path}: url in [http.forwards.{name}] must start with http:// or https://", path=path, name=f.name
            )
    sections = {name: _build(cls, raw.get(name, {}), path, name) for name, cls in SECTIONS.items()}
    modems_raw = raw.get("modems", {})
    if not isinstance(modems_raw, dict):
        raise ConfigError("{path}: modems must be tables like [modems.m1]", path=path)
    modems = []
    for name, table in modems_raw.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name):
            raise ConfigError("{path}: modem name {name!r} may use letters, digits, - and _ only", path=path, name=name)
        if not isinstance(table, dict):
            raise ConfigError("{path}: [modems.{name}] must be a table", path=path, name=name)
        if "name" in table:
            raise ConfigError(
                "{path}: [modems.{name}] must not set name; the table key is the name", path=path, name=name
            )
        m = modem_config(name, table, path)
        modems.append(m)
    if not modems:
        raise ConfigError('{path}: no modems; add a table like [modems.m1] with port = "emulator"', path=path)
    ports = [d for d in (kind(m.kind).device(m) for m in modems) if d]
    dup = {x for x in ports if ports.count(x) > 1}
    if dup:
        raise ConfigError("{path}: port {dup} is used by two modems", path=path, dup=sorted(dup)[0])
    folder = sections["daemon"].templates_dir
    if folder and not (path.parent / Path(folder).expanduser()).is_dir():
        raise ConfigError(
            "{path}: templates_dir {folder!r} is not a folder (create it with your own "
            'templates, or set templates_dir = "" for the shipped ones)',
            path=path,
            folder=folder,
        )
    if sections["sending"].international:
        unpriced = [m.name for m in modems if m.international_price_fen <= 0]
        if unpriced:
            raise ConfigError(
                "{path}: international = true in [sending] needs international_price_fen (fen per "
                "segment abroad) in [modems.{unpriced}]",
                path=path,
                unpriced=unpriced[0],
            )
    web_tls = sections["http"]
    if bool(web_tls.tls_cert) != bool(web_tls.tls_key):
        raise ConfigError("{path}: [http] needs both tls_cert and tls_key, or neither", path=path)
    for name in ("tls_cert", "tls_key"):
        given = getattr(web_tls, name)
        if given and not (path.parent / Path(given).expanduser()).is_file():
            raise ConfigError("{path}: [http] {key} = {file!r} is not a file", path=path, key=name, file=given)
    if sections["web"].enabled and not web_tls.tls_cert and not _loopback(web_tls.host):
        raise ConfigError(
            "{path}: [web] on {host} would send passwords in clear: set tls_cert and tls_key in [http], or keep "
            'host = "127.0.0.1" behind the reverse proxy (README)',
            path=path,
            host=web_tls.host,
        )
    try:
        ZoneInfo(sections["daemon"].timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            "{path}: timezone in [daemon] is not a known time zone (e.g. Asia/Shanghai)", path=path
        ) from None
    return Config(
        path,
        sections["daemon"],
        sections["sending"],
        sections["emulator"],
        tuple(modems),
        sections["anniversary"],
        sections["commands"],
        aliases,
        sections["http"],
        clients,
        forwards,
        sections["accounts"],
        sections["approval"],
        sections["web"],
    )


MODEM_KEYS = {f.name for f in dataclasses.fields(ModemConfig) if not f.metadata.get("internal")}
MODEM_DEFAULT_KIND = next(f.default for f in dataclasses.fields(ModemConfig) if f.name == "kind")


def modem_config(name: str, table: dict[str, Any] | None = None, path: Path = Path("config.toml")) -> ModemConfig:
    """A [modems.NAME] table: the shared keys checked against ModemConfig, the rest against its
    kind's own settings (a key of another kind is unknown here), then the kind's own checks."""
    table = dict(table or {})
    where = f"modems.{name}"
    name_of = table.get("kind", MODEM_DEFAULT_KIND)
    if name_of not in KINDS:
        raise ConfigError(
            "{path}: kind in [{where}] must be one of {choices}, not {value!r}",
            path=path,
            where=where,
            choices=", ".join(f'"{c}"' for c in KINDS),
            value=name_of,
        )
    k = kind(name_of)
    own = {f.name for f in dataclasses.fields(k.settings)}
    shared = {key: v for key, v in table.items() if key in MODEM_KEYS}
    rest = {key: v for key, v in table.items() if key not in MODEM_KEYS}
    for key in rest:
        if key not in own:
            hint = _closest(key, {**dict.fromkeys(MODEM_KEYS - {"name"}), **dict.fromkeys(own)})
            other = next((n for n in KINDS if n != name_of and key in _kind_keys(n)), None)
            if other:
                raise ConfigError(
                    '{path}: {key!r} in [{where}] is a key of kind = "{other}", and this modem is kind = "{kind}"',
                    path=path,
                    key=key,
                    where=where,
                    other=other,
                    kind=name_of,
                )
            _unknown(key, hint, path, where)
    settings = _build(k.settings, rest, path, where)
    shared_part = _build(ModemConfig, {**k.defaults, **shared, "name": name}, path, where)
    m: ModemConfig = dataclasses.replace(shared_part, settings=settings)
    for template, values in k.check(m):
        raise ConfigError(template, path=path, name=name, **values)
    return m


def _kind_keys(name: str) -> set[str]:
    return {f.name for f in dataclasses.fields(kind(name).settings)}


def _named(cls: type, table: Any, path: Path, where: str) -> tuple[Any, ...]:
    """[where.NAME] tables of one kind, each checked against cls's schema."""
    if not isinstance(table, dict):
        raise ConfigError("{path}: [{where}] must hold tables like [{where}.NAME]", path=path, where=where)
    out = []
    for name, sub in table.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise ConfigError(
                "{path}: the name {name!r} in [{where}] may use letters, digits, '.', '-' and '_' only",
                path=path,
                name=name,
                where=where,
            )
        if not isinstance(sub, dict):
            raise ConfigError("{path}: [{where}.{name}] must be a table", path=path, where=where, name=name)
        if "name" in sub:
            raise ConfigError(
                "{path}: [{where}.{name}] must not set name; the table key is the name",
                path=path,
                where=where,
                name=name,
            )
        out.append(_build(cls, {**sub, "name": name}, path, f"{where}.{name}"))
    return tuple(out)


def _aliases(table: Any, path: Path) -> dict[str, list[str]]:
    """[commands.aliases]: command name -> extra keywords, e.g. vote = ["TOUPIAO"]."""
    if not isinstance(table, dict):
        raise ConfigError('{path}: [commands.aliases] must be a table like vote = ["TOUPIAO"]', path=path)
    for name, words in table.items():
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise ConfigError(
                '{path}: {name!r} in [commands.aliases] must be a list of keywords, like ["TOUPIAO"]',
                path=path,
                name=name,
            )
    return {k: list(v) for k, v in table.items()}


def _build(cls: type, table: Any, path: Path, where: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError("{path}: [{where}] must be a table", path=path, where=where)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in fields:
            _unknown(key, _closest(key, fields), path, where)
        f = fields[key]
        values[key] = _check(f, value, path, where)
    return cls(**values)


def _unknown(key: str, hint: str | None, path: Path, where: str) -> NoReturn:
    if hint:
        raise ConfigError(
            "{path}: unknown key {key!r} in [{where}]; did you mean {hint!r}?",
            path=path,
            key=key,
            where=where,
            hint=hint,
        )
    raise ConfigError("{path}: unknown key {key!r} in [{where}]", path=path, key=key, where=where)


def _check(f: dataclasses.Field[Any], value: Any, path: Path, where: str) -> Any:
    want = type(f.default)
    ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        names = {bool: _("true or false"), int: _("a whole number"), float: _("a number"), str: _("a quoted string")}
        raise ConfigError(
            "{path}: {name} in [{where}] must be {get}, not {value!r}",
            path=path,
            name=f.name,
            where=where,
            get=names.get(want, want.__name__),
            value=value,
        )
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(
            "{path}: {name} in [{where}] must be one of {choices}, not {value!r}",
            path=path,
            name=f.name,
            where=where,
            choices=", ".join(f'"{c}"' for c in choices),
            value=value,
        )
    check = f.metadata.get("check")
    problem = check(value) if check else None
    if problem:
        raise ConfigError(
            "{path}: {name} in [{where}] {problem} (got {value!r})",
            path=path,
            name=f.name,
            where=where,
            problem=problem,
            value=value,
        )
    return value


def _closest(key: str, options: dict[str, Any]) -> str | None:
    import difflib

    found = difflib.get_close_matches(key, list(options), n=1)
    return found[0] if found else None


def documented_keys() -> dict[str, list[str]]:
    """Every key of every section, for the test that checks config.toml documents them all."""
    out = {name: [f.name for f in dataclasses.fields(cls)] for name, cls in SECTIONS.items()}
    out["modems.*"] = [f.name for f in dataclasses.fields(ModemConfig) if f.name != "name" and f.name in MODEM_KEYS]
    out["modems.*"] += [key for n in KINDS for key in sorted(_kind_keys(n)) if key not in out["modems.*"]]
    out["http.clients.*"] = [f.name for f in dataclasses.fields(HttpClient) if f.name != "name"]
    out["http.forwards.*"] = [f.name for f in dataclasses.fields(Forward) if f.name != "name"]
    return out
