"""Chinese first (issue 17): the zh_CN catalogue is complete and keeps every placeholder; with
LANG=zh_CN.UTF-8 every command's --help and a table of error cases show no English message;
`[daemon] language` overrides the environment; errors are rendered from their template."""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "smsd" / "locale" / "zh_CN" / "LC_MESSAGES" / "smsd.po"
sys.path.insert(0, str(ROOT / "smsd" / "locale"))
import build as catalogue  # noqa: E402


def _fields(text: str) -> set[str]:
    """{name} fields of a str.format template (and %(name)s of click's), conversions included."""
    out = {f"%({m})" for m in re.findall(r"%\((\w+)\)", text)}
    try:
        for _lit, name, spec, conv in string.Formatter().parse(text):
            if name is not None:
                out.add(f"{{{name}!{conv or ''}:{spec or ''}}}")
    except ValueError:  # not a format string (a help text with ${placeholders}): compare the raw fields
        out |= set(re.findall(r"\{[^{}]*\}", text))
    return out


@pytest.fixture(scope="module")
def po():
    with PO.open("rb") as f:
        return read_po(f)


def test_every_message_in_the_source_is_in_the_catalogue_and_translated(po, tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "POT", tmp_path / "smsd.pot")  # extract without touching the repository
    source = catalogue.extract()
    ids = {m.id for m in source if m.id}
    missing = [m for m in ids if m not in po]
    assert not missing, f"not in smsd.po (run `make i18n`): {missing[:5]}"
    untranslated = [m.id for m in po if m.id and (not m.string or not all(m.string) or m.fuzzy)]
    assert not untranslated, f"untranslated in zh_CN: {untranslated[:5]}"
    assert len(ids) >= 400


def test_translations_keep_every_placeholder(po):
    for m in po:
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for s in strings:
            want = set().union(*(_fields(i) for i in ids)) if len(ids) > 1 else _fields(ids[0])
            got = _fields(s)
            if len(ids) > 1:  # one Chinese plural form: it needs the fields of either English form
                assert got and got <= want or not want, (m.id, s)
            else:
                assert got == want, f"{m.id!r}: placeholders {sorted(want)} became {sorted(got)}"


def test_a_dropped_placeholder_is_caught():
    assert _fields("{path}: not valid TOML at line {line}") != _fields("{path}：第行不是有效的 TOML")
    assert _fields("{value!r} is bad") != _fields("{value} 无效")


HELP_AND_ERRORS = r"""
import json, sys
from pathlib import Path
from click.testing import CliRunner
from smsd import i18n
i18n.select(None)
from smsd.cli import main

tmp = Path(sys.argv[1])
config = sys.argv[2]
outputs = {}

import click

def walk(cmd, path):
    yield path
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(None):
            yield from walk(cmd.get_command(None, name), path + [name])

runner = CliRunner()
for path in walk(main, []):
    r = runner.invoke(main, path + ["--help"])
    outputs["help: " + " ".join(path)] = r.output

cases = json.loads(Path(sys.argv[3]).read_text())
for name, args in cases.items():
    args = [a.replace("TMP", str(tmp)) for a in args]
    r = runner.invoke(main, args + ([] if "--config" in args else ["--config", config]))
    outputs["error: " + name] = r.output
    outputs["code: " + name] = r.exit_code
print(json.dumps(outputs, ensure_ascii=False))
"""


def _error_files(tmp: Path) -> None:
    (tmp / "gbk.toml").write_bytes('[daemon]\ndatabase = "x.db"\n# 数据库\n'.encode("gbk"))
    (tmp / "broken.toml").write_text('[daemon]\ndatabase = "x.db\n', encoding="utf-8")
    (tmp / "unknown.toml").write_text('[daemon]\ndatabse = "x.db"\n[modems.m1]\nport = "emulator"\n')
    (tmp / "type.toml").write_text('[daemon]\npoll_ms = "fast"\n[modems.m1]\nport = "emulator"\n')
    (tmp / "choice.toml").write_text('[daemon]\nlog_level = "loud"\n[modems.m1]\nport = "emulator"\n')
    (tmp / "old.xls").write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 600)
    (tmp / "csv.xlsx").write_text("姓名,手机\n张三,13800138000\n", encoding="utf-8")
    (tmp / "sci.csv").write_text("姓名,手机\n张三,1.38001E+10\n", encoding="utf-8")
    (tmp / "nohead.csv").write_text("who,where\nA,B\n", encoding="utf-8")
    (tmp / "numbers.txt").write_text("12345\n", encoding="utf-8")
    (tmp / "ok.txt").write_text("13800138000\n", encoding="utf-8")


CASES = {
    "number letters": ["send", "hello", "x"],
    "number short": ["send", "12345", "x"],
    "empty text": ["send", "13800138000", "   "],
    "text too long": ["send", "13800138000", "长" * 700],
    "bad --at": ["send", "13800138000", "x", "--at", "后天25点"],
    "--at in the past": ["send", "13800138000", "x", "--at", "2020-01-01 08:00"],
    "bad priority": ["send", "13800138000", "x", "--priority", "12"],
    "unknown message": ["outbox", "show", "999"],
    "unknown cancel": ["outbox", "cancel", "999"],
    "unknown member": ["members", "show", "13900000000"],
    "config missing": ["status", "--config", "TMP/nope.toml"],
    "config gbk": ["status", "--config", "TMP/gbk.toml"],
    "config toml syntax": ["status", "--config", "TMP/broken.toml"],
    "config unknown key": ["status", "--config", "TMP/unknown.toml"],
    "config wrong type": ["status", "--config", "TMP/type.toml"],
    "config bad choice": ["status", "--config", "TMP/choice.toml"],
    "roster xls": ["members", "import", "TMP/old.xls"],
    "roster csv named xlsx": ["members", "import", "TMP/csv.xlsx"],
    "roster rounded phones": ["members", "import", "TMP/sci.csv"],
    "roster no header": ["members", "import", "TMP/nohead.csv"],
    "roster missing": ["members", "import", "TMP/none.xlsx"],
    "template malformed": ["broadcast", "--numbers", "TMP/ok.txt", "--text", "${name同志：明天开会", "--dry-run"],
    "template unknown": ["broadcast", "--all", "--template", "nosuch", "--dry-run"],
    "template variable": ["broadcast", "--numbers", "TMP/ok.txt", "--template", "meeting_notice", "--dry-run"],
    "report month 13": ["report", "cost", "--from", "2026-13-01"],
    "budget month": ["budget", "set", "大渡口区", "--month", "2026-13", "--yuan", "3"],
    "poll closes": [
        "poll",
        "create",
        "--question",
        "同意吗",
        "--option",
        "是",
        "--option",
        "否",
        "--all",
        "--closes",
        "明天25点",
    ],
    "no recipients": ["broadcast", "--text", "通知", "--dry-run"],
    "numbers file": ["broadcast", "--numbers", "TMP/numbers.txt", "--text", "通知", "--dry-run"],
    "unknown campaign": ["campaign", "status", "99"],
    "unknown option": ["send", "--colour", "red"],
    "missing argument": ["send"],
}

WORD = r"[A-Za-z]*[a-z][A-Za-z]*"  # a word with a lowercase letter (not COUNT, not SMSD_CONFIG)
ENGLISH_RUN = re.compile(rf"(?<![\w-]){WORD}(?:[ ,']+{WORD}){{3,}}(?![\w-])")


def _english_fragments(msgid: str) -> list[str]:
    """The English text of a msgid between its placeholders: what must not appear in zh output."""
    plain = re.sub(r"\{[^{}]*\}|%\(\w+\)\w", "\0", msgid)
    return [
        f.strip()
        for f in plain.split("\0")
        if len(f.strip()) >= 14 and not re.search(r"[\u4e00-\u9fff]", f) and ENGLISH_RUN.search(f)
    ]


@pytest.fixture(scope="module")
def zh_outputs(tmp_path_factory):
    from tests.conftest import write_config

    tmp = tmp_path_factory.mktemp("zh")
    _error_files(tmp)
    config = write_config(tmp, {"m1": "emulator"}, daemon={"language": "zh_CN"})
    (tmp / "cases.json").write_text(json.dumps(CASES, ensure_ascii=False))
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}
    out = subprocess.run(
        [sys.executable, "-c", HELP_AND_ERRORS, str(tmp), str(config), str(tmp / "cases.json")],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_help_and_errors_in_chinese_have_no_english_message(zh_outputs, po):
    assert len([k for k in zh_outputs if k.startswith("help: ")]) >= 50
    assert len([k for k in zh_outputs if k.startswith("error: ")]) >= 25
    fragments = {f for m in po if m.id for i in (m.id if isinstance(m.id, tuple) else (m.id,))
                 for f in _english_fragments(i)}  # fmt: skip
    problems = []
    for name, text in zh_outputs.items():
        if name.startswith("code: "):
            continue
        for f in fragments:
            if f in text:
                problems.append((name, f))
        for line in text.splitlines():
            code = line.strip().startswith(("smsd ", "gammu ", "$ ", "--", "-h")) or "smsd " in line
            if not code and ENGLISH_RUN.search(line):
                problems.append((name, line.strip()))
    assert not problems, "\n".join(f"{n}: {t}" for n, t in problems)


def test_every_error_case_is_one_line_with_no_traceback(zh_outputs):
    for name in CASES:
        text, code = zh_outputs["error: " + name], zh_outputs["code: " + name]
        assert code != 0, (name, text)
        assert "Traceback" not in text, name
        lines = [ln for ln in text.splitlines() if ln.startswith(("Error", "错误"))]
        assert len(lines) == 1, (name, text)
        assert re.search(r"[\u4e00-\u9fff]", lines[0]), (name, lines[0])  # in Chinese


def test_the_errors_say_what_the_office_needs(zh_outputs):
    e = {k[len("error: ") :]: v for k, v in zh_outputs.items() if k.startswith("error: ")}
    assert "GBK" in e["config gbk"] and "UTF-8" in e["config gbk"]
    assert "第 2 行" in e["config toml syntax"] and 'database = "x.db' in e["config toml syntax"]
    assert "另存为 .xlsx" in e["roster xls"] or ".xlsx" in e["roster xls"]
    assert "CSV" in e["roster csv named xlsx"]
    assert "Excel" in e["roster rounded phones"]
    assert "第 1 行第 1 列" in e["template malformed"]
    assert "2026-13-01" in e["report month 13"]


def test_language_in_config_overrides_the_environment(tmp_path):
    from tests.conftest import write_config

    config = write_config(tmp_path, {"m1": "emulator"}, daemon={"language": "en"})
    env = {**os.environ, "LANG": "zh_CN.UTF-8", "LANGUAGE": "", "LC_ALL": ""}
    out = subprocess.run([sys.executable, "-m", "smsd", "send", "hello", "x", "--config", str(config)],
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert "not a phone number" in out.stderr
    config = write_config(tmp_path, {"m1": "emulator"}, daemon={"language": "zh_CN"})
    env = {**os.environ, "LANG": "C.UTF-8", "LANGUAGE": "", "LC_ALL": ""}
    out = subprocess.run([sys.executable, "-m", "smsd", "--config", str(config), "send", "hello", "x"],
                         capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert "不是电话号码" in out.stderr  # and --config may come before the command


def test_an_error_is_rendered_from_its_template_and_parameters():
    from smsd import i18n
    from smsd.errors import ConfigError

    exc = ConfigError("{path}: not valid TOML at line {line}: {error}{shown}", path="c.toml", line=3, error="x",
                      shown="")  # fmt: skip
    assert exc.template.startswith("{path}: not valid TOML") and exc.params["line"] == 3
    assert str(exc) == i18n.render(exc.template, exc.params)
    assert i18n.render("{missing} stays readable", {}) == "{missing} stays readable"
