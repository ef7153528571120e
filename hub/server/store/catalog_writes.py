"""Model writes: each rebuilds the model's document and appends its change feed entries in the
caller's write transaction (functions of a connection; the caller holds `BEGIN IMMEDIATE`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from hub.server.records import NewFile, NewModel, NewVersion, NewVersionImage
from hub.server.store.change_feed import append_change, creator_changed
from hub.server.store.errors import NotFound
from hub.server.store.model_documents import rebuild_model

EDITABLE_MODEL_FIELDS = frozenset({"name", "description", "nsfw", "tags"})


def create_model(conn: sqlite3.Connection, user_id: int, model: NewModel, now: str) -> tuple[int, int]:
    """Create a model with its first version; returns (model id, version id)."""
    cur = conn.execute(
        "INSERT INTO models (user_id, name, description, type, checkpoint_type, nsfw, nsfw_level, poi, minor, "
        "allow_no_credit, allow_commercial_use, allow_derivatives, allow_different_license, published_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            user_id,
            model.name,
            model.description,
            model.type,
            model.checkpoint_type,
            int(model.nsfw),
            4 if model.nsfw else 1,
            int(model.poi),
            int(model.minor),
            int(model.allow_no_credit),
            json.dumps(model.allow_commercial_use),
            int(model.allow_derivatives),
            int(model.allow_different_license),
            now,
            now,
        ),
    )
    model_id = int(cur.fetchone()[0])
    set_tags(conn, model_id, model.tags)
    version_id = _insert_version(conn, model_id, user_id, model.version, now)
    conn.execute("UPDATE users SET model_count = model_count + 1 WHERE id = ?", (user_id,))
    rebuild_model(conn, model_id)
    creator_changed(conn, user_id)
    return model_id, version_id


def add_version(conn: sqlite3.Connection, model_id: int, version: NewVersion, now: str) -> int:
    row = conn.execute("SELECT user_id FROM models WHERE id = ?", (model_id,)).fetchone()
    if row is None:
        raise NotFound(f"No model with id {model_id}")
    version_id = _insert_version(conn, model_id, row["user_id"], version, now)
    conn.execute("UPDATE models SET updated_at = ? WHERE id = ?", (now, model_id))
    rebuild_model(conn, model_id)
    return version_id


def update_model(conn: sqlite3.Connection, model_id: int, changes: dict[str, Any], now: str) -> None:
    """Edit name/description/nsfw/tags of a model."""
    unknown = set(changes) - EDITABLE_MODEL_FIELDS
    if unknown:
        raise ValueError(f"cannot edit {', '.join(sorted(unknown))}")
    if not conn.execute("SELECT 1 FROM models WHERE id = ?", (model_id,)).fetchone():
        raise NotFound(f"No model with id {model_id}")
    for column in ("name", "description"):
        if column in changes:
            conn.execute(f"UPDATE models SET {column} = ? WHERE id = ?", (changes[column], model_id))
    if "nsfw" in changes:
        nsfw = bool(changes["nsfw"])
        conn.execute(
            "UPDATE models SET nsfw = ?, nsfw_level = ? WHERE id = ?", (int(nsfw), 4 if nsfw else 1, model_id)
        )
    if "tags" in changes:
        set_tags(conn, model_id, changes["tags"])
    conn.execute("UPDATE models SET updated_at = ? WHERE id = ?", (now, model_id))
    rebuild_model(conn, model_id)


def delete_model(conn: sqlite3.Connection, model_id: int) -> None:
    row = conn.execute("SELECT user_id FROM models WHERE id = ?", (model_id,)).fetchone()
    if row is None:
        raise NotFound(f"No model with id {model_id}")
    set_tags(conn, model_id, [])
    conn.execute("DELETE FROM models_fts WHERE rowid = ?", (model_id,))
    conn.execute("DELETE FROM images WHERE model_id = ?", (model_id,))
    conn.execute(
        "DELETE FROM files WHERE version_id IN (SELECT id FROM versions WHERE model_id = ?)", (model_id,)
    )
    conn.execute("DELETE FROM versions WHERE model_id = ?", (model_id,))
    conn.execute("DELETE FROM model_base_models WHERE model_id = ?", (model_id,))
    conn.execute("DELETE FROM model_docs WHERE model_id = ?", (model_id,))
    conn.execute("DELETE FROM models WHERE id = ?", (model_id,))
    conn.execute("UPDATE users SET model_count = model_count - 1 WHERE id = ?", (row["user_id"],))
    append_change(conn, "model", str(model_id), "delete")
    creator_changed(conn, row["user_id"])


def set_tags(conn: sqlite3.Connection, model_id: int, tags: Iterable[str]) -> None:
    old = [r[0] for r in conn.execute("SELECT tag FROM model_tags WHERE model_id = ?", (model_id,))]
    conn.execute("DELETE FROM model_tags WHERE model_id = ?", (model_id,))
    conn.executemany("UPDATE tags SET model_count = model_count - 1 WHERE name = ?", [(t,) for t in old])
    new = list(dict.fromkeys(t.lower() for t in tags))
    conn.executemany(
        "INSERT INTO model_tags (model_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(model_id, t) for t in new],
    )
    conn.executemany(
        "INSERT INTO tags (name, model_count) VALUES (?, 1) "
        "ON CONFLICT(name) DO UPDATE SET model_count = tags.model_count + 1",
        [(t,) for t in new],
    )


def _insert_version(
    conn: sqlite3.Connection, model_id: int, user_id: int, version: NewVersion, now: str
) -> int:
    position = conn.execute(
        "SELECT COALESCE(MAX(position) + 1, 0) FROM versions WHERE model_id = ?", (model_id,)
    ).fetchone()[0]
    nsfw_level = max((i.nsfw_level for i in version.images), default=1)
    cur = conn.execute(
        "INSERT INTO versions (model_id, position, name, description, base_model, base_model_type, trained_words, "
        "nsfw_level, created_at, updated_at, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            model_id,
            position,
            version.name,
            version.description,
            version.base_model,
            version.base_model_type,
            json.dumps(version.trained_words),
            nsfw_level,
            now,
            now,
            now,
        ),
    )
    version_id = int(cur.fetchone()[0])
    conn.execute(
        "INSERT INTO model_base_models (model_id, base_model) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (model_id, version.base_model),
    )
    for file in version.files:
        _insert_file(conn, version_id, file, now)
    for image in version.images:
        _insert_image(conn, version_id, model_id, user_id, image, now)
    return version_id


def _insert_file(conn: sqlite3.Connection, version_id: int, file: NewFile, now: str) -> None:
    h = file.blob.hashes
    conn.execute(
        "INSERT INTO blobs (sha256, size, crc32, blake3, autov1, autov3, path) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (h.sha256, h.size, h.crc32, h.blake3, h.autov1, h.autov3, file.blob.path),
    )
    conn.execute(
        "INSERT INTO files (version_id, name, type, format, fp, size_class, is_primary, sha256, pickle_scan_result, "
        "pickle_scan_message, scanned_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            version_id,
            file.name,
            file.type,
            file.format,
            file.fp,
            file.size_class,
            int(file.is_primary),
            h.sha256,
            file.pickle_scan_result,
            file.pickle_scan_message,
            now,
            now,
        ),
    )


def _insert_image(
    conn: sqlite3.Connection, version_id: int, model_id: int, user_id: int, image: NewVersionImage, now: str
) -> None:
    m = image.media
    conn.execute(
        "INSERT INTO media (sha256, path, width, height, blurhash) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (m.sha256, m.path, m.width, m.height, m.blurhash),
    )
    conn.execute(
        "INSERT INTO images (version_id, model_id, user_id, media_sha, nsfw_level, meta, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            version_id,
            model_id,
            user_id,
            m.sha256,
            image.nsfw_level,
            json.dumps(image.meta) if image.meta else None,
            now,
        ),
    )
