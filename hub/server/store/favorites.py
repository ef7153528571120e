"""Favourite models of each account (functions of a connection; the caller holds the transaction)."""

from __future__ import annotations

import sqlite3

from hub.server.store.errors import NotFound


def _check_model(conn: sqlite3.Connection, model_id: int) -> None:
    if conn.execute("SELECT 1 FROM models WHERE id = ?", (model_id,)).fetchone() is None:
        raise NotFound(f"No model with id {model_id}")


def set_favorite(conn: sqlite3.Connection, user_id: int, model_id: int, favorite: bool, now: str) -> None:
    """Make `model_id` one of the user's favourites or not (either is idempotent)."""
    _check_model(conn, model_id)
    if favorite:
        conn.execute(
            "INSERT INTO favorites (user_id, model_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (user_id, model_id, now),
        )
    else:
        conn.execute("DELETE FROM favorites WHERE user_id = ? AND model_id = ?", (user_id, model_id))
