"""Applying one page of the hub change feed to the store, with its cursor, in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from hub.store import reviews_comments, sync_state
from hub.store.articles import delete_articles, upsert_articles
from hub.store.catalog import delete_creator, delete_models, upsert_creators, upsert_models
from hub.store.community import delete_collection, upsert_collections
from hub.store.cosmetics import set_cosmetics
from hub.store.database import HubDatabase

FEED = "catalog"


class FeedError(ValueError):
    """The server sent a change item this client does not understand (the message names it)."""


def apply_page(
    db: HubDatabase,
    server_url: str,
    items: Sequence[Mapping[str, Any]],
    next_cursor: str | None,
    feed: str = FEED,
) -> int:
    """Write every item of the page and the new cursor atomically; returns the items applied.

    Items are applied in `seq` order; within a page the feed is compacted, so an entity appears
    at most once, but applying in order keeps this correct even if it did not."""
    model_upserts: dict[int, Mapping[str, Any]] = {}
    model_deletes: list[int] = []
    with db.transaction() as conn:

        def flush() -> None:
            if model_upserts:
                upsert_models(conn, list(model_upserts.values()))
                model_upserts.clear()
            if model_deletes:
                delete_models(conn, list(model_deletes))
                reviews_comments.forget_models(conn, model_deletes)
                model_deletes.clear()

        for position, item in enumerate(sorted(items, key=lambda i: int(i.get("seq", 0)))):
            entity, action = item.get("entity"), item.get("action")
            if action not in ("upsert", "delete"):
                raise FeedError(f"items[{position}].action: unknown {action!r}")
            if entity == "model":
                model_id = int(item["id"])
                if action == "upsert":
                    if model_id in model_deletes:
                        flush()
                    data = item.get("data")
                    if not isinstance(data, Mapping):
                        raise FeedError(f"items[{position}].data: a model object is required")
                    model_upserts[model_id] = data
                else:
                    if model_id in model_upserts:
                        flush()
                    model_deletes.append(model_id)
            elif entity in ("article", "collection", "review", "comment", "cosmetics"):
                _apply_community(conn, position, entity, action, item)
            elif entity == "creator":
                flush()
                if action == "upsert":
                    data = dict(item.get("data") or {})
                    data.setdefault("username", str(item["id"]))
                    upsert_creators(conn, [data])
                else:
                    delete_creator(conn, str(item["id"]))
            else:
                raise FeedError(f"items[{position}].entity: unknown {entity!r}")
        flush()
        sync_state.advance(conn, feed, server_url, next_cursor, len(items))
    return len(items)


def saved_cursor(db: HubDatabase, server_url: str, feed: str = FEED) -> str | None:
    """The cursor to resume from; None (start over) when the mirror followed another server."""
    found = sync_state.position(db.conn, feed)
    if found is None or found.server_url.rstrip("/") != server_url.rstrip("/"):
        return None
    return found.cursor


def _apply_community(
    conn: sqlite3.Connection, position: int, entity: str, action: str, item: Mapping[str, Any]
) -> None:
    """A published article (or its withdrawal), a public collection, a review, a comment, or
    what a user has equipped (id: the username) from the catalog feed."""
    if action == "delete":
        entity_id = int(item["id"])
        if entity == "article":
            delete_articles(conn, [entity_id])
        elif entity == "collection":
            delete_collection(conn, entity_id, mine=False)
        elif entity == "review":
            reviews_comments.delete_review(conn, entity_id)
        elif entity == "comment":
            reviews_comments.delete_comment(conn, entity_id)
        return
    data = item.get("data")
    if not isinstance(data, Mapping):
        raise FeedError(f"items[{position}].data: an {entity} object is required")
    if entity == "article":
        upsert_articles(conn, [data])
    elif entity == "collection":
        upsert_collections(conn, [data], mine=False)
    elif entity == "review":
        reviews_comments.upsert_review(conn, data)
    elif entity == "comment":
        reviews_comments.upsert_comment(conn, data)
    else:
        set_cosmetics(conn, data)
