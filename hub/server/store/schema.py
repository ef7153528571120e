"""The hub server's schema as an ordered, append-only list of named migrations.

Applied at every start by `sqlitedb.migrate`: each migration runs once, in its own transaction,
and is recorded by name in `_migrations`. Append new migrations at the end; never edit, rename
or reorder one that has shipped.

`0001_initial` is the schema of the release before migrations existed, text unchanged: its
`IF NOT EXISTS` clauses let a database written by that release be adopted as it is (the
migration then only records itself).
"""

from __future__ import annotations

from hub.server.store import community_schema
from sqlitedb import Migration

INITIAL = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    image_sha TEXT,
    created_at TEXT NOT NULL,
    model_count INTEGER NOT NULL DEFAULT 0 CHECK (model_count >= 0)
);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL,
    checkpoint_type TEXT,
    nsfw INTEGER NOT NULL DEFAULT 0,
    nsfw_level INTEGER NOT NULL DEFAULT 1,
    poi INTEGER NOT NULL DEFAULT 0,
    minor INTEGER NOT NULL DEFAULT 0,
    allow_no_credit INTEGER NOT NULL DEFAULT 1,
    allow_commercial_use TEXT NOT NULL DEFAULT '[]',
    allow_derivatives INTEGER NOT NULL DEFAULT 1,
    allow_different_license INTEGER NOT NULL DEFAULT 1,
    published_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    download_count INTEGER NOT NULL DEFAULT 0,
    thumbs_up_count INTEGER NOT NULL DEFAULT 0,
    thumbs_down_count INTEGER NOT NULL DEFAULT 0,
    comment_count INTEGER NOT NULL DEFAULT 0,
    collected_count INTEGER NOT NULL DEFAULT 0,
    tipped_amount_count INTEGER NOT NULL DEFAULT 0,
    rating REAL NOT NULL DEFAULT 0,
    rating_count INTEGER NOT NULL DEFAULT 0,
    image_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS model_docs (
    model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS models_rating ON models(rating, id);
CREATE INDEX IF NOT EXISTS models_downloads ON models(download_count, id);
CREATE INDEX IF NOT EXISTS models_likes ON models(thumbs_up_count, id);
CREATE INDEX IF NOT EXISTS models_comments ON models(comment_count, id);
CREATE INDEX IF NOT EXISTS models_collected ON models(collected_count, id);
CREATE INDEX IF NOT EXISTS models_images ON models(image_count, id);
CREATE INDEX IF NOT EXISTS models_published ON models(published_at, id);
CREATE INDEX IF NOT EXISTS models_user ON models(user_id);
CREATE TABLE IF NOT EXISTS model_tags (
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    tag TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (tag, model_id)
);
CREATE INDEX IF NOT EXISTS model_tags_model ON model_tags(model_id);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    model_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS model_base_models (
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    base_model TEXT NOT NULL,
    PRIMARY KEY (base_model, model_id)
);
CREATE INDEX IF NOT EXISTS model_base_models_model ON model_base_models(model_id);
CREATE VIRTUAL TABLE IF NOT EXISTS models_fts USING fts5(name, tags, username, tokenize = 'unicode61');
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    base_model TEXT NOT NULL,
    base_model_type TEXT NOT NULL DEFAULT 'Standard',
    trained_words TEXT NOT NULL DEFAULT '[]',
    nsfw_level INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    published_at TEXT NOT NULL,
    download_count INTEGER NOT NULL DEFAULT 0,
    thumbs_up_count INTEGER NOT NULL DEFAULT 0,
    thumbs_down_count INTEGER NOT NULL DEFAULT 0,
    rating REAL NOT NULL DEFAULT 0,
    rating_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS versions_model ON versions(model_id);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    crc32 TEXT NOT NULL,
    blake3 TEXT NOT NULL,
    autov1 TEXT NOT NULL,
    autov3 TEXT,
    path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_autov2 ON blobs(substr(sha256, 1, 10));
CREATE INDEX IF NOT EXISTS blobs_crc32 ON blobs(crc32);
CREATE INDEX IF NOT EXISTS blobs_blake3 ON blobs(blake3);
CREATE INDEX IF NOT EXISTS blobs_autov1 ON blobs(autov1);
CREATE INDEX IF NOT EXISTS blobs_autov3 ON blobs(autov3);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    format TEXT NOT NULL,
    fp TEXT,
    size_class TEXT,
    is_primary INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    pickle_scan_result TEXT NOT NULL,
    pickle_scan_message TEXT,
    virus_scan_result TEXT NOT NULL DEFAULT 'Success',
    scanned_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_version ON files(version_id);
CREATE INDEX IF NOT EXISTS files_sha ON files(sha256, id);
CREATE TABLE IF NOT EXISTS media (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    blurhash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    media_sha TEXT NOT NULL REFERENCES media(sha256),
    nsfw_level INTEGER NOT NULL DEFAULT 1,
    meta TEXT,
    created_at TEXT NOT NULL,
    post_id INTEGER,
    like_count INTEGER NOT NULL DEFAULT 0,
    heart_count INTEGER NOT NULL DEFAULT 0,
    laugh_count INTEGER NOT NULL DEFAULT 0,
    cry_count INTEGER NOT NULL DEFAULT 0,
    dislike_count INTEGER NOT NULL DEFAULT 0,
    comment_count INTEGER NOT NULL DEFAULT 0,
    collected_count INTEGER NOT NULL DEFAULT 0,
    reaction_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS images_version ON images(version_id);
CREATE INDEX IF NOT EXISTS images_model ON images(model_id, id);
CREATE INDEX IF NOT EXISTS images_user ON images(user_id, id);
CREATE INDEX IF NOT EXISTS images_created ON images(created_at, id);
CREATE INDEX IF NOT EXISTS images_reactions ON images(reaction_count, id);
CREATE INDEX IF NOT EXISTS images_comments ON images(comment_count, id);
CREATE INDEX IF NOT EXISTS images_collected ON images(collected_count, id);
CREATE TABLE IF NOT EXISTS pending_downloads (
    version_id INTEGER PRIMARY KEY,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL CHECK (entity IN ('model', 'creator')),
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('upsert', 'delete')),
    UNIQUE (entity, entity_id)
);
"""

# Each account's favourite models (`GET /api/v1/models?favorites=true`); deleting a model or
# an account removes its rows.
FAVORITES = """
CREATE TABLE favorites (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, model_id)
) WITHOUT ROWID;
CREATE INDEX favorites_model ON favorites(model_id);
"""

# Buzz: a double-entry ledger. Every transaction's entries sum to zero (checked when written and
# by the tests over all rows); an account's balance is the sum of its entries, kept in
# `buzz_accounts.balance` by the same transaction. User accounts never go negative (conditional
# debit, CHECK as backstop); the system accounts (rewards, grants, shop) mint and absorb Buzz.
# `idempotency_key` is UNIQUE: a transfer repeated with its key returns the first result.
BUZZ = """
CREATE TABLE buzz_accounts (
    id INTEGER PRIMARY KEY,
    user_id INTEGER UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    system_name TEXT UNIQUE,
    balance INTEGER NOT NULL DEFAULT 0,
    CHECK ((user_id IS NULL) <> (system_name IS NULL)),
    CHECK (system_name IS NOT NULL OR balance >= 0)
);
INSERT INTO buzz_accounts (system_name) VALUES ('rewards'), ('grants'), ('shop');
CREATE TABLE buzz_transactions (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('tip', 'grant', 'reward', 'purchase')),
    amount INTEGER NOT NULL CHECK (amount > 0),
    from_account INTEGER NOT NULL REFERENCES buzz_accounts(id),
    to_account INTEGER NOT NULL REFERENCES buzz_accounts(id),
    memo TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    CHECK (from_account <> to_account)
);
CREATE TABLE buzz_entries (
    id INTEGER PRIMARY KEY,
    transaction_id INTEGER NOT NULL REFERENCES buzz_transactions(id),
    account_id INTEGER NOT NULL REFERENCES buzz_accounts(id),
    amount INTEGER NOT NULL CHECK (amount <> 0)
);
CREATE INDEX buzz_entries_account ON buzz_entries(account_id, transaction_id);
CREATE INDEX buzz_entries_transaction ON buzz_entries(transaction_id);
"""

# The cosmetic shop: sections, items with an optional limited quantity (`sold` never passes it)
# and availability window, who owns what and what they have equipped.
SHOP = """
CREATE TABLE shop_sections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    position INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE shop_items (
    id INTEGER PRIMARY KEY,
    section_id INTEGER NOT NULL REFERENCES shop_sections(id),
    kind TEXT NOT NULL CHECK (kind IN ('badge', 'decoration', 'name_color')),
    name TEXT NOT NULL,
    value TEXT NOT NULL DEFAULT '',
    price INTEGER NOT NULL CHECK (price > 0),
    quantity INTEGER CHECK (quantity IS NULL OR quantity >= 0),
    sold INTEGER NOT NULL DEFAULT 0 CHECK (quantity IS NULL OR sold <= quantity),
    available_from TEXT,
    available_until TEXT
);
CREATE TABLE shop_owned (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL REFERENCES shop_items(id),
    transaction_id INTEGER NOT NULL REFERENCES buzz_transactions(id),
    equipped INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, item_id)
) WITHOUT ROWID;
"""

# Feature flags: on for the users, roles and cohorts named, and for a stable `percent` of the
# others (hash of flag name and user id). Every community feature starts on for everyone.
FLAGS = """
CREATE TABLE feature_flags (
    name TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL DEFAULT 1,
    users TEXT NOT NULL DEFAULT '[]',
    roles TEXT NOT NULL DEFAULT '[]',
    cohorts TEXT NOT NULL DEFAULT '[]',
    percent INTEGER NOT NULL DEFAULT 0 CHECK (percent BETWEEN 0 AND 100),
    updated_at TEXT NOT NULL DEFAULT ''
);
CREATE TABLE user_cohorts (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    cohort TEXT NOT NULL,
    PRIMARY KEY (user_id, cohort)
) WITHOUT ROWID;
INSERT INTO feature_flags (name, enabled, percent) VALUES ('buzz', 1, 100), ('shop', 1, 100),
    ('articles', 1, 100), ('collections', 1, 100), ('reviews', 1, 100), ('notifications', 1, 100);
"""

# Reviews, comments and users' equipped cosmetics joined the change feed: one upsert entry for
# each already there, so mirrors that synced before (their cursor is older) receive them too.
FEED_REVIEWS_COMMENTS_COSMETICS = """
INSERT INTO changes (entity, entity_id, action) SELECT 'review', CAST(id AS TEXT), 'upsert' FROM reviews ORDER BY id;
INSERT INTO changes (entity, entity_id, action) SELECT 'comment', CAST(id AS TEXT), 'upsert' FROM comments ORDER BY id;
INSERT INTO changes (entity, entity_id, action)
    SELECT DISTINCT 'cosmetics', u.username, 'upsert' FROM shop_owned o JOIN users u ON u.id = o.user_id
    WHERE o.equipped = 1 ORDER BY u.username;
"""

MIGRATIONS: list[Migration] = [
    Migration("0001_initial", INITIAL),
    Migration("0002_favorites", FAVORITES),
    Migration("0003_open_change_feed", community_schema.open_change_feed),
    Migration("0004_articles", community_schema.ARTICLES),
    Migration("0005_collections", community_schema.COLLECTIONS),
    Migration("0006_reviews_and_comments", community_schema.REVIEWS_AND_COMMENTS),
    Migration("0007_follows_notifications_jobs", community_schema.NOTIFICATIONS),
    Migration("0008_buzz", BUZZ),
    Migration("0009_shop", SHOP),
    Migration("0010_feature_flags", FLAGS),
    Migration("0011_feed_reviews_comments_cosmetics", FEED_REVIEWS_COMMENTS_COSMETICS),
]
