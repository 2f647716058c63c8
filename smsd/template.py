"""Message templates: plain-text files in templates/ with ${placeholders}, rendered strictly."""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from pathlib import Path

from smsd.errors import InputError

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Text(string.Template):
    """${name} as usual, and a roster's own column by its Chinese header in braces: ${职务}."""

    braceidpattern = r"(?a:[_a-z][_a-z0-9]*)|[\u3400-\u9fff（）()][\u3400-\u9fff（）()_0-9a-z]*"


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    description: str

    @functools.cached_property
    def variables(self) -> list[str]:
        found: list[str] = []
        for m in _Text.pattern.finditer(self.text):
            var = m.group("named") or m.group("braced")
            if var and var not in found:
                found.append(var)
        return found

    @functools.cached_property
    def _compiled(self) -> string.Template:
        return _Text(self.text)

    def check(self) -> None:
        """A `$` that starts no placeholder (`${name` left open, `$5`) is an error that says where."""
        for m in _Text.pattern.finditer(self.text):
            if m.group("invalid") is not None:
                at = m.start()
                line = self.text.count("\n", 0, at) + 1
                column = at - (self.text.rfind("\n", 0, at) + 1) + 1
                raise InputError(
                    "template {name!r}: the $ at line {line}, column {column} ({near!r}) starts no placeholder; "
                    "write ${{name}} with both braces, or $$ for a dollar sign",
                    name=self.name,
                    line=line,
                    column=column,
                    near=self.text[at : at + 12],
                    msg_id="template_malformed",
                )

    def render(self, values: dict[str, object]) -> str:
        """Substitute every placeholder; a missing one is an InputError naming it."""
        self.check()
        missing = [v for v in self.variables if v not in values or values[v] in (None, "")]
        if missing:
            raise InputError(
                "template {name!r} needs {value}", name=self.name, value=", ".join("${" + m + "}" for m in missing)
            )
        try:
            return self._compiled.substitute({v: str(values[v]) for v in self.variables})
        except ValueError as exc:
            raise InputError("template {name!r} is malformed: {error}", name=self.name, error=exc) from None


def parse(name: str, raw: str) -> Template:
    """Lines starting with '##' at the top describe the template and are not sent."""
    lines = raw.splitlines()
    notes = []
    while lines and lines[0].startswith("##"):
        notes.append(lines.pop(0)[2:].strip())
    return Template(name, "\n".join(lines).strip(), " ".join(notes))


def shipped_dir() -> Path:
    """The templates that come with smsd (templates/ in the repository, installed as smsd.templates)."""
    import importlib

    shipped = importlib.import_module("smsd.templates")  # templates/ of the repository (package-dir)
    return Path(str(shipped.__file__)).parent


def load_all(directory: Path | None) -> dict[str, Template]:
    """The shipped templates, each overridden by a file of the same name in directory (if any)."""
    out = _read(shipped_dir())
    if directory is not None:
        if not directory.is_dir():
            raise InputError(
                "template folder {directory} does not exist (templates_dir in config.toml)", directory=directory
            )
        out.update(_read(directory))
    return out


def _read(directory: Path) -> dict[str, Template]:
    out = {}
    for p in sorted(directory.glob("*.txt")):
        if NAME.match(p.stem):
            out[p.stem] = parse(p.stem, p.read_text(encoding="utf-8"))
    return out


def load(directory: Path | None, name: str) -> Template:
    templates = load_all(directory)
    if name not in templates:
        known = ", ".join(templates) or "none"
        where = f"{directory} or the shipped templates" if directory else "the shipped templates"
        raise InputError("no template {name!r} in {where} (known: {known})", name=name, where=where, known=known)
    return templates[name]
