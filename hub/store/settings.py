"""The `settings` table: small values the local hub remembers between runs.

The functions take a `sqlite3.Connection`; they never commit.
"""

from __future__ import annotations

import sqlite3

SERVER_SETTING = "server_url"  # the hub server last synced from (`hub sync --server URL`)


def get_setting(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_setting(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )
