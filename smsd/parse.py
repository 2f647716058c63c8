"""Normalise an inbound text once, then split it into keyword and argument.

Members type on feature phones and Chinese input methods: full-width letters and digits
(ＴＰ　２), Chinese punctuation (投票，2), any case, a signature after the text. NFKC folds
the widths, a table folds the punctuation, case-folding the case.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

PUNCT = str.maketrans(
    {
        "，": ",",
        "。": ".",
        "：": ":",
        "；": ";",
        "！": "!",
        "？": "?",
        "、": ",",
        "（": "(",
        "）": ")",
        "【": "[",
        "】": "]",
        "“": '"',
        "”": '"',
        "‘": "'",
        "’": "'",
        "～": "~",
        "—": "-",
        "－": "-",
        "《": "<",
        "》": ">",
        "\u3000": " ",
        "·": ".",
    }
)
SEPARATORS = " ,;:.-~=+"
CJK = re.compile(r"^[\u4e00-\u9fff]+")
LATIN = re.compile(r"^[a-z]+|^\?")


def normalise(text: str) -> str:
    t = unicodedata.normalize("NFKC", text or "").translate(PUNCT).casefold()
    return re.sub(r"\s+", " ", t).strip()


@dataclass(frozen=True)
class Parsed:
    keyword: str  # '' when no keyword was recognised
    argument: str  # the rest, separators stripped
    normalized: str

    @property
    def bare_number(self) -> int | None:
        """'2' or '2 张三' with no keyword: a bare option or a bare receipt."""
        m = re.match(r"^(\d{1,3})\b", self.normalized) if not self.keyword else None
        return int(m.group(1)) if m else None


def parse(text: str, known: Callable[[str], bool]) -> Parsed:
    """Find the keyword by dictionary lookup: the leading Latin word, or the longest known
    Chinese prefix (Chinese needs no separator: 投票2, 红段子春风十里)."""
    t = normalise(text)
    m = LATIN.match(t)
    if m and known(m.group(0)):
        return Parsed(m.group(0), t[m.end() :].lstrip(SEPARATORS).strip(), t)
    m = CJK.match(t)
    if m:
        run = m.group(0)
        for length in range(min(len(run), 6), 0, -1):
            if known(run[:length]):
                return Parsed(run[:length], t[length:].lstrip(SEPARATORS).strip(), t)
    return Parsed("", t, t)
