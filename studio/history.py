"""History of generated images: one SQLite row per image, in the studio database.

The request is stored as JSON without its image bytes (init images and mask are replaced by
their SHA-256), so the table stays small; the image itself lives at `path`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.database import ensure_migrated, transaction
from studio.request import GenerationRequest


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    created_at: float
    prompt: str
    request: dict[str, Any]
    seed: int
    path: str | None
    infotext: str
    timings: dict[str, float]


def request_summary(request: GenerationRequest) -> dict[str, Any]:
    """The request as JSON with image bytes replaced by `sha256:<hex>` references."""
    data = request.to_json()
    data["init_images"] = ["sha256:" + hashlib.sha256(image).hexdigest() for image in request.init_images]
    data["mask"] = None if request.mask is None else "sha256:" + hashlib.sha256(request.mask).hexdigest()
    return data


class HistoryStore:
    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        ensure_migrated(self.db_path)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db_path)

    def add(
        self,
        request: GenerationRequest,
        *,
        seed: int,
        path: str | None,
        infotext: str,
        timings: Mapping[str, float] | None = None,
        created_at: float | None = None,
    ) -> int:
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO history (created_at, prompt, request, seed, path, infotext, timings)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time() if created_at is None else created_at,
                    request.prompt,
                    json.dumps(request_summary(request)),
                    seed,
                    path,
                    infotext,
                    json.dumps(dict(timings or {})),
                ),
            )
            return int(cursor.lastrowid or 0)

    @staticmethod
    def _entry(row: tuple) -> HistoryEntry:
        id_, created_at, prompt, request, seed, path, infotext, timings = row
        return HistoryEntry(
            id_, created_at, prompt, json.loads(request), seed, path, infotext, json.loads(timings)
        )

    def get(self, entry_id: int) -> HistoryEntry | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT id, created_at, prompt, request, seed, path, infotext, timings FROM history WHERE id = ?",
                (entry_id,),
            ).fetchone()
        return None if row is None else self._entry(row)

    @staticmethod
    def _where(query: str | None) -> tuple[str, tuple]:
        if not query:
            return "", ()
        escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return " WHERE prompt LIKE ? ESCAPE '\\'", (f"%{escaped}%",)

    def list(self, offset: int = 0, limit: int = 50, query: str | None = None) -> list[HistoryEntry]:
        """Newest first; `query` matches a substring of the prompt (case-insensitive for ASCII)."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        where, args = self._where(query)
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, created_at, prompt, request, seed, path, infotext, timings FROM history"
                f"{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [self._entry(row) for row in rows]

    def count(self, query: str | None = None) -> int:
        where, args = self._where(query)
        with self._connect() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM history{where}", args).fetchone()[0])
