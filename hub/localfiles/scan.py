"""Scan the models folder: hash each model file (cached by path + size + mtime), look the hash
up in the mirror (and on the hub server when a client is given), link the file to its entry."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.store import local_files
from hub.store.catalog import find_files_by_sha256, upsert_model
from hub.store.database import HubDatabase
from hub.store.local_files import LocalModel

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
    online_error: str | None = None  # why the server could not be asked (files linked offline)


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
    db: HubDatabase,
    models_dir: Path,
    lookup_online: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> ScanReport:
    """Hash the files (cached by path, size and mtime) and link each to the mirror's entry.
    `lookup_online(hashes)` is asked once, with every hash the mirror does not know, and returns
    {SHA256: full model object} for those the server knows (a batched by-hash lookup)."""
    models_dir = Path(models_dir)
    report = ScanReport()
    known = local_files.hashed_files(db.conn)
    hashed: list[tuple[Path, Any, str]] = []
    for path in _model_files(models_dir):
        report.files += 1
        if on_file:
            on_file(path)
        stat = path.stat()
        cached = known.get(str(path))
        if cached and cached.size == stat.st_size and cached.mtime_ns == stat.st_mtime_ns:
            sha256 = cached.sha256
            report.cached += 1
        else:
            sha256 = sha256_file(path)
            report.hashed += 1
        hashed.append((path, stat, sha256))
    unknown = [sha256 for _, _, sha256 in hashed if not find_files_by_sha256(db.conn, sha256)]
    if unknown and lookup_online is not None:
        found = lookup_online(unknown)
        if found:
            with db.transaction() as conn:
                for model in {id(m): m for m in found.values()}.values():
                    upsert_model(conn, model)
        report.found_online = sum(1 for sha256 in unknown if sha256 in found)
    for path, stat, sha256 in hashed:
        matches = find_files_by_sha256(db.conn, sha256)
        match = matches[0] if matches else {}
        report.linked += bool(match)
        with db.transaction() as conn:
            local_files.save(
                conn,
                path=str(path),
                folder=path.parent.relative_to(models_dir).as_posix(),
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                sha256=sha256,
                model_id=match.get("model_id"),
                version_id=match.get("version_id"),
                file_id=match.get("file_id"),
                scanned_at=time.time(),
            )
    seen = {str(path) for path, _, _ in hashed}
    gone = [p for p in known if p not in seen and p.startswith(str(models_dir))]
    if gone:
        with db.transaction() as conn:
            local_files.forget(conn, gone)
    report.removed = len(gone)
    return report


def list_local_models(db: HubDatabase) -> list[LocalModel]:
    """Each local file with its catalog names, trained words and previews (for a UI or `hub scan`)."""
    return local_files.local_models(db.conn)
