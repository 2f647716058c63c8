"""The message catalogue, with Babel: extract, update, compile (`make setup` runs all three).

    python smsd/locale/build.py            # extract -> smsd.pot, update zh_CN/.../smsd.po, compile .mo
    python smsd/locale/build.py compile    # only the .mo files (what a package build needs)

Extracted: every `_("...")` in smsd/ and commands/; the first argument of the admin-facing
errors (InputError("{path}: ...", path=p) and its siblings: the template is the msgid); the
help text of every command (its docstring, as click shows it); and click's own texts (Usage:,
Options:, its error messages), which the CLI shows too. A translator fills in the .po; the
test suite fails while a msgid is untranslated or a translation drops a placeholder.
"""

from __future__ import annotations

import ast
import inspect
import sys
from datetime import datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
POT = HERE / "smsd.pot"
LANGUAGES = ("zh_CN",)
STAMP = datetime(2026, 11, 28)  # fixed dates: a rebuild changes the files only when a message changes
KEYWORDS = {
    "_": None,
    "N_": None,
    "InputError": (1,),
    "ConfigError": (1,),
    "StoreError": (1,),
    "BudgetError": (1,),
    "NotAllowed": (1,),
    "SmsdError": (1,),
}
CLICK_KEYWORDS = {"_": None, "ngettext": (1, 2)}


def _docstrings(folder: Path) -> list[tuple[str, str, int]]:
    """(text, file, line) of every click command's help: functions decorated with .command or .group."""
    out = []
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            marks = [ast.unparse(d) for d in node.decorator_list]
            if not any(".command(" in m or m.endswith(".command") or "group(" in m or m.endswith(".group")
                       for m in marks):  # fmt: skip
                continue
            doc = ast.get_docstring(node, clean=False)
            if doc:
                out.append((inspect.cleandoc(doc), str(path.relative_to(ROOT)), node.lineno))
    return out


def extract() -> Catalog:
    import click

    cat = Catalog(project="smsd", version="0.1", creation_date=STAMP, revision_date=STAMP, charset="utf-8")
    for folder in ("smsd", "commands"):
        for filename, lineno, message, comments, _context in extract_from_dir(
            ROOT / folder,
            keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",),
            method_map=[("**.py", "python"), ("web/templates/**.html", "jinja2.ext:babel_extract")],
            options_map={"web/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}},
        ):
            if "/locale/" in filename or filename.startswith("locale/"):
                continue
            cat.add(message, locations=[(f"{folder}/{filename}", lineno)], auto_comments=comments)
    for text, filename, lineno in _docstrings(ROOT / "smsd" / "cli"):
        cat.add(text, locations=[(filename, lineno)], flags=("command-help",))
    for path in sorted((ROOT / "templates").glob("*.txt")):  # the shipped templates' ## descriptions
        about = " ".join(x[2:].strip() for x in path.read_text(encoding="utf-8").splitlines() if x.startswith("##"))
        if about:
            cat.add(about, locations=[(f"templates/{path.name}", 1)], flags=("template-description",))
    click_dir = Path(click.__file__).parent
    for filename, lineno, message, comments, _context in extract_from_dir(
        click_dir, keywords=CLICK_KEYWORDS, method_map=[("**.py", "python")]
    ):
        cat.add(message, locations=[(f"click/{filename}", lineno)], auto_comments=comments)
    with POT.open("wb") as f:
        write_po(f, cat, width=100, sort_output=True, include_lineno=False)
    return cat


def update(template: Catalog) -> None:
    for lang in LANGUAGES:
        po = HERE / lang / "LC_MESSAGES" / "smsd.po"
        po.parent.mkdir(parents=True, exist_ok=True)
        if po.exists():
            with po.open("rb") as f:
                cat = read_po(f, locale=lang)
        else:
            cat = Catalog(locale=lang, project="smsd", creation_date=STAMP, revision_date=STAMP)
        cat.update(template, no_fuzzy_matching=True)
        cat.revision_date = STAMP
        cat.obsolete.clear()
        with po.open("wb") as f:
            write_po(f, cat, width=100, sort_output=True, ignore_obsolete=True, include_lineno=False)


def compile_all() -> int:
    n = 0
    for po in sorted(HERE.glob("*/LC_MESSAGES/smsd.po")):
        with po.open("rb") as f:
            cat = read_po(f)
        with po.with_suffix(".mo").open("wb") as f:
            write_mo(f, cat)
        n += 1
    return n


def main(argv: list[str]) -> int:
    if argv[:1] != ["compile"]:
        update(extract())
    compile_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
