"""Raw SQL for tests that look at the database itself (counts, plans, columns no verb shows).

The store's verbs return records; these read rows as dicts straight off its connection, so a test
can check what was written without a verb made for it.
"""

from __future__ import annotations

from typing import Any

from smsd.store import Store


def rows(store: Store, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in store.conn.execute(sql, params).fetchall()]


def one(store: Store, sql: str, params: Any = ()) -> dict[str, Any] | None:
    row = store.conn.execute(sql, params).fetchone()
    return dict(row) if row else None
