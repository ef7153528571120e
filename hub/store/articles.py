"""Mirrored articles (published ones: the catalog feed deletes an article taken back to draft).
Every write queues `('article', id)` for the search index in the caller's transaction, as the
catalog does for models, and queues a cover image not on disk yet in the media queue (fetched
with the model previews; `cover_path` is its local copy, kept while the cover URL is the same).
Functions of a connection; they never commit."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from hub.store import media_queue
from hub.store.catalog import CatalogError
from hub.store.index_queue import enqueue


def _row(data: Mapping[str, Any]) -> tuple:
    if data.get("id") is None or data.get("title") is None:
        raise CatalogError(f"article.{'id' if data.get('id') is None else 'title'}: missing")
    stats = data.get("stats") or {}
    return (
        int(data["id"]),
        str(data["title"]),
        (data.get("user") or {}).get("username"),
        1 if data.get("nsfw") else 0,
        int(stats.get("viewCount") or 0),
        int(stats.get("collectedCount") or 0),
        int(stats.get("commentCount") or 0),
        data.get("publishedAt"),
        data.get("updatedAt"),
        json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        cover_url(data),
    )


def cover_url(data: Mapping[str, Any]) -> str | None:
    cover = data.get("coverImage")
    url = cover.get("url") if isinstance(cover, Mapping) else None
    return url if isinstance(url, str) and url else None


def upsert_articles(conn: sqlite3.Connection, articles: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace whole article objects (with `content`), their tags and linked models."""
    if not articles:
        return
    rows = [_row(a) for a in articles]
    ids = [r[0] for r in rows]
    marks = ",".join("?" * len(ids))
    conn.execute(f"DELETE FROM article_tags WHERE article_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM article_models WHERE article_id IN ({marks})", ids)
    conn.executemany(
        "INSERT INTO articles (id, title, creator, nsfw, view_count, collected_count, comment_count, published_at, "
        "updated_at, data, cover_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
        "title = excluded.title, creator = excluded.creator, nsfw = excluded.nsfw, view_count = excluded.view_count, "
        "collected_count = excluded.collected_count, comment_count = excluded.comment_count, "
        "published_at = excluded.published_at, updated_at = excluded.updated_at, data = excluded.data, "
        "cover_path = CASE WHEN cover_url IS excluded.cover_url THEN cover_path END, cover_url = excluded.cover_url",
        rows,
    )
    media_queue.enqueue(
        conn,
        [
            r[0]
            for r in conn.execute(
                f"SELECT cover_url FROM articles WHERE id IN ({marks}) AND cover_url IS NOT NULL "
                "AND cover_path IS NULL",
                ids,
            ).fetchall()
        ],
    )
    tag_rows, model_rows = [], []
    for article_id, article in zip(ids, articles, strict=True):
        names = {
            str(t.get("name", "")).strip().lower()
            for t in article.get("tags") or []
            if isinstance(t, Mapping)
        }
        for name in sorted(n for n in names if n):
            conn.execute("INSERT OR IGNORE INTO tags (name) VALUES (?)", [name])
            tag_id = conn.execute("SELECT id FROM tags WHERE name = ?", [name]).fetchone()[0]
            tag_rows.append((article_id, tag_id))
        model_rows += [
            (article_id, int(m["id"])) for m in article.get("models") or [] if m.get("id") is not None
        ]
    conn.executemany("INSERT OR IGNORE INTO article_tags (article_id, tag_id) VALUES (?, ?)", tag_rows)
    conn.executemany("INSERT OR IGNORE INTO article_models (article_id, model_id) VALUES (?, ?)", model_rows)
    enqueue(conn, "article", ids, "update")


def delete_articles(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    if not ids:
        return
    conn.execute(f"DELETE FROM articles WHERE id IN ({','.join('?' * len(ids))})", list(ids))
    enqueue(conn, "article", ids, "delete")


def get_article(conn: sqlite3.Connection, article_id: int) -> dict[str, Any] | None:
    """The mirrored article object, exactly as the hub server sent it."""
    row = conn.execute("SELECT data FROM articles WHERE id = ?", [article_id]).fetchone()
    return json.loads(row[0]) if row else None


def cover_path(conn: sqlite3.Connection, article_id: int) -> str | None:
    """Where the article's cover image is on disk (None: no cover, or not fetched yet)."""
    row = conn.execute("SELECT cover_path FROM articles WHERE id = ?", [article_id]).fetchone()
    return row[0] if row else None


def article_summaries(conn: sqlite3.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Id, title, author, views, publication date and tags of these articles, in the order given."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    tags: dict[int, list[str]] = {}
    for article_id, name in conn.execute(
        f"SELECT x.article_id, t.name FROM article_tags x JOIN tags t ON t.id = x.tag_id "
        f"WHERE x.article_id IN ({marks}) ORDER BY t.name",
        list(ids),
    ):
        tags.setdefault(article_id, []).append(name)
    rows = conn.execute(
        f"SELECT id, title, creator, view_count, published_at, nsfw FROM articles WHERE id IN ({marks})",
        list(ids),
    ).fetchall()
    by_id = {
        r[0]: {
            "id": r[0],
            "title": r[1],
            "creator": r[2],
            "views": r[3],
            "publishedAt": r[4],
            "nsfw": bool(r[5]),
            "tags": tags.get(r[0], []),
        }
        for r in rows
    }
    return [by_id[i] for i in ids if i in by_id]


def article_titles(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(f"SELECT id, title FROM articles WHERE id IN ({','.join('?' * len(ids))})", list(ids))
    return dict(rows.fetchall())
