"""The `images` table: each version's preview images, and the local copy of its thumbnail
(the first image, fetched by the sync into `previews/` through the media queue,
`media_queue.py`).

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


def thumbnails_to_queue(rows: Sequence[tuple]) -> set[str]:
    """The URLs of these image rows (table order) that are thumbnails with no local copy: what
    an upsert puts in the media queue, in its own transaction."""
    return {row[2] for row in rows if row[1] == 0 and row[2] and row[7] is None}


def thumbnail_wanted(conn: sqlite3.Connection, url: str) -> bool:
    """Whether some version's thumbnail or some article's cover is this URL and has no local
    copy yet (a queued URL whose models or articles were deleted or already linked is not
    fetched)."""
    row = conn.execute(
        "SELECT 1 FROM images WHERE url = ? AND position = 0 AND local_path IS NULL UNION ALL "
        "SELECT 1 FROM articles WHERE cover_url = ? AND cover_path IS NULL LIMIT 1",
        [url, url],
    ).fetchone()
    return row is not None


def link_thumbnail(conn: sqlite3.Connection, url: str, local_path: str) -> int:
    """Record the local copy of this thumbnail URL for every version that uses it, and of this
    cover URL for every article; returns the versions and articles linked."""
    cursor = conn.execute(
        "UPDATE images SET local_path = ? WHERE url = ? AND position = 0 AND local_path IS NULL",
        [local_path, url],
    )
    covers = conn.execute(
        "UPDATE articles SET cover_path = ? WHERE cover_url = ? AND cover_path IS NULL", [local_path, url]
    )
    return cursor.rowcount + covers.rowcount
