"""Collections of models, images or articles (one kind per collection, as on Civitai), public or
private. Each write feeds the collection: public ones on the public feed (a collection made
private gets a delete there), and every one of a user's own on that user's private feed.

Functions of a connection; the caller holds the transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.server import community_documents
from hub.server.documents import dumps
from hub.server.store.articles import article_changed
from hub.server.store.change_feed import append_change
from hub.server.store.dialect import dialect_of
from hub.server.store.errors import Conflict, NotFound
from hub.server.store.paging import Filters, KeysetList, Page, keyset_page
from hub.server.store.sql_text import chunks, escape_like, placeholders
from hub.server.store.user_feed import append_user_change

COLLECTION_TYPES = ("Model", "Image", "Article")
# What an item id of each collection type names, and how it must exist to be collected.
ITEM_EXISTS = {
    "Model": "SELECT 1 FROM models WHERE id = ?",
    "Image": "SELECT 1 FROM images WHERE id = ?",
    "Article": "SELECT 1 FROM articles WHERE id = ? AND status = 'Published'",
}
# The items that still exist (a deleted model or an unpublished article drops out), with what a
# listing shows of each; `position` (the row's rowid) orders them by when they were added.
ITEM_SOURCES = {
    "Model": (
        "m.name, m.type, u.username",
        "JOIN models m ON m.id = x.item_id JOIN users u ON u.id = m.user_id",
    ),
    "Article": (
        "a.title, u.username",
        "JOIN articles a ON a.id = x.item_id AND a.status = 'Published' JOIN users u ON u.id = a.user_id",
    ),
    "Image": (
        "i.media_sha, i.nsfw_level, i.model_id, i.version_id, m.width, m.height, m.blurhash",
        "JOIN images i ON i.id = x.item_id JOIN media m ON m.sha256 = i.media_sha",
    ),
}
# The newest item's picture, per type (a model's first gallery image, an article's cover).
COVER_SQL = {
    "Image": "SELECT i.media_sha FROM collection_items x JOIN images i ON i.id = x.item_id "
    "WHERE x.collection_id = ? ORDER BY x.added_at DESC, x.item_id DESC LIMIT 1",
    "Model": "SELECT (SELECT i.media_sha FROM images i WHERE i.model_id = x.item_id ORDER BY i.id LIMIT 1) "
    "FROM collection_items x JOIN models m ON m.id = x.item_id WHERE x.collection_id = ? "
    "ORDER BY x.added_at DESC, x.item_id DESC LIMIT 1",
    "Article": "SELECT c.media_sha FROM collection_items x JOIN articles a ON a.id = x.item_id "
    "JOIN cover_images c ON c.id = a.cover_image_id WHERE x.collection_id = ? AND a.status = 'Published' "
    "ORDER BY x.added_at DESC, x.item_id DESC LIMIT 1",
}
EDITABLE = frozenset({"name", "description", "read", "nsfw"})


@dataclass(frozen=True)
class CollectionQuery:
    limit: int = 100
    query: str | None = None
    username: str | None = None
    owner_id: int | None = None  # the caller's own collections, private ones included
    nsfw: bool = False
    after: int | None = None  # keyset: collections with a smaller id


def create_collection(
    conn: sqlite3.Connection,
    user_id: int,
    name: str,
    description: str,
    kind: str,
    read: str,
    nsfw: bool,
    now: str,
) -> int:
    cur = conn.execute(
        "INSERT INTO collections (user_id, name, description, type, read, nsfw, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (user_id, name, description, kind, read, int(nsfw), now, now),
    )
    collection_id = int(cur.fetchone()[0])
    collection_changed(conn, collection_id)
    return collection_id


def update_collection(
    conn: sqlite3.Connection, collection_id: int, changes: dict[str, Any], now: str
) -> None:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"cannot edit {', '.join(sorted(unknown))}")
    _require(conn, collection_id)
    for column, value in changes.items():
        conn.execute(
            f"UPDATE collections SET {column} = ? WHERE id = ?",
            (int(value) if column == "nsfw" else value, collection_id),
        )
    conn.execute("UPDATE collections SET updated_at = ? WHERE id = ?", (now, collection_id))
    collection_changed(conn, collection_id)


def delete_collection(conn: sqlite3.Connection, collection_id: int) -> None:
    row = _require(conn, collection_id)
    items = [
        r[0]
        for r in conn.execute(
            "SELECT item_id FROM collection_items WHERE collection_id = ?", (collection_id,)
        )
    ]
    conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))
    if row["type"] == "Article":
        for article_id in items:
            _count_article(conn, article_id, -1)
    append_change(conn, "collection", str(collection_id), "delete")
    append_user_change(conn, row["user_id"], "collection", str(collection_id), "delete")


def add_item(conn: sqlite3.Connection, collection_id: int, item_id: int, now: str) -> bool:
    """Collect `item_id`; False when it was already in the collection."""
    row = _require(conn, collection_id)
    kind = row["type"]
    if not conn.execute(ITEM_EXISTS[kind], (item_id,)).fetchone():
        noun = "published article" if kind == "Article" else kind.lower()
        raise NotFound(f"itemId: no {noun} with id {item_id}")
    cur = conn.execute(
        "INSERT INTO collection_items (collection_id, item_id, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (collection_id, item_id, now),
    )
    if not cur.rowcount:
        return False
    if kind == "Article":
        _count_article(conn, item_id, +1)
    conn.execute("UPDATE collections SET updated_at = ? WHERE id = ?", (now, collection_id))
    collection_changed(conn, collection_id)
    return True


def remove_item(conn: sqlite3.Connection, collection_id: int, item_id: int, now: str) -> None:
    row = _require(conn, collection_id)
    cur = conn.execute(
        "DELETE FROM collection_items WHERE collection_id = ? AND item_id = ?", (collection_id, item_id)
    )
    if not cur.rowcount:
        raise NotFound(f"item {item_id} is not in collection {collection_id}")
    if row["type"] == "Article":
        _count_article(conn, item_id, -1)
    conn.execute("UPDATE collections SET updated_at = ? WHERE id = ?", (now, collection_id))
    collection_changed(conn, collection_id)


def _count_article(conn: sqlite3.Connection, article_id: int, delta: int) -> None:
    cur = conn.execute(
        f"UPDATE articles SET collected_count = {dialect_of(conn).greatest('0', 'collected_count + ?')} WHERE id = ?",
        (delta, article_id),
    )
    if cur.rowcount:
        article_changed(conn, article_id)


def collection_changed(conn: sqlite3.Connection, collection_id: int) -> None:
    row = _require(conn, collection_id)
    append_change(conn, "collection", str(collection_id), "upsert" if row["read"] == "Public" else "delete")
    append_user_change(conn, row["user_id"], "collection", str(collection_id), "upsert")


def _require(conn: sqlite3.Connection, collection_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM collections WHERE id = ?", (collection_id,)).fetchone()
    if row is None:
        raise NotFound(f"No collection with id {collection_id}")
    return row


def collection_owner(conn: sqlite3.Connection, collection_id: int) -> tuple[int, str]:
    """(owner's user id, read) of a collection."""
    row = _require(conn, collection_id)
    return row["user_id"], row["read"]


def check_name_free(conn: sqlite3.Connection, user_id: int, name: str, except_id: int | None = None) -> None:
    row = conn.execute(
        f"SELECT id FROM collections WHERE user_id = ? AND {dialect_of(conn).nocase_equals('name')} "
        "AND id IS DISTINCT FROM ?",
        (user_id, name, except_id),
    ).fetchone()
    if row:
        raise Conflict(f"name: you already have a collection named {name!r} (id {row[0]})")


# -- reads ------------------------------------------------------------------------------------------
def list_collections(conn: sqlite3.Connection, q: CollectionQuery) -> Page:
    filters = Filters()
    if q.owner_id is not None:
        filters.add("c.user_id = ?", q.owner_id)
    else:
        filters.add("c.read = 'Public'")
    if not q.nsfw:
        filters.add("c.nsfw = 0")
    if q.username:
        filters.add("c.user_id = (SELECT id FROM users WHERE username = ?)", q.username)
    if q.query:
        filters.add(f"c.name {dialect_of(conn).like} ? ESCAPE '\\'", "%" + escape_like(q.query) + "%")
    listing = KeysetList("c.id", "collections c", "collections c", "c", "id", descending=True)
    after = (q.after, q.after) if q.after is not None else None
    page = keyset_page(conn, listing, filters, limit=q.limit, after=after, offset=None)
    ids = [r["id"] for r in page.rows]
    docs = collection_documents(conn, ids, with_items=False)
    return Page([dumps(docs[i]) for i in ids if i in docs], page.last_key)


def collection_documents(
    conn: sqlite3.Connection, ids: Sequence[int], with_items: bool
) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for chunk in chunks(list(ids)):
        rows = conn.execute(
            "SELECT c.*, u.username FROM collections c JOIN users u ON u.id = c.user_id "
            f"WHERE c.id IN ({placeholders(chunk)})",
            chunk,
        ).fetchall()
        for r in rows:
            row = dict(r)
            items = _item_rows(conn, row["id"], row["type"], None, None) if with_items else None
            count = len(items) if items is not None else _item_count(conn, row["id"], row["type"])
            cover = conn.execute(COVER_SQL[row["type"]], (row["id"],)).fetchone()
            out[row["id"]] = community_documents.collection_document(
                row,
                {"id": row["user_id"], "username": row["username"]},
                count,
                cover[0] if cover else None,
                [{"item_id": i["id"], "added_at": i["added_at"]} for i in items]
                if items is not None
                else None,
            )
    return out


def collection_document(conn: sqlite3.Connection, collection_id: int) -> dict[str, Any]:
    docs = collection_documents(conn, [collection_id], with_items=False)
    if collection_id not in docs:
        raise NotFound(f"No collection with id {collection_id}")
    return docs[collection_id]


def _item_rows(
    conn: sqlite3.Connection, collection_id: int, kind: str, limit: int | None, after: int | None
) -> list[sqlite3.Row]:
    """Items that still exist, most recently added first, after the position `after`."""
    columns, joins = ITEM_SOURCES[kind]
    sql = (
        f"SELECT x.rowid AS position, x.item_id AS id, x.added_at, {columns} FROM collection_items x {joins} "
        "WHERE x.collection_id = ?"
    )
    args: list[Any] = [collection_id]
    if after is not None:
        sql += " AND x.rowid < ?"
        args.append(after)
    sql += " ORDER BY x.rowid DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return conn.execute(sql, args).fetchall()


def _item_count(conn: sqlite3.Connection, collection_id: int, kind: str) -> int:
    _columns, joins = ITEM_SOURCES[kind]
    return conn.execute(
        f"SELECT COUNT(*) FROM collection_items x {joins} WHERE x.collection_id = ?", (collection_id,)
    ).fetchone()[0]


def collection_items(
    conn: sqlite3.Connection, collection_id: int, limit: int, after: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of a collection's items (most recently added first) and the cursor of the next."""
    row = _require(conn, collection_id)
    rows = _item_rows(conn, collection_id, row["type"], limit + 1, after)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [community_documents.collection_item_document(row["type"], dict(r)) for r in rows]
    return items, (rows[-1]["position"] if more and rows else None)
