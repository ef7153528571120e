"""Named, ordered schema migrations for the local hub database.

Applied by the project's one SQLite base (`sqlitedb.migrate`): each runs once, inside a
transaction, and is recorded by name in `_migrations`. Append new migrations at the end; never
edit or reorder one that has shipped.
"""

from __future__ import annotations

import sqlite3
import time

from sqlitedb import Migration


def _catalog(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE creators (
            username TEXT PRIMARY KEY,
            image TEXT,
            model_count INTEGER,
            link TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT,
            type TEXT NOT NULL,
            nsfw INTEGER NOT NULL DEFAULT 0,
            creator TEXT,
            download_count INTEGER NOT NULL DEFAULT 0,
            favorite_count INTEGER NOT NULL DEFAULT 0,
            comment_count INTEGER NOT NULL DEFAULT 0,
            rating REAL NOT NULL DEFAULT 0,
            rating_count INTEGER NOT NULL DEFAULT 0,
            thumbs_up INTEGER NOT NULL DEFAULT 0,
            created_at TEXT,
            published_at TEXT,
            updated_at TEXT,
            data TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX models_type ON models(type)")
    db.execute("CREATE INDEX models_creator ON models(creator)")
    db.execute("CREATE INDEX models_downloads ON models(download_count DESC)")
    db.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
    db.execute(
        """CREATE TABLE model_tags (
            model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
            tag_id INTEGER NOT NULL REFERENCES tags(id),
            PRIMARY KEY (model_id, tag_id)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX model_tags_tag ON model_tags(tag_id)")
    db.execute(
        """CREATE TABLE versions (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT,
            base_model TEXT,
            trained_words TEXT NOT NULL DEFAULT '[]',
            description TEXT,
            download_url TEXT,
            created_at TEXT,
            published_at TEXT
        )"""
    )
    db.execute("CREATE INDEX versions_model ON versions(model_id)")
    db.execute("CREATE INDEX versions_base_model ON versions(base_model)")
    db.execute(
        """CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            type TEXT,
            size_kb REAL,
            format TEXT,
            fp TEXT,
            is_primary INTEGER NOT NULL DEFAULT 0,
            download_url TEXT,
            sha256 TEXT,
            autov1 TEXT,
            autov2 TEXT,
            autov3 TEXT,
            crc32 TEXT,
            blake3 TEXT,
            pickle_scan TEXT,
            virus_scan TEXT
        )"""
    )
    db.execute("CREATE INDEX files_version ON files(version_id)")
    db.execute("CREATE INDEX files_sha256 ON files(sha256)")
    db.execute("CREATE INDEX files_autov2 ON files(autov2)")
    db.execute(
        """CREATE TABLE images (
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            url TEXT NOT NULL,
            nsfw_level INTEGER,
            width INTEGER,
            height INTEGER,
            hash TEXT,
            local_path TEXT,
            PRIMARY KEY (version_id, position)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX images_url ON images(url)")


def _local(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE sync_state (
            feed TEXT PRIMARY KEY,
            server_url TEXT NOT NULL,
            cursor TEXT,
            items_applied INTEGER NOT NULL DEFAULT 0,
            updated_at REAL
        )"""
    )
    db.execute("CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT)")
    db.execute(
        """CREATE TABLE downloads (
            id INTEGER PRIMARY KEY,
            version_id INTEGER NOT NULL,
            file_id INTEGER,
            url TEXT NOT NULL,
            destination TEXT NOT NULL,
            partial_path TEXT NOT NULL,
            sha256 TEXT,
            total_bytes INTEGER,
            done_bytes INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX downloads_version ON downloads(version_id)")
    db.execute(
        """CREATE TABLE local_files (
            path TEXT PRIMARY KEY,
            folder TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            model_id INTEGER,
            version_id INTEGER,
            file_id INTEGER,
            scanned_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX local_files_sha256 ON local_files(sha256)")
    db.execute(
        """CREATE TABLE index_queue (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('update', 'delete')),
            enqueued_at REAL NOT NULL
        )"""
    )


def _jobs(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL DEFAULT 5,
            run_at REAL NOT NULL,
            last_error TEXT,
            result TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX jobs_due ON jobs(status, run_at)")


def _media_queue(db: sqlite3.Connection) -> None:
    """The previews still to fetch, one row per URL. Seeded with every thumbnail a mirror made
    before this queue existed is missing (a sync killed between a page and its previews, or
    run with --no-previews), so the next `hub sync` fetches them."""
    db.execute(
        """CREATE TABLE media_queue (
            url TEXT PRIMARY KEY,
            attempts INTEGER NOT NULL DEFAULT 0,
            run_at REAL NOT NULL,
            last_error TEXT,
            enqueued_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX media_queue_due ON media_queue(run_at)")
    now = time.time()
    db.execute(
        "INSERT OR IGNORE INTO media_queue (url, run_at, enqueued_at) "
        "SELECT DISTINCT url, ?, ? FROM images WHERE position = 0 AND local_path IS NULL AND url != ''",
        [now, now],
    )


def _download_checks(db: sqlite3.Connection) -> None:
    """What a finished download was checked against: `verified` 1 when its SHA256 matched the
    catalog's, 0 when the catalog had no hash (installed unverified); `warnings` the messages
    shown to the user (one a line: unverified, flagged dangerous by the server's scan, renamed)."""
    db.execute("ALTER TABLE downloads ADD COLUMN verified INTEGER")
    db.execute("ALTER TABLE downloads ADD COLUMN warnings TEXT")


def _community(db: sqlite3.Connection) -> None:
    """The community half of the mirror: published articles (searched with the models, queued in
    `index_queue` as entity 'article'), collections (public ones from the catalog feed; the
    account's own, private ones too, from its private feed: `mine` = 1) and the account's
    notifications. Article tags share the `tags` table with models."""
    db.execute(
        """CREATE TABLE articles (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            creator TEXT,
            nsfw INTEGER NOT NULL DEFAULT 0,
            view_count INTEGER NOT NULL DEFAULT 0,
            collected_count INTEGER NOT NULL DEFAULT 0,
            comment_count INTEGER NOT NULL DEFAULT 0,
            published_at TEXT,
            updated_at TEXT,
            data TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX articles_creator ON articles(creator)")
    db.execute(
        """CREATE TABLE article_tags (
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            tag_id INTEGER NOT NULL REFERENCES tags(id),
            PRIMARY KEY (article_id, tag_id)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX article_tags_tag ON article_tags(tag_id)")
    db.execute(
        """CREATE TABLE article_models (
            article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
            model_id INTEGER NOT NULL,
            PRIMARY KEY (article_id, model_id)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            read TEXT NOT NULL,
            owner TEXT,
            mine INTEGER NOT NULL DEFAULT 0,
            item_count INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT,
            data TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE collection_items (
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            item_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            added_at TEXT,
            PRIMARY KEY (collection_id, item_id)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL,
            category TEXT,
            created_at TEXT,
            read_at TEXT,
            data TEXT NOT NULL
        )"""
    )


def _outbox(db: sqlite3.Connection) -> None:
    """Tips and purchases made offline, pushed to the hub server on sync in id order. Each
    carries the idempotency key it is sent with, so a push repeated after a crash is applied
    once. `state`: pending (not accepted yet), done (`result`: the server's answer), refused
    (`error`: why, e.g. insufficient Buzz or sold out; never retried)."""
    db.execute(
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('tip', 'purchase')),
            payload TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'refused')),
            result TEXT,
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL,
            pushed_at REAL
        )"""
    )
    db.execute("CREATE INDEX outbox_pending ON outbox(state, id)")


def _reviews_comments_cosmetics(db: sqlite3.Connection) -> None:
    """Reviews and comments from the catalog feed (read offline beside the models and articles
    they are about), the cosmetics each user has equipped (shown next to their name wherever
    the mirror shows it), and the local copy of each article's cover image."""
    db.execute(
        """CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL,
            version_id INTEGER NOT NULL,
            username TEXT,
            recommended INTEGER NOT NULL,
            created_at TEXT,
            data TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX reviews_model ON reviews(model_id, version_id, id)")
    db.execute(
        """CREATE TABLE comments (
            id INTEGER PRIMARY KEY,
            entity_type TEXT NOT NULL CHECK (entity_type IN ('model', 'article')),
            entity_id INTEGER NOT NULL,
            username TEXT,
            created_at TEXT,
            data TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX comments_entity ON comments(entity_type, entity_id, id)")
    db.execute(
        """CREATE TABLE user_cosmetics (
            username TEXT PRIMARY KEY,
            data TEXT NOT NULL
        ) WITHOUT ROWID"""
    )
    db.execute("ALTER TABLE articles ADD COLUMN cover_url TEXT")
    db.execute("ALTER TABLE articles ADD COLUMN cover_path TEXT")
    db.execute("CREATE INDEX articles_cover ON articles(cover_url)")
    # covers of the articles mirrored before: queued, so the next sync fetches them
    db.execute("UPDATE articles SET cover_url = json_extract(data, '$.coverImage.url')")
    now = time.time()
    db.execute(
        "INSERT OR IGNORE INTO media_queue (url, run_at, enqueued_at) "
        "SELECT DISTINCT cover_url, ?, ? FROM articles WHERE cover_url IS NOT NULL",
        [now, now],
    )


MIGRATIONS: list[Migration] = [
    Migration("0001_catalog", _catalog),
    Migration("0002_local_state", _local),
    Migration("0003_jobs", _jobs),
    Migration("0004_media_queue", _media_queue),
    Migration("0005_download_checks", _download_checks),
    Migration("0006_community_articles_collections_notifications", _community),
    Migration("0007_outbox", _outbox),
    Migration("0008_reviews_comments_cosmetics", _reviews_comments_cosmetics),
]
