"""The local hub's composition root: `LocalHub` builds and owns the pieces (the database, the
search index, the background jobs with their handlers, sync and downloads) and offers what a
front end does with them. The CLI (`hub/cli.py`) only parses arguments and prints; a UI would
call the same methods.

`sync` and `download` run as background jobs (rows in the hub database), so a failed attempt
is retried later with backoff and `hub jobs` shows it; a front end enqueues one and runs it in
the foreground with `run_job`. Nothing is opened at import time; `LocalHub.open` opens the
database (creating it), and the index folder is opened the first time something needs it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hub.download import (
    DangerousFileRefused,
    DownloadCancelled,
    Downloader,
    DownloadError,
    DownloadEvent,
    NotEnoughSpace,
    PickleRefused,
)
from hub.jobs import BackgroundJob, BackgroundJobs, JobRunner, PermanentJobError
from hub.localfiles import LocalModel, ScanReport, list_local_models, scan_models
from hub.paths import HubPaths, default_data_dir
from hub.search import IndexStore, ModelSearcher, SearchQuery, SearchResult
from hub.store import community, cosmetics, index_queue, outbox, reviews_comments
from hub.store.articles import article_summaries, cover_path, get_article
from hub.store.catalog import get_model, model_summaries
from hub.store.database import HubDatabase
from hub.store.images import version_previews
from hub.store.settings import API_KEY_SETTING, SERVER_SETTING, delete_setting, get_setting, set_setting
from hub.sync import (
    AccountRefused,
    AccountSync,
    CatalogSync,
    FeedError,
    HubClient,
    HubUnavailable,
    SyncReport,
    buzz_outbox,
)

SEARCH_DRAIN_LIMIT = 2000  # a search applies at most this many pending index updates first
DEFAULT_DOWNLOAD_SERVER = "http://127.0.0.1"  # for relative download URLs when no server is known


class HubProgress(Protocol):
    """What long operations report while they run (the CLI draws it on stderr)."""

    def sync_page(self, report: SyncReport) -> None: ...

    def sync_finished(self, report: SyncReport) -> None: ...

    def download_event(self, event: DownloadEvent) -> None: ...

    def indexed(self, count: int) -> None: ...


class NoProgress:
    """Reports nothing (the default: a library caller that does not draw progress)."""

    def sync_page(self, report: SyncReport) -> None:
        pass

    def sync_finished(self, report: SyncReport) -> None:
        pass

    def download_event(self, event: DownloadEvent) -> None:
        pass

    def indexed(self, count: int) -> None:
        pass


@dataclass
class SearchPage:
    result: SearchResult
    # the result's models and articles, summarised (catalog.model_summaries,
    # articles.article_summaries), each with its "kind"
    items: list[dict[str, Any]]
    index_behind: int  # index updates still waiting (too many to apply before this search); 0 if none


@dataclass
class ModelDetails:
    model: dict[str, Any]  # the model object exactly as the hub server sent it
    local_paths: dict[int, str]  # version id -> its file on disk, for the versions downloaded
    previews: dict[int, list[str]]  # version id -> its images (the local copy, else the URL)


class LocalHub:
    """One local hub: its paths, its database connection (one thread), its index and jobs."""

    def __init__(
        self, paths: HubPaths, progress: HubProgress | None = None, download_chunk: int | None = None
    ) -> None:
        self.paths = paths
        self.download_chunk = download_chunk  # bytes per read and progress step (None: the default)
        self.progress: HubProgress = progress or NoProgress()
        self.db = HubDatabase(paths.database)
        self.jobs = BackgroundJobs(self.db)
        self.runner = JobRunner(
            self.jobs, {"sync": self._sync_job, "download": self._download_job, "scan": self._scan_job}
        )
        self._index: IndexStore | None = None
        self._downloader: Downloader | None = None  # the one a running download job uses

    @classmethod
    def open(
        cls,
        data_dir: Path | None = None,
        models_dir: Path | None = None,
        progress: HubProgress | None = None,
    ) -> LocalHub:
        """The hub of this data dir (default: the studio's), models in `models_dir` (default
        `<data-dir>/models`)."""
        return cls(HubPaths.for_data_dir(data_dir or default_data_dir(), models_dir), progress)

    @property
    def index(self) -> IndexStore:
        """The search index, opened (created) on first use: `hub show` never touches it."""
        if self._index is None:
            self._index = IndexStore(self.paths.index_dir)
        return self._index

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> LocalHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- server and jobs ----------------------------------------------------------------------
    def server_url(self, given: str | None = None) -> str:
        """`given`, else the remembered server URL; ValueError when there is neither."""
        server = given or get_setting(self.db.conn, SERVER_SETTING)
        if not server:
            raise ValueError(
                "--server: no hub server given and none remembered (run `hub sync --server URL`)"
            )
        return server.rstrip("/")

    def run_job(self, job_id: int) -> BackgroundJob:
        """Run this pending job now, in the foreground; returns it as it ended (done, failed, or
        pending again with a retry scheduled)."""
        job = self.runner.run_now(job_id)
        assert job is not None and job.id == job_id
        return job

    def run_due_jobs(self) -> list[BackgroundJob]:
        """Put jobs left running by a dead process back, then run every job that is due."""
        self.jobs.recover_interrupted()
        return self.runner.run_due()

    # -- sync ---------------------------------------------------------------------------------
    def enqueue_sync(
        self,
        server: str | None = None,
        page_size: int = 500,
        previews: bool = True,
        retries: int = 4,
        api_key: str | None = None,
    ) -> int:
        """Remember the server URL (and the account's API key: "" forgets it and the account's
        data) and queue a sync job from it; returns the job id."""
        server = self.server_url(server)
        self.remember_account(server, api_key)
        payload = {"server": server, "page_size": page_size, "no_previews": not previews, "retries": retries}
        return self.jobs.enqueue("sync", payload)

    def remember_account(self, server: str | None = None, api_key: str | None = None) -> None:
        """Remember the server URL and the account's API key; None keeps what is remembered, ""
        forgets it (forgetting the key also forgets the account's data; a key of another account
        is found out, and the old account's data dropped, by the next sync)."""
        with self.db.transaction() as conn:
            if server:
                set_setting(conn, SERVER_SETTING, server.rstrip("/"))
            elif server == "":
                delete_setting(conn, SERVER_SETTING)
            if api_key:
                set_setting(conn, API_KEY_SETTING, api_key)
            elif api_key == "":
                delete_setting(conn, API_KEY_SETTING)
                community.forget_account_data(conn)
                for name in (
                    buzz_outbox.WALLET_SETTING,
                    buzz_outbox.HISTORY_SETTING,
                    buzz_outbox.OWNED_SETTING,
                ):
                    delete_setting(conn, name)  # the account's wallet and cosmetics go too

    def _sync_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One sync attempt: pull the feed page by page, then bring the index up to date."""
        with HubClient(payload["server"], retries=int(payload.get("retries", 4))) as client:
            previews = None if payload.get("no_previews") else self.paths.previews_dir
            key = get_setting(self.db.conn, API_KEY_SETTING)
            pushed = buzz_outbox.push_outbox(self.db, client.http, key) if key else buzz_outbox.PushReport()
            syncer = CatalogSync(self.db, client, previews, page_size=int(payload.get("page_size", 500)))
            report = syncer.run(on_page=self.progress.sync_page)
            user_state = buzz_outbox.fetch_user_state(self.db, client.http, key)
        self.progress.sync_finished(report)
        account = self._sync_account(payload["server"], int(payload.get("retries", 4)))
        drained = self.index.catch_up(self.db)
        return account | {
            "items": report.items,
            "pages": report.pages,
            "previews": report.previews,
            "previews_waiting": report.previews_waiting,
            "cursor": report.cursor,
            "indexed": drained.rows,
            "seconds": round(report.seconds, 2),
            "outbox_done": pushed.done,
            "outbox_refused": pushed.refused,
            "outbox_waiting": pushed.waiting,
            "outbox_problems": pushed.problems,
            "flags": user_state.get(buzz_outbox.FLAGS_SETTING, {}),
        }

    # -- Buzz and the shop, offline (pushed by the next sync) ---------------------------------
    def set_api_key(self, key: str) -> None:
        """Remember the user's API key on the hub server (sent with outbox pushes)."""
        with self.db.transaction() as conn:
            set_setting(conn, API_KEY_SETTING, key)

    def api_key(self) -> str | None:
        return get_setting(self.db.conn, API_KEY_SETTING)

    def queue_tip(self, to: str, amount: int, memo: str = "") -> int:
        if amount < 1:
            raise ValueError("amount: at least 1 Buzz")
        if not to.strip():
            raise ValueError("to: a username")
        with self.db.transaction() as conn:
            return outbox.add(conn, "tip", {"to": to.strip(), "amount": amount, "memo": memo})

    def queue_purchase(self, item_id: int) -> int:
        if item_id < 1:
            raise ValueError("item: a shop item id")
        with self.db.transaction() as conn:
            return outbox.add(conn, "purchase", {"itemId": item_id})

    def outbox_entries(self) -> list[outbox.OutboxEntry]:
        return outbox.entries(self.db.conn)

    def wallet(self) -> dict[str, Any]:
        """The balance and latest transactions at the last sync, and what the pending tips will
        spend."""
        return {
            "balance": buzz_outbox.saved(self.db, buzz_outbox.WALLET_SETTING),
            "pendingTips": outbox.pending_spend(self.db.conn),
            "history": buzz_outbox.saved(self.db, buzz_outbox.HISTORY_SETTING) or [],
        }

    def owned(self) -> list[dict[str, Any]]:
        """The account's cosmetics as of the last sync."""
        return buzz_outbox.saved(self.db, buzz_outbox.OWNED_SETTING) or []

    def retry_outbox(self, entry_id: int) -> bool:
        """Put a refused outbox entry back to pending (the next sync sends it); False when there
        is no such entry or it is done."""
        with self.db.transaction() as conn:
            return outbox.retry(conn, entry_id)

    def flags(self) -> dict[str, bool]:
        return buzz_outbox.saved(self.db, buzz_outbox.FLAGS_SETTING) or {}

    def shop(self) -> list[dict[str, Any]] | None:
        return buzz_outbox.saved(self.db, buzz_outbox.SHOP_SETTING)

    def equip(self, item_id: int, equipped: bool, server: str | None = None) -> dict[str, Any]:
        """Equip or unequip an owned item (online: it changes what others see now)."""
        key = self.api_key()
        if not key:
            raise ValueError("--api-key: no API key remembered (give --api-key KEY once)")
        with HubClient(self.server_url(server)) as client:
            method = client.http.put if equipped else client.http.delete
            response = method(
                f"/api/v1/shop/items/{item_id}/equip", headers={"Authorization": f"Bearer {key}"}
            )
        if response.status_code != 200:
            raise ValueError(f"the server refused: HTTP {response.status_code}: {response.text[:200]}")
        owned = self.owned()  # the synced copy follows at once (one item of a kind equipped)
        kind = next((item["kind"] for item in owned if item["id"] == item_id), None)
        for item in owned:
            if item["id"] == item_id:
                item["equipped"] = equipped
            elif equipped and item["kind"] == kind:
                item["equipped"] = False
        with self.db.transaction() as conn:
            set_setting(conn, buzz_outbox.OWNED_SETTING, json.dumps(owned))
        return response.json()

    def _sync_account(self, server: str, retries: int) -> dict[str, Any]:
        """Pull the account's private feed when an API key is remembered; a refused key is
        reported in the result (the catalog is synced all the same)."""
        key = get_setting(self.db.conn, API_KEY_SETTING)
        if not key:
            return {}
        with HubClient(server, retries=retries, api_key=key) as client:
            try:
                report = AccountSync(self.db, client).run()
            except AccountRefused as error:
                return {"account_error": str(error)}
        return {"account": report.account, "account_items": report.items}

    # -- downloads ----------------------------------------------------------------------------
    def enqueue_download(
        self,
        version_id: int,
        file_id: int | None = None,
        allow_pickle: bool = False,
        server: str | None = None,
        allow_dangerous: bool = False,
    ) -> int:
        """Queue a download of a version's file (default: its primary file); returns the job id.
        `allow_pickle` admits pickle formats; `allow_dangerous` also admits a file the hub
        server's scan flagged as dangerous (see docs/hub.md, Safety)."""
        payload = {
            "version_id": version_id,
            "file_id": file_id,
            "allow_pickle": allow_pickle,
            "allow_dangerous": allow_dangerous,
            "server": server,
        }
        return self.jobs.enqueue("download", payload)

    def stop_download(self, version_id: int) -> bool:
        """Stop this version's running download (from another thread): its job fails for good
        with "cancelled" and the partial file stays, so a later download resumes it. Returns
        whether a download was running."""
        downloader = self._downloader
        if downloader is None:
            return False
        downloader.cancel(version_id)
        return True

    def _download_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One download attempt (a job: transient failures are retried later and resume)."""
        server = payload.get("server") or get_setting(self.db.conn, SERVER_SETTING) or DEFAULT_DOWNLOAD_SERVER
        with HubClient(server) as client:
            downloader = Downloader(
                self.db,
                self.paths.models_dir,
                self.paths.partial_dir,
                client.http,
                allow_pickle=bool(payload.get("allow_pickle")),
                allow_dangerous=bool(payload.get("allow_dangerous")),
                on_event=self.progress.download_event,
                **({"chunk_size": self.download_chunk} if self.download_chunk else {}),
            )
            self._downloader = downloader
            try:
                result = downloader.download(int(payload["version_id"]), payload.get("file_id"))
            except (PickleRefused, DangerousFileRefused, NotEnoughSpace, DownloadCancelled) as error:
                raise PermanentJobError(str(error)) from error
            except DownloadError as error:
                if "not in the local mirror" in str(error) or "has no files" in str(error):
                    raise PermanentJobError(str(error)) from error
                raise
            finally:
                self._downloader = None
                downloader.close()
        return {"path": str(result.path), "verified": result.verified, "warnings": result.warnings}

    # -- search and catalog -------------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchPage:
        """Apply the pending index updates (when there are few enough), then search."""
        waiting = index_queue.count(self.db.conn)
        if waiting <= SEARCH_DRAIN_LIMIT:
            self.index.drain_all(self.db)
            waiting = 0
        searcher = ModelSearcher(self.index, self.db)
        try:
            result = searcher.search(query)
        finally:
            searcher.close()
        return SearchPage(result, self._summaries(result), waiting)

    def _summaries(self, result: SearchResult) -> list[dict[str, Any]]:
        model_ids = [i for i, k in zip(result.ids, result.kinds, strict=True) if k == "model"]
        article_ids = [i for i, k in zip(result.ids, result.kinds, strict=True) if k == "article"]
        found = {("model", m["id"]): m | {"kind": "model"} for m in model_summaries(self.db.conn, model_ids)}
        for article in article_summaries(self.db.conn, article_ids):
            found["article", article["id"]] = article | {"kind": "article"}
        return [found[k, i] for i, k in zip(result.ids, result.kinds, strict=True) if (k, i) in found]

    def model_details(self, model_id: int) -> ModelDetails | None:
        """A mirrored model with its local files and previews; None when it is not mirrored."""
        model = get_model(self.db.conn, model_id)
        if model is None:
            return None
        local = {m.version_id: m.path for m in list_local_models(self.db) if m.version_id}
        versions = model.get("modelVersions") or []
        previews = {version["id"]: version_previews(self.db.conn, version["id"]) for version in versions}
        cosmetics.with_cosmetics(self.db.conn, [model])
        return ModelDetails(model, local, previews)

    # -- articles, collections, notifications (offline) ----------------------------------------
    def article(self, article_id: int) -> dict[str, Any] | None:
        """A mirrored article as the hub server sent it (with its content, its author's
        cosmetics as of the last sync), or None."""
        found = get_article(self.db.conn, article_id)
        if found is not None:
            cosmetics.with_cosmetics(self.db.conn, [found])
        return found

    def article_cover(self, article_id: int) -> str | None:
        """The local copy of an article's cover image (None: no cover, or not fetched yet)."""
        return cover_path(self.db.conn, article_id)

    def reviews(
        self, model_id: int, version_id: int | None = None, limit: int = 50
    ) -> tuple[list[dict[str, Any]], int, int]:
        """A model's (or one version's) mirrored reviews, newest first, with the reviewers'
        cosmetics, and the thumbs up and down over all of them."""
        found, up, down = reviews_comments.list_reviews(self.db.conn, model_id, version_id, limit)
        cosmetics.with_cosmetics(self.db.conn, found)
        return found, up, down

    def cosmetics(self, usernames: list[str]) -> dict[str, dict[str, Any]]:
        """What these users wear from the hub's shop, as of the last sync (by username)."""
        return cosmetics.cosmetics_by_name(self.db.conn, usernames)

    def comments(self, entity_type: str, entity_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """The mirrored comments on a model or an article ("model" / "article"), oldest first."""
        found = reviews_comments.list_comments(self.db.conn, entity_type, entity_id, limit)
        cosmetics.with_cosmetics(self.db.conn, found)
        return found

    def model_names(self, ids: list[int]) -> dict[int, str]:
        return community.names_of(self.db.conn, "Model", ids)

    def collections(self, mine_only: bool = False, limit: int = 100) -> list[dict[str, Any]]:
        """Mirrored collections, newest first: public ones and the account's own ("mine")."""
        found = community.list_collections(self.db.conn, mine_only, limit)
        cosmetics.with_cosmetics(self.db.conn, found)
        return found

    def collection(self, collection_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """A mirrored collection and its items (with the name or title of those in the mirror)."""
        found = community.get_collection(self.db.conn, collection_id)
        if found is None:
            return None
        collection, items = found
        cosmetics.with_cosmetics(self.db.conn, [collection])
        names = (
            community.names_of(self.db.conn, collection["type"], [i["id"] for i in items])
            if collection["type"] in ("Model", "Article")
            else {}
        )
        return collection, [i | {"name": names.get(i["id"])} for i in items]

    def notifications(self, unread_only: bool = False, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """The account's notifications as of the last sync, newest first, and the unread count."""
        return community.list_notifications(self.db.conn, unread_only, limit)

    def reindex(self, procs: int = 1) -> int:
        """Rebuild the search index from the mirror (beside the live one); returns the documents
        (models and articles)."""
        return self.index.rebuild(self.db, procs=procs, progress=self.progress.indexed)

    # -- local files --------------------------------------------------------------------------
    def scan(self, online: bool = False) -> ScanReport:
        """Hash the model files, link them to the catalog (asking the remembered server about
        the unknown hashes, in batches, when `online`: a server that cannot be reached is noted
        in the report and the files are linked from the mirror alone), then bring the index up
        to date."""
        client = HubClient(self.server_url(), retries=1) if online else None
        problems: list[str] = []

        def lookup(hashes: list[str]) -> dict[str, dict[str, Any]]:
            assert client is not None
            try:
                return client.models_by_sha256(hashes)
            except (HubUnavailable, FeedError) as error:
                problems.append(str(error))
                return {}

        try:
            report = scan_models(self.db, self.paths.models_dir, lookup if client else None)
        finally:
            if client:
                client.close()
        report.online_error = problems[0] if problems else None
        self.index.drain_all(self.db)
        return report

    def enqueue_scan(self, online: bool = False) -> int | None:
        """Queue a scan of the models folder (None when one is already waiting)."""
        if any(job.kind == "scan" for job in self.jobs.list(status="pending", limit=200)):
            return None
        return self.jobs.enqueue("scan", {"online": online})

    def _scan_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        online = bool(payload.get("online")) and get_setting(self.db.conn, SERVER_SETTING) is not None
        return dict(self.scan(online=online).__dict__)

    def local_models(self) -> list[LocalModel]:
        return list_local_models(self.db)
