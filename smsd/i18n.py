"""gettext for every admin-facing string: the zh_CN catalogue is in smsd/locale/.

The language is chosen once per process, before the command modules are imported (their help
texts are translated at import): `[daemon] language` in config.toml when set, else the
environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG), as gettext reads it. `select()` sets
LANGUAGE, so click's own texts ("Usage:", "Show this message and exit.") follow too: they are in
the same catalogue, under the global gettext domain this module binds.

An error carries its English template and parameters (smsd.errors); `render()` translates the
template and fills it in, so the catalogue holds "{path}: not valid TOML: {error}", not one
entry per file name.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path
from typing import Any

DOMAIN = "smsd"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("zh_CN", "en")

_translation: gettext.NullTranslations = gettext.NullTranslations()


def select(language: str | None = None) -> None:
    """Use `language` ("zh_CN", "en"), or the environment's when None or empty."""
    global _translation
    if language:
        os.environ["LANGUAGE"] = language
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)  # click's gettext.gettext() calls look here too
    _translation = gettext.translation(DOMAIN, localedir=LOCALE_DIR, fallback=True)


def _(message: str) -> str:
    """Translate an admin-facing message (the English text when no catalogue applies)."""
    return _translation.gettext(message) if message else message


def render(template: str, params: dict[str, Any]) -> str:
    """A translated template with its parameters filled in; the English one if a translation
    does not fit its parameters (never an error while reporting an error)."""
    for text in (_(template), template):
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError, AttributeError):
            continue
    return template


def language() -> str:
    """The language in use: the catalogue's, or "en"."""
    info = _translation.info() if isinstance(_translation, gettext.GNUTranslations) else {}
    return str(info.get("language", "en")) or "en"


select(None)  # the environment's, until the CLI reads config.toml
