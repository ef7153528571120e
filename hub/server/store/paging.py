"""The one filter and page builder of the catalog's list queries.

`list_models` and `list_images` (and, with offsets only, creators and tags) differ in their
tables and conditions, not in how a page is read: conditions are collected in a `Filters`,
then `keyset_page` appends the keyset condition (sort value, id) after the previous page,
orders by the sort column then id, fetches one row more than the page to know whether another
follows, and counts the matches when the client pages by offset.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from hub.server.store.dialect import dialect_of
from hub.server.store.sql_text import escape_like


@dataclass(frozen=True)
class Page:
    """Raw JSON documents of one page and where the next one starts."""

    docs: list[str]
    last_key: tuple[Any, int] | None  # keyset of the last row, when more may follow
    total: int | None = None


@dataclass
class Filters:
    """The WHERE conditions of a list query and their arguments, in order.

    A `hinted` condition gets a unary "+" in the page query, which keeps SQLite from driving
    the query from it (walking the sort index and probing the condition is faster when it
    matches many rows); the count query leaves hints off, so SQLite may start from any of them.
    """

    conditions: list[tuple[str, bool]] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def add(self, condition: str, *args: Any, hinted: bool = False) -> None:
        self.conditions.append((condition, hinted))
        self.args += args

    def terms(self, hints: bool) -> list[str]:
        return [("+" if hinted and hints else "") + condition for condition, hinted in self.conditions]


@dataclass(frozen=True)
class RowPage:
    rows: list[sqlite3.Row]
    last_key: tuple[Any, int] | None
    total: int | None


@dataclass(frozen=True)
class KeysetList:
    """What a list reads: `select` (besides the sort key) from `source`, whose rows of the table
    aliased `alias` are ordered by `column` (descending or not), then by id."""

    select: str
    source: str  # FROM clause of the page query (joins, index choice)
    count_source: str  # FROM clause of the count: the filtered table alone
    alias: str
    column: str
    descending: bool
    hint_order: bool = False  # "+" on the sort column: don't walk its index (few matches)


def keyset_page(
    conn: sqlite3.Connection,
    listing: KeysetList,
    filters: Filters,
    *,
    limit: int,
    after: tuple[Any, int] | None,
    offset: int | None,
) -> RowPage:
    """One page of `listing`: up to `limit` rows after the keyset `after` (or skipping `offset`
    rows), the keyset of its last row when more follow, and the total when paging by offset."""
    a, column = listing.alias, listing.column
    hints = dialect_of(conn).planner_hints
    terms = filters.terms(hints=hints)
    args = list(filters.args)
    if after is not None:
        terms.append(f"({a}.{column}, {a}.id) {'<' if listing.descending else '>'} (?, ?)")
        args += [after[0], after[1]]
    direction = "DESC" if listing.descending else "ASC"
    order_column = f"{'+' if listing.hint_order and hints else ''}{a}.{column}"
    sql = (
        f"SELECT {listing.select}, {a}.{column} AS k FROM {listing.source} "
        f"WHERE {' AND '.join(terms) or 'TRUE'} "
        f"ORDER BY {order_column} {direction}, {a}.id {direction} LIMIT ? OFFSET ?"
    )
    rows = conn.execute(sql, [*args, limit + 1, offset or 0]).fetchall()
    total = None
    if offset is not None:
        count_where = " AND ".join(filters.terms(hints=False)) or "TRUE"
        total = conn.execute(
            f"SELECT COUNT(*) FROM {listing.count_source} WHERE {count_where}", filters.args
        ).fetchone()[0]
    more = len(rows) > limit
    rows = rows[:limit]
    last = (rows[-1]["k"], rows[-1]["id"]) if more and rows else None
    return RowPage(rows, last, total)


def named_page(
    conn: sqlite3.Connection,
    table: str,
    name: str,
    columns: str,
    order: str,
    limit: int,
    offset: int,
    query: str | None,
) -> tuple[list[sqlite3.Row], int]:
    """One offset page of `table` rows that have models, `name` containing `query`, and the
    total count (creators and tags, with the caller's fixed SQL pieces)."""
    where, args = "model_count > 0", []
    if query:
        where += f" AND {name} {dialect_of(conn).like} ? ESCAPE '\\'"
        args.append("%" + escape_like(query) + "%")
    total = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", args).fetchone()[0]
    rows = conn.execute(
        f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
        [*args, limit, offset],
    ).fetchall()
    return rows, total
