"""What each user has equipped from the hub's shop (badge, name colour, decoration), from the
catalog feed's "cosmetics" entries, and putting it next to the names in mirrored documents.
Functions of a connection; they never commit."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from hub.store.catalog import CatalogError

USER_KEYS = ("user", "creator")


def set_cosmetics(conn: sqlite3.Connection, data: Mapping[str, Any]) -> None:
    """Record one feed entry's `{"username", "cosmetics"}` (an empty set is kept: wears none)."""
    username, worn = data.get("username"), data.get("cosmetics")
    if not isinstance(username, str) or not isinstance(worn, Mapping):
        raise CatalogError("cosmetics: expected {username, cosmetics}")
    conn.execute(
        "INSERT OR REPLACE INTO user_cosmetics (username, data) VALUES (?, ?)",
        (username, json.dumps(worn, separators=(",", ":"), ensure_ascii=False)),
    )


def cosmetics_by_name(conn: sqlite3.Connection, usernames: Iterable[str]) -> dict[str, dict[str, Any]]:
    names = sorted(set(usernames))
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        rows = conn.execute(
            f"SELECT username, data FROM user_cosmetics WHERE username IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        out |= {name: json.loads(data) for name, data in rows.fetchall()}
    return out


def with_cosmetics(conn: sqlite3.Connection, docs: Iterable[dict[str, Any]]) -> None:
    """Set `cosmetics` on the `user` / `creator` object of each document (in place), as the hub
    server does in its responses: `{}` for someone who wears nothing."""
    people = [
        person
        for doc in docs
        for key in USER_KEYS
        if isinstance(person := doc.get(key), dict) and isinstance(person.get("username"), str)
    ]
    worn = cosmetics_by_name(conn, (p["username"] for p in people))
    for person in people:
        person["cosmetics"] = worn.get(person["username"], {})
