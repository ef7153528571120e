"""The change feed: appended in the transaction of each change, read in pages by mirrors.

The feed is compacted: an entity's new entry replaces its older one, so it holds at most one
entry per entity, the newest. `seq` is AUTOINCREMENT (on PostgreSQL an identity), assigned
under the single writer lock (on PostgreSQL the store's advisory lock, held by every write
transaction of every process), so it increases in commit order and is never reused.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from hub.server import documents
from hub.server.store.catalog_queries import model_docs
from hub.server.store.sql_text import chunks, placeholders


@dataclass(frozen=True)
class Change:
    seq: int
    entity: str
    entity_id: str
    action: str
    data: str | None  # raw JSON text of the entity, or None for deletes


def append_change(conn: sqlite3.Connection, entity: str, entity_id: str, action: str) -> None:
    conn.execute("DELETE FROM changes WHERE entity = ? AND entity_id = ?", (entity, entity_id))
    conn.execute(
        "INSERT INTO changes (entity, entity_id, action) VALUES (?, ?, ?)", (entity, entity_id, action)
    )


def creator_changed(conn: sqlite3.Connection, user_id: int) -> None:
    """A creator is an account with published models; the last model gone, it is deleted."""
    row = conn.execute("SELECT username, model_count FROM users WHERE id = ?", (user_id,)).fetchone()
    append_change(conn, "creator", row["username"], "upsert" if row["model_count"] > 0 else "delete")


def changes_since(conn: sqlite3.Connection, since: int, limit: int) -> tuple[list[Change], bool]:
    """Up to `limit` feed entries after `since`, in seq order (the caller's read transaction
    makes them one snapshot), and whether more follow."""
    rows = conn.execute(
        "SELECT seq, entity, entity_id, action FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
        (since, limit + 1),
    ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    model_ids = [int(r["entity_id"]) for r in rows if r["entity"] == "model" and r["action"] == "upsert"]
    usernames = [r["entity_id"] for r in rows if r["entity"] == "creator" and r["action"] == "upsert"]
    docs: dict[tuple[str, str], str] = {
        ("model", str(model_id)): doc for model_id, doc in model_docs(conn, model_ids).items()
    }
    for chunk in chunks(usernames):
        for r in conn.execute(
            f"SELECT username, image_sha, model_count FROM users WHERE username IN ({placeholders(chunk)})",
            chunk,
        ).fetchall():
            creator = documents.creator_document(r["username"], r["image_sha"], r["model_count"])
            docs["creator", r["username"]] = documents.dumps(creator)
    docs.update(community_feed_documents(conn, rows))
    out = [
        Change(r["seq"], r["entity"], r["entity_id"], r["action"], docs.get((r["entity"], r["entity_id"])))
        for r in rows
    ]
    return out, more


def community_feed_documents(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> dict[tuple[str, str], str]:
    """Data of the page's community upserts (published articles with their content, public
    collections with their item ids, reviews, comments, users' equipped cosmetics). Imported
    here: those modules append to this feed."""
    from hub.server.store.articles import article_documents
    from hub.server.store.collections import collection_documents
    from hub.server.store.reviews import comment_documents, review_documents
    from hub.server.store.shop import cosmetics_documents

    upserts = [r for r in rows if r["action"] == "upsert"]
    article_ids = [int(r["entity_id"]) for r in upserts if r["entity"] == "article"]
    collection_ids = [int(r["entity_id"]) for r in upserts if r["entity"] == "collection"]
    out = {
        ("article", str(k)): documents.dumps(v) for k, v in article_documents(conn, article_ids, True).items()
    }
    for k, v in collection_documents(conn, collection_ids, with_items=True).items():
        out["collection", str(k)] = documents.dumps(v)
    for entity, build in (("review", review_documents), ("comment", comment_documents)):
        ids = [int(r["entity_id"]) for r in upserts if r["entity"] == entity]
        for k, v in build(conn, ids).items():
            out[entity, str(k)] = documents.dumps(v)
    names = [r["entity_id"] for r in upserts if r["entity"] == "cosmetics"]
    for name, doc in cosmetics_documents(conn, names).items():
        out["cosmetics", name] = documents.dumps(doc)
    return out


def last_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])
