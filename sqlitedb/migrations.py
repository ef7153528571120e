"""Named, ordered schema migrations, recorded in the database they changed.

A database's migration list is append-only: each entry runs once, in its own `BEGIN IMMEDIATE`
transaction together with the row that records it, so a crash leaves it either fully applied
and recorded or not at all. Never edit, rename or reorder a migration that has shipped.
A migration is SQL (one or more statements) or a function of the connection.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlitedb.connection import write

LEDGER = "_migrations"


@dataclass(frozen=True)
class Migration:
    name: str
    apply: str | Callable[[sqlite3.Connection], None]

    def run(self, conn: sqlite3.Connection) -> None:
        if callable(self.apply):
            self.apply(conn)
            return
        for statement in split_statements(self.apply):
            conn.execute(statement)


def split_statements(script: str) -> Iterator[str]:
    """The complete statements of a script, in order (`executescript` would commit on its own,
    so a migration runs its statements one by one inside the transaction). Trigger bodies with
    inner semicolons stay whole: `sqlite3.complete_statement` knows them."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer.strip()[:80]!r}")


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names recorded in the database, in the order they were applied."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [LEDGER]
    ).fetchone()
    if not exists:
        return []
    return [row[0] for row in conn.execute(f"SELECT name FROM {LEDGER} ORDER BY rowid")]


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet recorded, in list order; returns the names applied now.

    Refuses a database that records a migration this list does not know (a newer release
    wrote it): running older code on it could corrupt it.
    """
    names = [m.name for m in migrations]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate migration names in {names}")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {LEDGER} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
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
            # Another process may have applied it while we waited for the write lock.
            if conn.execute(f"SELECT 1 FROM {LEDGER} WHERE name = ?", [migration.name]).fetchone():
                continue
            migration.run(conn)
            conn.execute(
                f"INSERT INTO {LEDGER} (name, applied_at) VALUES (?, ?)",
                [migration.name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())],
            )
        applied.append(migration.name)
    return applied
