"""The `images` table: each version's preview images, and the local copy of its thumbnail
(the first image, fetched by the sync into `previews/`).

The functions take a `sqlite3.Connection` (from `HubDatabase.transaction()` or
`HubDatabase.conn`); they never commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

IMAGE_COLUMNS = 8  # version_id, position, url, nsfw_level, width, height, hash, local_path


def local_copies(conn: sqlite3.Connection, model_ids: Sequence[int]) -> dict[str, str]:
    """{url: local path} of the thumbnails already fetched for these models: an upsert
    rewrites the images rows and keeps these, so a model update does not refetch them."""
    return dict(
        conn.execute(
            "SELECT i.url, i.local_path FROM images i JOIN versions v ON v.id = i.version_id "
            f"WHERE v.model_id IN ({','.join('?' * len(model_ids))}) AND i.local_path IS NOT NULL",
            list(model_ids),
        ).fetchall()
    )


def insert(conn: sqlite3.Connection, rows: Sequence[tuple]) -> None:
    """Rows in table order (see IMAGE_COLUMNS); an existing (version, position) is replaced."""
    conn.executemany(f"INSERT OR REPLACE INTO images VALUES ({','.join('?' * IMAGE_COLUMNS)})", rows)


def version_previews(conn: sqlite3.Connection, version_id: int) -> list[str]:
    """A version's images in order: the local copy where there is one, else the URL."""
    rows = conn.execute(
        "SELECT COALESCE(local_path, url) FROM images WHERE version_id = ? ORDER BY position",
        [version_id],
    ).fetchall()
    return [row[0] for row in rows]


def missing_thumbnails(conn: sqlite3.Connection, model_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(version id, url) of these models' first images that have no local copy yet."""
    return conn.execute(
        "SELECT i.version_id, i.url FROM images i JOIN versions v ON v.id = i.version_id "
        f"WHERE v.model_id IN ({','.join('?' * len(model_ids))}) AND i.position = 0 "
        "AND i.local_path IS NULL AND i.url != ''",
        list(model_ids),
    ).fetchall()


def set_thumbnail(conn: sqlite3.Connection, version_id: int, local_path: str) -> None:
    conn.execute(
        "UPDATE images SET local_path = ? WHERE version_id = ? AND position = 0", [local_path, version_id]
    )
