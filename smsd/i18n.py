"""gettext for every admin-facing string: a zh_CN catalogue drops into smsd/locale/."""

from __future__ import annotations

import gettext
from pathlib import Path

_LOCALE_DIR = Path(__file__).parent / "locale"
_translation = gettext.translation("smsd", localedir=_LOCALE_DIR, fallback=True)


def _(message: str) -> str:
    """Translate an admin-facing message (identity until a catalogue is installed)."""
    return _translation.gettext(message)
