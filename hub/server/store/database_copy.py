"""`hub-server migrate`: move a hub server's SQLite database into PostgreSQL, verified.

1. Both databases are brought to this release's schema (the same migration list).
2. The target must be empty (no row beyond what the migrations themselves insert) unless
   `replace` is given; its tables are then emptied.
3. Every table is copied with COPY, parents before children (foreign keys), in one
   transaction; SQLite's hidden `rowid` goes into the `rowid` column PostgreSQL's tables of
   that kind have (see `Dialect.ddl`).
4. Identity sequences move past the largest id (and past SQLite's AUTOINCREMENT high-water
   mark, so a feed sequence number is never reused).
5. Each table's row count and an order-independent checksum (the sum, modulo 2**64, of a
   SHA-256 of each row's values) are computed on both sides and compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlitedb
from hub.server.store.connections import Database, check_url, sqlite_path
from hub.server.store.schema import MIGRATIONS

# Tables the migrations fill themselves (system accounts, default flags): a target holding
# only their rows is still "empty".
SEEDED_BY_MIGRATIONS = frozenset({"buzz_accounts", "feature_flags"})
BATCH = 5_000
MASK = 2**64 - 1


class MigrateError(RuntimeError):
    """The copy cannot start or did not verify; the message says why."""


@dataclass(frozen=True)
class TableReport:
    table: str
    source_rows: int
    target_rows: int
    source_checksum: int
    target_checksum: int

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_checksum) == (self.target_rows, self.target_checksum)

    def line(self) -> str:
        verdict = "ok" if self.ok else "MISMATCH"
        return (
            f"{self.table:<28} rows {self.source_rows:>9} -> {self.target_rows:<9} "
            f"checksum {self.source_checksum:016x} -> {self.target_checksum:016x}  {verdict}"
        )


def _value_text(value: Any) -> str:
    if value is None:
        return "\x00N"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


def checksum(rows: Iterable[Sequence[Any]]) -> tuple[int, int]:
    """(row count, sum of each row's SHA-256 prefix modulo 2**64): the same for the same rows
    in any order."""
    count = total = 0
    for row in rows:
        text = "\x1f".join(_value_text(v) for v in row)
        total = (total + int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")) & MASK
        count += 1
    return count, total


def _target_tables(pg: Any) -> dict[str, list[str]]:
    """Table -> copied columns (generated ones left out) of the target, parents first."""
    columns: dict[str, list[str]] = {}
    for r in pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND is_generated = 'NEVER' AND table_name <> '_migrations' ORDER BY table_name, ordinal_position"
    ):
        columns.setdefault(r[0], []).append(r[1])
    parents: dict[str, set[str]] = {t: set() for t in columns}
    for r in pg.execute(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c "
        "WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace"
    ):
        if r[0] in parents and r[1] != r[0]:
            parents[r[0]].add(r[1])
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, p in parents.items() if not p - set(ordered))
        if not ready:
            raise MigrateError(f"foreign keys form a cycle among {sorted(parents)}")
        for table in ready:
            ordered.append(table)
            del parents[table]
    return {t: columns[t] for t in ordered}


def _source_tables(lite: Any) -> set[str]:
    names = {
        r[0]
        for r in lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name <> '_migrations'"
        )
    }
    fts = {
        r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")
    }
    shadow = {n for n in names for f in fts if n.startswith(f + "_")}
    return names - shadow


def _high_water_marks(lite: Any) -> dict[str, int]:
    if not lite.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        return {}
    return {r[0]: int(r[1]) for r in lite.execute("SELECT name, seq FROM sqlite_sequence")}


def migrate_database(
    source_url: str, target_url: str, *, replace: bool = False, say: Callable[[str], None] = print
) -> list[TableReport]:
    """Copy `source_url` (sqlite:///...) into `target_url` (postgresql://...) and verify it;
    returns the per-table report (raises MigrateError when a table does not verify)."""
    check_url(source_url)
    check_url(target_url)
    if not source_url.startswith("sqlite:"):
        raise MigrateError(f"--from must be a SQLite database (sqlite:///path/hub.db), not {source_url!r}")
    if urlsplit(target_url).scheme not in ("postgresql", "postgres"):
        raise MigrateError(f"--to must be a PostgreSQL database (postgresql://...), not {target_url!r}")
    if not Path(sqlite_path(source_url)).is_file():
        raise MigrateError(f"--from: no SQLite database at {sqlite_path(source_url)}")
    source, target = Database(source_url), Database(target_url)
    try:
        source.migrate(MIGRATIONS)
        target.migrate(MIGRATIONS)
        return _copy(source, target, replace, say)
    finally:
        source.close()
        target.close()


def _copy(source: Database, target: Database, replace: bool, say: Callable[[str], None]) -> list[TableReport]:
    lite, pg = source.get(), target.get()
    tables = _target_tables(pg)
    unknown = _source_tables(lite) - set(tables)
    if unknown:
        raise MigrateError(f"the source has tables this release does not know: {', '.join(sorted(unknown))}")
    filled = [
        t
        for t in tables
        if t not in SEEDED_BY_MIGRATIONS and pg.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()
    ]
    if filled and not replace:
        raise MigrateError(
            f"the target database is not empty (rows in {', '.join(filled)}); "
            "pass --replace to empty it and copy anyway"
        )
    marks = _high_water_marks(lite)
    with sqlitedb.read(lite), target.write():
        pg.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        for table, columns in tables.items():
            copied = _copy_table(lite, pg, table, columns)
            say(f"copied {table}: {copied} rows")
        _reset_identities(pg, marks)
    reports = []
    with sqlitedb.read(lite), target.read():
        for table, columns in tables.items():
            select = f"SELECT {', '.join(columns)} FROM {table}"
            src = checksum(lite.execute(select))
            dst = checksum(pg.execute(select).fetchall())
            reports.append(TableReport(table, src[0], dst[0], src[1], dst[1]))
    for report in reports:
        say(report.line())
    bad = [r.table for r in reports if not r.ok]
    if bad:
        raise MigrateError(f"the copy does not verify for: {', '.join(bad)}")
    return reports


def _copy_table(lite: Any, pg: Any, table: str, columns: list[str]) -> int:
    cursor = lite.execute(f"SELECT {', '.join(columns)} FROM {table}")
    count = 0
    with pg.raw.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        while rows := cursor.fetchmany(BATCH):
            for row in rows:
                copy.write_row(tuple(row))
            count += len(rows)
    return count


def _reset_identities(pg: Any, marks: dict[str, int]) -> None:
    identities = pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND is_identity = 'YES' AND table_name <> '_migrations'"
    ).fetchall()
    for table, column in identities:
        top = pg.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()[0]
        top = max(int(top), marks.get(table, 0) if column != "rowid" else 0)
        pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), ?, false)", (top + 1,))
