"""Reviews (thumbs up or down with text, one per user per model version, editable) and comments
(on models and articles).

A review changes its version's and its model's `thumbsUpCount` / `thumbsDownCount` /
`ratingCount` / `rating` (5 x the share of thumbs up, on Civitai's 0-5 scale), and the model's
stored document is rebuilt in the same transaction, as every other model change. A comment
counts in `commentCount` the same way. New reviews and comments emit their notification events
in that transaction too. Functions of a connection; the caller holds the transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from hub.server import community_documents
from hub.server.event_names import COMMENT_RECEIVED, REVIEW_RECEIVED
from hub.server.store import buzz
from hub.server.store.articles import article_changed
from hub.server.store.change_feed import append_change
from hub.server.store.dialect import dialect_of
from hub.server.store.errors import NotFound
from hub.server.store.job_queue import emit_event
from hub.server.store.model_documents import rebuild_model
from hub.server.store.sql_text import chunks, placeholders

RATING_SCALE = 5.0


def _rating_sql(table: str, greatest: Callable[[str, str], str]) -> str:
    return (
        f"UPDATE {table} SET thumbs_up_count = {greatest('0', 'thumbs_up_count + ?')}, "
        f"thumbs_down_count = {greatest('0', 'thumbs_down_count + ?')} WHERE id = ?"
    )


def _rerate(conn: sqlite3.Connection, table: str, row_id: int) -> None:
    conn.execute(
        f"UPDATE {table} SET rating_count = thumbs_up_count + thumbs_down_count, rating = CASE "
        f"WHEN thumbs_up_count + thumbs_down_count = 0 THEN 0 ELSE "
        f"ROUND({RATING_SCALE} * thumbs_up_count / (thumbs_up_count + thumbs_down_count), 2) END WHERE id = ?",
        (row_id,),
    )


def _count(conn: sqlite3.Connection, version_id: int, model_id: int, up: int, down: int) -> None:
    for table, row_id in (("versions", version_id), ("models", model_id)):
        conn.execute(_rating_sql(table, dialect_of(conn).greatest), (up, down, row_id))
        _rerate(conn, table, row_id)
    rebuild_model(conn, model_id)


def version_model(conn: sqlite3.Connection, version_id: int) -> tuple[int, int]:
    """(model id, the model creator's user id) of a version."""
    row = conn.execute(
        "SELECT v.model_id, m.user_id FROM versions v JOIN models m ON m.id = v.model_id WHERE v.id = ?",
        (version_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"Model version not found: {version_id}")
    return row[0], row[1]


def upsert_review(
    conn: sqlite3.Connection,
    version_id: int,
    user_id: int,
    recommended: bool,
    details: str,
    now: str,
    clock: float,
) -> tuple[int, bool]:
    """Create or edit the user's review of a version; returns (review id, created)."""
    model_id, creator_id = version_model(conn, version_id)
    old = conn.execute(
        "SELECT id, recommended FROM reviews WHERE version_id = ? AND user_id = ?", (version_id, user_id)
    ).fetchone()
    if old is None:
        cur = conn.execute(
            "INSERT INTO reviews (version_id, model_id, user_id, recommended, details, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (version_id, model_id, user_id, int(recommended), details, now, now),
        )
        review_id = int(cur.fetchone()[0])
        _count(conn, version_id, model_id, int(recommended), int(not recommended))
        data = {
            "reviewId": review_id,
            "modelId": model_id,
            "modelVersionId": version_id,
            "creatorId": creator_id,
            "authorId": user_id,
            "recommended": recommended,
        }
        emit_event(conn, REVIEW_RECEIVED, data, f"review:{review_id}", clock)
        buzz.reward(conn, user_id, "review", f"version-{version_id}", now)  # once per version reviewed
        append_change(conn, "review", str(review_id), "upsert")
        return review_id, True
    conn.execute(
        "UPDATE reviews SET recommended = ?, details = ?, updated_at = ? WHERE id = ?",
        (int(recommended), details, now, old["id"]),
    )
    if bool(old["recommended"]) != recommended:
        swing = 1 if recommended else -1
        _count(conn, version_id, model_id, swing, -swing)
    append_change(conn, "review", str(old["id"]), "upsert")
    return old["id"], False


def delete_review(conn: sqlite3.Connection, version_id: int, user_id: int) -> None:
    row = conn.execute(
        "SELECT id, model_id, recommended FROM reviews WHERE version_id = ? AND user_id = ?",
        (version_id, user_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"You have no review of model version {version_id}")
    conn.execute("DELETE FROM reviews WHERE id = ?", (row["id"],))
    append_change(conn, "review", str(row["id"]), "delete")
    up = int(row["recommended"])
    _count(conn, version_id, row["model_id"], -up, -(1 - up))


def review_document(conn: sqlite3.Connection, review_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT r.*, u.username FROM reviews r JOIN users u ON u.id = r.user_id WHERE r.id = ?", (review_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"No review with id {review_id}")
    return community_documents.review_document(dict(row))


def list_reviews(
    conn: sqlite3.Connection, version_id: int, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    version_model(conn, version_id)
    total = conn.execute("SELECT COUNT(*) FROM reviews WHERE version_id = ?", (version_id,)).fetchone()[0]
    rows = conn.execute(
        "SELECT r.*, u.username FROM reviews r JOIN users u ON u.id = r.user_id WHERE r.version_id = ? "
        "ORDER BY r.id DESC LIMIT ? OFFSET ?",
        (version_id, limit, offset),
    ).fetchall()
    return [community_documents.review_document(dict(r)) for r in rows], total


# -- comments ---------------------------------------------------------------------------------------
def _entity_owner(conn: sqlite3.Connection, entity_type: str, entity_id: int) -> int:
    if entity_type == "model":
        row = conn.execute("SELECT user_id FROM models WHERE id = ?", (entity_id,)).fetchone()
        if row is None:
            raise NotFound(f"No model with id {entity_id}")
    else:
        row = conn.execute(
            "SELECT user_id FROM articles WHERE id = ? AND status = 'Published'", (entity_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"No article with id {entity_id}")
    return row[0]


def _count_comments(conn: sqlite3.Connection, entity_type: str, entity_id: int, delta: int) -> None:
    table = "models" if entity_type == "model" else "articles"
    conn.execute(
        f"UPDATE {table} SET comment_count = {dialect_of(conn).greatest('0', 'comment_count + ?')} WHERE id = ?",
        (delta, entity_id),
    )
    if entity_type == "model":
        rebuild_model(conn, entity_id)
    else:
        article_changed(conn, entity_id)


def add_comment(
    conn: sqlite3.Connection,
    entity_type: str,
    entity_id: int,
    user_id: int,
    content: str,
    now: str,
    clock: float,
) -> int:
    owner_id = _entity_owner(conn, entity_type, entity_id)
    cur = conn.execute(
        "INSERT INTO comments (entity_type, entity_id, user_id, content, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (entity_type, entity_id, user_id, content, now, now),
    )
    comment_id = int(cur.fetchone()[0])
    _count_comments(conn, entity_type, entity_id, +1)
    append_change(conn, "comment", str(comment_id), "upsert")
    if entity_type == "model":
        data = {"commentId": comment_id, "modelId": entity_id, "creatorId": owner_id, "authorId": user_id}
        emit_event(conn, COMMENT_RECEIVED, data, f"comment:{comment_id}", clock)
    return comment_id


def delete_comment(conn: sqlite3.Connection, comment_id: int) -> None:
    row = conn.execute("SELECT entity_type, entity_id FROM comments WHERE id = ?", (comment_id,)).fetchone()
    if row is None:
        raise NotFound(f"No comment with id {comment_id}")
    conn.execute("DELETE FROM comments WHERE id = ?", (comment_id,))
    append_change(conn, "comment", str(comment_id), "delete")
    _count_comments(conn, row["entity_type"], row["entity_id"], -1)


def comment_author(conn: sqlite3.Connection, comment_id: int) -> int:
    row = conn.execute("SELECT user_id FROM comments WHERE id = ?", (comment_id,)).fetchone()
    if row is None:
        raise NotFound(f"No comment with id {comment_id}")
    return row[0]


def comment_document(conn: sqlite3.Connection, comment_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT c.*, u.username FROM comments c JOIN users u ON u.id = c.user_id WHERE c.id = ?",
        (comment_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"No comment with id {comment_id}")
    return community_documents.comment_document(dict(row))


def list_comments(
    conn: sqlite3.Connection, entity_type: str, entity_id: int, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    _entity_owner(conn, entity_type, entity_id)
    total = conn.execute(
        "SELECT COUNT(*) FROM comments WHERE entity_type = ? AND entity_id = ?", (entity_type, entity_id)
    ).fetchone()[0]
    rows = conn.execute(
        "SELECT c.*, u.username FROM comments c JOIN users u ON u.id = c.user_id "
        "WHERE c.entity_type = ? AND c.entity_id = ? ORDER BY c.id LIMIT ? OFFSET ?",
        (entity_type, entity_id, limit, offset),
    ).fetchall()
    return [community_documents.comment_document(dict(r)) for r in rows], total


def review_documents(conn: sqlite3.Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The change feed's data of "review" entries, by id (those that still exist)."""
    out: dict[int, dict[str, Any]] = {}
    for chunk in chunks(ids):
        for r in conn.execute(
            f"SELECT r.*, u.username FROM reviews r JOIN users u ON u.id = r.user_id "
            f"WHERE r.id IN ({placeholders(chunk)})",
            chunk,
        ).fetchall():
            out[r["id"]] = community_documents.review_document(dict(r))
    return out


def comment_documents(conn: sqlite3.Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The change feed's data of "comment" entries, by id (those that still exist)."""
    out: dict[int, dict[str, Any]] = {}
    for chunk in chunks(ids):
        for r in conn.execute(
            f"SELECT c.*, u.username FROM comments c JOIN users u ON u.id = c.user_id "
            f"WHERE c.id IN ({placeholders(chunk)})",
            chunk,
        ).fetchall():
            out[r["id"]] = community_documents.comment_document(dict(r))
    return out
