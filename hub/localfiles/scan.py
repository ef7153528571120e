"""Scan the models folder: hash each model file (cached by path + size + mtime), look the hash
up in the mirror (and on the hub server when a client is given), link the file to its entry."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.store.catalog import find_files_by_sha256, upsert_model
from hub.store.database import HubDatabase

log = logging.getLogger(__name__)
MODEL_SUFFIXES = {".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf"}


@dataclass
class ScanReport:
    files: int = 0
    hashed: int = 0
    cached: int = 0
    linked: int = 0
    found_online: int = 0
    removed: int = 0


@dataclass
class LocalModel:
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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(4 * 1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest().upper()


def _model_files(models_dir: Path) -> list[Path]:
    if not models_dir.exists():
        return []
    return sorted(
        p
        for p in models_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES and not p.name.startswith(".")
    )


def scan_models(
    store: HubDatabase,
    models_dir: Path,
    lookup_online: Callable[[str], dict[str, Any] | None] | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> ScanReport:
    """`lookup_online(sha256)` returns the full model object for an unknown hash, or None."""
    models_dir = Path(models_dir)
    report = ScanReport()
    known = {
        row[0]: (row[1], row[2], row[3])
        for row in store.execute("SELECT path, size, mtime_ns, sha256 FROM local_files").fetchall()
    }
    seen: set[str] = set()
    for path in _model_files(models_dir):
        report.files += 1
        if on_file:
            on_file(path)
        stat = path.stat()
        key = str(path)
        seen.add(key)
        cached = known.get(key)
        if cached and cached[0] == stat.st_size and cached[1] == stat.st_mtime_ns:
            sha256 = cached[2]
            report.cached += 1
        else:
            sha256 = sha256_file(path)
            report.hashed += 1
        matches = find_files_by_sha256(store.conn, sha256)
        if not matches and lookup_online is not None:
            model = lookup_online(sha256)
            if model is not None:
                with store.transaction() as conn:
                    upsert_model(conn, model)
                matches = find_files_by_sha256(store.conn, sha256)
                report.found_online += bool(matches)
        match = matches[0] if matches else {}
        report.linked += bool(match)
        with store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO local_files (path, folder, size, mtime_ns, sha256, model_id, version_id, "
                "file_id, scanned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    key,
                    path.parent.relative_to(models_dir).as_posix(),
                    stat.st_size,
                    stat.st_mtime_ns,
                    sha256,
                    match.get("model_id"),
                    match.get("version_id"),
                    match.get("file_id"),
                    time.time(),
                ],
            )
    gone = [p for p in known if p not in seen and p.startswith(str(models_dir))]
    if gone:
        with store.transaction() as conn:
            conn.executemany("DELETE FROM local_files WHERE path = ?", [(p,) for p in gone])
    report.removed = len(gone)
    return report


def list_local_models(store: HubDatabase) -> list[LocalModel]:
    rows = store.execute(
        "SELECT l.path, l.folder, l.size, l.sha256, l.model_id, l.version_id, m.name, v.name, m.type, "
        "v.trained_words FROM local_files l LEFT JOIN models m ON m.id = l.model_id "
        "LEFT JOIN versions v ON v.id = l.version_id ORDER BY l.path"
    ).fetchall()
    result = []
    for path, folder, size, sha, model_id, version_id, model_name, version_name, kind, words in rows:
        previews = (
            [
                r[0]
                for r in store.execute(
                    "SELECT COALESCE(local_path, url) FROM images WHERE version_id = ? ORDER BY position",
                    [version_id],
                ).fetchall()
            ]
            if version_id
            else []
        )
        result.append(
            LocalModel(
                path,
                folder,
                size,
                sha,
                model_id,
                version_id,
                model_name,
                version_name,
                kind,
                json.loads(words) if words else [],
                previews,
            )
        )
    return result
