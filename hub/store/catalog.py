"""Catalog writes and reads. Every write enqueues (entity, id, action) for the search index in
the caller's transaction, so the index queue and the catalog never disagree after a commit;
an upsert likewise queues the thumbnails it references that have no local copy (`media_queue`).
The reads a search makes (document text, filters) are `search_rows.py`.

The functions take a `sqlite3.Connection` (from `HubDatabase.transaction()`); they never commit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from hub.store import images, media_queue
from hub.store.index_queue import enqueue

MODEL_COLUMNS = (
    "id, name, description, type, nsfw, creator, download_count, favorite_count, comment_count, "
    "rating, rating_count, thumbs_up, created_at, published_at, updated_at, data"
)


class CatalogError(ValueError):
    """A catalog object is missing a field it needs (the message names the field)."""


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] is None:
        raise CatalogError(f"{where}.{key}: missing")
    return data[key]


def _model_row(data: Mapping[str, Any]) -> tuple:
    model_id = int(_require(data, "id", "model"))
    stats = data.get("stats") or {}
    creator = (data.get("creator") or {}).get("username")
    versions = data.get("modelVersions") or []
    created = min((v.get("createdAt") or "" for v in versions), default="") or data.get("createdAt")
    published = max((v.get("publishedAt") or "" for v in versions), default="") or data.get("publishedAt")
    return (
        model_id,
        str(_require(data, "name", f"model {model_id}")),
        data.get("description"),
        str(_require(data, "type", f"model {model_id}")),
        1 if data.get("nsfw") else 0,
        creator,
        int(stats.get("downloadCount") or 0),
        int(stats.get("favoriteCount") or 0),
        int(stats.get("commentCount") or 0),
        float(stats.get("rating") or 0.0),
        int(stats.get("ratingCount") or 0),
        int(stats.get("thumbsUpCount") or 0),
        created or None,
        published or None,
        data.get("updatedAt") or published or None,
        json.dumps(data, separators=(",", ":"), ensure_ascii=False),
    )


def upsert_models(conn: sqlite3.Connection, models: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace whole model objects (Civitai shape: versions, files, images)."""
    if not models:
        return
    model_rows = [_model_row(m) for m in models]
    ids = [row[0] for row in model_rows]
    marks = ",".join("?" * len(ids))
    kept_previews = images.local_copies(conn, ids)
    conn.execute(f"DELETE FROM versions WHERE model_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM model_tags WHERE model_id IN ({marks})", ids)
    conn.executemany(
        f"INSERT INTO models ({MODEL_COLUMNS}) VALUES ({','.join('?' * 16)}) "
        "ON CONFLICT(id) DO UPDATE SET name=excluded.name, description=excluded.description, "
        "type=excluded.type, nsfw=excluded.nsfw, creator=excluded.creator, "
        "download_count=excluded.download_count, favorite_count=excluded.favorite_count, "
        "comment_count=excluded.comment_count, rating=excluded.rating, "
        "rating_count=excluded.rating_count, thumbs_up=excluded.thumbs_up, "
        "created_at=excluded.created_at, published_at=excluded.published_at, "
        "updated_at=excluded.updated_at, data=excluded.data",
        model_rows,
    )
    tag_names = sorted(
        {str(t).strip().lower() for m in models for t in m.get("tags") or [] if str(t).strip()}
    )
    if tag_names:
        conn.executemany("INSERT OR IGNORE INTO tags (name) VALUES (?)", [(t,) for t in tag_names])
        tag_ids: dict[str, int] = {}
        for start in range(0, len(tag_names), 500):
            chunk = tag_names[start : start + 500]
            tag_ids.update(
                conn.execute(
                    f"SELECT name, id FROM tags WHERE name IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            )
    version_rows, file_rows, image_rows, tag_rows = [], [], [], []
    for model_id, model in zip(ids, models, strict=True):
        for tag in {str(t).strip().lower() for t in model.get("tags") or [] if str(t).strip()}:
            tag_rows.append((model_id, tag_ids[tag]))
        for position, version in enumerate(model.get("modelVersions") or []):
            version_id = int(_require(version, "id", f"model {model_id}.modelVersions[{position}]"))
            version_rows.append(
                (
                    version_id,
                    model_id,
                    position,
                    version.get("name"),
                    version.get("baseModel"),
                    json.dumps(version.get("trainedWords") or []),
                    version.get("description"),
                    version.get("downloadUrl"),
                    version.get("createdAt"),
                    version.get("publishedAt"),
                )
            )
            for file in version.get("files") or []:
                hashes = {k.lower(): v for k, v in (file.get("hashes") or {}).items()}
                meta = file.get("metadata") or {}
                file_rows.append(
                    (
                        int(_require(file, "id", f"version {version_id}.files[]")),
                        version_id,
                        str(file.get("name") or ""),
                        file.get("type"),
                        file.get("sizeKB"),
                        meta.get("format"),
                        meta.get("fp"),
                        1 if file.get("primary") else 0,
                        file.get("downloadUrl"),
                        (hashes.get("sha256") or "").upper() or None,
                        hashes.get("autov1"),
                        hashes.get("autov2"),
                        hashes.get("autov3"),
                        hashes.get("crc32"),
                        hashes.get("blake3"),
                        file.get("pickleScanResult"),
                        file.get("virusScanResult"),
                    )
                )
            for image_position, image in enumerate(version.get("images") or []):
                url = str(image.get("url") or "")
                image_rows.append(
                    (
                        version_id,
                        image_position,
                        url,
                        image.get("nsfwLevel"),
                        image.get("width"),
                        image.get("height"),
                        image.get("hash"),
                        kept_previews.get(url),
                    )
                )
    conn.executemany("INSERT INTO model_tags (model_id, tag_id) VALUES (?, ?)", tag_rows)
    conn.executemany(f"INSERT OR REPLACE INTO versions VALUES ({','.join('?' * 10)})", version_rows)
    conn.executemany(f"INSERT OR REPLACE INTO files VALUES ({','.join('?' * 17)})", file_rows)
    images.insert(conn, image_rows)
    media_queue.enqueue(conn, images.thumbnails_to_queue(image_rows))
    enqueue(conn, "model", ids, "update")


def upsert_model(conn: sqlite3.Connection, model: Mapping[str, Any]) -> None:
    upsert_models(conn, [model])


def delete_models(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    if not ids:
        return
    marks = ",".join("?" * len(ids))
    conn.execute(f"DELETE FROM models WHERE id IN ({marks})", list(ids))
    enqueue(conn, "model", ids, "delete")


def delete_model(conn: sqlite3.Connection, model_id: int) -> None:
    delete_models(conn, [model_id])


def upsert_creators(conn: sqlite3.Connection, creators: Sequence[Mapping[str, Any]]) -> None:
    rows = [
        (
            str(_require(c, "username", "creator")),
            c.get("image"),
            c.get("modelCount"),
            c.get("link"),
        )
        for c in creators
    ]
    conn.executemany(
        "INSERT INTO creators (username, image, model_count, link) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(username) DO UPDATE SET image=excluded.image, "
        "model_count=excluded.model_count, link=excluded.link",
        rows,
    )
    enqueue(conn, "creator", [row[0] for row in rows], "update")


def upsert_creator(conn: sqlite3.Connection, creator: Mapping[str, Any]) -> None:
    upsert_creators(conn, [creator])


def delete_creator(conn: sqlite3.Connection, username: str) -> None:
    conn.execute("DELETE FROM creators WHERE username = ?", [username])
    enqueue(conn, "creator", [username], "delete")


def get_model(conn: sqlite3.Connection, model_id: int) -> dict[str, Any] | None:
    """The mirrored model object, exactly as the hub server sent it."""
    row = conn.execute("SELECT data FROM models WHERE id = ?", [model_id]).fetchone()
    return json.loads(row[0]) if row else None


def find_version(conn: sqlite3.Connection, version_id: int) -> dict[str, Any] | None:
    """{model, version, files} for a version id, or None when it is not in the mirror."""
    row = conn.execute("SELECT model_id FROM versions WHERE id = ?", [version_id]).fetchone()
    if row is None:
        return None
    model = get_model(conn, row[0])
    if model is None:
        return None
    for version in model.get("modelVersions") or []:
        if int(version.get("id")) == version_id:
            return {"model": model, "version": version}
    return None


def find_files_by_sha256(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT f.id, f.version_id, v.model_id, f.name FROM files f JOIN versions v ON v.id = f.version_id "
        "WHERE f.sha256 = ?",
        [sha256.upper()],
    ).fetchall()
    return [{"file_id": r[0], "version_id": r[1], "model_id": r[2], "name": r[3]} for r in rows]


def model_summaries(conn: sqlite3.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Id, name, type, creator, downloads, rating and nsfw of these models, in the order given
    (ids not in the mirror are left out): a page of search results."""
    if not ids:
        return []
    rows = conn.execute(
        "SELECT id, name, type, creator, download_count, rating, nsfw FROM models "
        f"WHERE id IN ({','.join('?' * len(ids))})",
        list(ids),
    ).fetchall()
    by_id = {
        r[0]: {
            "id": r[0],
            "name": r[1],
            "type": r[2],
            "creator": r[3],
            "downloads": r[4],
            "rating": r[5],
            "nsfw": bool(r[6]),
        }
        for r in rows
    }
    return [by_id[i] for i in ids if i in by_id]
