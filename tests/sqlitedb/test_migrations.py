"""The shared SQLite base: migrations run once, in order, atomically, and refuse the unknown."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from sqlitedb import Migration, applied_migrations, connect, migrate, read, write
from sqlitedb.migrations import split_statements

FIRST = Migration("0001_notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);")
SECOND = Migration(
    "0002_note_log",
    """
    CREATE TABLE note_log (note_id INTEGER, text TEXT);
    CREATE TRIGGER note_logged AFTER INSERT ON notes BEGIN
        INSERT INTO note_log VALUES (new.id, new.text);
    END;
    """,
)


def test_applies_in_order_once_and_records_names(tmp_path):
    conn = connect(tmp_path / "a.db")
    assert migrate(conn, [FIRST, SECOND]) == ["0001_notes", "0002_note_log"]
    assert migrate(conn, [FIRST, SECOND]) == []
    assert applied_migrations(conn) == ["0001_notes", "0002_note_log"]
    conn.execute("INSERT INTO notes (text) VALUES ('hi')")
    assert conn.execute("SELECT text FROM note_log").fetchall() == [("hi",)]


def test_a_later_release_applies_only_the_new_migration(tmp_path):
    path = tmp_path / "a.db"
    migrate(connect(path), [FIRST])
    conn = connect(path)
    conn.execute("INSERT INTO notes (text) VALUES ('kept')")
    assert migrate(conn, [FIRST, SECOND]) == ["0002_note_log"]
    assert conn.execute("SELECT text FROM notes").fetchall() == [("kept",)]


def test_a_failing_migration_leaves_nothing_behind(tmp_path):
    conn = connect(tmp_path / "a.db")
    broken = Migration("0002_broken", "CREATE TABLE half (x);\nCREATE TABLE notes (y);")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, [FIRST, broken])
    assert applied_migrations(conn) == ["0001_notes"]
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None


def test_callable_migrations_run_inside_the_transaction(tmp_path):
    conn = connect(tmp_path / "a.db")

    def fill(c: sqlite3.Connection) -> None:
        assert c.in_transaction
        c.execute("INSERT INTO notes (text) VALUES ('seeded')")

    migrate(conn, [FIRST, Migration("0002_seed", fill)])
    assert conn.execute("SELECT count(*) FROM notes").fetchone() == (1,)


def test_refuses_a_database_from_a_newer_release(tmp_path):
    path = tmp_path / "a.db"
    migrate(connect(path), [FIRST, SECOND])
    with pytest.raises(RuntimeError, match="0002_note_log"):
        migrate(connect(path), [FIRST])


def test_duplicate_names_are_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="duplicate"):
        migrate(connect(tmp_path / "a.db"), [FIRST, FIRST])


def test_split_statements_keeps_trigger_bodies_whole():
    statements = list(split_statements(SECOND.apply))
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        list(split_statements("CREATE TABLE x (a"))


def test_write_rolls_back_on_error_and_nested_blocks_join(tmp_path):
    conn = connect(tmp_path / "a.db")
    migrate(conn, [FIRST])
    with pytest.raises(RuntimeError), write(conn):
        conn.execute("INSERT INTO notes (text) VALUES ('lost')")
        with write(conn):
            conn.execute("INSERT INTO notes (text) VALUES ('lost too')")
        raise RuntimeError("boom")
    assert conn.execute("SELECT count(*) FROM notes").fetchone() == (0,)


def test_read_sees_one_snapshot_while_another_connection_writes(tmp_path):
    path = tmp_path / "a.db"
    conn = connect(path)
    migrate(conn, [FIRST])
    other = connect(path)
    with read(conn):
        before = conn.execute("SELECT count(*) FROM notes").fetchone()
        with write(other):
            other.execute("INSERT INTO notes (text) VALUES ('later')")
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == before
    assert conn.execute("SELECT count(*) FROM notes").fetchone() == (1,)


def test_two_processes_worth_of_connections_migrate_once(tmp_path):
    path = tmp_path / "a.db"
    results: list[list[str]] = []

    def run() -> None:
        results.append(migrate(connect(path), [FIRST, SECOND]))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(name for r in results for name in r) == ["0001_notes", "0002_note_log"]


def test_connect_settings(tmp_path):
    conn = connect(tmp_path / "sub" / "a.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.isolation_level is None
