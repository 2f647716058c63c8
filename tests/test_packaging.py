"""What an install puts in site-packages: smsd and nothing else at the top (commands/ and
templates/ go inside it), every package listed, and a box can install without the test tools."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _on_disk() -> set[str]:
    found = set()
    for init in (ROOT / "smsd").rglob("__init__.py"):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    for name, folder in SETUPTOOLS["package-dir"].items():
        assert (ROOT / folder / "__init__.py").is_file(), folder
        found.add(name)
    return found


def test_every_package_is_installed_and_all_of_them_inside_smsd():
    listed = set(SETUPTOOLS["packages"])
    assert listed == _on_disk()
    assert {p.split(".")[0] for p in listed} == {"smsd"}  # no top-level commands or templates package
    assert SETUPTOOLS["package-dir"] == {"smsd.commands": "commands", "smsd.templates": "templates"}
    assert "*.txt" in SETUPTOOLS["package-data"]["smsd.templates"]


def test_the_runtime_needs_no_test_tools_and_the_licence_is_an_spdx_expression():
    runtime = " ".join(PYPROJECT["project"]["dependencies"])
    for tool in ("pytest", "mypy", "ruff", "hypothesis", "gsmmodem"):
        assert tool not in runtime, tool
    assert PYPROJECT["project"]["license"] == "MIT"  # not the deprecated { text = ... } table
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "install:" in makefile and "pip install -q ." in makefile  # `make install`: runtime only
