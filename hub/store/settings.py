"""The `settings` table: small values the local hub remembers between runs.

The functions take a `sqlite3.Connection`; they never commit.
"""

from __future__ import annotations

import sqlite3

SERVER_SETTING = "server_url"  # the hub server last synced from (`hub sync --server URL`)
API_KEY_SETTING = "api_key"  # the account's key for its private feed (`hub sync --api-key KEY`)


def get_setting(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_setting(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


def delete_setting(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM settings WHERE key = ?", [key])
