"""Members, org units (a tree by path) and their tags (roles, groups)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from smsd.clock import ts, utcnow
from smsd.errors import InputError
from smsd.orgpath import org_path
from smsd.phone import mask
from smsd.store.core import Repo
from smsd.store.records import Member, MemberRow


class Members(Repo):
    def org_id(self, path: str) -> int | None:
        """The id of an org unit path, creating it and its ancestors (inside a tx)."""
        if not path:
            return None
        parent_id = None
        parts = [p for p in path.split("/") if p]
        for i in range(len(parts)):
            sub = "/".join(parts[: i + 1])
            row = self._one("SELECT id FROM org_units WHERE path = ?", (sub,))
            if row is None:
                cur = self.conn.execute(
                    "INSERT INTO org_units (path, name, parent_id) VALUES (?, ?, ?)", (sub, parts[i], parent_id)
                )
                parent_id = int(cur.lastrowid or 0)
            else:
                parent_id = int(row["id"])
        return parent_id

    def org_counts(self) -> list[tuple[str, int, int]]:
        """Every org unit path with its own members and the members of its whole subtree."""
        own = {
            r["path"]: r["n"]
            for r in self._rows(
                "SELECT o.path, COUNT(m.id) AS n FROM org_units o LEFT JOIN members m ON m.org_id = o.id GROUP BY o.id"
            )
        }
        paths = sorted(own)
        total = {p: sum(n for q, n in own.items() if q == p or q.startswith(p + "/")) for p in paths}
        return [(p, own[p], total[p]) for p in paths]

    def org_exists(self, path: str) -> bool:
        return self._one("SELECT 1 AS x FROM org_units WHERE path = ?", (path.strip("/"),)) is not None

    def resolve_org(self, text: str) -> str:
        """An org unit as an admin names it: its full path, or its own name (八桥镇) or the end of
        its path (八桥镇/一村党支部) when that names one unit. Otherwise an InputError that lists
        the units it could mean, or suggests the closest names."""
        path = org_path(text)
        if self.org_exists(path):
            return path
        found = [
            r["path"] for r in self._rows("SELECT path FROM org_units WHERE path LIKE ? ORDER BY path", ("%/" + path,))
        ]
        if len(found) == 1:
            return str(found[0])
        if found:
            raise InputError(
                "org unit {org!r} could be {units}; give the full path",
                field="org",
                value=text,
                org=text,
                units=", ".join(found[:5]),
            )
        import difflib

        units: list[str] = [str(r["path"]) for r in self._rows("SELECT path FROM org_units ORDER BY path")]
        names: dict[str, str] = {u.rsplit("/", 1)[-1]: u for u in units}
        close = difflib.get_close_matches(path, list(names), n=3, cutoff=0.5)
        close += [u for u in difflib.get_close_matches(path, units, n=3, cutoff=0.5) if u not in close]
        hint = ", ".join(dict.fromkeys(str(names.get(c, c)) for c in close))
        if hint:
            raise InputError("no org unit {org!r}; did you mean {hint}?", field="org", value=text, org=text, hint=hint)
        raise InputError("no org unit {org!r} (`smsd org tree` shows them)", field="org", value=text, org=text)

    def remove_org(self, path: str, actor: str, now: datetime | None = None) -> int:
        """Remove an org unit that has no members in it or below it (with its empty sub-units);
        returns how many units went. A unit with members is refused with their number."""
        path = path.strip("/")
        now = now or utcnow()
        with self._tx():
            if not self.org_exists(path):
                raise InputError("no org unit {org!r}", field="org", value=path, org=path)
            row = self._one(
                "SELECT COUNT(*) AS n FROM members m JOIN org_units o ON o.id = m.org_id "
                "WHERE o.path = ? OR o.path LIKE ? || '/%'",
                (path, path),
            )
            n = int(row["n"]) if row else 0
            if n:
                raise InputError(
                    "org unit {org!r} has {n} member(s); move or remove them first", field="org", org=path, n=n
                )
            cur = self.conn.execute("DELETE FROM org_units WHERE path = ? OR path LIKE ? || '/%'", (path, path))
            self._event("org_unit", path, "removed", f"{cur.rowcount} unit(s)", actor, now)
            return int(cur.rowcount)

    def upsert(
        self,
        rows: list[MemberRow],
        actor: str = "cli",
        now: datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[int, int]:
        """Insert or update (by phone) in one transaction. Returns (added, updated); a row equal to
        the member already stored changes nothing and counts as neither. progress(n) is called
        every 500 rows (a bar for a large roster)."""
        now = now or utcnow()
        added = updated = 0
        with self._tx():
            orgs: dict[str, int | None] = {}
            for i, r in enumerate(rows, start=1):
                if progress is not None and i % 500 == 0:
                    progress(500)
                if r.org not in orgs:
                    orgs[r.org] = self.org_id(r.org)
                existing = self._one(
                    "SELECT id, name, org_id, joined, extras, (SELECT group_concat(tag, char(10)) FROM "
                    "(SELECT tag FROM member_tags t WHERE t.member_id = members.id ORDER BY tag)) AS tags "
                    "FROM members WHERE phone = ?",
                    (r.phone,),
                )
                extras = json.dumps(r.extras, ensure_ascii=False)
                values = (r.name, orgs[r.org], r.joined, extras, ts(now))
                if (
                    existing
                    and (existing["name"], existing["org_id"], existing["joined"], existing["extras"])
                    == (
                        r.name,
                        orgs[r.org],
                        r.joined,
                        extras,
                    )
                    and (existing["tags"] or "") == "\n".join(sorted(set(r.tags)))
                ):
                    continue  # the same member, unchanged
                if existing:
                    mid = int(existing["id"])
                    self.conn.execute(
                        "UPDATE members SET name = ?, org_id = ?, joined = ?, extras = ?, updated_at = ? WHERE id = ?",
                        (*values, mid),
                    )
                    self.conn.execute("DELETE FROM member_tags WHERE member_id = ?", (mid,))
                    updated += 1
                else:
                    cur = self.conn.execute(
                        "INSERT INTO members (name, org_id, joined, extras, updated_at, phone, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (*values, r.phone, ts(now)),
                    )
                    mid = int(cur.lastrowid or 0)
                    added += 1
                self.conn.executemany(
                    "INSERT OR IGNORE INTO member_tags (member_id, tag) VALUES (?, ?)", [(mid, t) for t in r.tags]
                )
            self._event("members", None, "imported", f"added={added} updated={updated}", actor, now)
        return added, updated

    _SELECT = """SELECT m.*, o.path AS org, (SELECT group_concat(tag, ',') FROM member_tags t
                 WHERE t.member_id = m.id) AS tags FROM members m LEFT JOIN org_units o ON o.id = m.org_id"""

    def select(
        self, *, orgs: tuple[str, ...] = (), tags: tuple[str, ...] = (), limit: int | None = None
    ) -> list[Member]:
        """Members in any of the org subtrees and with any of the tags (no filter: everyone)."""
        where, params = self._selection(orgs, tags)
        sql = self._SELECT + where + " ORDER BY m.id" + (f" LIMIT {int(limit)}" if limit else "")
        return self._all_of(Member, sql, params)

    def iterate(self, *, orgs: tuple[str, ...] = (), tags: tuple[str, ...] = ()) -> Iterator[Member]:
        """The same members as select(), read in batches: a 100,000-member roster is never in memory."""
        where, params = self._selection(orgs, tags)
        yield from Member.each(self.conn.execute(self._SELECT + where + " ORDER BY m.id", params))

    @staticmethod
    def _selection(orgs: tuple[str, ...], tags: tuple[str, ...]) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if orgs:
            clauses.append("(" + " OR ".join("(o.path = ? OR o.path LIKE ? || '/%')" for _ in orgs) + ")")
            for org in orgs:
                params += [org.strip("/"), org.strip("/")]
        if tags:
            clauses.append(f"m.id IN (SELECT member_id FROM member_tags WHERE tag IN ({','.join('?' * len(tags))}))")
            params += list(tags)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def get(self, key: str | int) -> Member:
        """A member by id or phone; InputError names what was not found."""
        key_s = str(key)
        if key_s.isdigit() and len(key_s) < 11:
            row = self._one_of(Member, self._SELECT + " WHERE m.id = ?", (int(key_s),))
        else:
            from smsd.phone import normalise

            row = self._one_of(Member, self._SELECT + " WHERE m.phone = ?", (normalise(key_s),))
        if row is None:
            raise InputError("no member {key_s!r} (see `smsd members list`)", key_s=key_s)
        return row

    def by_ids(self, ids: set[int]) -> list[Member]:
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        return self._all_of(Member, self._SELECT + f" WHERE m.id IN ({marks})", tuple(ids))

    def by_phone(self, phone: str) -> Member | None:
        return self._one_of(Member, self._SELECT + " WHERE m.phone = ?", (phone,))

    def remove(self, key: str | int, actor: str = "cli", now: datetime | None = None) -> Member:
        with self._tx():
            row = self.get(key)
            self.conn.execute("DELETE FROM member_tags WHERE member_id = ?", (row.id,))
            self.conn.execute("DELETE FROM members WHERE id = ?", (row.id,))
            self._event("members", row.id, "removed", f"{row.name} {mask(row.phone)}", actor, now)
        return row

    def set_opt_out(self, member_id: int, opted_out: bool, actor: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self._tx():
            self.conn.execute(
                "UPDATE members SET opted_out = ?, opted_out_at = ?, updated_at = ? WHERE id = ?",
                (int(opted_out), ts(now) if opted_out else None, ts(now), member_id),
            )
            self._event("members", member_id, "opted_out" if opted_out else "opted_in", "", actor, now)

    def anniversaries(self, month_day: str) -> list[Member]:
        """Members whose joining date falls on MM-DD (not opted out)."""
        return self._all_of(
            Member, self._SELECT + " WHERE substr(m.joined, 6, 5) = ? AND m.opted_out = 0 ORDER BY m.id", (month_day,)
        )
