"""Mirrored reviews (of model versions) and comments (on models and articles), from the
catalog feed, read offline newest first. Functions of a connection; they never commit."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from hub.store.catalog import CatalogError


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _required(entity: str, data: Mapping[str, Any], *fields: str) -> None:
    missing = [f for f in fields if data.get(f) is None]
    if missing:
        raise CatalogError("; ".join(f"{entity}.{f}: missing" for f in missing))


def upsert_review(conn: sqlite3.Connection, data: Mapping[str, Any]) -> None:
    _required("review", data, "id", "modelId", "modelVersionId", "recommended")
    conn.execute(
        "INSERT OR REPLACE INTO reviews (id, model_id, version_id, username, recommended, created_at, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            int(data["id"]),
            int(data["modelId"]),
            int(data["modelVersionId"]),
            (data.get("user") or {}).get("username"),
            1 if data["recommended"] else 0,
            data.get("createdAt"),
            _json(data),
        ),
    )


def upsert_comment(conn: sqlite3.Connection, data: Mapping[str, Any]) -> None:
    _required("comment", data, "id", "content")
    if data.get("modelId") is not None:
        entity_type, entity_id = "model", int(data["modelId"])
    elif data.get("articleId") is not None:
        entity_type, entity_id = "article", int(data["articleId"])
    else:
        raise CatalogError("comment.modelId: missing (or articleId)")
    conn.execute(
        "INSERT OR REPLACE INTO comments (id, entity_type, entity_id, username, created_at, data) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            int(data["id"]),
            entity_type,
            entity_id,
            (data.get("user") or {}).get("username"),
            data.get("createdAt"),
            _json(data),
        ),
    )


def delete_review(conn: sqlite3.Connection, review_id: int) -> None:
    conn.execute("DELETE FROM reviews WHERE id = ?", (review_id,))


def delete_comment(conn: sqlite3.Connection, comment_id: int) -> None:
    conn.execute("DELETE FROM comments WHERE id = ?", (comment_id,))


def forget_models(conn: sqlite3.Connection, model_ids: Sequence[int]) -> None:
    """Drop the reviews and comments of models the feed deleted."""
    for start in range(0, len(model_ids), 500):
        chunk = list(model_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM reviews WHERE model_id IN ({marks})", chunk)
        conn.execute(f"DELETE FROM comments WHERE entity_type = 'model' AND entity_id IN ({marks})", chunk)


def list_reviews(
    conn: sqlite3.Connection, model_id: int, version_id: int | None, limit: int
) -> tuple[list[dict[str, Any]], int, int]:
    """(the newest reviews of a model, or of one of its versions, as the server sent them;
    thumbs up; thumbs down) over all of them, not only the `limit` returned."""
    where, args = "model_id = ?", [model_id]
    if version_id is not None:
        where, args = where + " AND version_id = ?", [*args, version_id]
    up, down = conn.execute(
        f"SELECT COALESCE(SUM(recommended), 0), COALESCE(SUM(1 - recommended), 0) FROM reviews WHERE {where}",
        args,
    ).fetchone()
    rows = conn.execute(f"SELECT data FROM reviews WHERE {where} ORDER BY id DESC LIMIT ?", [*args, limit])
    return [json.loads(r[0]) for r in rows.fetchall()], int(up), int(down)


def list_comments(
    conn: sqlite3.Connection, entity_type: str, entity_id: int, limit: int
) -> list[dict[str, Any]]:
    """The comments on a model or an article, oldest first (a conversation reads down)."""
    rows = conn.execute(
        "SELECT data FROM comments WHERE entity_type = ? AND entity_id = ? ORDER BY id LIMIT ?",
        (entity_type, entity_id, limit),
    )
    return [json.loads(r[0]) for r in rows.fetchall()]
