"""History of generated images: one SQLite row per image, in the studio database.

The request is stored as JSON without its image bytes (init images and mask are replaced by
their SHA-256), so the table stays small; the image itself lives at `path`.

An X/Y/Z grid is an entry of its own (`kind` "grid", `add_grid`): the grid image, the grid's
infotext (the first cell's parameters plus the axes), and its cells: the cells' own entries
point at it (`grid_id`), so `cells(grid_id)` opens them and the filter `grid_id` lists them.
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
    kind: str = "image"  # "image", or "grid" for an X/Y/Z grid
    grid_id: int | None = None  # the grid this image is a cell of


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

    def add_grid(
        self,
        request: GenerationRequest,
        *,
        seed: int,
        path: str,
        infotext: str,
        cell_paths: list[str],
        timings: Mapping[str, float] | None = None,
    ) -> int:
        """Record an X/Y/Z grid saved at `path` and mark the entries of its cells (the images
        saved at `cell_paths`) as its cells, in one transaction. Returns the grid's id."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO history (created_at, prompt, request, seed, path, infotext, timings, kind)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'grid')",
                (
                    time.time(),
                    request.prompt,
                    json.dumps(request_summary(request)),
                    seed,
                    path,
                    infotext,
                    json.dumps(dict(timings or {})),
                ),
            )
            grid_id = int(cursor.lastrowid or 0)
            db.executemany(
                "UPDATE history SET grid_id = ? WHERE path = ? AND kind = 'image'",
                [(grid_id, cell) for cell in cell_paths],
            )
            return grid_id

    def cells(self, grid_id: int) -> list[HistoryEntry]:
        """The cell images of grid `grid_id`, in the order they were made."""
        with self._connect() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM history WHERE grid_id = ? ORDER BY id", (grid_id,))
            return [self._entry(row) for row in rows.fetchall()]

    @staticmethod
    def _entry(row: tuple) -> HistoryEntry:
        id_, created_at, prompt, request, seed, path, infotext, timings, kind, grid_id = row
        return HistoryEntry(
            id_,
            created_at,
            prompt,
            json.loads(request),
            seed,
            path,
            infotext,
            json.loads(timings),
            kind,
            grid_id,
        )

    def get(self, entry_id: int) -> HistoryEntry | None:
        with self._connect() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM history WHERE id = ?", (entry_id,)).fetchone()
        return None if row is None else self._entry(row)

    def list(
        self, offset: int = 0, limit: int = 50, query: str | None = None, filters: HistoryFilter | None = None
    ) -> list[HistoryEntry]:
        """Newest first; `query` matches a substring of the prompt or of the infotext (sampler,
        seed, model ...; case-insensitive for ASCII); `filters` narrow by model, mode and date."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        where, args = _where(query, filters)
        with self._connect() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM history{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [self._entry(row) for row in rows]

    def count(self, query: str | None = None, filters: HistoryFilter | None = None) -> int:
        where, args = _where(query, filters)
        with self._connect() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM history{where}", args).fetchone()[0])

    def delete(self, entry_id: int) -> bool:
        """Delete the row and its image file (if it is still there); False if there is no such row."""
        entry = self.get(entry_id)
        if entry is None:
            return False
        if entry.path:
            Path(entry.path).unlink(missing_ok=True)
        with self._connect() as db:
            db.execute("DELETE FROM history WHERE id = ?", (entry_id,))
            db.execute("UPDATE history SET grid_id = NULL WHERE grid_id = ?", (entry_id,))  # cells stay
        return True


MODES = ("txt2img", "img2img", "inpaint")
KINDS = ("image", "grid")
_COLUMNS = "id, created_at, prompt, request, seed, path, infotext, timings, kind, grid_id"


@dataclass(frozen=True)
class HistoryFilter:
    """Narrow the history: `model` as the infotext names it, `mode` one of MODES, and
    `since` / `until` as Unix times (`until` exclusive). None = no limit."""

    model: str | None = None
    mode: str | None = None
    since: float | None = None
    until: float | None = None
    kind: str | None = None  # "image" or "grid" (X/Y/Z grids)
    grid_id: int | None = None  # the cells of this grid

    def __post_init__(self) -> None:
        errors = []
        if self.mode is not None and self.mode not in MODES:
            errors.append(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        if self.kind is not None and self.kind not in KINDS:
            errors.append(f"kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if errors:
            raise ValueError("; ".join(errors))


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


_MODE_SQL = {
    "txt2img": "json_array_length(request, '$.init_images') = 0",
    "img2img": "json_array_length(request, '$.init_images') > 0 AND json_extract(request, '$.mask') IS NULL",
    "inpaint": "json_extract(request, '$.mask') IS NOT NULL",
}


def _where(query: str | None, filters: HistoryFilter | None) -> tuple[str, tuple]:
    clauses: list[str] = []
    args: list[Any] = []
    if query:
        clauses.append("(prompt LIKE ? ESCAPE '\\' OR infotext LIKE ? ESCAPE '\\')")
        args += [_like(query), _like(query)]
    filters = filters or HistoryFilter()
    if filters.model:
        # "Model: tiny" ends the infotext's parameter line or is followed by a comma.
        clauses.append("(infotext LIKE ? ESCAPE '\\' OR infotext LIKE ? ESCAPE '\\')")
        args += [_like(f"Model: {filters.model},"), _like(f"Model: {filters.model}")[:-1]]
    if filters.mode:
        clauses.append(f"({_MODE_SQL[filters.mode]})")
    if filters.since is not None:
        clauses.append("created_at >= ?")
        args.append(filters.since)
    if filters.until is not None:
        clauses.append("created_at < ?")
        args.append(filters.until)
    if filters.kind is not None:
        clauses.append("kind = ?")
        args.append(filters.kind)
    if filters.grid_id is not None:
        clauses.append("grid_id = ?")
        args.append(filters.grid_id)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)
