"""Mirrored collections and the account's notifications.

Collections come from two feeds: public ones from the catalog feed, and the account's own
(private ones too) from its private feed. The private feed owns the rows it wrote (`mine` = 1):
the catalog feed neither overwrites nor deletes them, so the order the two feeds are applied in
never matters. Functions of a connection; they never commit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from hub.store.catalog import CatalogError


def upsert_collections(
    conn: sqlite3.Connection, collections: Sequence[Mapping[str, Any]], mine: bool
) -> None:
    for data in collections:
        if data.get("id") is None or data.get("name") is None:
            raise CatalogError(f"collection.{'id' if data.get('id') is None else 'name'}: missing")
        collection_id = int(data["id"])
        if not mine and _is_mine(conn, collection_id):
            continue
        items = [i for i in data.get("items") or [] if isinstance(i, Mapping) and i.get("id") is not None]
        conn.execute(
            "INSERT INTO collections (id, name, type, read, owner, mine, item_count, updated_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
            "type = excluded.type, read = excluded.read, owner = excluded.owner, mine = excluded.mine, "
            "item_count = excluded.item_count, updated_at = excluded.updated_at, data = excluded.data",
            (
                collection_id,
                str(data["name"]),
                str(data.get("type") or ""),
                str(data.get("read") or ""),
                (data.get("user") or {}).get("username"),
                int(mine),
                int(data.get("itemCount") or len(items)),
                data.get("updatedAt"),
                json.dumps({k: v for k, v in data.items() if k != "items"}, separators=(",", ":")),
            ),
        )
        conn.execute("DELETE FROM collection_items WHERE collection_id = ?", [collection_id])
        conn.executemany(
            "INSERT OR IGNORE INTO collection_items (collection_id, item_id, position, added_at) VALUES (?, ?, ?, ?)",
            [(collection_id, int(i["id"]), n, i.get("addedAt")) for n, i in enumerate(items)],
        )


def _is_mine(conn: sqlite3.Connection, collection_id: int) -> bool:
    row = conn.execute("SELECT mine FROM collections WHERE id = ?", [collection_id]).fetchone()
    return bool(row and row[0])


def delete_collection(conn: sqlite3.Connection, collection_id: int, mine: bool) -> None:
    """A delete from the catalog feed leaves the account's own collection alone (it turned
    private, say); one from the private feed removes it."""
    if mine:
        conn.execute("DELETE FROM collections WHERE id = ?", [collection_id])
    else:
        conn.execute("DELETE FROM collections WHERE id = ? AND mine = 0", [collection_id])


def list_collections(conn: sqlite3.Connection, mine_only: bool, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT data, mine FROM collections"
        + (" WHERE mine = 1" if mine_only else "")
        + " ORDER BY id DESC LIMIT ?",
        [limit],
    ).fetchall()
    return [json.loads(r[0]) | {"mine": bool(r[1])} for r in rows]


def get_collection(
    conn: sqlite3.Connection, collection_id: int
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """(collection, its items as [{id, addedAt}] newest first), or None."""
    row = conn.execute("SELECT data, mine FROM collections WHERE id = ?", [collection_id]).fetchone()
    if row is None:
        return None
    items = conn.execute(
        "SELECT item_id, added_at FROM collection_items WHERE collection_id = ? ORDER BY position",
        [collection_id],
    ).fetchall()
    return json.loads(row[0]) | {"mine": bool(row[1])}, [{"id": i[0], "addedAt": i[1]} for i in items]


def upsert_notifications(conn: sqlite3.Connection, notifications: Sequence[Mapping[str, Any]]) -> None:
    rows = []
    for data in notifications:
        if data.get("id") is None or data.get("type") is None:
            raise CatalogError(f"notification.{'id' if data.get('id') is None else 'type'}: missing")
        rows.append(
            (
                int(data["id"]),
                str(data["type"]),
                data.get("category"),
                data.get("createdAt"),
                data.get("readAt") if data.get("read") else None,
                json.dumps(data, separators=(",", ":"), ensure_ascii=False),
            )
        )
    conn.executemany(
        "INSERT INTO notifications (id, type, category, created_at, read_at, data) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET type = excluded.type, category = excluded.category, "
        "created_at = excluded.created_at, read_at = excluded.read_at, data = excluded.data",
        rows,
    )


def delete_notification(conn: sqlite3.Connection, notification_id: int) -> None:
    conn.execute("DELETE FROM notifications WHERE id = ?", [notification_id])


def list_notifications(
    conn: sqlite3.Connection, unread_only: bool, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """(notifications newest first, unread count)."""
    where = " WHERE read_at IS NULL" if unread_only else ""
    rows = conn.execute(f"SELECT data FROM notifications{where} ORDER BY id DESC LIMIT ?", [limit]).fetchall()
    unread = conn.execute("SELECT COUNT(*) FROM notifications WHERE read_at IS NULL").fetchone()[0]
    return [json.loads(r[0]) for r in rows], unread


def forget_account_data(conn: sqlite3.Connection) -> None:
    """The account's notifications and own collections (when another account syncs here)."""
    conn.execute("DELETE FROM notifications")
    conn.execute("DELETE FROM collections WHERE mine = 1")


def names_of(conn: sqlite3.Connection, kind: str, ids: Sequence[int]) -> dict[int, str]:
    """Names of mirrored models or titles of mirrored articles (a collection's items)."""
    if not ids:
        return {}
    table, column = {"Model": ("models", "name"), "Article": ("articles", "title")}[kind]
    rows = conn.execute(
        f"SELECT id, {column} FROM {table} WHERE id IN ({','.join('?' * len(ids))})", list(ids)
    )
    return dict(rows.fetchall())
