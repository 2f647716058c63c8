"""The layers, checked on the source (an import-linter contract, without the dependency):

  cli, http  ->  application verbs (admin, broadcast, interact, dispatch, worker, daemon)
             ->  store (SQL only)         transports -> modem driver -> PDU codec

No import cycle, not even through an import inside a function; and none at the type level either
(imports under TYPE_CHECKING included) outside the emulator. The store imports neither the
application nor a transport, not even for a type: what crosses between a transport and the store
(smsd.values) lives below both. Only the modem driver, the GSM transport and the emulator speak AT
or use the PDU codec.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("smsd", "commands", "templates")
AT_ALLOWED = ("smsd.modem", "smsd.transport.gsm", "smsd.sim")
PDU_ALLOWED = ("smsd.modem", "smsd.transport.gsm", "smsd.sim", "smsd.pdu")
SMPP_ALLOWED = ("smsd.smpp", "smsd.transport.smpp", "smsd.smsc")
CMPP_ALLOWED = ("smsd.cmpp", "smsd.transport.cmpp", "smsd.ismg")
FORBIDDEN = {
    # importer prefix: imported prefixes it must not use
    "smsd.store": (
        "smsd.transport",
        "smsd.modem",
        "smsd.pdu",
        "smsd.cli",
        "smsd.http",
        "smsd.admin",
        "smsd.broadcast",
        "smsd.roster",
        "smsd.interact",
        "smsd.dispatch",
        "smsd.worker",
        "smsd.daemon",
    ),
    "smsd.transport": ("smsd.store", "smsd.cli", "smsd.http", "smsd.worker", "smsd.dispatch", "smsd.daemon"),
    "smsd.modem": ("smsd.store", "smsd.transport", "smsd.cli", "smsd.http", "smsd.worker"),
    "commands": ("smsd.store", "smsd.cli", "smsd.http", "smsd.worker", "smsd.daemon", "smsd.transport"),
}
ONLY_FROM = {
    "smsd.cli": ("smsd.cli", "smsd.__main__", "smsd.entry"),
    "smsd.http": ("smsd.http", "smsd.daemon"),
    "smsd.web": ("smsd.web", "smsd.http"),  # the console is mounted on the HTTP server's app
}


def _modules() -> dict[str, Path]:
    out = {}
    for base in PACKAGES:
        for p in (ROOT / base).rglob("*.py"):
            parts = p.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_only(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(x) for x in ast.walk(sub))
    return skip


def _imports(types: bool = False) -> dict[str, set[str]]:
    """Who imports whom: at run time, or (types) with the imports for type checking too."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        skip = set() if types else _type_only(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                r = _resolve(t)
                if r and r != name:
                    graph[name].add(r)
    return graph


GRAPH = _imports()
TYPED = _imports(types=True)


def _cycles(graph: dict[str, set[str]], outside: str = "") -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in MODULES:
        if m not in index:
            visit(m)
    return [c for c in cycles if not (outside and all(m.startswith(outside) for m in c))]


def test_no_import_cycle_even_inside_functions():
    assert not (cycles := _cycles(GRAPH)), f"import cycles: {cycles}"


def test_no_import_cycle_at_the_type_level_outside_the_emulator():
    assert not (cycles := _cycles(TYPED, outside="smsd.sim")), f"type-level import cycles: {cycles}"


@pytest.mark.parametrize("importer", sorted(FORBIDDEN))
def test_layers_hold(importer):
    bad = [
        (m, dep)
        for m, deps in TYPED.items()  # not even for a type
        if m == importer or m.startswith(importer + ".")
        for dep in deps
        if any(dep == f or dep.startswith(f + ".") for f in FORBIDDEN[importer])
    ]
    assert not bad, f"{importer} must not import: {bad}"


def test_front_ends_are_imported_only_by_themselves():
    bad = [
        (m, dep)
        for m, deps in GRAPH.items()
        for dep in deps
        for layer, allowed in ONLY_FROM.items()
        if (dep == layer or dep.startswith(layer + ".")) and not any(m == a or m.startswith(a + ".") for a in allowed)
    ]
    assert not bad, f"front ends imported from below: {bad}"


def test_only_the_gsm_side_uses_the_pdu_codec():
    users = sorted(m for m, deps in GRAPH.items() if "smsd.pdu" in deps and not m.startswith(PDU_ALLOWED))
    assert not users, f"the PDU codec is imported by {users}"


def test_only_the_cmpp_side_uses_the_cmpp_codec():
    users = sorted(
        m
        for m, deps in GRAPH.items()
        if any(d.startswith("smsd.cmpp") for d in deps) and not m.startswith(CMPP_ALLOWED)
    )
    assert not users, f"the CMPP codec is imported by {users}"
    assert "smsd.cmpp.codec" in GRAPH["smsd.transport.cmpp"] and "smsd.cmpp.codec" in GRAPH["smsd.ismg.server"]


def test_only_the_smpp_side_uses_smpplib():
    users = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(n == "smpplib" or n.startswith("smpplib.") for n in names) and not name.startswith(SMPP_ALLOWED):
                users.append(name)
    assert not users, f"smpplib is imported by {users}"
    assert "smsd.transport.smpp" in GRAPH and "smsd.smpp.codec" in GRAPH["smsd.transport.smpp"]


def test_only_the_gsm_side_speaks_at():
    command = re.compile(r"^AT([+^&$][A-Z]|[EZ]\d|$)")
    speakers = []
    for name, path in MODULES.items():
        if name.startswith(AT_ALLOWED):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            if is_text and command.match(node.value):
                speakers.append((name, node.value))
    assert not speakers, f"AT commands outside the GSM side: {speakers}"


def _store_like(node: ast.expr) -> bool:
    """`store`, `s`, `self.store`, `ctx.store`, `w.store`, `store.outbox`, ...: a store or a repository."""
    text = ast.unparse(node)
    return text in ("s", "store") or text.endswith(".store") or bool(re.match(r"^(\w+\.)?store\.\w+$", text))


def test_nothing_outside_the_store_calls_a_private_store_method():
    private = []
    for name, path in MODULES.items():
        if name.startswith("smsd.store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and _store_like(node.value)
            ):
                private.append((name, ast.unparse(node)))
    assert not private, f"private store members used outside the store: {private}"


def test_only_the_store_speaks_sql():
    sql = re.compile(
        r"^\s*(SELECT\s.*\sFROM\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
        r"|CREATE\s+(TABLE|INDEX)\s|PRAGMA\s+\w+)",
        re.I | re.S,
    )
    speakers = []
    for name, path in MODULES.items():
        if name.startswith("smsd.store"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and sql.match(node.value):
                speakers.append((name, node.value[:40]))
    assert not speakers, f"SQL outside the store: {speakers}"


REPOSITORIES = {
    "outbox", "claims", "submits", "reports", "campaigns", "inbox", "members", "senders", "polls", "receipts", "red",
    "ledger", "webhooks", "health", "maintenance",
}  # fmt: skip


def test_front_ends_call_verbs_not_the_store():
    """The CLI, the HTTP API and the web console go through the application's verbs (smsd.actions
    and the modules they call): an actor's scope then holds for every front end."""
    calls = []
    for name, path in MODULES.items():
        if not name.startswith(("smsd.cli", "smsd.http", "smsd.web")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr in REPOSITORIES
                and _store_like(node.func.value.value)
            ):
                calls.append((name, ast.unparse(node.func)))
    assert not calls, f"front ends calling store verbs directly: {calls}"
