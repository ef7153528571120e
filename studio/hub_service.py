"""The studio's side of the local hub: one `LocalHub` for the Hub tab's requests and one that
runs the hub's persisted background jobs (downloads, syncs) on a thread of its own.

    hub = StudioHub(config.data_dir, config.models_path, on_files_changed=engine.registry.refresh)
    hub.start()                      # jobs left running by a dead process go back to pending
    hub.search(SearchQuery(text="castle", as_you_type=True))
    hub.download(version_id)         # queued; `downloads()` shows its progress
    hub.stop()

The page never talks to the hub server: it asks these methods (through `studio/http/hub.py`),
which read the local mirror; only a sync or a download goes out to the server. After a download
the sidecars other tools read are written beside the file (`.civitai.info` as Civitai Helper
writes it, `.preview.png`) and `on_files_changed` lets the studio's model registry see it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.download import DownloadEvent
from hub.jobs import BackgroundJob
from hub.local import LocalHub, NoProgress, SearchPage
from hub.paths import HubPaths
from hub.search import SearchQuery
from hub.store import outbox
from hub.store.catalog import find_version
from hub.store.settings import API_KEY_SETTING, SERVER_SETTING, get_setting
from hub.sync import SyncReport
from studio.config import masked

log = logging.getLogger(__name__)

PREVIEW_ROUTE = "/studio/v1/hub/previews/"
JOB_POLL_S = 0.3
DOWNLOAD_CHUNK = 64 * 1024  # a progress step (and what a cut connection loses at most)
SCAN_EVERY_S = 600.0  # the models folder is scanned at start and this often (new files linked)
ACCOUNT_FIELDS = {"hub_server": "server", "hub_api_key": "apiKey"}  # config field -> API field


class HubActivity(NoProgress):
    """What the job thread reports, kept for the page to poll: each version's latest download
    event and the running sync's page count (thread-safe)."""

    def __init__(self, on_done: Callable[[DownloadEvent], None]) -> None:
        self._lock = threading.Lock()
        self._downloads: dict[int, DownloadEvent] = {}
        self._sync: dict[str, Any] = {}
        self._on_done = on_done

    def download_event(self, event: DownloadEvent) -> None:
        with self._lock:
            self._downloads[event.version_id] = event
        if event.kind == "done":
            self._on_done(event)

    def sync_page(self, report: SyncReport) -> None:
        with self._lock:
            self._sync = {"running": True, "items": report.items, "pages": report.pages}

    def sync_finished(self, report: SyncReport) -> None:
        with self._lock:
            self._sync = {"running": False, "items": report.items, "pages": report.pages}

    def download(self, version_id: int) -> DownloadEvent | None:
        with self._lock:
            return self._downloads.get(version_id)

    def sync(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._sync)


class StudioHub:
    def __init__(
        self,
        data_dir: Path,
        models_dir: Path,
        on_files_changed: Callable[[], None] | None = None,
        account: dict[str, str | None] | None = None,
        scan_every_s: float = SCAN_EVERY_S,
    ) -> None:
        """`account`: the studio's settings `hub_server` / `hub_api_key` (config file, environment
        or command line), handed to the local hub at start when set."""
        self.paths = HubPaths.for_data_dir(data_dir, models_dir)
        self.on_files_changed = on_files_changed or (lambda: None)
        self.activity = HubActivity(self._downloaded)
        self.account_at_start = {k: v for k, v in (account or {}).items() if v}
        self.scan_every_s = scan_every_s
        self._lock = threading.Lock()  # the request-side hub: one caller at a time
        self._hub: LocalHub | None = None
        self._worker: LocalHub | None = None
        self._models_version = 0  # counts changes of the files in models/ (the page polls it)
        self._stop_scans = threading.Event()
        self._scans: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the job thread (it puts jobs a dead process left running back first)."""
        if self._worker is None:
            if self.account_at_start:
                self.use_account(self.account_at_start)
            self._worker = LocalHub(self.paths, self.activity, download_chunk=DOWNLOAD_CHUNK)
            self._worker.runner.poll = JOB_POLL_S
            scan = self._worker.runner.handlers["scan"]
            self._worker.runner.register("scan", lambda payload: self._scanned(scan(payload)))
            self._worker.runner.start()
            self._stop_scans.clear()
            self._scans = threading.Thread(
                target=self._scan_now_and_then, name="atelier-hub-scans", daemon=True
            )
            self._scans.start()

    def _scan_now_and_then(self) -> None:
        """Queue a scan of models/ at start and every `scan_every_s` (one waiting at most)."""
        while True:
            with self._lock:
                self._local().enqueue_scan(online=True)
            if self._stop_scans.wait(self.scan_every_s):
                return

    def _scanned(self, report: dict[str, Any]) -> dict[str, Any]:
        """After a scan job: files came or went, so the studio's model lists are refreshed."""
        if report.get("hashed") or report.get("removed"):
            self._files_changed()
        return report

    def _files_changed(self) -> None:
        self.on_files_changed()
        with self._lock:
            self._models_version += 1

    def stop(self) -> None:
        """Stop the job thread (a download still running after 10 s is left to the daemon
        thread; its job row stays `running`, and goes back to pending at the next start)."""
        self._stop_scans.set()
        if self._scans is not None:
            self._scans.join(timeout=5)
            self._scans = None
        if self._worker is not None:
            runner_thread = self._worker.runner._thread
            self._worker.runner.stop(timeout=10)
            if runner_thread is None or not runner_thread.is_alive():
                self._worker.close()
            self._worker = None
        with self._lock:
            if self._hub is not None:
                self._hub.close()
                self._hub = None

    def _local(self) -> LocalHub:
        if self._hub is None:
            self._hub = LocalHub(self.paths)
        return self._hub

    # -- search and model pages ---------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchPage:
        with self._lock:
            return self._local().search(query)

    def model(self, model_id: int) -> dict[str, Any] | None:
        """A mirrored model for its page: the server's object, each version's local previews (as
        studio URLs) and each file's `onDisk` path when a file with its SHA256 is in models/."""
        with self._lock:
            hub = self._local()
            details = hub.model_details(model_id)
            if details is None:
                return None
            on_disk = {m.sha256.upper(): m.path for m in hub.local_models()}
        model = details.model
        versions = []
        for version in model.get("modelVersions") or []:
            files = [
                f | {"onDisk": on_disk.get(str((f.get("hashes") or {}).get("SHA256", "")).upper())}
                for f in version.get("files") or []
            ]
            previews = [self.preview_url(p) for p in details.previews.get(version["id"], [])]
            versions.append(version | {"files": files, "localPreviews": [p for p in previews if p]})
        return model | {"modelVersions": versions}

    def article(self, article_id: int) -> dict[str, Any] | None:
        with self._lock:
            return self._local().article(article_id)

    def notifications(self) -> dict[str, Any]:
        with self._lock:
            items, unread = self._local().notifications()
        return {"items": items, "unread": unread}

    def preview_url(self, stored: str) -> str | None:
        """The studio URL of a preview kept in the previews folder; None for a remote URL."""
        if "://" in stored:
            return None
        try:
            relative = Path(stored).resolve().relative_to(self.paths.previews_dir.resolve())
        except ValueError:
            return None
        return PREVIEW_ROUTE + relative.as_posix()

    def preview_file(self, name: str) -> Path | None:
        """The file behind a preview URL; None when the name leaves the folder or is missing."""
        root = self.paths.previews_dir.resolve()
        path = (root / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    # -- downloads ----------------------------------------------------------------------------
    def download(self, version_id: int, file_id: int | None = None) -> int:
        """Queue a download (the job thread takes it); returns the job id. KeyError when the
        version is not in the mirror."""
        with self._lock:
            hub = self._local()
            if find_version(hub.db.conn, version_id) is None:
                raise KeyError(version_id)
            return hub.enqueue_download(version_id, file_id)

    def pause(self, version_id: int) -> bool:
        """Stop a running download, keeping what it has (a later `download` resumes it)."""
        return self._worker is not None and self._worker.stop_download(version_id)

    def cancel(self, version_id: int) -> bool:
        """Stop the download (or drop it from the queue) and delete what it had fetched."""
        stopped = self.pause(version_id)
        with self._lock:
            hub = self._local()
            for job in hub.jobs.list(status="pending", limit=200):
                if job.kind == "download" and int(job.payload.get("version_id", -1)) == version_id:
                    hub.jobs.fail(job.id, "cancelled", permanent=True)
                    stopped = True
        deadline = time.monotonic() + 5
        while self._running(version_id) and time.monotonic() < deadline:
            time.sleep(0.05)
        for partial in self.paths.partial_dir.glob(f"{version_id}-*.part"):
            partial.unlink(missing_ok=True)
        return stopped

    def _running(self, version_id: int) -> bool:
        return any(
            j.kind == "download" and int(j.payload.get("version_id", -1)) == version_id
            for j in self._jobs("running")
        )

    def _jobs(self, status: str | None, limit: int = 50) -> list[BackgroundJob]:
        with self._lock:
            return self._local().jobs.list(status=status, limit=limit)

    def downloads(self) -> list[dict[str, Any]]:
        """The newest download jobs with their progress (bytes done / total) and outcome."""
        rows = []
        seen: set[int] = set()
        for job in self._jobs(None, 100):  # newest first: a version's latest job stands for it
            version_id = int(job.payload.get("version_id", 0))
            if job.kind != "download" or version_id in seen:
                continue
            seen.add(version_id)
            event = self.activity.download(version_id)
            result = job.result if isinstance(job.result, dict) else {}
            rows.append(
                {
                    "job": job.id,
                    "versionId": version_id,
                    "status": job.status,
                    "doneBytes": event.done_bytes if event else 0,
                    "totalBytes": event.total_bytes if event else None,
                    "path": result.get("path") or (event.path if event else None),
                    "verified": result.get("verified"),
                    "error": (job.last_error or "").splitlines()[0] if job.last_error else None,
                }
            )
        return rows

    def _downloaded(self, event: DownloadEvent) -> None:
        """On the job thread, after a verified download: the sidecars, then the registry."""
        assert self._worker is not None and event.path
        try:
            found = find_version(self._worker.db.conn, event.version_id)
            if found is not None:
                self._write_sidecars(Path(event.path), found["model"], found["version"])
            self._worker.scan()  # links the new file by its hash (the other files' hashes are cached)
        except OSError:
            log.exception("could not write the sidecars of %s", event.path)
        self._files_changed()

    def _write_sidecars(self, path: Path, model: dict[str, Any], version: dict[str, Any]) -> None:
        base = path.with_suffix("")
        info = version | {
            "modelId": model.get("id"),
            "model": {"name": model.get("name"), "type": model.get("type"), "nsfw": model.get("nsfw")},
            "description": version.get("description"),
        }
        Path(f"{base}.civitai.info").write_text(json.dumps(info, indent=2, ensure_ascii=False), "utf-8")
        previews = self._worker.db.conn.execute(  # type: ignore[union-attr]
            "SELECT local_path FROM images WHERE version_id = ? AND local_path IS NOT NULL ORDER BY position",
            [version["id"]],
        ).fetchall()
        target = Path(f"{base}.preview.png")
        if previews and not target.exists():
            from PIL import Image

            with Image.open(previews[0][0]) as image:
                image.save(target, format="PNG")

    # -- local files and sync -----------------------------------------------------------------
    def scan(self) -> dict[str, Any]:
        """Hash the files in models/ and link them to the catalog; then list them."""
        with self._lock:
            hub = self._local()
            report = hub.scan()
            models = hub.local_models()
        return {"report": report.__dict__, "files": [self._local_file(m) for m in models]}

    def local_files(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._local_file(m) for m in self._local().local_models()]

    def _local_file(self, model: Any) -> dict[str, Any]:
        data = dict(model.__dict__)
        data["previews"] = [u for u in (self.preview_url(p) for p in model.previews) if u]
        data["linked"] = model.model_id is not None
        return data

    def sync(self) -> int:
        """Queue a sync from the remembered server (`save_account` sets it); ValueError when
        none is known."""
        with self._lock:
            return self._local().enqueue_sync(retries=1)  # a person waits

    def sync_status(self) -> dict[str, Any]:
        with self._lock:
            conn = self._local().db.conn
            server = get_setting(conn, SERVER_SETTING)
            key = get_setting(conn, API_KEY_SETTING)
        jobs = [j for j in self._jobs(None, 100) if j.kind == "sync"]
        done = [j for j in jobs if j.status == "done"]
        last = jobs[0] if jobs else None
        return {
            "server": server,
            "hasApiKey": bool(key),
            "apiKey": masked(key),
            "lastSync": done[0].updated_at if done else None,
            "job": {"id": last.id, "status": last.status, "error": _first_line(last.last_error)}
            if last
            else None,
            "progress": self.activity.sync(),
        }

    # -- the account: server, key, wallet, shop, outbox ----------------------------------------
    def use_account(self, values: dict[str, str | None]) -> None:
        """Hand the server and key (config field names) to the local hub: a field left out is
        kept, None or "" forgets it."""
        server = values.get("hub_server") or "" if "hub_server" in values else None
        api_key = values.get("hub_api_key") or "" if "hub_api_key" in values else None
        with self._lock:
            self._local().remember_account(server, api_key)

    def account(self) -> dict[str, Any]:
        """The server and the key as they may be shown (the key masked, never in full)."""
        with self._lock:
            conn = self._local().db.conn
            server, key = get_setting(conn, SERVER_SETTING), get_setting(conn, API_KEY_SETTING)
        return {"server": server, "apiKey": masked(key), "hasApiKey": bool(key)}

    def wallet(self) -> dict[str, Any]:
        with self._lock:
            hub = self._local()
            return hub.wallet() | {"enabled": bool(hub.flags().get("buzz")), "hasApiKey": bool(hub.api_key())}

    def shop(self) -> dict[str, Any]:
        with self._lock:
            hub = self._local()
            return {"sections": hub.shop() or [], "owned": hub.owned(), "hasApiKey": bool(hub.api_key())}

    def tip(self, to: str, amount: int, memo: str) -> int:
        """Queue a tip in the outbox (ValueError "field: why" for bad input)."""
        with self._lock:
            return self._local().queue_tip(to, amount, memo)

    def buy(self, item_id: int) -> int:
        with self._lock:
            return self._local().queue_purchase(item_id)

    def equip(self, item_id: int, equipped: bool) -> dict[str, Any]:
        """Equip or unequip an owned item on the server (online); ValueError when refused."""
        with self._lock:
            return self._local().equip(item_id, equipped)

    def outbox(self) -> list[dict[str, Any]]:
        with self._lock:
            hub = self._local()
            entries = hub.outbox_entries()
            names = {item["id"]: item["name"] for section in hub.shop() or [] for item in section["items"]}
        return [
            {
                "id": e.id,
                "kind": e.kind,
                "payload": e.payload,
                "itemName": names.get(e.payload.get("itemId")) if e.kind == "purchase" else None,
                "state": e.state,
                "error": e.error,
                "attempts": e.attempts,
                "createdAt": e.created_at,
                "result": e.result,
            }
            for e in reversed(entries)
        ]

    def retry(self, entry_id: int) -> bool:
        """Put a refused entry back to pending; False when there is none (or it is done)."""
        with self._lock:
            return self._local().retry_outbox(entry_id)

    def status(self) -> dict[str, Any]:
        """What every page polls: unread notifications, pending outbox entries, and a counter
        of changes of the files in models/ (the page refreshes its model lists when it moves)."""
        with self._lock:
            hub = self._local()
            unread = hub.notifications(unread_only=True, limit=0)[1]
            pending = len(outbox.entries(hub.db.conn, "pending"))
            version = self._models_version
        return {"unread": unread, "outboxPending": pending, "modelsVersion": version}


def _first_line(text: str | None) -> str | None:
    return text.strip().splitlines()[-1] if text and text.strip() else None
