"""The server's schema migrations: an empty file gets them all; a database written by the
release before migrations existed is adopted with its rows, and only records the first one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hub.server.store import ServerStore
from hub.server.store.schema import INITIAL, MIGRATIONS
from sqlitedb import applied_migrations, connect, migrate

# The SCHEMA text of hub/server/store.py in the release before migrations, as it shipped.
PREVIOUS_RELEASE_SCHEMA = Path(__file__).with_name("schema_before_migrations.sql")
NAMES = [m.name for m in MIGRATIONS]
# What the migrations after 0001_initial add, and what 0003_open_change_feed rebuilds.
LATER_OBJECTS = {"favorites", "favorites_model"}
REBUILT = {"changes", "sqlite_autoindex_changes_1"}


def _schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name != '_migrations' ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()


def test_an_empty_data_directory_gets_every_migration_once(tmp_path: Path) -> None:
    store = ServerStore(tmp_path / "hub")
    try:
        with store.read() as conn:
            assert applied_migrations(conn) == NAMES
            assert migrate(conn, MIGRATIONS) == []
        admin = store.create_user("first", None)
        assert admin.role == "admin"
        assert store.counts()["users"] == 1
    finally:
        store.close()
    reopened = ServerStore(tmp_path / "hub")
    try:
        assert reopened.user_by_name("first") == admin
        with reopened.read() as conn:
            assert applied_migrations(conn) == NAMES
    finally:
        reopened.close()


def test_the_first_migration_is_the_previous_release_schema_unchanged() -> None:
    assert INITIAL.strip() == PREVIOUS_RELEASE_SCHEMA.read_text().strip()


def test_a_database_of_the_previous_release_is_adopted_with_its_rows(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    data_dir.mkdir()
    db_path = data_dir / "hub.db"
    old = sqlite3.connect(db_path)
    old.executescript(PREVIOUS_RELEASE_SCHEMA.read_text())
    old.execute(
        "INSERT INTO users (id, username, role, created_at, model_count) "
        "VALUES (1, 'oldadmin', 'admin', '2024-01-01T00:00:00.000Z', 1)"
    )
    old.execute(
        "INSERT INTO models (id, user_id, name, type, published_at, updated_at) "
        "VALUES (7, 1, 'Kept Model', 'LORA', '2024-01-02T00:00:00.000Z', '2024-01-02T00:00:00.000Z')"
    )
    old.execute("INSERT INTO model_docs (model_id, doc) VALUES (7, '{\"id\":7}')")
    old.execute("INSERT INTO changes (entity, entity_id, action) VALUES ('model', '7', 'upsert')")
    old.commit()
    old.close()
    before = _schema(db_path)

    store = ServerStore(data_dir)
    try:
        with store.read() as conn:
            assert applied_migrations(conn) == NAMES
        user = store.user_by_name("oldadmin")
        assert user is not None and user.id == 1 and user.role == "admin" and user.model_count == 1
        assert store.model_doc(7) == '{"id":7}'
        assert store.model_owner(7) == 1
        changes, more = store.changes_since(0, 10)
        assert [(c.entity, c.entity_id, c.action) for c in changes] == [("model", "7", "upsert")] and not more
        # still writable, and the old admin still counts as the server's admin
        assert store.create_user("newcomer", None).role == "user"
    finally:
        store.close()
    # Later migrations only add to the schema, except that 0003_open_change_feed rebuilds
    # `changes` without its CHECK on entity (rows and seq kept: see test_community_schema).
    after = {(kind, name): sql for kind, name, sql in _schema(db_path)}
    for kind, name, sql in before:
        if name not in REBUILT:
            assert after[kind, name] == sql, name
    assert {name for _kind, name in after} >= LATER_OBJECTS
    conn = connect(db_path)
    try:
        assert applied_migrations(conn) == NAMES
    finally:
        conn.close()


def test_reviews_comments_and_cosmetics_from_before_the_feed_carried_them_are_fed(tmp_path: Path) -> None:
    """0011 gives every existing review, comment and dressed user a feed entry after the
    others, so a mirror whose cursor predates the upgrade receives them on its next sync."""
    from hub.server.seed import seed_catalog
    from hub.server.seed_community import CommunitySizes, seed_community

    data = tmp_path / "hub"
    seed_catalog(data, 20, seed=1, unique_files=5)
    seed_community(
        data,
        seed=1,
        sizes=CommunitySizes(articles=4, readers=4, collections=1, reviews=6, comments=6, events=2),
    )
    store = ServerStore(data)
    try:
        with store.write() as conn:  # the database as the release before 0011 left it
            conn.execute("DELETE FROM changes WHERE entity IN ('review', 'comment', 'cosmetics')")
            conn.execute("DELETE FROM _migrations WHERE name = '0011_feed_reviews_comments_cosmetics'")
            before = conn.execute("SELECT MAX(seq) FROM changes").fetchone()[0]
            expected = {
                "review": conn.execute("SELECT COUNT(*) FROM reviews").fetchone()[0],
                "comment": conn.execute("SELECT COUNT(*) FROM comments").fetchone()[0],
                "cosmetics": conn.execute(
                    "SELECT COUNT(DISTINCT user_id) FROM shop_owned WHERE equipped = 1"
                ).fetchone()[0],
            }
    finally:
        store.close()
    assert min(expected.values()) > 0
    store = ServerStore(data)  # migrates
    try:
        items, _more = store.changes_since(before, 1000)
    finally:
        store.close()
    counts = {entity: sum(1 for c in items if c.entity == entity) for entity in expected}
    assert counts == expected
    assert all(c.data for c in items)
