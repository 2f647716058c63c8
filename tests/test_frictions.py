"""Small frictions of a first week (issue 17): --config before the command, `smsd sim` taking the
config and refusing a folder where an emulator runs, `outbox` saying when it was cut, `templates
list` in two parts, help examples that quote ${name} for the shell."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from smsd.cli import main
from smsd.sim.emulator import Emulator
from smsd.sim.modem import ModemOptions
from smsd.store import Store
from tests.conftest import write_config


def run(config, *args):
    return CliRunner().invoke(main, [*args, "--config", str(config)])  # click 8.2: stdout and stderr apart


def test_outbox_says_when_the_list_was_cut(tmp_path):
    config = write_config(tmp_path, {"m1": "emulator"})
    with Store(tmp_path / "smsd.db") as store:
        for i in range(3):
            store.outbox.enqueue(f"+86138001380{i:02d}", f"通知{i}")
    out = run(config, "outbox", "--json", "--limit", "2")
    assert len(json.loads(out.stdout)) == 2 and "there are more" in out.stderr  # stdout stays valid JSON
    out = run(config, "outbox", "--json", "--limit", "3")
    assert len(json.loads(out.stdout)) == 3 and out.stderr == ""


def test_templates_list_separates_message_and_reply_templates(tmp_path):
    config = write_config(tmp_path, {"m1": "emulator"})
    out = run(config, "templates", "list").stdout
    messages, replies = out.split("Reply templates")
    assert "meeting_notice" in messages and "reply_help" not in messages
    assert "reply_help" in replies and "meeting_notice" not in replies


def test_help_examples_quote_placeholders_for_the_shell():
    out = CliRunner().invoke(main, ["broadcast", "--help"]).output
    assert "'${name}" in out and '"${name}' not in out


def test_config_before_the_command(tmp_path):
    config = write_config(tmp_path, {"m1": "emulator"})
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    out = subprocess.run([sys.executable, "-m", "smsd", "--config", str(config), "outbox", "--json"],
                         capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert out.returncode == 0 and json.loads(out.stdout) == [], out.stderr


def test_sim_refuses_a_folder_where_an_emulator_runs(tmp_path):
    folder = tmp_path / "sim"
    with Emulator(folder, [ModemOptions("m1")]):
        out = CliRunner().invoke(main, ["sim", "--dir", str(folder)])
        assert out.exit_code == 1 and "already runs" in out.output
        assert (folder / "m1").exists()  # the running emulator's pty is untouched


def test_the_daemon_refuses_a_folder_where_an_emulator_runs(tmp_path):
    config = write_config(tmp_path, {"m1": "emulator"})
    with Emulator(tmp_path / "sim", [ModemOptions("m1")]):
        out = subprocess.run([sys.executable, "-m", "smsd", "run", "--config", str(config)], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert out.returncode == 1 and "already runs" in out.stderr and "Traceback" not in out.stderr


def test_logs_and_exports_carry_one_zone_with_its_offset(tmp_path, capsys):
    import logging

    from smsd.daemon import setup_logging

    saved = logging.root.handlers[:], logging.root.level
    try:
        setup_logging("info")
        logging.getLogger("smsd.test").info("hello")
    finally:  # the daemon's handler writes to this test's captured stderr: put the suite's back
        logging.root.handlers[:], _ = saved[0], logging.root.setLevel(saved[1])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.split(" ", 1)[0].endswith("+08:00")  # 2026-11-28T22:00:00.123+08:00 INFO ...
    config = write_config(tmp_path, {"m1": "emulator"})
    with Store(tmp_path / "smsd.db") as store:
        mid = store.outbox.enqueue("+8613800138000", "档案")
        msg = store.claims.claim_next("m1")
        store.submits.part_sent(mid, 1, ref=1, price_fen=6, modem="m1")
        assert msg is not None
    csv_text = run(config, "report", "messages", "--csv").stdout
    sent = csv_text.splitlines()[1].split(",")[4]
    assert sent.endswith("+08:00") and "T" in sent


def test_http_token_takes_the_config_and_says_when_the_client_exists(tmp_path):
    config = write_config(tmp_path, {"m1": "emulator"})
    config.write_text(config.read_text() + '[http.clients.edu]\ntoken_sha256 = "' + "0" * 64 + '"\n')
    out = run(config, "http", "token", "edu")
    assert out.exit_code == 0 and "already a client" in out.stderr and "[http.clients.edu]" in out.stdout
    out = run(config, "http", "token", "new-client")
    assert out.exit_code == 0 and out.stderr == ""
    assert run(config, "http", "token", "bad name;rm").exit_code == 1


def test_check_config_says_when_the_http_port_cannot_be_opened(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        config = write_config(tmp_path, {"m1": "emulator"}, http={"enabled": True, "host": "127.0.0.1", "port": port})
        out = run(config, "check-config")
    assert out.exit_code == 0 and f"127.0.0.1:{port} cannot be opened" in out.stdout
    free = write_config(tmp_path, {"m1": "emulator"}, http={"enabled": True, "host": "127.0.0.1", "port": port})
    assert "cannot be opened" not in run(free, "check-config").stdout
