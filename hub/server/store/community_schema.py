"""The community tables' migrations (articles, collections, reviews and comments, follows,
notifications and the background job queue), appended to `schema.MIGRATIONS`.

Named by subject rather than by number alone, so that migrations other branches append to the
same list keep their own names and the merge only decides the order.
"""

from __future__ import annotations

import sqlite3

from hub.server.store.dialect import dialect_of
from sqlitedb.migrations import split_statements

# The change feed gains articles and collections; its CHECK on `entity` is dropped (SQLite cannot
# alter a CHECK), so the next entity needs no table rebuild: the store alone decides entities.
# The rebuild keeps every row and the AUTOINCREMENT position (seq is never reused).
OPEN_CHANGE_FEED = """
CREATE TABLE changes_open (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('upsert', 'delete')),
    UNIQUE (entity, entity_id)
);
INSERT INTO changes_open (seq, entity, entity_id, action) SELECT seq, entity, entity_id, action FROM changes;
"""


def open_change_feed(conn: sqlite3.Connection) -> None:
    if dialect_of(conn).is_postgres:  # PostgreSQL drops a CHECK in place; the sequence stays
        conn.execute("ALTER TABLE changes DROP CONSTRAINT IF EXISTS changes_entity_check")
        return
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    last_seq = row[0] if row else 0
    for statement in split_statements(OPEN_CHANGE_FEED):
        conn.execute(statement)
    conn.execute("DROP TABLE changes")
    conn.execute("ALTER TABLE changes_open RENAME TO changes")
    conn.execute("DELETE FROM sqlite_sequence WHERE name IN ('changes', 'changes_open')")
    top = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
    conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?)", (max(last_seq, top),))


ARTICLES = """
CREATE TABLE tag_ids (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE
);
CREATE TABLE cover_images (
    id INTEGER PRIMARY KEY,
    media_sha TEXT NOT NULL REFERENCES media(sha256),
    nsfw_level INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    content_format TEXT NOT NULL CHECK (content_format IN ('markdown', 'html')),
    cover_image_id INTEGER REFERENCES cover_images(id),
    nsfw INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('Draft', 'Published')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    published_at TEXT,
    published_ms INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL DEFAULT 0,
    view_count INTEGER NOT NULL DEFAULT 0 CHECK (view_count >= 0),
    comment_count INTEGER NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
    collected_count INTEGER NOT NULL DEFAULT 0 CHECK (collected_count >= 0)
);
CREATE INDEX articles_user ON articles(user_id, id);
CREATE INDEX articles_published ON articles(status, published_ms, id);
CREATE INDEX articles_updated ON articles(status, updated_ms, id);
CREATE INDEX articles_views ON articles(status, view_count, id);
CREATE INDEX articles_comments ON articles(status, comment_count, id);
CREATE INDEX articles_collected ON articles(status, collected_count, id);
CREATE TABLE article_tags (
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tag_ids(id),
    PRIMARY KEY (tag_id, article_id)
);
CREATE INDEX article_tags_article ON article_tags(article_id);
CREATE TABLE article_models (
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    PRIMARY KEY (article_id, model_id)
);
CREATE INDEX article_models_model ON article_models(model_id);
CREATE VIRTUAL TABLE articles_fts USING fts5(title, tags, username, tokenize = 'unicode61');
CREATE TABLE pending_article_views (
    article_id INTEGER PRIMARY KEY,
    count INTEGER NOT NULL
);
"""

COLLECTIONS = """
CREATE TABLE collections (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL CHECK (type IN ('Model', 'Image', 'Article')),
    read TEXT NOT NULL CHECK (read IN ('Public', 'Private')),
    nsfw INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX collections_public ON collections(read, id);
CREATE INDEX collections_user ON collections(user_id, id);
CREATE TABLE collection_items (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (collection_id, item_id)
);
CREATE INDEX collection_items_item ON collection_items(item_id);
"""

REVIEWS_AND_COMMENTS = """
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    recommended INTEGER NOT NULL CHECK (recommended IN (0, 1)),
    details TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (version_id, user_id)
);
CREATE INDEX reviews_model ON reviews(model_id, id);
CREATE TABLE comments (
    id INTEGER PRIMARY KEY,
    entity_type TEXT NOT NULL CHECK (entity_type IN ('model', 'article')),
    entity_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    content TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX comments_entity ON comments(entity_type, entity_id, id);
"""

NOTIFICATIONS = """
CREATE TABLE follows (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_type TEXT NOT NULL CHECK (target_type IN ('model', 'user')),
    target_id INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, target_type, target_id)
);
CREATE INDEX follows_target ON follows(target_type, target_id, user_id);
CREATE TABLE notification_settings (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    in_app INTEGER NOT NULL CHECK (in_app IN (0, 1)),
    email INTEGER NOT NULL CHECK (email IN (0, 1)),
    PRIMARY KEY (user_id, type)
);
CREATE TABLE notification_delivery (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    email TEXT,
    digest TEXT NOT NULL DEFAULT 'off' CHECK (digest IN ('off', 'daily')),
    digest_sent_at REAL
);
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    category TEXT NOT NULL,
    event_key TEXT NOT NULL,
    details TEXT NOT NULL,
    in_app INTEGER NOT NULL CHECK (in_app IN (0, 1)),
    email_state TEXT CHECK (email_state IN ('queued', 'digest', 'sent')),
    created_at TEXT NOT NULL,
    read_at TEXT,
    UNIQUE (user_id, event_key)
);
CREATE INDEX notifications_user ON notifications(user_id, in_app, id);
CREATE INDEX notifications_event ON notifications(event_key);
CREATE INDEX notifications_digest ON notifications(email_state, user_id) WHERE email_state = 'digest';
CREATE TABLE user_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('upsert', 'delete')),
    UNIQUE (user_id, entity, entity_id)
);
CREATE INDEX user_changes_user ON user_changes(user_id, seq);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 6,
    run_at REAL NOT NULL,
    dedupe_key TEXT UNIQUE,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX jobs_due ON jobs(status, run_at);
"""
