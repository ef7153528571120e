"""The differences between the store's two databases, SQLite and PostgreSQL, in one place.

The store writes one text per query in SQLite's spelling, using only what both databases
understand (`?` parameters, `ON CONFLICT ... DO NOTHING/UPDATE`, `RETURNING`, `IS DISTINCT
FROM`, `TRUE`). What they spell differently is asked of the connection's `Dialect`:

- `greatest(a, b)`: SQLite's two-argument `MAX(a, b)` / PostgreSQL's `GREATEST(a, b)`;
- `json_object`: `json_object(...)` / `json_build_object(...)`;
- `like`: `LIKE` (SQLite's is case-insensitive for ASCII) / `ILIKE`;
- `nocase_equals(column)`: `column = ? COLLATE NOCASE` / `lower(column) = lower(?)`;
- `fts_match(table)` and `fts_query(text)`: FTS5's `MATCH` with quoted prefix terms /
  PostgreSQL text search (`document @@ to_tsquery('simple', ...)`, `word:*` prefix terms, a
  GIN index over a generated `tsvector`);
- `planner_hints` and `index_hint(index)`: SQLite's unary `+` (keeps a condition or sort
  column from driving the query) and `INDEXED BY`; PostgreSQL's planner takes no hints;
- `ddl(statement)`: a migration statement in PostgreSQL's types (see `postgres_ddl`).

The PostgreSQL connection (`postgres.PgConnection`) also rewrites `?` placeholders into
psycopg's `%s` (`postgres.placeholders`); nothing else is rewritten behind the query's back.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

# `name TYPE ... COLLATE NOCASE` (case-insensitive text) is PostgreSQL's CITEXT.
_NOCASE_COLUMN = re.compile(r"\bTEXT\b([^,\n]*?)\s+COLLATE NOCASE", re.IGNORECASE)
_ROWID_KEY = re.compile(r"\bINTEGER PRIMARY KEY( AUTOINCREMENT)?", re.IGNORECASE)
_FTS_TABLE = re.compile(
    r"CREATE VIRTUAL TABLE (IF NOT EXISTS )?(\w+) USING fts5\(([^)]*)\)", re.IGNORECASE | re.DOTALL
)
_CREATE_TABLE = re.compile(r"^\s*CREATE TABLE (IF NOT EXISTS )?(\w+) \(", re.IGNORECASE)


def _words(text: str) -> list[str]:
    """Up to 8 words of free text, letters and digits only (no search syntax from users)."""
    words = ["".join(ch for ch in w if ch.isalnum()) for w in text.split()]
    return [w for w in words if w][:8]


@dataclass(frozen=True)
class Dialect:
    name: str  # "sqlite" or "postgresql"

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgresql"

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.is_postgres else f"MAX({a}, {b})"

    @property
    def json_object(self) -> str:
        return "json_build_object" if self.is_postgres else "json_object"

    @property
    def like(self) -> str:
        return "ILIKE" if self.is_postgres else "LIKE"

    def nocase_equals(self, column: str) -> str:
        return f"lower({column}) = lower(?)" if self.is_postgres else f"{column} = ? COLLATE NOCASE"

    def fts_query(self, text: str) -> str | None:
        """Free text as a query of prefix terms that must all match; None without words."""
        words = _words(text)
        if not words:
            return None
        if self.is_postgres:
            return " & ".join(f"{w.lower()}:*" for w in words)
        return " ".join(f'"{w}"*' for w in words)

    def fts_match(self, table: str) -> str:
        """Condition on `table` (the full-text table) matching one `?` query from `fts_query`."""
        if self.is_postgres:
            return f"{table}.document @@ to_tsquery('simple', ?)"
        return f"{table} MATCH ?"

    @property
    def planner_hints(self) -> bool:
        return not self.is_postgres

    def index_hint(self, index: str) -> str:
        return f" INDEXED BY {index}" if self.planner_hints else ""

    def ddl(self, statement: str) -> str:
        return postgres_ddl(statement) if self.is_postgres else statement


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgresql")


def dialect_of(conn: Any) -> Dialect:
    """The dialect of a store connection (a sqlite3 connection, or a `PgConnection`)."""
    return SQLITE if isinstance(conn, sqlite3.Connection) else conn.dialect


def postgres_ddl(statement: str) -> str:
    """A migration statement written for SQLite, in PostgreSQL's types:

    - `INTEGER` is 64-bit in SQLite: `BIGINT`; `REAL`: `DOUBLE PRECISION`;
    - `INTEGER PRIMARY KEY [AUTOINCREMENT]` (SQLite's rowid): an identity column;
    - a table with no such key has SQLite's hidden `rowid` (the store orders collection
      items by it): PostgreSQL gets it as an identity column named `rowid`;
    - `TEXT ... COLLATE NOCASE`: `CITEXT ...` (case-insensitive equality and uniqueness);
    - `WITHOUT ROWID`: dropped;
    - an FTS5 table: a table of the same columns plus `rowid` (the indexed row's id) and a
      generated `document tsvector`, with a GIN index on it.
    """
    fts = _FTS_TABLE.search(statement)
    if fts:
        exists, table = fts.group(1) or "", fts.group(2)
        columns = [c.strip() for c in fts.group(3).split(",") if "=" not in c]
        text = " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)
        defs = ", ".join(f"{c} TEXT" for c in columns)
        return (
            f"CREATE TABLE {exists}{table} (rowid BIGINT PRIMARY KEY, {defs}, "
            f"document tsvector GENERATED ALWAYS AS (to_tsvector('simple', {text})) STORED);\n"
            f"CREATE INDEX {exists}{table}_document ON {table} USING GIN (document)"
        )
    out = re.sub(r"\bWITHOUT ROWID\b", "", statement, flags=re.IGNORECASE)
    out = _NOCASE_COLUMN.sub(r"CITEXT\1", out)
    has_rowid_key = bool(_ROWID_KEY.search(out))
    out = _ROWID_KEY.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", out)
    out = re.sub(r"\bINTEGER\b", "BIGINT", out)
    out = re.sub(r"\bREAL\b", "DOUBLE PRECISION", out)
    table = _CREATE_TABLE.match(out)
    if table and not has_rowid_key and "WITHOUT ROWID" not in statement.upper():
        out = out[: table.end()] + "rowid BIGINT GENERATED BY DEFAULT AS IDENTITY, " + out[table.end() :]
    return out
