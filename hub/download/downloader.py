"""Downloading one catalog file: safety checks, Range resume, SHA256 check, no-clobber move,
sidecar JSON.

The partial file lives under the hub's own folder (`<data-dir>/hub-data/downloads/`), never in
the models folder: the studio only ever sees a complete, verified file, moved in without
replacing anything (`install.py`: a name already taken by a different file gets a number).

Refused before any byte is fetched: pickle formats unless `allow_pickle` (they can run code
when loaded), and a file the hub server's scan flagged as dangerous (`pickleScanResult` or
`virusScanResult` "Danger") unless also `allow_dangerous`. What the user should know about a
download that went ahead (no hash to verify it, flagged dangerous, renamed, a pickle not
scanned clean) is in `DownloadResult.warnings`, the `done` event and the `downloads` row."""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hub.download.install import find_place, move_no_clobber, sha256_file, sidecar_path, write_sidecar
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


class DangerousFileRefused(DownloadError):
    """The hub server's scan flagged the file as dangerous; refused unless `allow_dangerous`."""


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
    warnings: tuple[str, ...] = ()  # on `done`: see DownloadResult.warnings


@dataclass
class DownloadResult:
    path: Path  # where the file is (a numbered name when the plain one held a different file)
    verified: bool  # its SHA256 matched the catalog's (False: the catalog had none; unverified)
    warnings: list[str] = field(default_factory=list)  # what the user should be told


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
    pickle_scan: str | None = None  # the server's pickleScanResult: Success | Danger | Error | Pending
    danger: str | None = None  # why the server's scan flagged the file dangerous; None if it did not


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
        allow_dangerous: bool = False,
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
        self.allow_dangerous = allow_dangerous
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
        pickle_scan = chosen.get("pickleScanResult")
        danger = None
        if str(pickle_scan).lower() == "danger":
            danger = f"pickle scan: {chosen.get('pickleScanMessage') or 'Danger'}"
        elif str(chosen.get("virusScanResult")).lower() == "danger":
            danger = f"virus scan: {chosen.get('virusScanMessage') or 'Danger'}"
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
            pickle_scan=str(pickle_scan) if pickle_scan else None,
            danger=danger,
        )

    # -- running ------------------------------------------------------------------------------
    def submit(self, version_id: int, file_id: int | None = None) -> Future[DownloadResult]:
        """Queue a download (at most `max_concurrent` run at once); returns a Future of its result."""
        with self._lock:
            self._cancels.setdefault(version_id, threading.Event()).clear()
        return self._pool.submit(self._run_in_thread, version_id, file_id)

    def cancel(self, version_id: int) -> None:
        with self._lock:
            self._cancels.setdefault(version_id, threading.Event()).set()

    def _run_in_thread(self, version_id: int, file_id: int | None) -> DownloadResult:
        db = HubDatabase(self.db_path)
        try:
            return self.download(version_id, file_id, db=db)
        finally:
            db.close()

    def download(
        self, version_id: int, file_id: int | None = None, db: HubDatabase | None = None
    ) -> DownloadResult:
        """Download (or resume) one file of this version; `db`: this thread's connection."""
        db = db or self.db
        with self._lock:
            cancel = self._cancels.setdefault(version_id, threading.Event())
        plan = self.plan(version_id, file_id)
        warnings = self._check_safety(plan)
        download_id, partial = self._row_for(db, plan)
        self._emit(DownloadEvent("started", download_id, version_id, self._size(partial), plan.size_bytes))
        hash_of = _cached_sha256()
        try:
            path, already_there = find_place(plan.destination, plan.sha256, hash_of)
            if not already_there:
                self._check_space(plan, self._size(partial))
                digest = self._fetch(db, download_id, plan, partial, cancel)
                if plan.sha256 and digest != plan.sha256:
                    partial.unlink(missing_ok=True)
                    raise HashMismatch(
                        f"{plan.file_name}: SHA256 {digest} does not match the catalog's {plan.sha256}; file discarded"
                    )
                path, already_there = self._install(partial, plan.destination, digest, hash_of)
                if not already_there and path != plan.destination:
                    warnings.append(
                        f"{plan.file_name}: that name in {plan.destination.parent} is taken by a file "
                        f"this download did not write; kept it and saved this one as {path.name}"
                    )
            verified = plan.sha256 is not None
            if write_sidecar(path, plan.sidecar | {"sha256Verified": verified}) is None:
                warnings.append(
                    f"{sidecar_path(path).name}: a file of that name is not a hub sidecar; left it alone"
                )
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
        for warning in warnings:
            log.warning("download of version %d: %s", version_id, warning)
        size = path.stat().st_size
        self._set(
            db,
            download_id,
            status="done",
            destination=str(path),
            done_bytes=size,
            total_bytes=size,
            error=None,
            verified=int(verified),
            warnings="\n".join(warnings) or None,
        )
        self._emit(
            DownloadEvent(
                "done", download_id, version_id, size, size, path=str(path), warnings=tuple(warnings)
            )
        )
        return DownloadResult(path, verified, warnings)

    def _check_safety(self, plan: DownloadPlan) -> list[str]:
        """Refuse what must not be downloaded without the user's say-so; returns the warnings
        for what may be (shown to the user and recorded with the download)."""
        if plan.is_pickle and not self.allow_pickle:
            raise PickleRefused(
                f"{plan.file_name}: pickle formats can run code when loaded; refused (allow with --allow-pickle)"
            )
        if plan.danger and not self.allow_dangerous:
            raise DangerousFileRefused(
                f"{plan.file_name}: the hub server's scan flagged this file as DANGEROUS ({plan.danger}); "
                "refused. Loading it can run code on this machine; download it anyway only if you trust "
                "its author, with --allow-dangerous"
            )
        warnings = []
        if plan.danger:
            warnings.append(
                f"{plan.file_name}: DANGEROUS per the hub server's scan ({plan.danger}); "
                "downloaded because --allow-dangerous was given"
            )
        elif plan.is_pickle and plan.pickle_scan != "Success":
            warnings.append(
                f"{plan.file_name}: a pickle file the hub server has not scanned clean "
                f"(pickle scan: {plan.pickle_scan or 'none'}); it can run code when loaded"
            )
        if plan.sha256 is None:
            warnings.append(
                f"{plan.file_name}: the catalog has no SHA256 for this file; installed UNVERIFIED "
                "(its bytes were not checked against the hub)"
            )
        return warnings

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
    def _install(
        partial: Path, destination: Path, digest: str, hash_of: Callable[[Path], str]
    ) -> tuple[Path, bool]:
        """Move the verified partial file to the first free name (see `install.py`); when a file
        with the same content is already there, drop the partial file and use that one. Returns
        (path, already there)."""
        while True:
            target, already_there = find_place(destination, digest, hash_of)
            if already_there:
                partial.unlink(missing_ok=True)
                return target, True
            try:
                move_no_clobber(partial, target)
            except FileExistsError:
                continue  # the name was taken meanwhile: look again
            return target, False

    def _emit(self, event: DownloadEvent) -> None:
        if self.on_event:
            try:
                self.on_event(event)
            except Exception:  # a broken listener must not break the download
                log.exception("download event listener failed")


def _cached_sha256() -> Callable[[Path], str]:
    """sha256_file, remembered by path, size and mtime for one download (a big file that merely
    shares the name is hashed once, not before and again after the fetch)."""
    seen: dict[tuple[Path, int, int], str] = {}

    def hash_of(path: Path) -> str:
        stat = path.stat()
        key = (path, stat.st_size, stat.st_mtime_ns)
        if key not in seen:
            seen[key] = sha256_file(path)
        return seen[key]

    return hash_of
