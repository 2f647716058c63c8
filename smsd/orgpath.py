"""An org unit's path as offices type it (大渡口区/八桥镇/一村党支部): one spelling for all.

A leaf module: the roster reader and the store's lookups both use it, so it imports nothing of
smsd."""

from __future__ import annotations

SLASHES = ("／", "\\", "＼", "|")  # full-width and back slashes, and a bar, typed for /


def org_path(text: str) -> str:
    """An org path as typed: full-width ／, backslashes and spaces around parts are all /."""
    for slash in SLASHES:
        text = text.replace(slash, "/")
    return "/".join(part.strip() for part in text.split("/") if part.strip())
