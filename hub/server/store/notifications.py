"""Follows, notification preferences, notifications and their fan-out.

A fan-out is set-based SQL: one statement inserts the notifications of every recipient (their
preferences decide in-app and email), one feeds them to the recipients' private feeds, one
queues their emails (or leaves them for the daily digest). Notifications are unique per
(user, event key) and email jobs per notification, so running a fan-out again (a retried job)
adds nothing. Functions of a connection; the caller holds the transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hub.server.store.dialect import dialect_of
from hub.server.store.errors import NotFound
from hub.server.store.sql_text import chunks, placeholders
from hub.server.store.user_feed import append_user_change, append_user_changes

EMAIL_JOB = "email"
FOLLOW_TARGETS = ("model", "user")


@dataclass(frozen=True)
class Channels:
    in_app: bool
    email: bool


@dataclass(frozen=True)
class Delivery:
    email: str | None
    digest: str  # 'off' | 'daily'
    digest_sent_at: float | None


# -- follows ----------------------------------------------------------------------------------------
def follow(conn: sqlite3.Connection, user_id: int, target_type: str, target_id: int, now: str) -> bool:
    """Follow a model or a user; False when already following."""
    table = "models" if target_type == "model" else "users"
    if not conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (target_id,)).fetchone():
        raise NotFound(f"No {target_type} with id {target_id}")
    cur = conn.execute(
        "INSERT INTO follows (user_id, target_type, target_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (user_id, target_type, target_id, now),
    )
    return bool(cur.rowcount)


def unfollow(conn: sqlite3.Connection, user_id: int, target_type: str, target_id: int) -> None:
    cur = conn.execute(
        "DELETE FROM follows WHERE user_id = ? AND target_type = ? AND target_id = ?",
        (user_id, target_type, target_id),
    )
    if not cur.rowcount:
        raise NotFound(f"You do not follow {target_type} {target_id}")


def follows_of(conn: sqlite3.Connection, user_id: int) -> dict[str, list[dict[str, Any]]]:
    models = conn.execute(
        "SELECT m.id, m.name, f.created_at FROM follows f JOIN models m ON m.id = f.target_id "
        "WHERE f.user_id = ? AND f.target_type = 'model' ORDER BY f.created_at, m.id",
        (user_id,),
    ).fetchall()
    users = conn.execute(
        "SELECT u.id, u.username, f.created_at FROM follows f JOIN users u ON u.id = f.target_id "
        "WHERE f.user_id = ? AND f.target_type = 'user' ORDER BY f.created_at, u.id",
        (user_id,),
    ).fetchall()
    return {
        "models": [{"id": r["id"], "name": r["name"], "followedAt": r["created_at"]} for r in models],
        "users": [{"id": r["id"], "username": r["username"], "followedAt": r["created_at"]} for r in users],
    }


def follower_count(conn: sqlite3.Connection, target_type: str, target_id: int) -> int:
    return conn.execute(
        "SELECT COUNT(*) FROM follows WHERE target_type = ? AND target_id = ?", (target_type, target_id)
    ).fetchone()[0]


# -- preferences ------------------------------------------------------------------------------------
def channel_settings(conn: sqlite3.Connection, user_id: int) -> dict[str, Channels]:
    """The user's stored choices, by type (types absent use their defaults)."""
    return {
        r["type"]: Channels(bool(r["in_app"]), bool(r["email"]))
        for r in conn.execute(
            "SELECT type, in_app, email FROM notification_settings WHERE user_id = ?", (user_id,)
        )
    }


def set_channels(conn: sqlite3.Connection, user_id: int, settings: Mapping[str, Channels]) -> None:
    conn.executemany(
        "INSERT INTO notification_settings (user_id, type, in_app, email) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(user_id, type) DO UPDATE SET in_app = excluded.in_app, email = excluded.email",
        [(user_id, t, int(c.in_app), int(c.email)) for t, c in settings.items()],
    )


def delivery(conn: sqlite3.Connection, user_id: int) -> Delivery:
    row = conn.execute(
        "SELECT email, digest, digest_sent_at FROM notification_delivery WHERE user_id = ?", (user_id,)
    ).fetchone()
    return (
        Delivery(row["email"], row["digest"], row["digest_sent_at"]) if row else Delivery(None, "off", None)
    )


def set_delivery(conn: sqlite3.Connection, user_id: int, email: str | None, digest: str) -> None:
    conn.execute(
        "INSERT INTO notification_delivery (user_id, email, digest) VALUES (?, ?, ?) "
        "ON CONFLICT(user_id) DO UPDATE SET email = excluded.email, digest = excluded.digest",
        (user_id, email, digest),
    )


# -- fan-out ----------------------------------------------------------------------------------------
RECIPIENTS_OF = {
    # followers of a model or of its creator
    "model-or-creator-followers": "SELECT user_id FROM follows WHERE target_type = 'model' AND target_id = :model "
    "UNION SELECT user_id FROM follows WHERE target_type = 'user' AND target_id = :creator",
    "user-followers": "SELECT user_id FROM follows WHERE target_type = 'user' AND target_id = :creator",
    "one-user": "SELECT :user AS user_id",
}


@dataclass(frozen=True)
class FanOut:
    """Who gets a notification of one event, and what it says."""

    recipients: str  # a key of RECIPIENTS_OF
    params: dict[str, int]  # its named parameters
    exclude_user: int | None  # the actor (nobody is notified of their own doing)
    type: str
    category: str
    event_key: str
    details: dict[str, Any]
    default: Channels


def fan_out(conn: sqlite3.Connection, spec: FanOut, now: str, clock: float) -> int:
    """Create the notifications of one event; returns how many were created now."""
    recipients = RECIPIENTS_OF[spec.recipients]
    params: dict[str, Any] = dict(spec.params)
    params |= {
        "exclude": spec.exclude_user if spec.exclude_user is not None else -1,
        "type": spec.type,
        "category": spec.category,
        "key": spec.event_key,
        "details": json.dumps(spec.details, separators=(",", ":")),
        "now": now,
        "in_app": int(spec.default.in_app),
        "email": int(spec.default.email),
    }
    cur = conn.execute(
        "INSERT INTO notifications (user_id, type, category, event_key, details, in_app, email_state, created_at) "
        "SELECT user_id, :type, :category, :key, :details, in_app, "
        "CASE WHEN email = 0 THEN NULL WHEN digest = 'daily' THEN 'digest' ELSE 'queued' END, :now FROM ("
        "SELECT r.user_id, COALESCE(s.in_app, :in_app) AS in_app, "
        "CASE WHEN d.email IS NULL THEN 0 ELSE COALESCE(s.email, :email) END AS email, "
        "COALESCE(d.digest, 'off') AS digest "
        f"FROM ({recipients}) r JOIN users u ON u.id = r.user_id "
        "LEFT JOIN notification_settings s ON s.user_id = r.user_id AND s.type = :type "
        "LEFT JOIN notification_delivery d ON d.user_id = r.user_id WHERE r.user_id != :exclude"
        ") AS recipients WHERE in_app = 1 OR email = 1 ON CONFLICT(user_id, event_key) DO NOTHING",
        params,
    )
    created = cur.rowcount
    key = [spec.event_key]
    append_user_changes(
        conn,
        "SELECT user_id, CAST(id AS TEXT) AS entity_id FROM notifications WHERE event_key = ? AND in_app = 1",
        key,
        "notification",
    )
    conn.execute(
        "INSERT INTO jobs (kind, payload, status, run_at, dedupe_key, created_at, updated_at) "
        f"SELECT ?, {dialect_of(conn).json_object}('notificationId', id), 'pending', ?, 'email:' || id, ?, ? "
        "FROM notifications WHERE event_key = ? AND email_state = 'queued' ON CONFLICT(dedupe_key) DO NOTHING",
        [EMAIL_JOB, clock, clock, clock, spec.event_key],
    )
    return created


# -- reading and marking ----------------------------------------------------------------------------
def notification_rows(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, sqlite3.Row]:
    out: dict[int, sqlite3.Row] = {}
    for chunk in chunks(list(ids)):
        for r in conn.execute(f"SELECT * FROM notifications WHERE id IN ({placeholders(chunk)})", chunk):
            out[r["id"]] = r
    return out


def list_notifications(
    conn: sqlite3.Connection, user_id: int, limit: int, before_id: int | None, unread_only: bool
) -> tuple[list[sqlite3.Row], int | None]:
    """In-app notifications of a user, newest first, and the cursor of the next page."""
    sql = "SELECT * FROM notifications WHERE user_id = ? AND in_app = 1"
    args: list[Any] = [user_id]
    if unread_only:
        sql += " AND read_at IS NULL"
    if before_id is not None:
        sql += " AND id < ?"
        args.append(before_id)
    rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["id"] if more and rows else None)


def unread_count(conn: sqlite3.Connection, user_id: int) -> int:
    return conn.execute(
        "SELECT COUNT(*) FROM notifications WHERE user_id = ? AND in_app = 1 AND read_at IS NULL", (user_id,)
    ).fetchone()[0]


def mark(conn: sqlite3.Connection, user_id: int, notification_id: int, read: bool, now: str) -> None:
    cur = conn.execute(
        "UPDATE notifications SET read_at = CASE WHEN ? = 1 THEN COALESCE(read_at, ?) ELSE NULL END "
        "WHERE id = ? AND user_id = ? AND in_app = 1",
        (int(read), now, notification_id, user_id),
    )
    if not cur.rowcount:
        raise NotFound(f"No notification with id {notification_id}")
    append_user_change(conn, user_id, "notification", str(notification_id), "upsert")


def mark_all_read(conn: sqlite3.Connection, user_id: int, now: str) -> int:
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM notifications WHERE user_id = ? AND in_app = 1 AND read_at IS NULL", (user_id,)
        )
    ]
    for chunk in chunks(ids):
        conn.execute(
            f"UPDATE notifications SET read_at = ? WHERE id IN ({placeholders(chunk)})", [now, *chunk]
        )
        for notification_id in chunk:
            append_user_change(conn, user_id, "notification", str(notification_id), "upsert")
    return len(ids)


# -- email ------------------------------------------------------------------------------------------
def email_of_notification(
    conn: sqlite3.Connection, notification_id: int
) -> tuple[sqlite3.Row, str | None] | None:
    """The notification waiting for its email, and the address; None when nothing is to send."""
    row = conn.execute(
        "SELECT n.*, d.email AS address FROM notifications n LEFT JOIN notification_delivery d "
        "ON d.user_id = n.user_id WHERE n.id = ? AND n.email_state = 'queued'",
        (notification_id,),
    ).fetchone()
    return (row, row["address"]) if row else None


def mark_emailed(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    for chunk in chunks(list(ids)):
        conn.execute(
            f"UPDATE notifications SET email_state = 'sent' WHERE id IN ({placeholders(chunk)})", chunk
        )


def digests_due(
    conn: sqlite3.Connection, now: float, period: float
) -> list[tuple[int, str, list[sqlite3.Row]]]:
    """(user id, address, notifications) of every user with notifications waiting for a digest
    whose last digest is at least `period` seconds old (or who has switched the digest off
    since: what waited goes out in one last digest)."""
    users = conn.execute(
        "SELECT d.user_id, d.email FROM notification_delivery d WHERE d.email IS NOT NULL AND (d.digest = 'off' "
        "OR d.digest_sent_at IS NULL OR d.digest_sent_at <= ?) AND EXISTS (SELECT 1 FROM notifications n "
        "WHERE n.user_id = d.user_id AND n.email_state = 'digest') ORDER BY d.user_id",
        (now - period,),
    ).fetchall()
    out = []
    for user in users:
        rows = conn.execute(
            "SELECT * FROM notifications WHERE user_id = ? AND email_state = 'digest' ORDER BY id",
            (user["user_id"],),
        ).fetchall()
        out.append((user["user_id"], user["email"], rows))
    return out


def digest_sent(conn: sqlite3.Connection, user_id: int, ids: Sequence[int], now: float) -> None:
    mark_emailed(conn, ids)
    conn.execute("UPDATE notification_delivery SET digest_sent_at = ? WHERE user_id = ?", (now, user_id))


# -- names the processors put into notifications ----------------------------------------------------
def usernames(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, str]:
    return {
        r[0]: r[1]
        for r in conn.execute(f"SELECT id, username FROM users WHERE id IN ({placeholders(ids)})", ids)
    }


def model_and_version_names(
    conn: sqlite3.Connection, model_id: int, version_id: int | None
) -> tuple[str, str | None]:
    row = conn.execute("SELECT name FROM models WHERE id = ?", (model_id,)).fetchone()
    version = (
        conn.execute("SELECT name FROM versions WHERE id = ?", (version_id,)).fetchone()
        if version_id
        else None
    )
    return (row[0] if row else f"model {model_id}"), (version[0] if version else None)
