"""The fault suite (issue 8): each fault is survived, and `smsd status` shows it while it lasts."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsd import config, pdu
from smsd.cli import main
from smsd.config import SendingConfig, modem_config
from smsd.errors import ConfigError
from smsd.sim.emulator import Emulator
from smsd.sim.modem import ModemOptions
from smsd.store import Store
from smsd.worker import Worker
from tests.conftest import wait_for, write_config
from tests.sql import one as sql_one
from tests.sql import rows as sql_rows


def status(config_path) -> dict:
    out = CliRunner().invoke(main, ["status", "--json", "--config", str(config_path)])
    assert out.exit_code == 0, out.output
    return {m["name"]: m for m in json.loads(out.output)["modems"]}


def all_sent(store) -> bool:
    depth = store.outbox.queue_depth().nonzero()
    return depth.get("queued", 0) + depth.get("sending", 0) == 0


@pytest.fixture
def running(tmp_path, make_emulator, daemon):
    """Two emulated modems, the daemon, 40 queued messages; fast liveness checks."""

    def start(**m1_options):
        emu = make_emulator(ModemOptions("m1", **m1_options), ModemOptions("m2"))
        cfg = write_config(tmp_path, {n: str(m.link) for n, m in emu.modems.items()})
        cfg.write_text(cfg.read_text().replace("command_timeout_s = 2.0", "command_timeout_s = 1.0\nliveness_s = 1.0"))
        store = Store(tmp_path / "smsd.db")
        d = daemon(cfg)
        return emu, cfg, store, d

    return start


def queue(store, n, tag):
    return [store.outbox.enqueue(f"+86137{i:08d}", f"{tag} {i}") for i in range(n)]


def test_status_table_and_json_with_the_daemon_running_and_no_webhooks(running):
    """Issue 12 item 15: the first command of the README tour."""
    emu, cfg, store, _ = running()
    wait_for(lambda: status(cfg)["m1"]["state"] == "ready", timeout=15)
    out = CliRunner().invoke(main, ["status", "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    assert "m1" in out.output and "ready" in out.output and "queue:" in out.output
    data = json.loads(CliRunner().invoke(main, ["status", "--json", "--config", str(cfg)]).output)
    assert data["webhooks"] == [] and data["alerts"] == []
    assert {t["name"]: t["state"] for t in data["threads"]} == {"db-watch": "running", "dispatcher": "running"}


def test_a_full_sim_is_a_warning_while_it_lasts(running):
    """Issue 12 item 16."""
    emu, cfg, store, _ = running()
    wait_for(lambda: status(cfg)["m1"]["state"] == "ready", timeout=15)
    emu["m1"].fault("sim_full", True)

    def warned():
        out = CliRunner().invoke(main, ["status", "--config", str(cfg)]).output
        return "SIM storage full" in out

    wait_for(warned, timeout=15, interval=0.2)
    emu["m1"].fault("sim_full", False)
    wait_for(lambda: not warned(), timeout=15, interval=0.2)


def test_unplug_shows_down_then_ready(running):
    emu, cfg, store, _ = running()
    wait_for(lambda: status(cfg)["m1"]["state"] == "ready", timeout=15)
    emu["m1"].fault("unplug")
    wait_for(lambda: status(cfg)["m1"]["state"] == "down", timeout=15)
    wait_for(lambda: status(cfg)["m2"]["state"] == "ready", timeout=15)  # m2 may still be starting on a busy box
    queue(store, 10, "unplugged")
    wait_for(lambda: all_sent(store), timeout=30)  # m2 carries the queue
    emu["m1"].fault("replug")
    wait_for(lambda: status(cfg)["m1"]["state"] == "ready", timeout=15)


def test_a_hang_shows_down_with_the_reason_then_recovers(running):
    emu, cfg, store, _ = running()
    wait_for(lambda: status(cfg)["m1"]["state"] == "ready", timeout=15)
    emu["m1"].fault("hang", 6)
    # down, with the reason, while the hang lasts (one snapshot, so the two cannot race)
    wait_for(lambda: (m := status(cfg)["m1"])["state"] == "down" and "answer" in m["last_error"], timeout=15)
    wait_for(lambda: status(cfg)["m1"]["state"] == "ready", timeout=30)
    ids = queue(store, 20, "after hang")
    wait_for(lambda: all_sent(store), timeout=30)
    assert {store.outbox.message(i).state for i in ids} <= {"sent", "delivered"}


def test_cms_bursts_transient_retry_and_permanent_fail(running):
    emu, cfg, store, _ = running()
    emu["m2"].fault("unplug")  # everything goes through m1
    wait_for(lambda: status(cfg)["m1"]["state"] == "ready", timeout=15)
    emu["m1"].fault("cms", [2, 500])
    [transient] = queue(store, 1, "transient")
    wait_for(lambda: store.outbox.message(transient).state in ("sent", "delivered"), timeout=30)
    assert store.outbox.message(transient).attempts == 2  # attempts count the network's refusals
    emu["m1"].fault("cms", [1, 21])
    permanent = store.outbox.enqueue("+8613700009999", "permanent")
    wait_for(lambda: store.outbox.message(permanent).state == "failed", timeout=30)
    assert store.outbox.message(permanent).last_error == "+CMS ERROR: 21 (short message transfer rejected)"
    assert store.outbox.message(permanent).attempts == 1


def test_a_cms_burst_shows_on_the_modem_row_while_it_lasts_and_stays_as_healed(running):
    """Issue 22: during a +CMS ERROR burst the row said 就绪 with no error (README promised it)."""
    emu, cfg, store, _ = running()
    emu["m2"].fault("unplug")
    wait_for(lambda: status(cfg)["m1"]["state"] == "ready", timeout=15)
    emu["m1"].fault("cms", [2, 500])
    [mid] = queue(store, 1, "burst")
    wait_for(lambda: "+CMS ERROR: 500" in status(cfg)["m1"]["last_error"], timeout=15, interval=0.05)
    wait_for(lambda: store.outbox.message(mid).state in ("sent", "delivered"), timeout=30)
    wait_for(lambda: status(cfg)["m1"]["last_error"] == "", timeout=15)  # gone with the next success
    m1 = status(cfg)["m1"]
    assert "+CMS ERROR: 500" in m1["last_incident"] and m1["last_incident_at"]
    table = CliRunner().invoke(main, ["status", "--config", str(cfg)]).output
    assert "(healed)" in table and "CMS ERROR: 500" in table


def test_sim_full_is_visible_and_inbound_arrives_when_room_returns(running):
    emu, cfg, store, _ = running()
    wait_for(lambda: status(cfg)["m1"]["state"] == "ready", timeout=15)
    emu["m1"].fault("sim_full", True)
    wait_for(lambda: status(cfg)["m1"]["storage"] == "50/50", timeout=15)
    emu["m1"].deliver("+8613800000001", "held by the network while the SIM is full")
    emu["m1"].fault("sim_full", False)
    wait_for(lambda: store.inbox.recent(5) and store.inbox.recent(5)[0].text.startswith("held by"), timeout=15)
    wait_for(lambda: status(cfg)["m1"]["storage"] == "0/50", timeout=15)


def test_lost_registration_is_visible_and_sending_resumes(running):
    emu, cfg, store, _ = running()
    emu["m2"].fault("unplug")
    wait_for(lambda: status(cfg)["m1"]["registered"] is True, timeout=15)
    emu["m1"].fault("registration", False)
    wait_for(lambda: status(cfg)["m1"]["registered"] is False, timeout=15)
    [mid] = queue(store, 1, "no network")
    wait_for(lambda: "331" in (store.outbox.message(mid).last_error or ""), timeout=15)
    # the pause is recorded by the worker after the message's transaction: wait on it, do not race it
    wait_for(lambda: status(cfg)["m1"]["state"] == "paused", timeout=15)
    assert "331" in status(cfg)["m1"]["last_error"]
    emu["m1"].fault("registration", True)
    wait_for(lambda: status(cfg)["m1"]["registered"] is True, timeout=15)
    wait_for(lambda: store.outbox.message(mid).state in ("sent", "delivered"), timeout=60)


def test_noise_and_non_utf8_bytes_change_nothing(running):
    emu, cfg, store, _ = running(profile="huawei")
    ids = queue(store, 30, "noisy")
    for _ in range(10):
        emu["m1"].fault("noise", 5)
        emu["m1"].fault("garbage")
    wait_for(lambda: all_sent(store), timeout=30)
    assert {store.outbox.message(i).state for i in ids} <= {"sent", "delivered"}
    wait_for(lambda: status(cfg)["m1"]["state"] == "ready", timeout=15)  # the noise left m1 working


def test_a_modem_that_answers_ten_seconds_late(running):
    emu, cfg, store, _ = running(command_delay_ms=10_000)
    ids = queue(store, 20, "slow")
    wait_for(lambda: all_sent(store), timeout=60)  # m2 sends everything
    assert {store.outbox.message(i).modem for i in ids} == {"m2"}
    # down with the reason, after its first attempt times out (one snapshot: no race between the two)
    wait_for(lambda: (m := status(cfg)["m1"])["state"] == "down" and "answer" in m["last_error"], timeout=60)


# ------------------------------------------------------------------ power loss


WRITER = """
import sys
from smsd.store import Store
store = Store(sys.argv[1])
for i in range(100000):
    store.outbox.enqueue("+8613800138000", f"heavy write {i}")
    print(i + 1, flush=True)
"""


def test_power_loss_keeps_every_committed_row(tmp_path):
    db = tmp_path / "smsd.db"
    Store(db).close()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    committed = 0
    for line in proc.stdout:
        committed = int(line)
        if committed >= 300 + random.Random(8).randint(0, 200):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    parts = conn.execute("SELECT COUNT(*) FROM outbox_parts").fetchone()[0]
    events = conn.execute("SELECT COUNT(*) FROM events WHERE event = 'queued'").fetchone()[0]
    conn.close()
    assert rows >= committed and parts == rows and events == rows  # each message whole, none lost


# ------------------------------------------------------------------ fuzz at the edges

REAL = pdu.encode_deliver("+8613800000001", "投票2 张三", datetime(2026, 11, 27, 10, 0, tzinfo=UTC))[0]


def _mutations():
    raw = bytes.fromhex(REAL)
    return st.one_of(
        st.binary(min_size=1, max_size=120).map(lambda b: b.hex().upper()),
        st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)).map(
            lambda t: (raw[: t[0]] + bytes([t[1]]) + raw[t[0] + 1 :]).hex().upper()
        ),
        st.integers(1, len(raw) - 1).map(lambda n: raw[:n].hex().upper()),
    )


@pytest.fixture(scope="module")
def fuzzed_worker():
    """One emulated modem and its worker for every example: it must survive them all in a row."""
    with tempfile.TemporaryDirectory() as d, Emulator(d, [ModemOptions("m1")]) as emu:
        w = Worker(
            modem_config("m1", {"port": str(emu["m1"].link), "command_timeout_s": 2.0}),
            str(emu["m1"].link),
            f"{d}/smsd.db",
            SendingConfig(),
            idle_wait_s=0.01,
        )
        w.store = Store(f"{d}/smsd.db")
        try:
            w.loop()
            yield w, emu
        finally:
            w.transport.driver.close()
            w.store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_mutations(), min_size=1, max_size=4))
def test_random_and_mutated_inbound_pdus_never_stop_the_worker(fuzzed_worker, pdus):
    w, emu = fuzzed_worker
    before = sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox_parts")["n"]
    for p in pdus:
        emu["m1"].deliver_pdu(p)
    wait_for(lambda: (w.loop(), emu["m1"].memory("ME").used + emu["m1"].memory("SM").used == 0)[1], timeout=10)
    assert w.transport.driver.ready
    assert set(pdus) <= seen_pdus(w)  # every PDU kept (an identical one counts once)
    assert sql_one(w.store, "SELECT COUNT(*) AS n FROM inbox_parts")["n"] >= before


def seen_pdus(w: Worker) -> set[str]:
    return {r["pdu"].upper() for r in sql_rows(w.store, "SELECT pdu FROM inbox_parts")}


toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
sections = st.dictionaries(
    st.sampled_from(["daemon", "sending", "emulator", "modems", "commands", "anniversary", "other"]),
    st.dictionaries(
        st.sampled_from(["database", "poll_ms", "m1", "port", "quiet_hours", "aliases", "x", "time", "enabled"]),
        toml_values,
        max_size=4,
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(sections)
def test_random_configs_give_a_config_or_a_config_error(raw):
    try:
        config.parse(raw, Path("/tmp/fuzz.toml"))
    except ConfigError as exc:
        assert "\n" not in str(exc)
