"""Group commit (smsd/store/group.py): many threads' transactions share commits, and each
caller goes on only after the commit that holds its change; a failed commit fails everyone in
its batch; kill -9 while a batch is half written loses nothing a caller was told was done."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from smsd.errors import StoreError
from smsd.store import Store
from smsd.store import group as store_group
from tests.conftest import wait_for, write_config


@pytest.fixture
def grouped(tmp_path):
    db = tmp_path / "smsd.db"
    Store(db).close()  # created and migrated on its own connection
    g = store_group.enable(db)
    yield db, g
    store_group.disable(db)


def committed_count(db: Path) -> int:
    """Counted on a connection of its own: only what a COMMIT made durable."""
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def test_many_threads_share_commits_and_each_returns_after_its_own_is_durable(grouped):
    db, g = grouped
    seen_after: list[tuple[int, int]] = []
    lock = threading.Lock()

    def writer(k: int) -> None:
        with Store(db) as store:
            for i in range(50):
                mid = store.outbox.enqueue(f"+86138{k:03d}{i:05d}", f"消息 {k}-{i}")
                with sqlite3.connect(db) as other:  # another connection sees it the moment enqueue returned
                    found = other.execute("SELECT COUNT(*) FROM outbox WHERE id = ?", (mid,)).fetchone()[0]
                with lock:
                    seen_after.append((mid, found))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen_after) == 400 and all(found == 1 for _mid, found in seen_after)
    assert committed_count(db) == 400
    assert g.committed == g.written >= 400
    assert g.commits < g.written  # several transactions shared a commit
    print(f"\n{g.written} transactions in {g.commits} commits")


def test_a_lone_change_commits_at_once(grouped):
    db, g = grouped
    with Store(db) as store:
        before = g.commits
        store.outbox.enqueue("+8613800138000", "一条")
        assert g.commits == before + 1 and committed_count(db) == 1


def test_the_wal_is_copied_into_the_database_beside_the_writers(grouped):
    """The commits do not checkpoint (SQLite's own would make one of them copy 4 MB and fsync the
    database while every writer waits): the group's thread does, and what was committed reaches
    the database file itself (read here with the WAL ignored)."""
    db, g = grouped
    assert g.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    with Store(db) as store:
        for i in range(300):
            store.outbox.enqueue(f"+86138000{i:05d}", f"消息 {i}")

    def in_the_database_file() -> int:
        with sqlite3.connect(f"file:{db}?immutable=1", uri=True) as conn:  # the main file only, no WAL
            return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    wait_for(lambda: in_the_database_file() == 300, timeout=30)


def test_a_failed_transaction_leaves_the_others_in_its_batch(grouped):
    db, _g = grouped
    with Store(db) as store:
        with pytest.raises(RuntimeError), store.tx():
            store.outbox.enqueue("+8613800138000", "回滚")
            raise RuntimeError("the caller changed its mind")
        store.outbox.enqueue("+8613800138001", "留下")
        assert [m.text for m in store.outbox.messages(limit=10)] == ["留下"]
        assert not store_group.of(db).conn.in_transaction  # no batch left open, holding the write lock


def test_a_failed_commit_fails_every_caller_in_its_batch_and_keeps_nothing(grouped):
    db, g = grouped
    with Store(db) as store:
        real = g.conn
        calls = {"n": 0}

        class FailingCommit:
            """The shared connection, whose next COMMIT fails (a full disk)."""

            def __getattr__(self, name):
                return getattr(real, name)

            def execute(self, sql, *args):
                if sql == "COMMIT" and not calls["n"]:
                    calls["n"] += 1
                    raise sqlite3.OperationalError("database or disk is full")
                return real.execute(sql, *args)

        g.conn = FailingCommit()  # type: ignore[assignment]
        try:
            with pytest.raises(StoreError, match="commit failed"):
                store.outbox.enqueue("+8613800138000", "写不进去")
        finally:
            g.conn = real
        assert committed_count(db) == 0
        store.outbox.enqueue("+8613800138001", "之后")
        assert committed_count(db) == 1


WRITER = """
import sys, threading
sys.path.insert(0, {root!r})
from smsd.store import Store
from smsd.store import group
db = {db!r}
group.enable(db)
out_lock = threading.Lock()
def writer(k):
    with Store(db) as store:
        for i in range(100000):
            mid = store.outbox.enqueue("+86138%03d%05d" % (k, i), "k%d-%d" % (k, i))
            with out_lock:
                sys.stdout.write("%d\\n" % mid)
                sys.stdout.flush()
threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_kill_while_a_batch_is_half_written_loses_nothing_it_acknowledged(tmp_path):
    """Six threads write through the group commit and print each id once its enqueue returned;
    the process is killed (SIGKILL) mid-batch. Every printed id is in the database."""
    db = tmp_path / "smsd.db"
    Store(db).close()
    root = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(root=root, db=str(db))], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked: list[int] = []
    wait_for(lambda: (acked.append(int(proc.stdout.readline())), len(acked) >= 300)[1], timeout=60)
    os.kill(proc.pid, signal.SIGKILL)
    rest = proc.stdout.read()  # whatever it printed before the kill: acknowledged too
    acked += [int(x) for x in rest.split()]
    proc.wait(10)
    with sqlite3.connect(db) as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM outbox")}
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert set(acked) <= stored, sorted(set(acked) - stored)[:10]
    print(f"\n{len(acked)} acknowledged, {len(stored)} stored (the rest were in the batch the kill cut)")


def test_kill_9_of_the_daemon_while_four_api_clients_write_loses_no_answered_send(tmp_path, make_emulator, daemon):
    """The daemon (a subprocess, group commit on) answers single sends from four API clients at
    once; it is killed with SIGKILL in the middle of their batches. Every send answered 201 is in
    the database when it starts again, and every one goes out."""
    import hashlib

    import httpx

    from smsd.sim.modem import ModemOptions
    from tests.test_http import free_port

    emu = make_emulator(ModemOptions("m1"))
    port = free_port()
    token = "tok-kill-9"
    config = write_config(tmp_path, {"m1": str(emu["m1"].link)})
    config.write_text(
        config.read_text() + f"[http]\nenabled = true\nport = {port}\n[http.clients.load]\n"
        f'token_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\nrate_per_minute = 1000000\n'
    )
    d = daemon(config)
    answered: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(k: int) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=5
        ) as c:
            for i in range(100000):
                if stop.is_set():
                    return
                try:
                    r = c.post("/v1/messages", json={"to": f"138{k:02d}{i:06d}", "text": f"通知 {k}-{i}"})
                except httpx.HTTPError:  # the daemon is gone: this request was never answered
                    return
                if r.status_code == 201:
                    with lock:
                        answered.append(int(r.json()["id"]))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    wait_for(lambda: len(answered) >= 200, timeout=60)
    d.kill()  # SIGKILL, mid-batch: the clients' requests in flight get no answer
    stop.set()
    for t in threads:
        t.join(10)
    ids = set(answered)
    assert len(ids) == len(answered)  # no id given twice
    with Store(tmp_path / "smsd.db") as store:
        stored = {m.id for m in store.outbox.messages(limit=1000000)}
    assert ids <= stored, sorted(ids - stored)[:10]
    daemon(config)  # starts again: recovers, and sends what was acknowledged
    with Store(tmp_path / "smsd.db") as store:
        wait_for(lambda: store.outbox.queue_depth().queued + store.outbox.queue_depth().sending == 0, timeout=120)
        states = {m.id: m.state for m in store.outbox.messages(limit=1000000)}
    assert all(states[i] in ("sent", "delivered") for i in ids)
    print(f"\n{len(ids)} sends answered before the kill, all stored and sent after the restart")
