"""README's five-minute tour, run as written (issue 17): each `$ ` command in order, on the
shipped config.toml (two emulated modems, 3 s a submit, Chinese), against a running daemon.
Where README shows output, the command must print it (times, ids of the moment and which of
the two modems took a message are normalised); a command that shows what the daemon has not
done yet is asked again until it does (the reader would wait too), within a timeout."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent
READ_ONLY = {"outbox", "inbox", "status"}  # asked again while the daemon catches up; the others run once


def tour_steps() -> list[tuple[str, list[str]]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## A five-minute tour") : text.index("Every command has `--help`")]
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps and line.strip():
                steps[-1][1].append(line)
    return steps


def normalise(line: str) -> str:
    line = re.sub(r"\d{4}-\d{2}-\d{2}(（周.）|[ T])\d{2}:\d{2}(:\d{2})?", "<time>", line)
    line = re.sub(r"\bm[12]\b", "m?", line)  # which of the two modems took it
    line = re.sub(r"pid \d+", "pid <pid>", line)
    return " ".join(line.split())


def matches(expected: list[str], out: str) -> bool:
    got = sorted(normalise(x) for x in out.splitlines() if x.strip())
    want = sorted(normalise(x) for x in expected)
    return got == want


def test_the_readme_tour_prints_what_readme_shows(tmp_path, daemon):
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    config = tmp_path / "config.toml"
    env = {**os.environ, "SMSD_CONFIG": str(config), "LANG": "C.UTF-8", "LANGUAGE": "", "LC_ALL": ""}
    d = daemon(config)
    steps = tour_steps()
    assert len(steps) >= 12
    for command, expected in steps:
        cmd = command.split("#")[0].strip()
        if cmd.startswith(". "):
            continue  # activating the venv: the test already runs in it
        parts = [shlex.split(p) for p in cmd.split(" ; ")]
        assert all(a[0] == "smsd" for a in parts), cmd
        read_only = len(parts) == 1 and parts[0][1] in READ_ONLY and not [a for a in parts[0][2:] if a[0] != "-"]

        def run_line(parts=parts) -> str:
            printed = []
            for args in parts:
                out = subprocess.run(
                    [sys.executable, "-m", "smsd", *args[1:]], capture_output=True, text=True, env=env, cwd=tmp_path,
                    timeout=60,
                )  # fmt: skip
                assert out.returncode == 0, (args, out.stdout, out.stderr)
                printed.append(out.stdout.replace(f"{tmp_path}/", ""))  # README shows paths relative to the folder
            return "".join(printed)

        text = run_line()
        if expected and read_only and not matches(expected, text):
            # the daemon is still sending (3 s a submit): ask again until it shows what README shows
            seen = [text]

            def as_readme_shows(seen=seen, expected=expected, run_line=run_line) -> bool:
                seen.append(run_line())
                return matches(expected, seen[-1])

            with contextlib.suppress(AssertionError):  # the assertion below shows what it printed last
                wait_for(as_readme_shows, timeout=60, interval=0.5)
            text = seen[-1]
        if expected:
            assert matches(expected, text), f"$ {cmd}\nREADME shows:\n" + "\n".join(expected) + f"\nit printed:\n{text}"
    assert d.terminate() == 0
