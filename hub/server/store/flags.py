"""Feature flags and user cohorts (functions of a connection; the caller holds the transaction)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from hub.server.store.errors import NotFound


def all_flags(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM feature_flags ORDER BY name").fetchall()
    return [
        {
            "name": r["name"],
            "enabled": bool(r["enabled"]),
            "users": json.loads(r["users"]),
            "roles": json.loads(r["roles"]),
            "cohorts": json.loads(r["cohorts"]),
            "percent": r["percent"],
            "updatedAt": r["updated_at"],
        }
        for r in rows
    ]


def set_flag(conn: sqlite3.Connection, name: str, rule: dict[str, Any], now: str) -> None:
    conn.execute(
        "INSERT INTO feature_flags (name, enabled, users, roles, cohorts, percent, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET enabled = excluded.enabled, "
        "users = excluded.users, roles = excluded.roles, cohorts = excluded.cohorts, "
        "percent = excluded.percent, updated_at = excluded.updated_at",
        (
            name,
            int(rule["enabled"]),
            json.dumps(rule["users"]),
            json.dumps(rule["roles"]),
            json.dumps(rule["cohorts"]),
            rule["percent"],
            now,
        ),
    )


def cohorts_of(conn: sqlite3.Connection, user_id: int) -> list[str]:
    rows = conn.execute("SELECT cohort FROM user_cohorts WHERE user_id = ? ORDER BY cohort", (user_id,))
    return [r[0] for r in rows]


def set_cohorts(conn: sqlite3.Connection, username: str, cohorts: list[str]) -> None:
    row = conn.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
    if row is None:
        raise NotFound(f"user {username!r} not found")
    conn.execute("DELETE FROM user_cohorts WHERE user_id = ?", (row[0],))
    conn.executemany(
        "INSERT INTO user_cohorts (user_id, cohort) VALUES (?, ?)", [(row[0], c) for c in cohorts]
    )
