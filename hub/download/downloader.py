"""Downloading one catalog file: Range resume, SHA256 check, atomic move, sidecar JSON.

The partial file lives under the hub's own folder (`<data-dir>/hub/downloads/`), never in the
models folder: the studio only ever sees a complete, verified file (moved with os.replace)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hub.jobs.backoff import backoff_delay
from hub.store import downloads as download_rows
from hub.store.catalog import find_version
from hub.store.database import HubDatabase

log = logging.getLogger(__name__)

MODEL_FOLDERS = {
    "Checkpoint": "Stable-diffusion",
    "LORA": "Lora",
    "LoCon": "Lora",
    "DoRA": "Lora",
    "VAE": "VAE",
    "TextualInversion": "embeddings",
    "Hypernetwork": "hypernetworks",
    "Controlnet": "ControlNet",
    "Upscaler": "ESRGAN",
    "MotionModule": "AnimateDiff",
    "AestheticGradient": "aesthetic_embeddings",
}
OTHER_FOLDER = "Other"
PICKLE_SUFFIXES = {".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"}
SPACE_MARGIN = 64 * 1024 * 1024
CHUNK = 1024 * 1024


class DownloadError(RuntimeError):
    pass


class HashMismatch(DownloadError):
    pass


class PickleRefused(DownloadError):
    pass


class NotEnoughSpace(DownloadError):
    pass


class DownloadCancelled(DownloadError):
    pass


def folder_for_type(model_type: str) -> str:
    """The studio folder (A1111 / SD.Next layout) for a catalog model type; others go to Other/."""
    return MODEL_FOLDERS.get(model_type, OTHER_FOLDER)


@dataclass
class DownloadEvent:
    kind: str  # started | progress | done | failed | cancelled
    download_id: int
    version_id: int
    done_bytes: int = 0
    total_bytes: int | None = None
    path: str | None = None
    error: str | None = None


@dataclass
class DownloadPlan:
    version_id: int
    file_id: int
    url: str
    file_name: str
    sha256: str | None
    size_bytes: int | None
    destination: Path
    sidecar: dict[str, Any] = field(default_factory=dict)
    is_pickle: bool = False


def _safe_name(name: str) -> str:
    cleaned = Path(name.replace("\\", "/")).name
    if cleaned in ("", ".", ".."):
        raise DownloadError(f"file.name: {name!r} is not a usable file name")
    return cleaned


class Downloader:
    def __init__(
        self,
        db: HubDatabase,
        models_dir: Path,
        partial_dir: Path,
        http: httpx.Client,
        allow_pickle: bool = False,
        max_concurrent: int = 2,
        retries: int = 4,
        backoff_base: float = 0.5,
        on_event: Callable[[DownloadEvent], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        chunk_size: int = CHUNK,
    ) -> None:
        self.chunk_size = chunk_size
        self.db_path = db.path
        self.db = db
        self.models_dir = Path(models_dir)
        self.partial_dir = Path(partial_dir)
        self.http = http
        self.allow_pickle = allow_pickle
        self.retries = retries
        self.backoff_base = backoff_base
        self.on_event = on_event
        self.sleep = sleep
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="hub-download")
        self._cancels: dict[int, threading.Event] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- planning -----------------------------------------------------------------------------
    def plan(self, version_id: int, file_id: int | None = None) -> DownloadPlan:
        found = find_version(self.db.conn, version_id)
        if found is None:
            raise DownloadError(f"version {version_id}: not in the local mirror (run `hub sync` first)")
        model, version = found["model"], found["version"]
        files = version.get("files") or []
        if file_id is not None:
            chosen = next((f for f in files if int(f["id"]) == file_id), None)
            if chosen is None:
                raise DownloadError(f"file {file_id}: not a file of version {version_id}")
        else:
            chosen = next((f for f in files if f.get("primary")), None) or next(iter(files), None)
            if chosen is None:
                raise DownloadError(f"version {version_id}: has no files")
        name = _safe_name(str(chosen.get("name") or f"{version_id}.safetensors"))
        fmt = str((chosen.get("metadata") or {}).get("format") or "")
        is_pickle = fmt == "PickleTensor" or Path(name).suffix.lower() in PICKLE_SUFFIXES
        hashes = {k.lower(): v for k, v in (chosen.get("hashes") or {}).items()}
        url = chosen.get("downloadUrl") or version.get("downloadUrl") or f"/api/download/models/{version_id}"
        size_kb = chosen.get("sizeKB")
        destination = self.models_dir / folder_for_type(str(model.get("type"))) / name
        sidecar = {
            "modelId": model.get("id"),
            "modelName": model.get("name"),
            "type": model.get("type"),
            "nsfw": model.get("nsfw"),
            "creator": (model.get("creator") or {}).get("username"),
            "tags": model.get("tags") or [],
            "versionId": version.get("id"),
            "versionName": version.get("name"),
            "baseModel": version.get("baseModel"),
            "trainedWords": version.get("trainedWords") or [],
            "file": chosen,
            "images": version.get("images") or [],
            "description": model.get("description"),
        }
        return DownloadPlan(
            version_id=version_id,
            file_id=int(chosen["id"]),
            url=str(url),
            file_name=name,
            sha256=(hashes.get("sha256") or "").upper() or None,
            size_bytes=int(float(size_kb) * 1024) if size_kb else None,
            destination=destination,
            sidecar=sidecar,
            is_pickle=is_pickle,
        )

    # -- running ------------------------------------------------------------------------------
    def submit(self, version_id: int, file_id: int | None = None) -> Future[Path]:
        """Queue a download (at most `max_concurrent` run at once); returns a Future of the path."""
        with self._lock:
            self._cancels.setdefault(version_id, threading.Event()).clear()
        return self._pool.submit(self._run_in_thread, version_id, file_id)

    def cancel(self, version_id: int) -> None:
        with self._lock:
            self._cancels.setdefault(version_id, threading.Event()).set()

    def _run_in_thread(self, version_id: int, file_id: int | None) -> Path:
        db = HubDatabase(self.db_path)
        try:
            return self.download(version_id, file_id, db=db)
        finally:
            db.close()

    def download(self, version_id: int, file_id: int | None = None, db: HubDatabase | None = None) -> Path:
        """Download (or resume) one file of this version; `db`: this thread's connection."""
        db = db or self.db
        with self._lock:
            cancel = self._cancels.setdefault(version_id, threading.Event())
        plan = self.plan(version_id, file_id)
        if plan.is_pickle and not self.allow_pickle:
            raise PickleRefused(
                f"{plan.file_name}: pickle formats can run code when loaded; refused (allow with --allow-pickle)"
            )
        download_id, partial = self._row_for(db, plan)
        self._emit(DownloadEvent("started", download_id, version_id, self._size(partial), plan.size_bytes))
        try:
            if plan.destination.exists() and plan.sha256 and _sha256_file(plan.destination) == plan.sha256:
                path = plan.destination
            else:
                self._check_space(plan, self._size(partial))
                digest = self._fetch(db, download_id, plan, partial, cancel)
                if plan.sha256 and digest != plan.sha256:
                    partial.unlink(missing_ok=True)
                    raise HashMismatch(
                        f"{plan.file_name}: SHA256 {digest} does not match the catalog's {plan.sha256}; file discarded"
                    )
                path = self._install(partial, plan.destination)
            _write_json_atomic(plan.destination.with_suffix(".json"), plan.sidecar)
        except DownloadCancelled:
            self._set(db, download_id, status="cancelled", done_bytes=self._size(partial))
            self._emit(
                DownloadEvent("cancelled", download_id, version_id, self._size(partial), plan.size_bytes)
            )
            raise
        except Exception as error:
            self._set(db, download_id, status="failed", error=str(error), done_bytes=self._size(partial))
            self._emit(DownloadEvent("failed", download_id, version_id, error=str(error)))
            raise
        size = path.stat().st_size
        self._set(db, download_id, status="done", done_bytes=size, total_bytes=size, error=None)
        self._emit(DownloadEvent("done", download_id, version_id, size, size, path=str(path)))
        return path

    def _row_for(self, db: HubDatabase, plan: DownloadPlan) -> tuple[int, Path]:
        found = download_rows.unfinished(db.conn, plan.version_id, plan.file_id)
        if found:
            with db.transaction() as conn:
                download_rows.update(conn, found.id, status="running")
            return found.id, Path(found.partial_path)
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        partial = self.partial_dir / f"{plan.version_id}-{plan.file_id}.part"
        with db.transaction() as conn:
            download_id = download_rows.insert(
                conn,
                version_id=plan.version_id,
                file_id=plan.file_id,
                url=plan.url,
                destination=str(plan.destination),
                partial_path=str(partial),
                sha256=plan.sha256,
                total_bytes=plan.size_bytes,
                now=time.time(),
            )
        return download_id, partial

    @staticmethod
    def _set(db: HubDatabase, download_id: int, **values: Any) -> None:
        with db.transaction() as conn:
            download_rows.update(conn, download_id, **values)

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def _check_space(self, plan: DownloadPlan, have: int) -> None:
        if plan.size_bytes is None:
            return
        needed = max(0, plan.size_bytes - have) + SPACE_MARGIN
        for folder in {self.partial_dir, plan.destination.parent}:
            probe = folder
            while not probe.exists():
                probe = probe.parent
            free = shutil.disk_usage(probe).free
            if free < needed:
                raise NotEnoughSpace(
                    f"{plan.file_name}: needs {needed / 2**20:.0f} MiB free in {folder}, only {free / 2**20:.0f} MiB"
                )

    def _fetch(
        self, db: HubDatabase, download_id: int, plan: DownloadPlan, partial: Path, cancel: threading.Event
    ) -> str:
        """Download into `partial`, resuming with Range; returns the SHA256 (upper hex) of it."""
        attempt = 0
        while True:
            have = self._size(partial)
            digest = hashlib.sha256()
            if have:
                with partial.open("rb") as existing:
                    for block in iter(lambda: existing.read(CHUNK), b""):
                        digest.update(block)
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with self.http.stream("GET", plan.url, headers=headers) as response:
                    if response.status_code == 416 and have:
                        return digest.hexdigest().upper()  # we already have every byte
                    if response.status_code not in (200, 206):
                        if response.status_code in (429, 500, 502, 503, 504):
                            raise httpx.HTTPStatusError(
                                "retryable", request=response.request, response=response
                            )
                        raise DownloadError(f"{plan.url}: HTTP {response.status_code}")
                    if response.status_code == 200 and have:
                        have, digest = 0, hashlib.sha256()  # the server ignored Range: start over
                    total = self._total(response, have) or plan.size_bytes
                    self._set(db, download_id, total_bytes=total)
                    last_event = 0.0
                    with partial.open("ab" if have else "wb") as out:
                        for chunk in response.iter_bytes(self.chunk_size):
                            if cancel.is_set():
                                raise DownloadCancelled(f"{plan.file_name}: cancelled")
                            out.write(chunk)
                            digest.update(chunk)
                            have += len(chunk)
                            now = time.monotonic()
                            if now - last_event > 0.1 or last_event == 0.0:
                                last_event = now
                                self._emit(
                                    DownloadEvent("progress", download_id, plan.version_id, have, total)
                                )
                    self._emit(DownloadEvent("progress", download_id, plan.version_id, have, total))
                    return digest.hexdigest().upper()
            except (httpx.TransportError, httpx.HTTPStatusError) as error:
                attempt += 1
                self._set(db, download_id, done_bytes=self._size(partial), error=str(error))
                if attempt > self.retries:
                    raise DownloadError(
                        f"{plan.url}: {error} (after {self.retries} retries; resume later)"
                    ) from error
                self.sleep(backoff_delay(attempt, self.backoff_base))

    @staticmethod
    def _total(response: httpx.Response, have: int) -> int | None:
        content_range = response.headers.get("content-range", "")
        if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
            return int(content_range.rsplit("/", 1)[1])
        length = response.headers.get("content-length")
        return have + int(length) if length and length.isdigit() else None

    @staticmethod
    def _install(partial: Path, destination: Path) -> Path:
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(partial, destination)
        except OSError:  # another filesystem: copy beside the target, then rename atomically
            staging = destination.with_name(f".{destination.name}.incoming")
            shutil.copyfile(partial, staging)
            os.replace(staging, destination)
            partial.unlink(missing_ok=True)
        return destination

    def _emit(self, event: DownloadEvent) -> None:
        if self.on_event:
            try:
                self.on_event(event)
            except Exception:  # a broken listener must not break the download
                log.exception("download event listener failed")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest().upper()


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    os.replace(tmp, path)
