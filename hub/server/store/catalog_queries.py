"""Catalog reads: model and image lists, model documents, lookups by hash, creators and tags.

Functions of a connection; the caller holds the read transaction, so a multi-statement read
sees one snapshot. Both list queries build their pages with `paging.keyset_page`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from hub.server import documents
from hub.server.enums import IMAGE_SORTS, MODEL_SORTS
from hub.server.records import ImageQuery, ModelQuery
from hub.server.store.dialect import dialect_of
from hub.server.store.errors import NotFound
from hub.server.store.paging import Filters, KeysetList, Page, keyset_page, named_page
from hub.server.store.sql_text import chunks, placeholders

# Up to this many matches of a search or tag, fetch them all and sort; above, walk the index.
FEW_MATCHES = 3000
# Sort column -> the index that holds it in order.
SORT_INDEXES = {
    "rating": "models_rating",
    "download_count": "models_downloads",
    "thumbs_up_count": "models_likes",
    "comment_count": "models_comments",
    "collected_count": "models_collected",
    "image_count": "models_images",
    "published_at": "models_published",
}
IMAGE_SOURCE = (
    "images i JOIN users u ON u.id = i.user_id JOIN versions v ON v.id = i.version_id "
    "JOIN media m ON m.sha256 = i.media_sha"
)
# A hash's length says which kind it is (all uppercase, as the routes pass them).
HASH_CONDITIONS = {
    8: "b.crc32 = :h OR b.autov1 = :h",
    10: "substr(b.sha256, 1, 10) = :h",
    12: "b.autov3 = :h",
    64: "b.sha256 = :h OR b.blake3 = :h",
}


def list_models(conn: sqlite3.Connection, q: ModelQuery) -> Page:
    column, descending = MODEL_SORTS[q.sort]
    dialect = dialect_of(conn)
    match: str | None = None
    if q.query is not None:
        match = dialect.fts_query(q.query)
        if match is None:
            return Page([], None, 0)
    # Few matches (a creator's models, a list of ids, favourites, a rare word or tag): fetch them and
    # sort. Many matches (a common word or tag can match half the catalog): walk the sort
    # index and check each row, which stops after `limit` matches.
    # A "+" before m.id keeps SQLite from driving the query from that list.
    source = "models m"
    hint_order = False
    driver: str | None = None  # the tag or search list SQLite may start from
    tag_count, query_count = _match_counts(conn, match, q.tag)
    smallest = min(tag_count, query_count)
    if q.username or q.ids or q.favorites_of is not None:
        hint_order = True
    elif smallest <= FEW_MATCHES:
        hint_order = True
        driver = "tag" if tag_count == smallest else "query"
    elif match or q.tag:
        source = f"models m{dialect.index_hint(SORT_INDEXES[column])}"

    filters = Filters()
    if q.nsfw is False:
        filters.add("m.nsfw = 0")
    if q.types:
        filters.add(f"m.type IN ({placeholders(q.types)})", *q.types)
    if q.base_models:
        # correlated on purpose: common base models match many rows, so walking the sort
        # index and probing beats sorting every match
        filters.add(
            "EXISTS (SELECT 1 FROM model_base_models b WHERE b.model_id = m.id AND b.base_model IN "
            f"({placeholders(q.base_models)}))",
            *q.base_models,
        )
    if q.tag:
        filters.add("m.id IN (SELECT model_id FROM model_tags WHERE tag = ?)", q.tag, hinted=driver != "tag")
    if q.username:
        filters.add("m.user_id = (SELECT id FROM users WHERE username = ?)", q.username)
    if q.ids:
        filters.add(f"m.id IN ({placeholders(q.ids)})", *q.ids)
    if q.favorites_of is not None:
        filters.add("m.id IN (SELECT model_id FROM favorites WHERE user_id = ?)", q.favorites_of)
    if q.checkpoint_type:
        filters.add("m.checkpoint_type = ?", q.checkpoint_type)
    if q.published_after:
        filters.add("m.published_at >= ?", q.published_after)
    if match is not None:
        filters.add(
            f"m.id IN (SELECT rowid FROM models_fts WHERE {dialect.fts_match('models_fts')})",
            match,
            hinted=driver != "query",
        )
    listing = KeysetList("m.id", source, "models m", "m", column, descending, hint_order)
    page = keyset_page(conn, listing, filters, limit=q.limit, after=q.after, offset=q.offset)
    docs = model_docs(conn, [r["id"] for r in page.rows])
    return Page([docs[r["id"]] for r in page.rows], page.last_key, page.total)


def _match_counts(conn: sqlite3.Connection, match: str | None, tag: str | None) -> tuple[float, float]:
    """How many models the tag and the search match (capped; inf when not filtering)."""
    tag_count = query_count = float("inf")
    if tag:
        row = conn.execute("SELECT model_count FROM tags WHERE name = ?", (tag,)).fetchone()
        tag_count = row[0] if row else 0
    if match:
        query_count = conn.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM models_fts WHERE {dialect_of(conn).fts_match('models_fts')} "
            "LIMIT ?) AS matches",
            (match, FEW_MATCHES + 1),
        ).fetchone()[0]
    return tag_count, query_count


def list_images(conn: sqlite3.Connection, q: ImageQuery) -> Page:
    column, descending = IMAGE_SORTS[q.sort]
    filters = Filters()
    if q.model_id is not None:
        filters.add("i.model_id = ?", q.model_id)
    if q.version_id is not None:
        filters.add("i.version_id = ?", q.version_id)
    if q.username:
        filters.add("i.user_id = (SELECT id FROM users WHERE username = ?)", q.username)
    if q.browsing_level is not None:
        filters.add("(i.nsfw_level & ?) != 0", q.browsing_level)
    elif q.max_nsfw_level is not None:
        filters.add("i.nsfw_level <= ?", q.max_nsfw_level)
    if q.post_id is not None:
        filters.add("i.post_id = ?", q.post_id)
    if q.image_id is not None:
        filters.add("i.id = ?", q.image_id)
    if q.base_models:
        filters.add(
            f"i.version_id IN (SELECT id FROM versions WHERE base_model IN ({placeholders(q.base_models)}))",
            *q.base_models,
        )
    if q.created_after:
        filters.add("i.created_at >= ?", q.created_after)
    selective = any(v is not None for v in (q.model_id, q.version_id, q.post_id, q.image_id)) or bool(
        q.username
    )
    listing = KeysetList(
        "i.*, u.username, v.base_model, m.width, m.height, m.blurhash",
        IMAGE_SOURCE,
        "images i",
        "i",
        column,
        descending,
        hint_order=selective,
    )
    page = keyset_page(conn, listing, filters, limit=q.limit, after=q.after, offset=q.offset)
    docs = [documents.dumps(documents.image_document(dict(r))) for r in page.rows]
    return Page(docs, page.last_key, page.total)


def model_docs(conn: sqlite3.Connection, model_ids: list[int]) -> dict[int, str]:
    """Stored documents of `model_ids` (those that exist), by id."""
    docs: dict[int, str] = {}
    for chunk in chunks(model_ids):
        for r in conn.execute(
            f"SELECT model_id, doc FROM model_docs WHERE model_id IN ({placeholders(chunk)})", chunk
        ):
            docs[r[0]] = r[1]
    return docs


def model_doc(conn: sqlite3.Connection, model_id: int) -> str:
    row = conn.execute("SELECT doc FROM model_docs WHERE model_id = ?", (model_id,)).fetchone()
    if row is None:
        raise NotFound(f"No model with id {model_id}")
    return row["doc"]


def version_model_doc(conn: sqlite3.Connection, version_id: int) -> str:
    """The doc of the model that holds version `version_id`."""
    row = conn.execute(
        "SELECT d.doc FROM versions v JOIN model_docs d ON d.model_id = v.model_id WHERE v.id = ?",
        (version_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"Model version not found: {version_id}")
    return row["doc"]


def versions_by_hashes(conn: sqlite3.Connection, hashes: Sequence[str]) -> list[tuple[int, str]]:
    """(version id, model doc) of the first file matching each (uppercase) hash, in order."""
    found: list[tuple[int, str]] = []
    seen: set[int] = set()
    for h in hashes:
        row = conn.execute(
            "SELECT f.version_id, d.doc FROM blobs b JOIN files f ON f.sha256 = b.sha256 "
            "JOIN versions v ON v.id = f.version_id JOIN model_docs d ON d.model_id = v.model_id "
            f"WHERE {HASH_CONDITIONS[len(h)]} ORDER BY f.id LIMIT 1",
            {"h": h},
        ).fetchone()
        if row and row["version_id"] not in seen:
            seen.add(row["version_id"])
            found.append((row["version_id"], row["doc"]))
    return found


def list_creators(
    conn: sqlite3.Connection, limit: int, offset: int, query: str | None
) -> tuple[list[dict[str, Any]], int]:
    rows, total = named_page(
        conn, "users", "username", "username, image_sha, model_count", "username", limit, offset, query
    )
    return [documents.creator_document(r["username"], r["image_sha"], r["model_count"]) for r in rows], total


def list_tags(
    conn: sqlite3.Connection, limit: int, offset: int, query: str | None
) -> tuple[list[dict[str, Any]], int]:
    rows, total = named_page(
        conn, "tags", "name", "name, model_count", "model_count DESC, name", limit, offset, query
    )
    return [{"name": r["name"], "modelCount": r["model_count"]} for r in rows], total


def model_owner(conn: sqlite3.Connection, model_id: int) -> int:
    row = conn.execute("SELECT user_id FROM models WHERE id = ?", (model_id,)).fetchone()
    if row is None:
        raise NotFound(f"No model with id {model_id}")
    return int(row["user_id"])


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("users", "models", "versions", "files", "blobs", "images", "media", "changes")
    }


def sample_hashes(conn: sqlite3.Connection, limit: int) -> list[str]:
    rows = conn.execute("SELECT sha256 FROM blobs ORDER BY random() LIMIT ?", (limit,)).fetchall()
    return [r[0] for r in rows]


def download_leaderboard(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """Creators by the downloads of their models, most first."""
    rows = conn.execute(
        "SELECT u.username, SUM(m.download_count) AS downloads FROM models m JOIN users u ON u.id = m.user_id "
        "GROUP BY u.id ORDER BY downloads DESC, u.username LIMIT ?",
        (limit,),
    ).fetchall()
    return [{"username": r["username"], "downloadCount": r["downloads"]} for r in rows]
