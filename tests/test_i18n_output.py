"""Issue 22 acceptance 3: an office's ordinary day at the command line under zh_CN (tables,
`show` pages, warnings, errors, exports' headers; tests/zh_scenario.py drives it) shows no English
word outside an allow-list: codes and names of programs, units, formats, what the admin types
(commands, options, paths, config keys) and the names of templates and their variables."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Codes, programs, formats and keywords a Chinese office uses as they are.
ALLOWED = {
    "ID", "SIM", "SMS", "QR", "TP", "SP", "TD", "YJ", "HDZ", "BZ", "DY", "HELP", "UCS", "UCS2", "GSM", "UTF", "CSV",
    "JSON", "Excel", "SQLite", "TOML", "PIN", "PUK", "PDU", "ok", "FAIL", "YYYY", "MM", "DD", "API", "SMPP",
    "SMSC", "CMS", "ERROR", "AT", "REF", "ESME",
    "root", "bq", "op", "sp",  # logins: the box's own (root) and the scenario's (bq-op, bq-sp)
}  # fmt: skip
TYPED = [
    re.compile(r"(?<=初始密码（只显示一次；首次登录时须修改）：)\S+|(?<=（只显示这一次）：)\S+"),  # a password, a token
    re.compile(r"`[^`]*`"),  # a command to type
    re.compile(r"[^\s\u3000-\u9fff\uff00-\uffef]*/[^\s\u3000-\u9fff\uff00-\uffef]*"),  # a path
    re.compile(r"\d{4}-\d\d-\d\dT[\d:.+-]+"),  # an ISO 8601 time in an export
    re.compile(r"(?:systemctl|journalctl|smsd)(?: [a-z][a-z-]*)*"),  # the same, without backticks
    re.compile(r"--[a-z][a-z-]*"),  # an option
    re.compile(r"\$\{[^}]*\}"),  # a template variable
    re.compile(r"\[[a-z0-9_.*]+\]"),  # a config section
    re.compile(r"\b[a-z]+_[a-z_]+\b"),  # a config key or a code (hourly_cap, meeting_notice)
    re.compile(r"\bm\d+\b"),  # a modem's name
]
WORD = re.compile(r"[A-Za-z][A-Za-z0-9]+")


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    from tests.conftest import write_config

    tmp = tmp_path_factory.mktemp("zh_day")
    config = write_config(tmp, {"m1": "emulator"}, daemon={"language": "zh_CN"})
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "zh_scenario.py"), str(tmp), str(config)],
        capture_output=True, text=True, env=env, timeout=180, cwd=tmp,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _template_words() -> set[str]:
    from smsd import template as templates

    found = templates.load_all(None)
    return {name for name in found} | {v for t in found.values() for v in t.variables}


def english_words(text: str, allowed: set[str]) -> list[str]:
    for pattern in TYPED:
        text = pattern.sub(" ", text)
    return [w for w in WORD.findall(text) if w not in allowed and not re.fullmatch(r"[a-z]\d*", w)]


def test_an_office_day_in_chinese_has_no_english_left(day):
    assert len(day) >= 45
    failed = [name for name, text in day.items() if text.startswith("[exit")]
    assert not failed, {n: day[n] for n in failed}
    allowed = ALLOWED | _template_words()
    problems = {name: sorted(set(words)) for name, text in day.items() if (words := english_words(text, allowed))}
    assert not problems, "\n".join(f"{name}: {words}" for name, words in problems.items())


def test_the_check_finds_english_when_it_is_there():
    allowed = ALLOWED | _template_words()
    assert english_words("campaign 1 is now paused", allowed) == ["campaign", "is", "now", "paused"]
    assert english_words("短信猫 m1 就绪（smsd status）；meeting_notice 需要 ${name}", allowed) == []


def test_the_state_the_table_shows_is_accepted_by_state(day):
    assert "失败" in day["outbox failed"] and "已送达" not in day["outbox failed"]


@pytest.mark.parametrize(
    "line, chars",
    [("language = “zh_CN”", "“ ”"), ("port ＝ 13013", "＝"), ("【daemon】", "【 】")],
)
def test_a_toml_error_speaks_the_files_language_and_names_the_input_methods_characters(tmp_path, line, chars):
    """Under LANG=C.UTF-8 a config file that says language = "zh_CN" gets its TOML error in
    Chinese, with the usual cause: full-width characters typed by a Chinese input method."""
    text = '[daemon]\nlanguage = "zh_CN"\n' if "language" not in line else "[daemon]\n"
    (tmp_path / "c.toml").write_text(text + line + '\n[modems.m1]\nport = "emulator"\n', encoding="utf-8")
    env = {**os.environ, "LANG": "C.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}
    out = subprocess.run([sys.executable, "-m", "smsd", "status", "--config", str(tmp_path / "c.toml")],
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "中文输入法" in out.stderr and chars in out.stderr, out.stderr


@pytest.mark.parametrize("answer, goes", [("是\n", True), ("y\n", True), ("否\n", False), ("\n", False)])
def test_confirmations_take_yes_and_no_in_chinese(answer, goes):
    import click
    from click.testing import CliRunner

    from smsd.cli.common import ask_yes

    @click.command()
    def ask() -> None:
        ask_yes("发送吗？")
        click.echo("SENT")

    result = CliRunner().invoke(ask, input=answer)
    assert ("SENT" in result.output) == goes and result.exit_code == (0 if goes else 1), result.output
