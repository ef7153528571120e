"""The catalog as the search reads it: each model's and article's text and sort keys (for its
index document, `hub/search/schema.py`) and the models and articles passing the filters (the searcher answers
filters from SQLite, which has them indexed, rather than from Whoosh terms).

The functions take a `sqlite3.Connection` (inside `HubDatabase.snapshot()` when several reads
must agree); they never write.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple


class ModelText(NamedTuple):
    id: int
    name: str
    description: str | None
    downloads: int
    rating: float
    published_at: str | None
    tags: list[str]
    trained_words: list[str]


def model_texts(conn: sqlite3.Connection, model_ids: Sequence[int]) -> dict[int, ModelText]:
    """{id: text} of the given models that exist in the store (missing ones are absent)."""
    if not model_ids:
        return {}
    marks = ",".join("?" * len(model_ids))
    ids = list(model_ids)
    words: dict[int, list[str]] = {}
    for model_id, trained in conn.execute(
        f"SELECT model_id, trained_words FROM versions WHERE model_id IN ({marks})", ids
    ):
        if trained and trained != "[]":
            words.setdefault(model_id, []).extend(str(w) for w in json.loads(trained))
    tags: dict[int, list[str]] = {}
    for model_id, tag in conn.execute(
        f"SELECT mt.model_id, t.name FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.model_id IN ({marks})",
        ids,
    ):
        tags.setdefault(model_id, []).append(tag)
    return {
        model_id: ModelText(
            model_id,
            name,
            description,
            downloads,
            rating,
            published,
            tags.get(model_id, []),
            words.get(model_id, []),
        )
        for model_id, name, description, downloads, rating, published in conn.execute(
            "SELECT m.id, m.name, m.description, m.download_count, m.rating, m.published_at FROM models m "
            f"WHERE m.id IN ({marks})",
            ids,
        )
    }


def model_ids_after(conn: sqlite3.Connection, after: int, limit: int) -> list[int]:
    """The next `limit` model ids above `after`, in order (paging through the whole catalog)."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT id FROM models WHERE id > ? ORDER BY id LIMIT ?", [after, limit]
        ).fetchall()
    ]


def filtered_model_ids(
    conn: sqlite3.Connection,
    types: Sequence[str] = (),
    base_models: Sequence[str] = (),
    creator: str | None = None,
    tags: Sequence[str] = (),
    nsfw: bool | None = None,
) -> list[int]:
    """Ids of the models passing every filter (case-insensitive; several types or base models
    mean any of them; several tags mean all of them)."""
    where: list[str] = []
    params: list[Any] = []
    if types:
        where.append(f"lower(type) IN ({','.join('?' * len(types))})")
        params.extend(t.lower() for t in types)
    if base_models:
        where.append(
            f"id IN (SELECT model_id FROM versions WHERE lower(base_model) IN ({','.join('?' * len(base_models))}))"
        )
        params.extend(b.lower() for b in base_models)
    if creator:
        where.append("lower(creator) = ?")
        params.append(creator.lower())
    for tag in tags:
        where.append(
            "id IN (SELECT mt.model_id FROM model_tags mt JOIN tags t ON t.id = mt.tag_id WHERE t.name = ?)"
        )
        params.append(tag.strip().lower())
    if nsfw is not None:
        where.append("nsfw = ?")
        params.append(1 if nsfw else 0)
    sql = "SELECT id FROM models" + (" WHERE " + " AND ".join(where) if where else "")
    return [row[0] for row in conn.execute(sql, params)]


class ArticleText(NamedTuple):
    id: int
    title: str
    content: str  # HTML
    views: int
    published_at: str | None
    tags: list[str]


def article_texts(conn: sqlite3.Connection, article_ids: Sequence[int]) -> dict[int, ArticleText]:
    """{id: text} of the given articles that exist in the mirror (missing ones are absent)."""
    if not article_ids:
        return {}
    marks = ",".join("?" * len(article_ids))
    ids = list(article_ids)
    tags: dict[int, list[str]] = {}
    for article_id, tag in conn.execute(
        f"SELECT x.article_id, t.name FROM article_tags x JOIN tags t ON t.id = x.tag_id WHERE x.article_id IN ({marks})",
        ids,
    ):
        tags.setdefault(article_id, []).append(tag)
    return {
        article_id: ArticleText(
            article_id,
            title,
            json.loads(data).get("content") or "",
            views,
            published,
            tags.get(article_id, []),
        )
        for article_id, title, data, views, published in conn.execute(
            f"SELECT id, title, data, view_count, published_at FROM articles WHERE id IN ({marks})", ids
        )
    }


def article_ids_after(conn: sqlite3.Connection, after: int, limit: int) -> list[int]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT id FROM articles WHERE id > ? ORDER BY id LIMIT ?", [after, limit]
        ).fetchall()
    ]


def filtered_article_ids(
    conn: sqlite3.Connection, creator: str | None = None, tags: Sequence[str] = (), nsfw: bool | None = None
) -> list[int]:
    """Ids of the articles passing the filters an article can meet (author, tags, nsfw)."""
    where: list[str] = []
    params: list[Any] = []
    if creator:
        where.append("lower(creator) = ?")
        params.append(creator.lower())
    for tag in tags:
        where.append(
            "id IN (SELECT x.article_id FROM article_tags x JOIN tags t ON t.id = x.tag_id WHERE t.name = ?)"
        )
        params.append(tag.strip().lower())
    if nsfw is not None:
        where.append("nsfw = ?")
        params.append(1 if nsfw else 0)
    sql = "SELECT id FROM articles" + (" WHERE " + " AND ".join(where) if where else "")
    return [row[0] for row in conn.execute(sql, params)]
