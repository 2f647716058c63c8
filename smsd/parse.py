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
SEPARATORS = " ,;:.-~=+#*/\\|_"
BRACKETS = "[]()<>\"'"  # 【TP 2】 as some phone apps wrap a reply, quotes around a whole text
OPENERS = {"]": "[", ")": "(", ">": "<", '"': '"', "'": "'"}  # a closing bracket's opener (normalised)
CJK = re.compile(r"^[\u4e00-\u9fff]+")
LATIN = re.compile(r"^[a-z]+|^\?")
SPELLED = re.compile(r"^(?:[a-z] )+[a-z](?![a-z])")  # "t p 2": a keyword typed with spaces between letters
CJK_SPELLED = re.compile(r"^[\u4e00-\u9fff](?: [\u4e00-\u9fff])+")  # "退 订", "投 票 2": the same in Chinese


def normalise(text: str) -> str:
    t = unicodedata.normalize("NFKC", text or "").translate(PUNCT).casefold()
    return re.sub(r"\s+", " ", t).strip()


@dataclass(frozen=True)
class Parsed:
    keyword: str  # '' when no keyword was recognised
    argument: str  # the rest, separators stripped (normalised)
    normalized: str
    raw_argument: str = ""  # the rest as the member typed it (width and case kept), keyword removed

    @property
    def bare_number(self) -> int | None:
        """'2' or '2 张三' with no keyword: a bare option or a bare receipt."""
        m = re.match(r"^(\d{1,3})\b", self.normalized) if not self.keyword else None
        return int(m.group(1)) if m else None


def _unwrap(t: str) -> str:
    """Strip brackets or quotes that wrap the whole text, or lead it: 【TP 2】, "QR"."""
    return t.strip(BRACKETS + " ").strip()


def parse(text: str, known: Callable[[str], bool]) -> Parsed:
    """Find the keyword by dictionary lookup: the leading Latin word (also spelled with spaces,
    "T P 2"), or the longest known Chinese prefix (Chinese needs no separator: 投票2, 红段子春风十里).

    A one-letter keyword counts only when it is the whole message: 'T' may unsubscribe (when
    configured), 'T P 2' and 'T 2' never do."""
    whole = normalise(text)
    t = _unwrap(whole)
    candidates: list[tuple[str, int]] = []
    m = SPELLED.match(t)
    if m:
        candidates.append((m.group(0).replace(" ", ""), m.end()))
    m = LATIN.match(t)
    if m:
        candidates.append((m.group(0), m.end()))
    m = CJK.match(t)
    if m:
        run = m.group(0)
        candidates += [(run[:n], n) for n in range(min(len(run), 6), 0, -1)]
    m = CJK_SPELLED.match(t)
    if m:
        ends = [i + 1 for i, ch in enumerate(m.group(0)) if ch != " "]
        run = m.group(0).replace(" ", "")
        candidates += [(run[:n], ends[n - 1]) for n in range(min(len(run), 6), 1, -1)]
    for keyword, end in candidates:
        if not known(keyword):
            continue
        rest = t[end:].lstrip(SEPARATORS).strip()
        if len(keyword) == 1 and keyword.isascii() and keyword != "?" and rest:
            continue
        return Parsed(keyword, rest, whole, _raw_rest(text, t[:end]))
    return Parsed("", t, whole, _unwrap(text.strip()))


def _raw_rest(raw: str, consumed: str) -> str:
    """The member's own text after the keyword: walk the raw text until its normalised form
    covers what the parser consumed, then skip separators and a closing bracket."""
    target = consumed.replace(" ", "")
    seen, i = "", 0
    while i < len(raw) and len(seen) < len(target):
        seen += normalise(raw[i]).replace(" ", "") if normalise(raw[i]) not in BRACKETS else ""
        i += 1
    while i < len(raw) and (not normalise(raw[i]) or normalise(raw[i]) in SEPARATORS):
        i += 1  # an opening bracket here is the member's own: HDZ 《红岩》读后感 keeps its 《
    rest = raw[i:].rstrip()
    while rest and (opener := OPENERS.get(normalise(rest[-1]))) and opener not in normalise(rest[:-1]):
        rest = rest[:-1].rstrip()  # the closer of a wrapped text (【HDZ 不忘初心】), not one of a pair
    return rest
