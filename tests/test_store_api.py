"""The store's public face: every public verb of Store and of each repository returns a frozen
record, a list, tuple or iterator of them, or a scalar (a time included): never a dict row, a
list of dict rows, or Any.

A dict row is read by subscripts (row["segments"]) that no type checker follows; a record's
fields are checked by mypy wherever they are read. The generic SQL helpers are private.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
import typing
from collections.abc import Iterator
from datetime import datetime

import pytest

import smsd.store as store_module
from smsd.store import Store
from smsd.store.core import Repo

SCALARS = (int, str, bool, float, type(None), bytes, datetime)
CONTAINERS = (list, tuple, Iterator, types.UnionType, typing.Union)


def _repositories() -> dict[str, type]:
    hints = typing.get_type_hints(Store)
    repos = {name: cls for name, cls in hints.items() if inspect.isclass(cls) and issubclass(cls, Repo)}
    return {"Store": Store} | repos


def _bad(tp: object) -> str | None:
    """Why a return type is not allowed (None: it is)."""
    if tp is typing.Any:
        return "Any"
    if tp is None:
        return None
    origin = typing.get_origin(tp)
    if origin is None:
        if tp in SCALARS:
            return None
        if inspect.isclass(tp) and dataclasses.is_dataclass(tp) and tp.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            return None
        return f"{tp!r} is neither a frozen record nor a scalar"
    if origin is typing.Literal:
        return None
    if origin in CONTAINERS:
        for arg in typing.get_args(tp):
            why = None if arg is Ellipsis else _bad(arg)
            if why:
                return why
        return None
    return f"{tp!r} is a dict or another container of rows"


def _public_verbs() -> list[tuple[str, str, object]]:
    out = []
    for repo, cls in _repositories().items():
        for name, fn in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            ann = inspect.signature(fn).return_annotation
            if ann is inspect.Signature.empty:
                out.append((repo, name, typing.Any))
                continue
            module = sys.modules[fn.__module__]
            out.append(
                (
                    repo,
                    name,
                    eval(ann, vars(typing) | vars(store_module) | vars(module)) if isinstance(ann, str) else ann,
                )
            )
    return out


VERBS = _public_verbs()


def test_there_are_repositories_and_verbs_to_walk() -> None:
    assert len(_repositories()) >= 12 and len(VERBS) >= 100


@pytest.mark.parametrize(("repo", "name", "returns"), VERBS, ids=[f"{r}.{n}" for r, n, _ in VERBS])
def test_a_public_verb_returns_records_or_scalars(repo: str, name: str, returns: object) -> None:
    why = _bad(returns)
    assert why is None, f"{repo}.{name} returns {returns!r}: {why}"


def test_the_generic_sql_helpers_are_private() -> None:
    for repo, cls in _repositories().items():
        public = {n for n, _ in inspect.getmembers(cls) if not n.startswith("_")}
        assert not public & {"rows", "one", "one_of", "all_of", "counter", "next_counter"}, repo
