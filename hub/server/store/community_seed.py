"""Bulk loading of the community tables for the seed and the benchmark: articles and follows in
large batches (their search rows and feed entries included), and the samples the seed picks
its subjects from. Functions of a connection; the caller holds the transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from hub.server.store.articles import tag_id
from hub.server.store.change_feed import append_change
from hub.server.store.dialect import dialect_of


@dataclass(frozen=True)
class SeedArticle:
    user_id: int
    username: str
    title: str
    content: str  # sanitised HTML
    nsfw: bool
    published: bool
    created_at: str
    created_ms: int
    view_count: int
    tags: tuple[str, ...]
    model_ids: tuple[int, ...]
    cover_sha: str | None


def insert_articles(conn: sqlite3.Connection, articles: Sequence[SeedArticle]) -> list[int]:
    """Insert articles with their tags, linked models, covers, search rows and feed entries."""
    ids = []
    tag_cache: dict[str, int] = {}
    for a in articles:
        cover_id = None
        if a.cover_sha:
            cover_id = conn.execute(
                "INSERT INTO cover_images (media_sha, nsfw_level, created_at) VALUES (?, ?, ?) RETURNING id",
                (a.cover_sha, 1, a.created_at),
            ).fetchone()[0]
        status = "Published" if a.published else "Draft"
        cur = conn.execute(
            "INSERT INTO articles (user_id, title, content, content_format, cover_image_id, nsfw, status, created_at, "
            "updated_at, published_at, published_ms, updated_ms, view_count) "
            "VALUES (?, ?, ?, 'markdown', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                a.user_id,
                a.title,
                a.content,
                cover_id,
                int(a.nsfw),
                status,
                a.created_at,
                a.created_at,
                a.created_at if a.published else None,
                a.created_ms if a.published else 0,
                a.created_ms,
                a.view_count,
            ),
        )
        article_id = int(cur.fetchone()[0])
        ids.append(article_id)
        for name in dict.fromkeys(a.tags):
            if name not in tag_cache:
                tag_cache[name] = tag_id(conn, name)
        conn.executemany(
            "INSERT INTO article_tags (article_id, tag_id) VALUES (?, ?)",
            [(article_id, tag_cache[n]) for n in dict.fromkeys(a.tags)],
        )
        conn.executemany(
            "INSERT INTO article_models (article_id, model_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(article_id, m) for m in a.model_ids],
        )
        conn.execute(
            "INSERT INTO articles_fts (rowid, title, tags, username) VALUES (?, ?, ?, ?)",
            (article_id, a.title, " ".join(a.tags), a.username),
        )
        if a.published:
            append_change(conn, "article", str(article_id), "upsert")
    return ids


def insert_follows(conn: sqlite3.Connection, rows: Sequence[tuple[int, str, int]], now: str) -> int:
    """(follower id, 'model' | 'user', target id) rows; existing follows are kept."""
    cur = conn.executemany(
        "INSERT INTO follows (user_id, target_type, target_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(u, t, i, now) for u, t, i in rows],
    )
    return cur.rowcount


def creators(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    return [
        (r[0], r[1]) for r in conn.execute("SELECT id, username FROM users WHERE model_count > 0 ORDER BY id")
    ]


def models_by_user(conn: sqlite3.Connection) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for model_id, user_id in conn.execute("SELECT id, user_id FROM models ORDER BY id"):
        out.setdefault(user_id, []).append(model_id)
    return out


def newest_versions(conn: sqlite3.Connection, limit: int) -> list[tuple[int, int, int]]:
    """(version id, model id, creator id) of the newest versions."""
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT v.id, v.model_id, m.user_id FROM versions v JOIN models m ON m.id = v.model_id "
            "ORDER BY v.published_at DESC, v.id DESC LIMIT ?",
            (limit,),
        )
    ]


def sample_ids(conn: sqlite3.Connection, table: str, limit: int) -> list[int]:
    """Up to `limit` ids of `table` (models, images or published articles), spread over it."""
    where = " WHERE status = 'Published'" if table == "articles" else ""
    total = conn.execute(f"SELECT COUNT(*) FROM {table}{where}").fetchone()[0]
    step = max(1, total // max(1, limit))
    return [
        r[0] for r in conn.execute(f"SELECT id FROM {table}{where} ORDER BY id").fetchall()[::step][:limit]
    ]


def media_shas(conn: sqlite3.Connection, limit: int) -> list[str]:
    return [r[0] for r in conn.execute("SELECT sha256 FROM media ORDER BY sha256 LIMIT ?", (limit,))]


def users_named(conn: sqlite3.Connection, prefix: str) -> list[int]:
    return [
        r[0]
        for r in conn.execute(
            f"SELECT id FROM users WHERE username {dialect_of(conn).like} ? ORDER BY id", (prefix + "%",)
        )
    ]


COUNTED = (
    "articles",
    "collections",
    "collection_items",
    "reviews",
    "comments",
    "follows",
    "notifications",
    "jobs",
)


def community_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in COUNTED}
