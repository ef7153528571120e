"""Downloads: which stored file a download request gets, stored media, and download counts.

A download is counted in `pending_downloads` (one small upsert per request); `refresh_stats`
folds the counts into versions and models and rebuilds their documents in batches, so a
busy download route does not rebuild a document per request.
"""

from __future__ import annotations

import sqlite3

from hub.server.records import DownloadFile
from hub.server.store.errors import NotFound
from hub.server.store.model_documents import rebuild_model


def download_file(
    conn: sqlite3.Connection,
    version_id: int,
    file_type: str | None = None,
    file_format: str | None = None,
    fp: str | None = None,
    size_class: str | None = None,
) -> DownloadFile:
    """The file of a version a download asks for (primary first), with its blob's path."""
    where, args = ["f.version_id = ?"], [version_id]
    for column, value in (
        ("type", file_type),
        ("format", file_format),
        ("fp", fp),
        ("size_class", size_class),
    ):
        if value is not None:
            where.append(f"f.{column} = ?")
            args.append(value)
    row = conn.execute(
        "SELECT f.id, f.version_id, f.name, b.path, b.size, b.sha256 FROM files f "
        f"JOIN blobs b ON b.sha256 = f.sha256 WHERE {' AND '.join(where)} "
        "ORDER BY f.is_primary DESC, f.id LIMIT 1",
        args,
    ).fetchone()
    if row is None:
        if conn.execute("SELECT 1 FROM versions WHERE id = ?", (version_id,)).fetchone():
            raise NotFound(f"No file of model version {version_id} matches the requested type/format/fp")
        raise NotFound(f"Model version not found: {version_id}")
    return DownloadFile(row["id"], row["version_id"], row["name"], row["path"], row["size"], row["sha256"])


def media_path(conn: sqlite3.Connection, sha256: str) -> str:
    row = conn.execute("SELECT path FROM media WHERE sha256 = ?", (sha256.upper(),)).fetchone()
    if row is None:
        raise NotFound("Image not found")
    return row["path"]


def stored_blob_path(conn: sqlite3.Connection, sha256: str) -> str | None:
    """Where a stored file with this SHA256 lies (relative to the data directory), if any."""
    row = conn.execute("SELECT path FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
    return row["path"] if row else None


def record_download(conn: sqlite3.Connection, version_id: int) -> None:
    conn.execute(
        "INSERT INTO pending_downloads (version_id, count) VALUES (?, 1) "
        "ON CONFLICT(version_id) DO UPDATE SET count = pending_downloads.count + 1",
        (version_id,),
    )


def refresh_stats(conn: sqlite3.Connection) -> int:
    """Fold pending download counts into versions and models; returns models touched."""
    rows = conn.execute(
        "SELECT p.version_id, p.count, v.model_id FROM pending_downloads p JOIN versions v ON v.id = p.version_id"
    ).fetchall()
    conn.execute("DELETE FROM pending_downloads")
    touched: set[int] = set()
    for r in rows:
        conn.execute(
            "UPDATE versions SET download_count = download_count + ? WHERE id = ?",
            (r["count"], r["version_id"]),
        )
        conn.execute(
            "UPDATE models SET download_count = download_count + ? WHERE id = ?", (r["count"], r["model_id"])
        )
        touched.add(r["model_id"])
    for model_id in touched:
        rebuild_model(conn, model_id)
    return len(touched)
