"""atelier.db: one migration list, applied from an empty file and from the last release's schema."""

from __future__ import annotations

import sqlite3

from sqlitedb import applied_migrations
from studio.database import INITIAL, MIGRATIONS, open_database


def test_an_empty_file_gets_every_table_and_records_the_migrations(tmp_path):
    conn = open_database(tmp_path / "atelier.db")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "job_images", "history", "model_hashes", "studio_state", "api_options"} <= tables
    assert applied_migrations(conn) == [m.name for m in MIGRATIONS]


def test_a_database_of_the_release_before_migrations_is_adopted_with_its_rows(tmp_path):
    path = tmp_path / "atelier.db"
    old = sqlite3.connect(path)
    old.executescript(INITIAL)  # what the modules created on their own before migrations
    old.execute("INSERT INTO api_options (key, value) VALUES ('CLIP_stop_at_last_layers', '3')")
    old.commit()
    old.close()
    conn = open_database(path)
    assert conn.execute("SELECT value FROM api_options").fetchall() == [("3",)]
    assert applied_migrations(conn) == [m.name for m in MIGRATIONS]
    assert open_database(path).execute("SELECT count(*) FROM api_options").fetchone() == (1,)
