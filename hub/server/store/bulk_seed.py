"""Bulk loading (the seed): prepared rows inserted in large batches, then the counts fixed once.

Rows arrive in the column order of `BULK_TABLES`, documents already built, so loading does not
rebuild a document per model; `finish_bulk` recounts what per-row writes would have kept up to
date (creators' model counts, tag counts) and feeds the creators.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from typing import Any

from hub.server.store.change_feed import append_change
from hub.server.store.dialect import dialect_of
from hub.server.store.sql_text import chunks, placeholders

BULK_TABLES: dict[str, tuple[str, ...]] = {
    "users": ("id", "username", "password_hash", "role", "image_sha", "created_at", "model_count"),
    "models": (
        "id",
        "user_id",
        "name",
        "description",
        "type",
        "checkpoint_type",
        "nsfw",
        "nsfw_level",
        "poi",
        "minor",
        "allow_no_credit",
        "allow_commercial_use",
        "allow_derivatives",
        "allow_different_license",
        "published_at",
        "updated_at",
        "download_count",
        "thumbs_up_count",
        "thumbs_down_count",
        "comment_count",
        "collected_count",
        "tipped_amount_count",
        "rating",
        "rating_count",
        "image_count",
    ),
    "model_docs": ("model_id", "doc"),
    "model_tags": ("model_id", "tag"),
    "model_base_models": ("model_id", "base_model"),
    "models_fts": ("rowid", "name", "tags", "username"),
    "versions": (
        "id",
        "model_id",
        "position",
        "name",
        "description",
        "base_model",
        "base_model_type",
        "trained_words",
        "nsfw_level",
        "created_at",
        "updated_at",
        "published_at",
        "download_count",
        "thumbs_up_count",
        "thumbs_down_count",
        "rating",
        "rating_count",
    ),
    "blobs": ("sha256", "size", "crc32", "blake3", "autov1", "autov3", "path"),
    "files": (
        "id",
        "version_id",
        "name",
        "type",
        "format",
        "fp",
        "size_class",
        "is_primary",
        "sha256",
        "pickle_scan_result",
        "pickle_scan_message",
        "virus_scan_result",
        "scanned_at",
        "created_at",
    ),
    "media": ("sha256", "path", "width", "height", "blurhash"),
    "images": (
        "id",
        "version_id",
        "model_id",
        "user_id",
        "media_sha",
        "nsfw_level",
        "meta",
        "created_at",
        "post_id",
        "like_count",
        "heart_count",
        "laugh_count",
        "cry_count",
        "dislike_count",
        "comment_count",
        "collected_count",
        "reaction_count",
    ),
}


# Tables whose ids bulk loading writes itself.
ID_TABLES = ("users", "models", "versions", "files", "images")


def reset_sequences(conn: Any, tables: Sequence[str]) -> None:
    """After rows were written with explicit ids: on PostgreSQL, move each table's id sequence
    past its largest id (SQLite's rowid needs nothing)."""
    if dialect_of(conn).is_postgres:
        for table in tables:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) "
                f"FROM {table}"
            )


def max_ids(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {t}").fetchone()[0] for t in ID_TABLES}


def bulk_insert(
    conn: sqlite3.Connection, rows: dict[str, list[Sequence[Any]]], model_changes: Sequence[int]
) -> None:
    """Insert prepared rows (columns as in BULK_TABLES) and feed entries of `model_changes`."""
    for table, columns in BULK_TABLES.items():
        batch = rows.get(table)
        if not batch:
            continue
        if table in ("blobs", "media"):  # shared by many models: a row may be there already
            values = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) ON CONFLICT DO NOTHING"
            conn.executemany(sql, batch)
        elif dialect_of(conn).is_postgres:
            _copy_rows(conn, table, columns, batch)
        else:
            values = ", ".join("?" * len(columns))
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})", batch)
    reset_sequences(conn, [t for t in rows if t in ID_TABLES])
    _append_model_changes(conn, [str(model_id) for model_id in model_changes])


def _copy_rows(conn: Any, table: str, columns: Sequence[str], batch: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL's COPY: one stream per table and batch instead of a statement per row."""
    with conn.raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in batch:
            copy.write_row(row)


def _append_model_changes(conn: Any, model_ids: list[str]) -> None:
    """`append_change(conn, "model", id, "upsert")` for many models, in order, in few statements."""
    for chunk in chunks(model_ids):
        conn.execute(
            f"DELETE FROM changes WHERE entity = 'model' AND entity_id IN ({placeholders(chunk)})", chunk
        )
    conn.executemany(
        "INSERT INTO changes (entity, entity_id, action) VALUES ('model', ?, 'upsert')",
        [(m,) for m in model_ids],
    )


def recount_after_bulk(conn: sqlite3.Connection) -> None:
    """Recount creators' models and tags, and feed the creators."""
    conn.execute(
        "UPDATE users SET model_count = (SELECT COUNT(*) FROM models WHERE models.user_id = users.id)"
    )
    conn.execute("DELETE FROM tags")
    conn.execute("INSERT INTO tags (name, model_count) SELECT tag, COUNT(*) FROM model_tags GROUP BY tag")
    for (username,) in conn.execute("SELECT username FROM users WHERE model_count > 0").fetchall():
        append_change(conn, "creator", username, "upsert")


def analyze(conn: sqlite3.Connection) -> None:
    """Refresh the planner's statistics after a large load."""
    conn.execute("ANALYZE")


def bulk_ledger_history(conn: sqlite3.Connection, transactions: int, seed: int, now: str) -> int:
    """Append `transactions` balanced past transfers between the user accounts (tips, and a grant
    from the `grants` account whenever a payer could not pay), two entries each, in batches,
    and set every balance touched to what its entries sum to; returns the entries written. For
    the benchmarks: a large ledger the invariants still hold on (`buzz.ledger_problems`)."""
    rng = random.Random(seed)
    accounts = [r[0] for r in conn.execute("SELECT id FROM buzz_accounts WHERE user_id IS NOT NULL")]
    if len(accounts) < 2:
        raise ValueError("bulk ledger history needs at least two user accounts")
    grants = conn.execute("SELECT id FROM buzz_accounts WHERE system_name = 'grants'").fetchone()[0]
    balance = dict(conn.execute("SELECT id, balance FROM buzz_accounts").fetchall())
    next_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM buzz_transactions").fetchone()[0] + 1
    batch_tx: list[tuple] = []
    batch_entries: list[tuple] = []

    def flush() -> None:
        conn.executemany(
            "INSERT INTO buzz_transactions (id, idempotency_key, kind, amount, from_account, to_account, "
            "memo, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batch_tx,
        )
        conn.executemany(
            "INSERT INTO buzz_entries (transaction_id, account_id, amount) VALUES (?, ?, ?)", batch_entries
        )
        batch_tx.clear()
        batch_entries.clear()

    for n in range(transactions):
        payer, payee = rng.sample(accounts, 2)
        amount = rng.randint(1, 50)
        kind = "tip"
        if balance[payer] < amount:
            payer, kind, amount = grants, "grant", 500
        balance[payer] -= amount
        balance[payee] += amount
        tx_id = next_id + n
        batch_tx.append((tx_id, f"bulk-history:{seed}:{tx_id}", kind, amount, payer, payee, "history", now))
        batch_entries += [(tx_id, payer, -amount), (tx_id, payee, amount)]
        if len(batch_tx) >= 20_000:
            flush()
    if batch_tx:
        flush()
    conn.executemany(
        "UPDATE buzz_accounts SET balance = ? WHERE id = ?", [(b, a) for a, b in balance.items()]
    )
    reset_sequences(conn, ["buzz_transactions", "buzz_entries"])
    return 2 * transactions
