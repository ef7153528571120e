"""Accounts and their API keys (functions of a connection; the caller holds the transaction)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.server.store.dialect import dialect_of
from hub.server.store.errors import Conflict, NotFound
from hub.server.store.sql_text import escape_like, placeholders


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    password_hash: str | None
    model_count: int
    image_sha: str | None
    created_at: str


def create_user(
    conn: sqlite3.Connection, username: str, password_hash: str | None, role: str | None, now: str
) -> User:
    """Create an account; the first account of a server becomes its admin."""
    if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
        raise Conflict(f"username {username!r} is taken")
    if role is None:
        has_admin = conn.execute("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1").fetchone()
        role = "user" if has_admin else "admin"
    cur = conn.execute(
        "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        (username, password_hash, role, now),
    )
    return _user(conn, "id = ?", cur.fetchone()[0])  # type: ignore[return-value]


def _user(conn: sqlite3.Connection, where: str, value: Any) -> User | None:
    row = conn.execute(
        "SELECT id, username, role, password_hash, model_count, image_sha, created_at FROM users WHERE "
        + where,
        (value,),
    ).fetchone()
    return User(**dict(row)) if row else None


def user_by_name(conn: sqlite3.Connection, username: str) -> User | None:
    return _user(conn, "username = ?", username)


def user_by_key_hash(conn: sqlite3.Connection, key_hash: str) -> User | None:
    return _user(conn, "id = (SELECT user_id FROM api_keys WHERE key_hash = ?)", key_hash)


def set_password_hash(conn: sqlite3.Connection, user_id: int, password_hash: str) -> None:
    conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


def set_role(conn: sqlite3.Connection, username: str, role: str) -> User:
    cur = conn.execute("UPDATE users SET role = ? WHERE username = ?", (role, username))
    if cur.rowcount == 0:
        raise NotFound(f"user {username!r} not found")
    return _user(conn, "username = ?", username)  # type: ignore[return-value]


def lookup_users(
    conn: sqlite3.Connection, ids: Sequence[int], prefix: str | None, limit: int
) -> list[dict[str, Any]]:
    where, args = [], []
    if ids:
        where.append(f"id IN ({placeholders(ids)})")
        args += list(ids)
    if prefix:
        where.append(f"username {dialect_of(conn).like} ? ESCAPE '\\'")
        args.append(escape_like(prefix) + "%")
    rows = conn.execute(
        f"SELECT id, username FROM users WHERE {' AND '.join(where)} ORDER BY username LIMIT ?",
        [*args, limit],
    ).fetchall()
    return [dict(r) for r in rows]


def add_api_key(conn: sqlite3.Connection, user_id: int, key_hash: str, name: str, now: str) -> int:
    cur = conn.execute(
        "INSERT INTO api_keys (user_id, key_hash, name, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        (user_id, key_hash, name, now),
    )
    return int(cur.fetchone()[0])


def list_api_keys(conn: sqlite3.Connection, user_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, name, created_at AS createdAt FROM api_keys WHERE user_id = ? ORDER BY id",
        (user_id,),
    ).fetchall()
    return [dict(r) for r in rows]


def delete_api_key(conn: sqlite3.Connection, user_id: int, key_id: int) -> None:
    cur = conn.execute("DELETE FROM api_keys WHERE id = ? AND user_id = ?", (key_id, user_id))
    if cur.rowcount == 0:
        raise NotFound(f"API key {key_id} not found")
