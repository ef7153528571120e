"""The `local_files` table: the model files found on disk, their SHA256 (cached by path, size
and mtime, so a rescan hashes only what changed) and the catalog entry each is linked to.

The functions take a `sqlite3.Connection`; they never commit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from hub.store.images import version_previews


class HashedFile(NamedTuple):
    size: int
    mtime_ns: int
    sha256: str


@dataclass
class LocalModel:
    """A local model file with the catalog entry it is linked to (names None when unlinked)."""

    path: str
    folder: str
    size: int
    sha256: str
    model_id: int | None
    version_id: int | None
    model_name: str | None
    version_name: str | None
    model_type: str | None
    trained_words: list[str]
    previews: list[str]


def hashed_files(conn: sqlite3.Connection) -> dict[str, HashedFile]:
    """{path: (size, mtime_ns, sha256)} of every file scanned before."""
    rows = conn.execute("SELECT path, size, mtime_ns, sha256 FROM local_files").fetchall()
    return {row[0]: HashedFile(row[1], row[2], row[3]) for row in rows}


def save(
    conn: sqlite3.Connection,
    *,
    path: str,
    folder: str,
    size: int,
    mtime_ns: int,
    sha256: str,
    model_id: int | None,
    version_id: int | None,
    file_id: int | None,
    scanned_at: float,
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO local_files (path, folder, size, mtime_ns, sha256, model_id, version_id, "
        "file_id, scanned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [path, folder, size, mtime_ns, sha256, model_id, version_id, file_id, scanned_at],
    )


def forget(conn: sqlite3.Connection, paths: Iterable[str]) -> None:
    conn.executemany("DELETE FROM local_files WHERE path = ?", [(p,) for p in paths])


def local_models(conn: sqlite3.Connection) -> list[LocalModel]:
    """Every local file, by path, with its catalog names, trained words and previews."""
    rows = conn.execute(
        "SELECT l.path, l.folder, l.size, l.sha256, l.model_id, l.version_id, m.name, v.name, m.type, "
        "v.trained_words FROM local_files l LEFT JOIN models m ON m.id = l.model_id "
        "LEFT JOIN versions v ON v.id = l.version_id ORDER BY l.path"
    ).fetchall()
    return [
        LocalModel(
            *row[:9],
            json.loads(row[9]) if row[9] else [],
            version_previews(conn, row[5]) if row[5] else [],
        )
        for row in rows
    ]
