"""Rebuilding a model's stored Civitai document from its rows, inside the writing transaction.

Documents are stored denormalised in `model_docs` (apart from `models`, whose small rows the
list queries scan) and rebuilt in the same transaction as every change, together with the
search row and the change feed entry, so a reader never sees one without the others.
"""

from __future__ import annotations

import sqlite3

from hub.server import documents
from hub.server.store.change_feed import append_change


def rebuild_model(conn: sqlite3.Connection, model_id: int) -> None:
    """Recompute the stored Civitai document, search row and feed entry of one model."""
    model = dict(conn.execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone())
    creator = dict(
        conn.execute("SELECT username, image_sha FROM users WHERE id = ?", (model["user_id"],)).fetchone()
    )
    tags = [
        r[0] for r in conn.execute("SELECT tag FROM model_tags WHERE model_id = ? ORDER BY tag", (model_id,))
    ]
    versions = []
    image_count = 0
    for v in conn.execute(
        "SELECT * FROM versions WHERE model_id = ? ORDER BY position DESC", (model_id,)
    ).fetchall():
        files = conn.execute(
            "SELECT f.*, b.size, b.crc32, b.blake3, b.autov1, b.autov3 FROM files f "
            "JOIN blobs b ON b.sha256 = f.sha256 WHERE f.version_id = ? ORDER BY f.is_primary DESC, f.id",
            (v["id"],),
        ).fetchall()
        images = conn.execute(
            "SELECT i.id, i.media_sha, i.nsfw_level, i.meta, m.width, m.height, m.blurhash FROM images i "
            "JOIN media m ON m.sha256 = i.media_sha WHERE i.version_id = ? ORDER BY i.id",
            (v["id"],),
        ).fetchall()
        image_count += len(images)
        versions.append(
            documents.version_document(model, dict(v), [dict(f) for f in files], [dict(i) for i in images])
        )
    model["image_count"] = image_count
    doc = documents.dumps(documents.model_document(model, creator, tags, versions))
    conn.execute("UPDATE models SET image_count = ? WHERE id = ?", (image_count, model_id))
    conn.execute(
        "INSERT INTO model_docs (model_id, doc) VALUES (?, ?) ON CONFLICT (model_id) DO UPDATE SET doc = excluded.doc",
        (model_id, doc),
    )
    conn.execute("DELETE FROM models_fts WHERE rowid = ?", (model_id,))
    conn.execute(
        "INSERT INTO models_fts (rowid, name, tags, username) VALUES (?, ?, ?, ?)",
        (model_id, model["name"], " ".join(tags), creator["username"]),
    )
    append_change(conn, "model", str(model_id), "upsert")
