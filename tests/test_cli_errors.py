"""Bad input at the CLI: one line on stderr, a non-zero exit, no traceback, nothing changed."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from smsd.cli import main
from smsd.store import Store
from tests.conftest import write_config


def snapshot(db: Path) -> list:
    """Every row of every table: what 'the database is unchanged' means."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return [(t, sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"').fetchall()))) for t in tables]
    finally:
        conn.close()


@pytest.fixture
def setup(tmp_path):
    config = write_config(tmp_path, {"m1": "emulator"})
    with Store(tmp_path / "smsd.db") as s:
        s.outbox.enqueue("+8613800138000", "already here")
        mid = s.outbox.enqueue("+8613800138001", "sending now")
        s.claims.claim_next("m1")
    bad = tmp_path / "bad"
    bad.mkdir()
    return tmp_path, config, bad, mid


def _bad_config(bad: Path, name: str, text: str) -> str:
    p = bad / f"{name}.toml"
    p.write_text(text)
    return str(p)


BASE = '[daemon]\ndatabase = "../smsd.db"\n'
MODEM = '[modems.m1]\nport = "emulator"\n'

CASES = [
    # (id, args builder, expected fragment of the one-line error)
    ("number letters", lambda c, b: ["send", "hello", "x"], "not a phone number"),
    ("number too short", lambda c, b: ["send", "12345", "x"], "not a Chinese mobile number"),
    ("number landline", lambda c, b: ["send", "+861012345678", "x"], "not a Chinese mobile number"),
    ("number service", lambda c, b: ["send", "10086", "x"], "not a Chinese mobile number"),
    ("number 12 digits", lambda c, b: ["send", "138001380001", "x"], "not a Chinese mobile number"),
    ("empty text", lambda c, b: ["send", "13800138000", "   "], "text is empty"),
    ("text too long", lambda c, b: ["send", "13800138000", "长" * 700], "segments; the limit is 10"),
    ("bad --at", lambda c, b: ["send", "13800138000", "x", "--at", "tomorrow"], "--at: time 'tomorrow'"),
    ("--at in the past", lambda c, b: ["send", "13800138000", "x", "--at", "2020-01-01 08:00"], "in the past"),
    ("report month 13", lambda c, b: ["report", "cost", "--from", "2026-13-01"], "--from: date '2026-13-01'"),
    ("report day 30 Feb", lambda c, b: ["report", "cost", "--to", "2026-02-30"], "does not exist"),
    ("bad priority", lambda c, b: ["send", "13800138000", "x", "--priority", "12"], "use 0 (lowest) to 9"),
    ("unknown message show", lambda c, b: ["outbox", "show", "999"], "no message with id 999"),
    ("unknown message cancel", lambda c, b: ["outbox", "cancel", "999"], "no message with id 999"),
    ("unknown message retry", lambda c, b: ["outbox", "retry", "999"], "no message with id 999"),
    ("cancel while sending", lambda c, b: ["outbox", "cancel", "1"], "a modem is sending it"),
    ("retry a queued one", lambda c, b: ["outbox", "retry", "2"], "only failed, expired or cancelled"),
    ("config missing", lambda c, b: ["status", "--config", str(b / "nope.toml")], "config file not found"),
    ("config not toml", lambda c, b: ["status", "--config", _bad_config(b, "t", "[daemon\n")], "not valid TOML"),
    (
        "config unknown section",
        lambda c, b: ["status", "--config", _bad_config(b, "s", BASE + MODEM + "[mail]\n")],
        "unknown section [mail]",
    ),
    (
        "config unknown key",
        lambda c, b: ["status", "--config", _bad_config(b, "k", BASE + 'databse = "x"\n' + MODEM)],
        "unknown key 'databse' in [daemon]; did you mean 'database'?",
    ),
    (
        "config wrong type",
        lambda c, b: ["status", "--config", _bad_config(b, "w", BASE + 'poll_ms = "fast"\n' + MODEM)],
        "poll_ms in [daemon] must be a whole number",
    ),
    (
        "config bad choice",
        lambda c, b: ["status", "--config", _bad_config(b, "l", BASE + 'log_level = "loud"\n' + MODEM)],
        "log_level in [daemon] must be one of",
    ),
    (
        "config impossible value",
        lambda c, b: ["status", "--config", _bad_config(b, "v", BASE + MODEM + "price_fen = -1\n")],
        "price_fen in [modems.m1] must be from 0 to 10000",
    ),
    (
        "config price beyond any SIM's",
        lambda c, b: [
            "check-config",
            "--config",
            _bad_config(b, "pf", BASE + MODEM + "price_fen = 99999999999999999999\n"),
        ],
        "price_fen in [modems.m1] must be from 0 to 10000",  # it once crashed the worker after each submit
    ),
    (
        "config price too high",
        lambda c, b: ["check-config", "--config", _bad_config(b, "ph", BASE + MODEM + "price_fen = 9999999999\n")],
        "price_fen in [modems.m1] must be from 0 to 10000",
    ),
    (
        "config infinite timeout",
        lambda c, b: ["check-config", "--config", _bad_config(b, "st", BASE + MODEM + "send_timeout_s = inf\n")],
        "send_timeout_s in [modems.m1] must be greater than 0 and at most 600",
    ),
    (
        "config nan timeout",
        lambda c, b: ["check-config", "--config", _bad_config(b, "sn", BASE + MODEM + "command_timeout_s = nan\n")],
        "command_timeout_s in [modems.m1] must be greater than 0",
    ),
    (
        "config http port",
        lambda c, b: ["check-config", "--config", _bad_config(b, "hp", BASE + MODEM + "[http]\nport = 70000\n")],
        "port in [http] must be from 1 to 65535",
    ),
    (
        "config priority",
        lambda c, b: [
            "check-config",
            "--config",
            _bad_config(b, "pr", BASE + MODEM + "[sending]\ndefault_priority = 12\n"),
        ],
        "default_priority in [sending] must be from 0 to 9",
    ),
    ("budget nan", lambda c, b: ["budget", "set", "大渡口区", "--month", "2026-12", "--yuan", "nan"], "--yuan"),
    ("budget inf", lambda c, b: ["budget", "set", "大渡口区", "--month", "2026-12", "--yuan", "inf"], "--yuan"),
    ("send at year 9999", lambda c, b: ["send", "13800138000", "x", "--at", "9999-12-31 23:59"], "more than a year"),
    ("config no modems", lambda c, b: ["status", "--config", _bad_config(b, "n", BASE)], "no modems"),
    (
        "config modem without port",
        lambda c, b: ["status", "--config", _bad_config(b, "p", BASE + "[modems.m1]\nprice_fen = 6\n")],
        "needs port =",
    ),
    (
        "config two modems one port",
        lambda c, b: [
            "status",
            "--config",
            _bad_config(b, "d", BASE + '[modems.a]\nport = "/dev/ttyUSB0"\n[modems.b]\nport = "/dev/ttyUSB0"\n'),
        ],
        "is used by two modems",
    ),
    (
        "missing device",
        lambda c, b: ["check-config", "--config", _bad_config(b, "m", BASE + '[modems.m1]\nport = "/dev/ttyUSB93"\n')],
        "/dev/ttyUSB93 of [modems.m1] does not exist",
    ),
    (
        "unusable database",
        lambda c, b: [
            "send",
            "13800138000",
            "x",
            "--config",
            _bad_config(b, "u", '[daemon]\ndatabase = "../config.toml/x.db"\n' + MODEM),
        ],
        "cannot open database",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(setup, case):
    tmp_path, config, bad, _ = setup
    _name, build, expected = case
    args = build(config, bad)
    if "--config" not in args:
        args += ["--config", str(config)]
    before = snapshot(tmp_path / "smsd.db")
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    err = result.stderr if hasattr(result, "stderr") else result.output
    assert err.count("\n") == 1 and err.startswith("Error: "), err
    assert expected in err, err
    assert "Traceback" not in result.output
    assert snapshot(tmp_path / "smsd.db") == before


def test_bad_input_through_the_real_entry_point(setup):
    tmp_path, config, _, _ = setup
    out = subprocess.run(
        [sys.executable, "-m", "smsd", "send", "not-a-number", "x", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == "Error: 'not-a-number' is not a phone number\n"
