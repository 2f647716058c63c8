"""The CLI's wake-up datagram reaches the daemon wherever the database lives."""

from __future__ import annotations

from smsd import kick


def test_a_kick_wakes_the_listener_beside_the_database(tmp_path):
    db = tmp_path / "smsd.db"
    listener = kick.Listener(db)
    try:
        assert not listener.wait(0)
        kick.kick(db)
        assert listener.wait(5) and listener.address == str(tmp_path / "smsd.db.kick")
    finally:
        listener.close()


def test_a_database_path_too_long_for_a_unix_socket_still_gets_kicks(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    db = deep / "smsd.db"
    listener = kick.Listener(db)  # binding the path itself would fail: AF_UNIX path too long
    try:
        kick.kick(db)
        assert listener.wait(5) and listener.address.startswith("\0")
    finally:
        listener.close()
