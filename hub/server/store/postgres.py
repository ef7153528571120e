"""PostgreSQL connections for the store, shaped like the sqlite3 ones it was written for.

`PgConnection` wraps a psycopg 3 connection in autocommit mode (transactions are explicit, as
with `sqlitedb.connect`) and offers what the store's functions call: `execute`,
`executemany`, `in_transaction`, rows that behave like `sqlite3.Row` (by name and by index),
and the `dialect`. `?` placeholders become psycopg's `%s` (`placeholders`).

Transactions (`write` / `read`) keep SQLite's guarantees across processes: every write
transaction first takes one transaction-scoped advisory lock (`WRITE_LOCK`), so writes are
serialised as under SQLite's single writer lock: change-feed sequence numbers are assigned
and committed in the same order (a reader never skips a row committed late), and the read-
then-write steps of a transaction see no concurrent writer. Reads run in a REPEATABLE READ
transaction: one snapshot, never blocked by writers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus

from hub.server.store.dialect import POSTGRES, Dialect
from sqlitedb import Migration
from sqlitedb.migrations import split_statements

# The advisory lock key every write transaction holds (any constant unique to the store).
WRITE_LOCK = 0x41_54_45_4C  # "ATEL"
LEDGER = "_migrations"


class Row:
    """A result row readable by column name and by index, like `sqlite3.Row`."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = tuple(values)
        self._index = index

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key.lower()]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._values == other._values and self.keys() == other.keys()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._index, self._values, strict=True))})"


def _row_factory(cursor: psycopg.Cursor[Any]) -> Any:
    names = [c.name.lower() for c in cursor.description or []]
    index = {name: i for i, name in enumerate(names)}
    return lambda values: Row(values, index)


class _NumberLoader(Loader):
    """NUMERIC (what SUM and AVG of integers return) as int when whole, else float, as SQLite
    returns them, rather than Decimal."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return float(text) if "." in text or "e" in text.lower() or "N" in text else int(text)


@lru_cache(maxsize=4096)
def placeholders(sql: str) -> str:
    """`sql` with each `?` (outside quotes) as `%s`, each `:name` as `%(name)s`, `%` as `%%`."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            end = sql.find(ch, i + 1)
            while end != -1 and end + 1 < n and sql[end + 1] == ch:
                end = sql.find(ch, end + 2)
            end = n - 1 if end == -1 else end
            out.append(sql[i : end + 1].replace("%", "%%"))
            i = end + 1
            continue
        if ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        elif (
            ch == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_") and sql[i - 1 : i] != ":"
        ):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(f"%({sql[i + 1 : j]})s")
            i = j
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _param(value: Any) -> Any:
    # sqlite3 stores a bool as 0/1; the schema's flags are integers on both sides.
    return int(value) if isinstance(value, bool) else value


def _params(params: Any) -> Any:
    if params is None:
        return None
    if isinstance(params, dict):
        return {k: _param(v) for k, v in params.items()}
    return [_param(v) for v in params]


class PgCursor:
    """The result of one statement: rows (`fetchone`, `fetchall`, iteration) and `rowcount`."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor
        self.rowcount = cursor.rowcount

    def fetchone(self) -> Row | None:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[Row]:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class PgConnection:
    """One psycopg connection with the sqlite3-shaped surface the store uses."""

    dialect: Dialect = POSTGRES

    def __init__(self, url: str) -> None:
        self.raw = psycopg.connect(url, autocommit=True, row_factory=_row_factory)
        self.raw.adapters.register_loader("numeric", _NumberLoader)

    def execute(self, sql: str, params: Any = None) -> PgCursor:
        cursor = self.raw.cursor()
        if params is None:
            cursor.execute(sql)  # no parameters: psycopg sends the text as it is
        else:
            cursor.execute(placeholders(sql), _params(params))
        return PgCursor(cursor)

    def executemany(self, sql: str, seq: Iterable[Any]) -> PgCursor:
        cursor = self.raw.cursor()
        rows = [_params(p) for p in seq]
        if rows:
            cursor.executemany(placeholders(sql), rows)
        return PgCursor(cursor)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()


@contextmanager
def write(conn: PgConnection) -> Iterator[PgConnection]:
    """READ COMMITTED under the store's write lock (see the module text); joins an open
    transaction; rolled back on any error."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def read(conn: PgConnection) -> Iterator[PgConnection]:
    """One snapshot for every query inside; joins an open transaction."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def applied_migrations(conn: PgConnection) -> list[str]:
    exists = conn.execute("SELECT to_regclass(?)", (LEDGER,)).fetchone()
    if not exists or exists[0] is None:
        return []
    return [row[0] for row in conn.execute(f"SELECT name FROM {LEDGER} ORDER BY position")]


def migrate(conn: PgConnection, migrations: Sequence[Migration]) -> list[str]:
    """`sqlitedb.migrate` for PostgreSQL: the same list, each migration once, in its own
    transaction with its ledger row; SQL migrations pass through `Dialect.ddl`, function
    migrations ask `dialect_of(conn)` themselves. Refuses a database newer than the list."""
    names = [m.name for m in migrations]
    with write(conn):
        conn.execute("CREATE EXTENSION IF NOT EXISTS citext")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {LEDGER} (position BIGINT GENERATED ALWAYS AS IDENTITY, "
            "name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
    done = applied_migrations(conn)
    unknown = [name for name in done if name not in names]
    if unknown:
        raise RuntimeError(
            f"the database records migrations this version does not know: {', '.join(unknown)} "
            "(it was written by a newer Atelier)"
        )
    applied: list[str] = []
    for migration in migrations:
        if migration.name in done:
            continue
        with write(conn):
            if conn.execute(f"SELECT 1 FROM {LEDGER} WHERE name = ?", [migration.name]).fetchone():
                continue
            if callable(migration.apply):
                migration.apply(conn)  # type: ignore[arg-type]
            else:
                for statement in split_statements(migration.apply):
                    for part in split_statements(POSTGRES.ddl(statement) + ";"):
                        conn.execute(part)
            conn.execute(
                f"INSERT INTO {LEDGER} (name, applied_at) VALUES (?, to_char(now() AT TIME ZONE 'UTC', "
                '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\'))',
                [migration.name],
            )
        applied.append(migration.name)
    return applied
