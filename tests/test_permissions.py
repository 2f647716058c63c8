"""Issue 13 acceptance 2: the daemon under the shipped unit's umask, the CLI as other Unix users.

The daemon runs as a service user whose group is the admins' group (as User=/Group= and
StateDirectoryMode= of systemd/smsd.service make it); an admin in the group can send, list and
ask for status; a user outside it gets one line saying permission denied. Needs root (to make
the users); CI runs as root, and there the test fails rather than skips.
"""

from __future__ import annotations

import grp
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_for

GROUP, SERVICE, ADMIN, OUTSIDER = "smsdtest", "smsdsvc", "smsdadm", "smsdout"


def _unit_umask() -> int:
    text = (ROOT / "systemd" / "smsd.service").read_text()
    return int(re.search(r"^UMask=(\d+)", text, re.M).group(1), 8)


def _ensure_users() -> None:
    def run(*cmd: str) -> None:
        subprocess.run(cmd, check=True, capture_output=True)

    if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0:
        run("groupadd", GROUP)
    for user, groups in ((SERVICE, None), (ADMIN, GROUP), (OUTSIDER, None)):
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            cmd = ["useradd", "-M", "-N", "-s", "/usr/sbin/nologin"]
            cmd += ["-g", GROUP] if user == SERVICE else ["-g", "nogroup"]
            if groups:
                cmd += ["-G", groups]
            run(*cmd, user)


@pytest.fixture
def box() -> Iterator[Path]:
    if os.geteuid() != 0 or not shutil.which("useradd"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs as root with useradd: this test must run there")
        pytest.skip("needs root and useradd to create the service, admin and outsider users")
    _ensure_users()
    base = Path(tempfile.mkdtemp(prefix="smsd-perm-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _python(base: Path) -> tuple[str, dict[str, str]]:
    """A Python the other users may run, and a PYTHONPATH with smsd and its dependencies."""
    py = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not os.path.exists(py):
        py = sys.executable
    site = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{site}", "LANG": "C.UTF-8"}
    probe = subprocess.run(
        [py, "-c", "import smsd.cli, fastapi"],
        env=env,
        user=OUTSIDER,
        group="nogroup",
        extra_groups=[],
        capture_output=True,
        timeout=60,
    )
    if probe.returncode != 0:  # the checkout is not readable by others: use a copy that is
        copy = base / "py"
        for name in ("smsd", "commands", "templates"):
            shutil.copytree(ROOT / name, copy / name)
        shutil.copytree(site, copy / "site")
        subprocess.run(["chmod", "-R", "a+rX", str(copy)], check=True)
        env["PYTHONPATH"] = f"{copy}:{copy / 'site'}"
    return py, env


def _as(user: str, py: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run the CLI as that user with that user's groups (as a login would give them)."""
    groups = [GROUP] if user == ADMIN else []
    return subprocess.run(
        [py, "-m", "smsd", *args],
        env=env,
        user=user,
        group="nogroup",
        extra_groups=groups,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/tmp",
    )


def test_admins_in_the_group_use_the_cli_and_others_get_one_line(box):
    py, env = _python(box)
    var = box / "var"
    var.mkdir()
    shutil.chown(var, SERVICE, GROUP)
    var.chmod(0o770)  # StateDirectoryMode=0770, owned by User=/Group= of the unit
    config = box / "config.toml"
    config.write_text(
        f'[daemon]\ndatabase = "{var}/smsd.db"\npoll_ms = 50\n'
        '[sending]\nquiet_hours = ""\n'
        f'[emulator]\ndir = "{var}/sim"\nsend_delay_ms = 0\ncommand_delay_ms = 0\n'
        "[anniversary]\nenabled = false\n"
        '[modems.m1]\nport = "emulator"\nhourly_cap = 1000\ndaily_cap = 1000\n'
    )
    config.chmod(0o644)
    # An admin asks before the daemon ever ran: the database is created by the admin, and the
    # daemon (another user of the group) must still open it.
    first = _as(ADMIN, py, env, "status", "--config", str(config))
    assert first.returncode == 0, first.stderr
    umask = _unit_umask()
    daemon = subprocess.Popen(
        [py, "-m", "smsd", "run", "--config", str(config)],
        env=env,
        user=SERVICE,
        group=GROUP,
        extra_groups=[],
        umask=umask,
        cwd=str(var),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    last: dict[str, subprocess.CompletedProcess] = {}

    def cli_ok(*args: str) -> str | None:
        last[args[0]] = r = _as(ADMIN, py, env, *args, "--config", str(config))
        if daemon.poll() is not None:
            listing = subprocess.run(["ls", "-la", str(var)], capture_output=True, text=True).stdout
            raise AssertionError(f"the daemon died: {daemon.stderr.read() if daemon.stderr else ''}\n{listing}")
        return r.stdout if r.returncode == 0 else None

    try:
        wait_for(lambda: cli_ok("status"), timeout=60, interval=0.3)
        sent = _as(ADMIN, py, env, "send", "13800138000", "组内管理员发送", "--config", str(config))
        assert sent.returncode == 0, sent.stderr
        try:
            wait_for(lambda: re.search(r"\b(sent|delivered)\b", cli_ok("outbox") or ""), timeout=60, interval=0.3)
        except AssertionError:
            # say why: the daemon's own view of its modem, and the end of its log
            state = _as(ADMIN, py, env, "status", "--config", str(config))
            daemon.terminate()
            try:
                log = daemon.communicate(timeout=30)[1][-3000:]
            except subprocess.TimeoutExpired:
                daemon.kill()
                log = daemon.communicate()[1][-3000:]
            raise AssertionError(
                f"never sent; last outbox: {last['outbox']}\nstatus: {state.stdout}{state.stderr}\ndaemon log:\n{log}"
            ) from None
        status = _as(ADMIN, py, env, "status", "--config", str(config))
        assert status.returncode == 0 and "m1" in status.stdout, status.stderr
        for path in (var / "smsd.db", var / "smsd.db-wal"):
            st = path.stat()
            assert st.st_mode & 0o777 == 0o660, (path, oct(st.st_mode))
            assert st.st_gid == grp.getgrnam(GROUP).gr_gid, (path, st.st_gid)
        refused = _as(OUTSIDER, py, env, "outbox", "--config", str(config))
        assert refused.returncode == 1 and refused.stdout == "", refused
        assert refused.stderr.count("\n") == 1 and "permission denied" in refused.stderr.lower(), refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def test_check_config_refuses_a_database_this_user_cannot_write(box):
    py, env = _python(box)
    locked = box / "locked"
    locked.mkdir(mode=0o700)
    config = box / "config.toml"
    config.write_text(f'[daemon]\ndatabase = "{locked}/smsd.db"\n[modems.m1]\nport = "emulator"\n')
    config.chmod(0o644)
    out = _as(OUTSIDER, py, env, "check-config", "--config", str(config))
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "is not writable" in out.stderr, out
