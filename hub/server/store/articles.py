"""Articles: writes (each keeps the search row and the change feed entry in the same
transaction), the keyset list of `GET /api/v1/articles`, documents, views.

Functions of a connection; the caller holds the transaction. Content arrives sanitised (the
routes render Markdown and clean HTML before anything is stored).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.server import community_documents
from hub.server.documents import dumps
from hub.server.event_names import ARTICLE_PUBLISHED
from hub.server.records import NewMedia
from hub.server.store.change_feed import append_change
from hub.server.store.dialect import dialect_of
from hub.server.store.errors import NotFound
from hub.server.store.job_queue import emit_event
from hub.server.store.paging import Filters, KeysetList, Page, keyset_page
from hub.server.store.sql_text import chunks, placeholders

# Sort name -> column of `articles` (all descending, ties by id descending).
ARTICLE_SORT_COLUMNS = {
    "Newest": "published_ms",
    "Recently Updated": "updated_ms",
    "Most Comments": "comment_count",
    "Most Collected": "collected_count",
    "Most Viewed": "view_count",
}


@dataclass(frozen=True)
class ArticleFields:
    """What an author sets: every field, for a new article; the given ones, for an edit."""

    title: str | None = None
    content: str | None = None
    content_format: str | None = None
    tags: tuple[str, ...] | None = None
    model_ids: tuple[int, ...] | None = None
    nsfw: bool | None = None


@dataclass(frozen=True)
class ArticleQuery:
    limit: int = 100
    sort: str = "Newest"
    query: str | None = None
    tag_ids: tuple[int, ...] = ()
    username: str | None = None
    nsfw: bool = False  # False hides NSFW articles (Civitai's default)
    after: tuple[Any, int] | None = None


def _check_models(conn: sqlite3.Connection, model_ids: Sequence[int]) -> None:
    if not model_ids:
        return
    found = {
        r[0]
        for r in conn.execute(f"SELECT id FROM models WHERE id IN ({placeholders(model_ids)})", model_ids)
    }
    missing = [m for m in model_ids if m not in found]
    if missing:
        raise NotFound(f"modelIds: no model with id {', '.join(map(str, missing))}")


def tag_id(conn: sqlite3.Connection, name: str) -> int:
    """The id of a tag name (created on first use; names are case-insensitive)."""
    row = conn.execute("SELECT id FROM tag_ids WHERE name = ?", (name,)).fetchone()
    if row:
        return row[0]
    return int(conn.execute("INSERT INTO tag_ids (name) VALUES (?) RETURNING id", (name,)).fetchone()[0])


def _set_tags(conn: sqlite3.Connection, article_id: int, tags: Sequence[str]) -> None:
    conn.execute("DELETE FROM article_tags WHERE article_id = ?", (article_id,))
    ids = dict.fromkeys(tag_id(conn, t.strip().lower()) for t in tags if t.strip())
    conn.executemany(
        "INSERT INTO article_tags (article_id, tag_id) VALUES (?, ?)", [(article_id, t) for t in ids]
    )


def _set_models(conn: sqlite3.Connection, article_id: int, model_ids: Sequence[int]) -> None:
    _check_models(conn, model_ids)
    conn.execute("DELETE FROM article_models WHERE article_id = ?", (article_id,))
    conn.executemany(
        "INSERT INTO article_models (article_id, model_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(article_id, m) for m in model_ids],
    )


def create_article(
    conn: sqlite3.Connection, user_id: int, fields: ArticleFields, now: str, now_ms: int
) -> int:
    """A new draft; returns its id."""
    cur = conn.execute(
        "INSERT INTO articles (user_id, title, content, content_format, nsfw, status, created_at, updated_at, "
        "updated_ms) VALUES (?, ?, ?, ?, ?, 'Draft', ?, ?, ?) RETURNING id",
        (
            user_id,
            fields.title,
            fields.content,
            fields.content_format,
            int(bool(fields.nsfw)),
            now,
            now,
            now_ms,
        ),
    )
    article_id = int(cur.fetchone()[0])
    _set_tags(conn, article_id, fields.tags or ())
    _set_models(conn, article_id, fields.model_ids or ())
    article_changed(conn, article_id)
    return article_id


def update_article(
    conn: sqlite3.Connection, article_id: int, fields: ArticleFields, now: str, now_ms: int
) -> None:
    _require(conn, article_id)
    for column, value in (("title", fields.title), ("content", fields.content)):
        if value is not None:
            conn.execute(f"UPDATE articles SET {column} = ? WHERE id = ?", (value, article_id))
    if fields.content_format is not None:
        conn.execute(
            "UPDATE articles SET content_format = ? WHERE id = ?", (fields.content_format, article_id)
        )
    if fields.nsfw is not None:
        conn.execute("UPDATE articles SET nsfw = ? WHERE id = ?", (int(fields.nsfw), article_id))
    if fields.tags is not None:
        _set_tags(conn, article_id, fields.tags)
    if fields.model_ids is not None:
        _set_models(conn, article_id, fields.model_ids)
    conn.execute("UPDATE articles SET updated_at = ?, updated_ms = ? WHERE id = ?", (now, now_ms, article_id))
    article_changed(conn, article_id)


def set_status(
    conn: sqlite3.Connection, article_id: int, published: bool, now: str, now_ms: int, clock: float
) -> None:
    """Publish (the first time also stamps `publishedAt` and emits the article-published event)
    or take back to draft."""
    row = _require(conn, article_id)
    if published:
        first = row["published_at"] is None
        conn.execute(
            "UPDATE articles SET status = 'Published', published_at = COALESCE(published_at, ?), "
            "published_ms = CASE WHEN published_ms = 0 THEN ? ELSE published_ms END, updated_at = ?, "
            "updated_ms = ? WHERE id = ?",
            (now, now_ms, now, now_ms, article_id),
        )
        if first:
            data = {"articleId": article_id, "authorId": row["user_id"]}
            emit_event(conn, ARTICLE_PUBLISHED, data, f"article-published:{article_id}", clock)
    else:
        conn.execute(
            "UPDATE articles SET status = 'Draft', updated_at = ?, updated_ms = ? WHERE id = ?",
            (now, now_ms, article_id),
        )
    article_changed(conn, article_id)


def set_cover(conn: sqlite3.Connection, article_id: int, media: NewMedia, nsfw_level: int, now: str) -> None:
    """Make a stored image (its file already under media/) the article's cover."""
    _require(conn, article_id)
    conn.execute(
        "INSERT INTO media (sha256, path, width, height, blurhash) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (media.sha256, media.path, media.width, media.height, media.blurhash),
    )
    cur = conn.execute(
        "INSERT INTO cover_images (media_sha, nsfw_level, created_at) VALUES (?, ?, ?) RETURNING id",
        (media.sha256, nsfw_level, now),
    )
    conn.execute(
        "UPDATE articles SET cover_image_id = ?, updated_at = ? WHERE id = ?",
        (cur.fetchone()[0], now, article_id),
    )
    article_changed(conn, article_id)


def delete_article(conn: sqlite3.Connection, article_id: int) -> None:
    _require(conn, article_id)
    conn.execute("DELETE FROM articles_fts WHERE rowid = ?", (article_id,))
    conn.execute("DELETE FROM pending_article_views WHERE article_id = ?", (article_id,))
    conn.execute("DELETE FROM comments WHERE entity_type = 'article' AND entity_id = ?", (article_id,))
    conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
    append_change(conn, "article", str(article_id), "delete")


def article_changed(conn: sqlite3.Connection, article_id: int) -> None:
    """Refresh the search row; feed the article (an upsert while published, a delete once taken
    back to draft, so a mirror drops it)."""
    row = conn.execute(
        "SELECT a.title, a.status, a.published_at, u.username FROM articles a JOIN users u ON u.id = a.user_id "
        "WHERE a.id = ?",
        (article_id,),
    ).fetchone()
    tags = " ".join(
        r[0]
        for r in conn.execute(
            "SELECT t.name FROM article_tags x JOIN tag_ids t ON t.id = x.tag_id WHERE x.article_id = ?",
            (article_id,),
        )
    )
    conn.execute("DELETE FROM articles_fts WHERE rowid = ?", (article_id,))
    conn.execute(
        "INSERT INTO articles_fts (rowid, title, tags, username) VALUES (?, ?, ?, ?)",
        (article_id, row["title"], tags, row["username"]),
    )
    if row["status"] == "Published":
        append_change(conn, "article", str(article_id), "upsert")
    elif row["published_at"] is not None:  # a draft never published was never on the feed
        append_change(conn, "article", str(article_id), "delete")


def _require(conn: sqlite3.Connection, article_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
    if row is None:
        raise NotFound(f"No article with id {article_id}")
    return row


def article_owner(conn: sqlite3.Connection, article_id: int) -> tuple[int, str]:
    """(author's user id, status) of an article."""
    row = _require(conn, article_id)
    return row["user_id"], row["status"]


# -- views ------------------------------------------------------------------------------------------
def record_view(conn: sqlite3.Connection, article_id: int) -> None:
    conn.execute(
        "INSERT INTO pending_article_views (article_id, count) VALUES (?, 1) "
        "ON CONFLICT(article_id) DO UPDATE SET count = pending_article_views.count + 1",
        (article_id,),
    )


def fold_views(conn: sqlite3.Connection) -> int:
    """Add pending views to the articles' counts (and feed them); returns articles touched."""
    rows = conn.execute("SELECT article_id, count FROM pending_article_views").fetchall()
    conn.execute("DELETE FROM pending_article_views")
    touched = 0
    for r in rows:
        cur = conn.execute(
            "UPDATE articles SET view_count = view_count + ? WHERE id = ?", (r["count"], r["article_id"])
        )
        if cur.rowcount:
            article_changed(conn, r["article_id"])
            touched += 1
    return touched


# -- reads ------------------------------------------------------------------------------------------
def list_articles(conn: sqlite3.Connection, q: ArticleQuery) -> Page:
    """Published articles, newest (or the sort's largest) first, after the keyset `q.after`."""
    column = ARTICLE_SORT_COLUMNS[q.sort]
    filters = Filters()
    filters.add("a.status = 'Published'")
    if not q.nsfw:
        filters.add("a.nsfw = 0")
    if q.username:
        filters.add("a.user_id = (SELECT id FROM users WHERE username = ?)", q.username)
    if q.tag_ids:
        filters.add(
            f"a.id IN (SELECT article_id FROM article_tags WHERE tag_id IN ({placeholders(q.tag_ids)}))",
            *q.tag_ids,
        )
    if q.query is not None:
        dialect = dialect_of(conn)
        match = dialect.fts_query(q.query)
        if match is None:
            return Page([], None)
        filters.add(
            f"a.id IN (SELECT rowid FROM articles_fts WHERE {dialect.fts_match('articles_fts')})", match
        )
    listing = KeysetList("a.id", "articles a", "articles a", "a", column, descending=True)
    page = keyset_page(conn, listing, filters, limit=q.limit, after=q.after, offset=None)
    ids = [r["id"] for r in page.rows]
    docs = article_documents(conn, ids, with_content=False)
    return Page([dumps(docs[i]) for i in ids if i in docs], page.last_key)


def article_documents(
    conn: sqlite3.Connection, ids: Sequence[int], with_content: bool
) -> dict[int, dict[str, Any]]:
    """Documents of the articles `ids` that exist, by id (any status: callers decide who sees what)."""
    out: dict[int, dict[str, Any]] = {}
    for chunk in chunks(list(ids)):
        marks = placeholders(chunk)
        tags: dict[int, list[dict[str, Any]]] = {}
        for r in conn.execute(
            f"SELECT x.article_id, t.id, t.name FROM article_tags x JOIN tag_ids t ON t.id = x.tag_id "
            f"WHERE x.article_id IN ({marks}) ORDER BY t.name",
            chunk,
        ):
            tags.setdefault(r[0], []).append({"id": r[1], "name": r[2]})
        models: dict[int, list[dict[str, Any]]] = {}
        for r in conn.execute(
            f"SELECT x.article_id, m.id, m.name, m.type FROM article_models x JOIN models m ON m.id = x.model_id "
            f"WHERE x.article_id IN ({marks}) ORDER BY m.id",
            chunk,
        ):
            models.setdefault(r[0], []).append({"id": r[1], "name": r[2], "type": r[3]})
        for r in conn.execute(
            "SELECT a.*, u.username, u.image_sha, c.media_sha AS cover_sha, c.nsfw_level AS cover_nsfw, "
            "m.width AS cover_width, m.height AS cover_height, m.blurhash AS cover_blurhash "
            "FROM articles a JOIN users u ON u.id = a.user_id LEFT JOIN cover_images c ON c.id = a.cover_image_id "
            f"LEFT JOIN media m ON m.sha256 = c.media_sha WHERE a.id IN ({marks})",
            chunk,
        ):
            row = dict(r)
            user = {"id": row["user_id"], "username": row["username"], "image_sha": row["image_sha"]}
            cover = None
            if row["cover_sha"]:
                cover = {
                    "id": row["cover_image_id"],
                    "media_sha": row["cover_sha"],
                    "nsfw_level": row["cover_nsfw"],
                    "width": row["cover_width"],
                    "height": row["cover_height"],
                    "blurhash": row["cover_blurhash"],
                }
            out[row["id"]] = community_documents.article_document(
                row, user, tags.get(row["id"], []), cover, models.get(row["id"], []), with_content
            )
    return out


def article_document(conn: sqlite3.Connection, article_id: int) -> dict[str, Any]:
    docs = article_documents(conn, [article_id], with_content=True)
    if article_id not in docs:
        raise NotFound(f"No article with id {article_id}")
    return docs[article_id]


def articles_of_user(
    conn: sqlite3.Connection, user_id: int, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """An author's own articles, drafts included, most recently updated first."""
    total = conn.execute("SELECT COUNT(*) FROM articles WHERE user_id = ?", (user_id,)).fetchone()[0]
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM articles WHERE user_id = ? ORDER BY updated_ms DESC, id DESC LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
    ]
    docs = article_documents(conn, ids, with_content=False)
    return [docs[i] for i in ids if i in docs], total
