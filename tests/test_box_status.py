"""A box that says when it is not sending (issue 22): a daemon that is not running, a second
daemon on the same database, modems at their caps, an emulator folder that cannot be made, and
systemd's status line as the modems come up. The daemon runs as a subprocess, the CLI too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from smsd.clock import utcnow
from smsd.store import Store
from tests.conftest import wait_for, write_config

ZH = {**os.environ, "LANG": "zh_CN.UTF-8", "LC_ALL": "", "LANGUAGE": ""}


def cli(*args: str, config: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smsd", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or ZH,
    )


def status(config: Path) -> dict:
    out = cli("status", "--json", config=config)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_after_kill_9_status_send_and_doctor_say_the_daemon_is_not_running(tmp_path, daemon):
    config = write_config(tmp_path, {"m1": "emulator"})
    d = daemon(config)
    wait_for(lambda: status(config)["modems"][0]["state"] == "ready", timeout=20, interval=0.1)
    running = status(config)["daemon"]
    assert running["running"] is True and running["pid"] == d.proc.pid
    assert "[ok] 守护进程: 正在运行" in cli("doctor", config=config).stdout
    d.kill()

    table = cli("status", config=config)
    assert table.returncode == 0, table.stderr
    assert "守护进程未运行" in table.stdout and "就绪" not in table.stdout  # the modem's row, and the warning
    assert status(config)["daemon"] == {"running": False, "pid": None}
    sent = cli("send", "13800138000", "测试", config=config)
    assert sent.returncode == 0 and "守护进程未运行" in sent.stderr, sent.stderr
    doctor = cli("doctor", config=config)
    assert doctor.returncode == 1 and "[FAIL] 守护进程: 未运行" in doctor.stdout, doctor.stdout


def test_a_second_daemon_on_the_same_database_is_refused_and_leaves_the_first_alone(tmp_path, daemon):
    config = write_config(tmp_path, {"m1": "emulator"})
    first = daemon(config)
    wait_for(lambda: status(config)["modems"][0]["state"] == "ready", timeout=20, interval=0.1)
    second = cli("run", config=config)  # a daemon that must not start: it returns at once
    assert second.returncode == 1
    assert second.stderr.count("\n") == 1 and f"pid {first.proc.pid}" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr
    # the first one still runs, its modem still ready, and it still sends
    assert first.proc.poll() is None and status(config)["modems"][0]["state"] == "ready"
    assert cli("send", "13800138000", "仍在发送", config=config).returncode == 0
    with Store(tmp_path / "smsd.db") as store:
        wait_for(lambda: store.outbox.messages()[0].state in ("sent", "delivered"), timeout=20, interval=0.1)
    assert first.terminate() == 0


def test_an_emulator_folder_that_cannot_be_made_is_one_line_everywhere(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = write_config(tmp_path, {"m1": "emulator"}, emulator={"dir": "file/sim"})
    for args in (["check-config"], ["doctor"]):
        out = cli(*args, config=config)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and "file" in out.stdout + out.stderr
    run = cli("run", config=config)
    assert run.returncode == 1 and run.stderr.count("\n") == 1, run.stderr
    assert "[emulator] dir" in run.stderr and "Traceback" not in run.stderr


def test_a_modem_at_its_cap_says_so_and_when_it_frees_up_and_replies_keep_a_reserve(tmp_path, daemon):
    config = write_config(tmp_path, {"m1": "emulator"})
    text = config.read_text().replace("hourly_cap = 100000", "hourly_cap = 20")
    config.write_text(text)
    with Store(tmp_path / "smsd.db") as store:
        # 18 sent in the last hour by a broadcast: the broadcast stops there (a tenth is kept back)
        now = utcnow()
        for i in range(18):
            mid = store.outbox.enqueue(f"+86138{i:08d}", "已发", now=now - timedelta(minutes=30))
            store.claims.claim_next("m1", now=now - timedelta(minutes=30))
            store.submits.part_sent(mid, 1, ref=i, price_fen=6, modem="m1", now=now - timedelta(minutes=30))
        cid = store.conn.execute(
            "INSERT INTO campaigns (name, text, created_by, created_at, updated_at) VALUES ('c', 'x', 'test', ?, ?)",
            (now.isoformat(), now.isoformat()),
        ).lastrowid
        store.conn.commit()
        bulk = store.outbox.enqueue("+8613900000001", "广播", campaign_id=cid, now=now)
    d = daemon(config)
    # a single send still goes (the reserve), the broadcast waits
    assert cli("send", "13800138000", "单发", config=config).returncode == 0
    with Store(tmp_path / "smsd.db") as store:
        wait_for(lambda: store.outbox.messages()[0].state in ("sent", "delivered"), timeout=20, interval=0.1)
        assert store.outbox.message(bulk).state == "queued"
    # fill the cap: status says so, with the time it frees up, and send says when its message goes
    assert cli("send", "13800138001", "单发二", config=config).returncode == 0
    wait_for(lambda: status(config)["modems"][0]["state"] == "capped", timeout=20, interval=0.1)
    m = status(config)["modems"][0]
    assert m["sent_hour"] == 20 and m["capped_until"]
    table = cli("status", config=config).stdout
    assert "已达上限" in table and m["capped_until"] in table
    sent = cli("send", "13800138002", "单发三", config=config)
    assert "上限" in sent.stderr and "发出" in sent.stderr, sent.stderr
    assert d.terminate() == 0


def test_systemd_hears_the_modems_come_up(tmp_path, daemon):
    config = write_config(tmp_path, {"m1": "emulator", "m2": "emulator"})
    d = daemon(config)
    d.wait_message(lambda m: "STATUS=2/2 modems ready" in m, timeout=30)
    assert d.terminate() == 0


def test_the_udev_rule_survives_change_events_and_names_adapters_without_a_serial():
    """`udevadm trigger` sends "change": a rule that matched only "add" created no /dev/smsd-*
    (and a later change dropped them); CH340 and PL2303 pools have no serial number."""
    rules = (Path(__file__).resolve().parent.parent / "systemd" / "99-smsd-modems.rules").read_text()
    lines = [x for x in rules.splitlines() if x.strip() and not x.startswith("#")]
    assert lines and all('ACTION!="remove"' in x for x in lines)
    assert 'ACTION=="add"' not in rules
    assert any('ENV{ID_SERIAL_SHORT}!="?*"' in x and "ID_PATH_TAG" in x for x in lines)
