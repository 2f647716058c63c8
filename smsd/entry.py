"""The `smsd` command's entry point: choose the language, then load the command line.

The language must be known before the command modules are imported (their help texts are
translated then), so config.toml's `[daemon] language` is read here first, quietly: a broken
config file is reported properly by the command itself, in the environment's language.
`--config FILE` may also come before the subcommand (`smsd --config X outbox`).
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path


def _config_argument(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--":
            return None
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def _leading_config(argv: list[str]) -> list[str]:
    """`smsd --config X outbox` -> `smsd outbox` with SMSD_CONFIG=X (every command reads it)."""
    if argv[:1] == ["--config"] and len(argv) >= 2:
        os.environ["SMSD_CONFIG"] = argv[1]
        return argv[2:]
    if argv and argv[0].startswith("--config="):
        os.environ["SMSD_CONFIG"] = argv[0].split("=", 1)[1]
        return argv[1:]
    return argv


def configured_language(argv: list[str]) -> str:
    from smsd.config import config_path

    try:
        path = config_path(_config_argument(argv))
        text = Path(path).read_bytes().decode("utf-8-sig", errors="replace")
    except OSError:
        return ""
    try:
        value = tomllib.loads(text).get("daemon", {}).get("language", "")
        return value if isinstance(value, str) else ""
    except (ValueError, AttributeError):
        # a file TOML cannot read still says which language its admin reads: the error is in it
        m = re.search(r"""^\s*language\s*[=＝]\s*["“”']?(zh_CN|en)\b""", text, re.M)
        return m.group(1) if m else ""


def run() -> None:
    sys.argv[1:] = _leading_config(sys.argv[1:])
    from smsd import i18n

    i18n.select(configured_language(sys.argv[1:]))
    from smsd.cli import run as cli

    cli()
