"""The cosmetic shop (functions of a connection; the caller holds a `BEGIN IMMEDIATE` transaction).

A purchase takes one unit with one conditional statement (`sold < quantity`, rowcount checked;
the CHECK `sold <= quantity` is the backstop) and pays the shop through the Buzz ledger in the
same transaction, so a refusal at either step leaves nothing written.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from hub.server.store import buzz, buzz_events
from hub.server.store.change_feed import append_change
from hub.server.store.errors import Conflict, NotFound
from hub.server.store.sql_text import chunks, placeholders

KINDS = ("badge", "decoration", "name_color")


class SoldOut(ValueError):
    """No unit left, or the item is outside its availability window."""


def add_section(conn: sqlite3.Connection, name: str, position: int = 0) -> int:
    conn.execute(
        "INSERT INTO shop_sections (name, position) VALUES (?, ?) ON CONFLICT DO NOTHING", (name, position)
    )
    return int(conn.execute("SELECT id FROM shop_sections WHERE name = ?", (name,)).fetchone()[0])


def add_item(conn: sqlite3.Connection, section_id: int, item: dict[str, Any]) -> int:
    cur = conn.execute(
        "INSERT INTO shop_items (section_id, kind, name, value, price, quantity, available_from, "
        "available_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            section_id,
            item["kind"],
            item["name"],
            item.get("value", ""),
            item["price"],
            item.get("quantity"),
            item.get("availableFrom"),
            item.get("availableUntil"),
        ),
    )
    return int(cur.fetchone()[0])


def _item_json(r: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": r["id"],
        "kind": r["kind"],
        "name": r["name"],
        "value": r["value"],
        "price": r["price"],
        "quantity": r["quantity"],
        "remaining": None if r["quantity"] is None else r["quantity"] - r["sold"],
        "availableFrom": r["available_from"],
        "availableUntil": r["available_until"],
    }


def catalog(conn: sqlite3.Connection, now: str) -> list[dict[str, Any]]:
    """Sections with the items on sale at `now` (sold-out ones included, remaining 0)."""
    sections = conn.execute("SELECT id, name FROM shop_sections ORDER BY position, id").fetchall()
    out = []
    for s in sections:
        items = conn.execute(
            "SELECT * FROM shop_items WHERE section_id = ? AND (available_from IS NULL OR available_from <= ?) "
            "AND (available_until IS NULL OR available_until > ?) ORDER BY id",
            (s["id"], now, now),
        ).fetchall()
        out.append({"id": s["id"], "name": s["name"], "items": [_item_json(r) for r in items]})
    return out


def purchase(conn: sqlite3.Connection, user_id: int, item_id: int, key: str, now: str) -> dict[str, Any]:
    """Buy one unit of `item_id` once per idempotency `key` (a repeat returns the first result).

    Raises NotFound, Conflict (already owned), SoldOut, buzz.InsufficientFunds."""
    ledger_key = f"u{user_id}:{key}"
    row = conn.execute(
        "SELECT o.item_id FROM shop_owned o JOIN buzz_transactions t ON t.id = o.transaction_id "
        "WHERE t.idempotency_key = ?",
        (ledger_key,),
    ).fetchone()
    if row is not None:
        return {"itemId": row[0], "repeated": True, **_owned_one(conn, user_id, row[0])}
    item = conn.execute("SELECT * FROM shop_items WHERE id = ?", (item_id,)).fetchone()
    if item is None:
        raise NotFound(f"No shop item with id {item_id}")
    if conn.execute(
        "SELECT 1 FROM shop_owned WHERE user_id = ? AND item_id = ?", (user_id, item_id)
    ).fetchone():
        raise Conflict(f"you already own shop item {item_id}")
    taken = conn.execute(
        "UPDATE shop_items SET sold = sold + 1 WHERE id = ? AND (quantity IS NULL OR sold < quantity) "
        "AND (available_from IS NULL OR available_from <= ?) AND (available_until IS NULL OR available_until > ?)",
        (item_id, now, now),
    )
    if taken.rowcount != 1:
        if item["quantity"] is not None and item["sold"] >= item["quantity"]:
            raise SoldOut(f"sold out: all {item['quantity']} of shop item {item_id} are sold")
        raise SoldOut(
            f"shop item {item_id} is not on sale now (from {item['available_from']} "
            f"until {item['available_until']})"
        )
    done = buzz.transfer(
        conn,
        ledger_key,
        "purchase",
        buzz.user_account(conn, user_id),
        buzz.system_account(conn, "shop"),
        item["price"],
        f"shop item {item_id}",
        now,
    )
    conn.execute(
        "INSERT INTO shop_owned (user_id, item_id, transaction_id) VALUES (?, ?, ?)",
        (user_id, item_id, done.id),
    )
    data = {"userId": user_id, "itemId": item_id, "itemName": item["name"], "price": item["price"]}
    buzz_events.emit(
        conn, buzz_events.PURCHASE_DONE, data | {"transactionId": done.id}, f"purchase:{done.id}"
    )
    return {"itemId": item_id, "repeated": False, **_owned_one(conn, user_id, item_id)}


def _owned_one(conn: sqlite3.Connection, user_id: int, item_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT o.equipped, o.transaction_id, i.price FROM shop_owned o JOIN shop_items i ON i.id = o.item_id "
        "WHERE o.user_id = ? AND o.item_id = ?",
        (user_id, item_id),
    ).fetchone()
    return {"equipped": bool(row["equipped"]), "transactionId": row["transaction_id"], "price": row["price"]}


def owned(conn: sqlite3.Connection, user_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT i.*, o.equipped FROM shop_owned o JOIN shop_items i ON i.id = o.item_id "
        "WHERE o.user_id = ? ORDER BY i.id",
        (user_id,),
    ).fetchall()
    return [{**_item_json(r), "equipped": bool(r["equipped"])} for r in rows]


def set_equipped(conn: sqlite3.Connection, user_id: int, item_id: int, equipped: bool) -> None:
    """Equip an owned item (unequipping any other of its kind) or unequip it."""
    item = conn.execute(
        "SELECT i.kind FROM shop_owned o JOIN shop_items i ON i.id = o.item_id WHERE o.user_id = ? AND o.item_id = ?",
        (user_id, item_id),
    ).fetchone()
    if item is None:
        raise NotFound(f"you do not own shop item {item_id}")
    if equipped:
        conn.execute(
            "UPDATE shop_owned SET equipped = 0 WHERE user_id = ? AND item_id IN "
            "(SELECT id FROM shop_items WHERE kind = ?)",
            (user_id, item["kind"]),
        )
    conn.execute(
        "UPDATE shop_owned SET equipped = ? WHERE user_id = ? AND item_id = ?",
        (int(equipped), user_id, item_id),
    )
    cosmetics_changed(conn, [user_id])


def cosmetics_changed(conn: sqlite3.Connection, user_ids: list[int]) -> None:
    """Put these users' equipped cosmetics on the change feed (entity "cosmetics", id the
    username), so mirrors show the new badge or colour next to every name they hold."""
    for chunk in chunks(user_ids):
        for (username,) in conn.execute(
            f"SELECT username FROM users WHERE id IN ({placeholders(chunk)})", chunk
        ).fetchall():
            append_change(conn, "cosmetics", username, "upsert")


def cosmetics_documents(conn: sqlite3.Connection, usernames: list[str]) -> dict[str, dict[str, Any]]:
    """The change feed's data of "cosmetics" entries: `{"username", "cosmetics"}` by username."""
    return {
        name: {"username": name, "cosmetics": worn}
        for name, worn in cosmetics_by_name(conn, usernames).items()
    }


def cosmetics_by_name(conn: sqlite3.Connection, usernames: list[str]) -> dict[str, dict[str, Any]]:
    """`cosmetics_of` keyed by username, for every existing account of `usernames` ({} when
    they wear nothing)."""
    ids: dict[int, str] = {}
    for chunk in chunks(list(usernames)):
        for r in conn.execute(
            f"SELECT id, username FROM users WHERE username IN ({placeholders(chunk)})", chunk
        ).fetchall():
            ids[r[0]] = r[1]
    worn = cosmetics_of(conn, list(ids))
    return {name: worn.get(user_id, {}) for user_id, name in ids.items()}


def cosmetics_of(conn: sqlite3.Connection, user_ids: list[int]) -> dict[int, dict[str, Any]]:
    """What each user has equipped: {user id: {"badge": {...}, "nameColor": "#..", ...}}."""
    if not user_ids:
        return {}
    rows = []
    for chunk in chunks(list(user_ids)):
        rows += conn.execute(
            f"SELECT o.user_id, i.id, i.kind, i.name, i.value FROM shop_owned o "
            f"JOIN shop_items i ON i.id = o.item_id "
            f"WHERE o.equipped = 1 AND o.user_id IN ({placeholders(chunk)}) ORDER BY i.id",
            chunk,
        ).fetchall()
    out: dict[int, dict[str, Any]] = {}
    names = {"badge": "badge", "decoration": "decoration", "name_color": "nameColor"}
    for r in rows:
        out.setdefault(r["user_id"], {})[names[r["kind"]]] = {
            "id": r["id"],
            "name": r["name"],
            "value": r["value"],
        }
    return out


# -- the admin's edits ----------------------------------------------------------------------------
ITEM_COLUMNS = {
    "sectionId": "section_id",
    "kind": "kind",
    "name": "name",
    "value": "value",
    "price": "price",
    "quantity": "quantity",
    "availableFrom": "available_from",
    "availableUntil": "available_until",
}


def section_exists(conn: sqlite3.Connection, section_id: int) -> bool:
    return conn.execute("SELECT 1 FROM shop_sections WHERE id = ?", (section_id,)).fetchone() is not None


def item_row(conn: sqlite3.Connection, item_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM shop_items WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        raise NotFound(f"No shop item with id {item_id}")
    return row


def item_document(conn: sqlite3.Connection, item_id: int) -> dict[str, Any]:
    """An item as the admin sees it: the shop's fields, its section, and units sold."""
    row = item_row(conn, item_id)
    return {**_item_json(row), "sectionId": row["section_id"], "sold": row["sold"]}


def update_item(conn: sqlite3.Connection, item_id: int, changes: dict[str, Any]) -> None:
    """Apply the admin's `changes` (API field names, already checked); the owners who wear the
    item get a feed entry, since its name or value shows next to their names."""
    row = item_row(conn, item_id)
    if not changes:
        return
    quantity = changes.get("quantity", row["quantity"])
    if quantity is not None and quantity < row["sold"]:
        raise Conflict(f"quantity: {row['sold']} already sold, so at least {row['sold']}")
    if changes.get("kind", row["kind"]) != row["kind"] and row["sold"] > 0:
        raise Conflict(f"kind: cannot change once sold ({row['sold']} sold)")
    sets = ", ".join(f"{ITEM_COLUMNS[k]} = ?" for k in changes)
    conn.execute(f"UPDATE shop_items SET {sets} WHERE id = ?", (*changes.values(), item_id))
    wearers = [
        r[0]
        for r in conn.execute(
            "SELECT user_id FROM shop_owned WHERE item_id = ? AND equipped = 1", (item_id,)
        ).fetchall()
    ]
    cosmetics_changed(conn, wearers)
