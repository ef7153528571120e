"""`ServerStore`: the one object the rest of the server uses for storage.

SQLite in WAL mode under the data directory, migrated to this release's schema when opened.
One connection per thread (closed by `close()`); reads run in a deferred transaction so that a
multi-statement read sees one snapshot; writes run under `BEGIN IMMEDIATE` so the single
writer lock is taken before anything is read. Each method below is one transaction around a
function of the modules beside this one, which hold the SQL: this class decides transaction
boundaries, they decide statements.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.server import documents
from hub.server.event_names import MODEL_VERSION_PUBLISHED
from hub.server.records import DownloadFile, ImageQuery, ModelQuery, NewModel, NewVersion
from hub.server.store import (
    accounts,
    articles,
    bulk_seed,
    buzz,
    catalog_queries,
    catalog_writes,
    change_feed,
    downloads,
    favorites,
    flags,
    job_queue,
    shop,
)
from hub.server.store.accounts import User
from hub.server.store.change_feed import Change
from hub.server.store.community_store import (
    ArticleStore,
    CollectionStore,
    JobStore,
    NotificationStore,
    ReviewStore,
)
from hub.server.store.connections import DATABASE_NAME, Database
from hub.server.store.paging import Page
from hub.server.store.schema import MIGRATIONS


class ServerStore:
    """Storage of one hub server: its database (SQLite or PostgreSQL) and data directory."""

    def __init__(self, data_dir: Path, database: str | None = None) -> None:
        """`database`: a URL (`sqlite:///path`, `postgresql://user@host:port/db`); by default
        `hub.db` in `data_dir`, which holds the files and media either way."""
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / DATABASE_NAME
        self.database = Database(database) if database else Database.in_data_dir(self.data_dir)
        self.dialect = self.database.dialect
        self.after_write: list[Callable[[], None]] = []
        self.database.migrate(MIGRATIONS)
        # The community half of the facade (community_store.py), sharing these transactions.
        self.articles = ArticleStore(self)
        self.collections = CollectionStore(self)
        self.reviews = ReviewStore(self)
        self.notifications = NotificationStore(self)
        self.jobs = JobStore(self)

    # -- transactions ----------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[Any]:
        """A write transaction; once it has committed, the `after_write` callbacks run (the
        server's cache invalidation)."""
        with self.database.write() as conn:
            yield conn
        for callback in self.after_write:
            callback()

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self.database.read() as conn:
            yield conn

    def close(self) -> None:
        self.database.close()

    # -- users and keys ------------------------------------------------------------------------
    def create_user(self, username: str, password_hash: str | None, role: str | None = None) -> User:
        """Create an account; the first account of a server becomes its admin."""
        now = documents.now_iso()
        with self.write() as conn:
            return accounts.create_user(conn, username, password_hash, role, now)

    def user_by_name(self, username: str) -> User | None:
        with self.read() as conn:
            return accounts.user_by_name(conn, username)

    def user_by_key_hash(self, key_hash: str) -> User | None:
        with self.read() as conn:
            return accounts.user_by_key_hash(conn, key_hash)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        with self.write() as conn:
            accounts.set_password_hash(conn, user_id, password_hash)

    def set_role(self, username: str, role: str) -> User:
        with self.write() as conn:
            return accounts.set_role(conn, username, role)

    def lookup_users(self, ids: Sequence[int], prefix: str | None, limit: int = 50) -> list[dict[str, Any]]:
        with self.read() as conn:
            return accounts.lookup_users(conn, ids, prefix, limit)

    def add_api_key(self, user_id: int, key_hash: str, name: str) -> int:
        now = documents.now_iso()
        with self.write() as conn:
            return accounts.add_api_key(conn, user_id, key_hash, name, now)

    def list_api_keys(self, user_id: int) -> list[dict[str, Any]]:
        with self.read() as conn:
            return accounts.list_api_keys(conn, user_id)

    def delete_api_key(self, user_id: int, key_id: int) -> None:
        with self.write() as conn:
            accounts.delete_api_key(conn, user_id, key_id)

    # -- favourites -----------------------------------------------------------------------------
    def set_favorite(self, user_id: int, model_id: int, favorite: bool) -> None:
        now = documents.now_iso()
        with self.write() as conn:
            favorites.set_favorite(conn, user_id, model_id, favorite, now)

    # -- Buzz, shop, flags (SQL in buzz.py, shop.py, flags.py) ----------------------------------
    def buzz_balance(self, user_id: int) -> int:
        with self.read() as conn:
            return buzz.balance(conn, user_id)

    def buzz_history(self, user_id: int, limit: int, before: int | None) -> list[dict[str, Any]]:
        with self.write() as conn:  # opens the account on first use
            return buzz.history(conn, user_id, limit, before)

    def tip(self, user_id: int, to_username: str, amount: int, key: str, memo: str) -> dict[str, Any]:
        with self.write() as conn:
            return buzz.tip(conn, user_id, to_username, amount, key, memo, documents.now_iso())

    def grant_buzz(self, to_username: str, amount: int, key: str, memo: str) -> dict[str, Any]:
        with self.write() as conn:
            return buzz.grant(conn, to_username, amount, key, memo, documents.now_iso())

    def reward(self, user_id: int, name: str, reference: str = "") -> dict[str, Any]:
        """Pay reward `name` (buzz.REWARDS) once per (user, reference)."""
        with self.write() as conn:
            return buzz.reward(conn, user_id, name, reference, documents.now_iso())

    def bulk_ledger_history(self, transactions: int, seed: int = 0) -> int:
        """Benchmarks only: `bulk_seed.bulk_ledger_history` in one transaction."""
        with self.write() as conn:
            return bulk_seed.bulk_ledger_history(conn, transactions, seed, documents.now_iso())

    def ledger_entry_count(self) -> int:
        with self.read() as conn:
            return buzz.entry_count(conn)

    def ledger_problems(self) -> list[str]:
        with self.read() as conn:
            return buzz.ledger_problems(conn)

    def buzz_leaderboard(self, limit: int) -> list[dict[str, Any]]:
        with self.read() as conn:
            return buzz.leaderboard(conn, limit)

    def add_shop_section(self, name: str, position: int = 0) -> int:
        with self.write() as conn:
            return shop.add_section(conn, name, position)

    def add_shop_item(self, section_id: int, item: dict[str, Any]) -> int:
        with self.write() as conn:
            return shop.add_item(conn, section_id, item)

    def shop_catalog(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            return shop.catalog(conn, documents.now_iso())

    def purchase(self, user_id: int, item_id: int, key: str) -> dict[str, Any]:
        with self.write() as conn:
            return shop.purchase(conn, user_id, item_id, key, documents.now_iso())

    def owned_items(self, user_id: int) -> list[dict[str, Any]]:
        with self.read() as conn:
            return shop.owned(conn, user_id)

    def set_equipped(self, user_id: int, item_id: int, equipped: bool) -> None:
        with self.write() as conn:
            shop.set_equipped(conn, user_id, item_id, equipped)

    def cosmetics_of(self, user_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        with self.read() as conn:
            return shop.cosmetics_of(conn, list(user_ids))

    def cosmetics_by_name(self, usernames: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self.read() as conn:
            return shop.cosmetics_by_name(conn, list(usernames))

    def shop_section_exists(self, section_id: int) -> bool:
        with self.read() as conn:
            return shop.section_exists(conn, section_id)

    def shop_item(self, item_id: int) -> dict[str, Any]:
        with self.read() as conn:
            return shop.item_document(conn, item_id)

    def create_shop_item(self, section_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        with self.write() as conn:
            return shop.item_document(conn, shop.add_item(conn, section_id, fields))

    def update_shop_item(self, item_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        with self.write() as conn:
            shop.update_item(conn, item_id, changes)
            return shop.item_document(conn, item_id)

    def feature_flags(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            return flags.all_flags(conn)

    def set_flag(self, name: str, rule: dict[str, Any]) -> None:
        with self.write() as conn:
            flags.set_flag(conn, name, rule, documents.now_iso())

    def cohorts_of(self, user_id: int) -> list[str]:
        with self.read() as conn:
            return flags.cohorts_of(conn, user_id)

    def set_cohorts(self, username: str, cohorts: list[str]) -> None:
        with self.write() as conn:
            flags.set_cohorts(conn, username, cohorts)

    # -- catalog reads ---------------------------------------------------------------------------
    def list_models(self, q: ModelQuery) -> Page:
        with self.read() as conn:
            return catalog_queries.list_models(conn, q)

    def list_images(self, q: ImageQuery) -> Page:
        with self.read() as conn:
            return catalog_queries.list_images(conn, q)

    def model_doc(self, model_id: int) -> str:
        with self.read() as conn:
            return catalog_queries.model_doc(conn, model_id)

    def version_model_doc(self, version_id: int) -> str:
        """The doc of the model that holds version `version_id`."""
        with self.read() as conn:
            return catalog_queries.version_model_doc(conn, version_id)

    def versions_by_hashes(self, hashes: Sequence[str]) -> list[tuple[int, str]]:
        """(version id, model doc) of the first file matching each (uppercase) hash, in order."""
        with self.read() as conn:
            return catalog_queries.versions_by_hashes(conn, hashes)

    def list_creators(self, limit: int, offset: int, query: str | None) -> tuple[list[dict[str, Any]], int]:
        with self.read() as conn:
            return catalog_queries.list_creators(conn, limit, offset, query)

    def list_tags(self, limit: int, offset: int, query: str | None) -> tuple[list[dict[str, Any]], int]:
        with self.read() as conn:
            return catalog_queries.list_tags(conn, limit, offset, query)

    def download_leaderboard(self, limit: int) -> list[dict[str, Any]]:
        with self.read() as conn:
            return catalog_queries.download_leaderboard(conn, limit)

    def model_owner(self, model_id: int) -> int:
        with self.read() as conn:
            return catalog_queries.model_owner(conn, model_id)

    def counts(self) -> dict[str, int]:
        with self.read() as conn:
            return catalog_queries.counts(conn)

    def sample_hashes(self, limit: int) -> list[str]:
        with self.read() as conn:
            return catalog_queries.sample_hashes(conn, limit)

    # -- downloads and media -------------------------------------------------------------------
    def download_file(
        self,
        version_id: int,
        file_type: str | None = None,
        file_format: str | None = None,
        fp: str | None = None,
        size_class: str | None = None,
    ) -> DownloadFile:
        """The file of a version a download asks for (primary first), with its blob's path."""
        with self.read() as conn:
            return downloads.download_file(conn, version_id, file_type, file_format, fp, size_class)

    def media_path(self, sha256: str) -> str:
        with self.read() as conn:
            return downloads.media_path(conn, sha256)

    def blob_exists(self, sha256: str) -> str | None:
        """The stored path of the file with this SHA256, or None."""
        with self.read() as conn:
            return downloads.stored_blob_path(conn, sha256)

    def record_download(self, version_id: int) -> None:
        with self.write() as conn:
            downloads.record_download(conn, version_id)

    def refresh_stats(self) -> int:
        """Fold pending download counts into versions and models, and pending article views into
        articles; returns models touched."""
        with self.write() as conn:
            articles.fold_views(conn)
            return downloads.refresh_stats(conn)

    # -- catalog writes (each with its document rebuild and feed entries) -------------------------
    def create_model(self, user_id: int, model: NewModel) -> tuple[int, int]:
        """Create a model with its first version; returns (model id, version id)."""
        now = documents.now_iso()
        with self.write() as conn:
            model_id, version_id = catalog_writes.create_model(conn, user_id, model, now)
            _version_published(conn, model_id, version_id, user_id, new_model=True)
            buzz.reward(conn, user_id, "first_upload", "", now)  # paid once: the key is fixed
            return model_id, version_id

    def add_version(self, model_id: int, version: NewVersion) -> int:
        now = documents.now_iso()
        with self.write() as conn:
            version_id = catalog_writes.add_version(conn, model_id, version, now)
            _version_published(
                conn, model_id, version_id, catalog_queries.model_owner(conn, model_id), new_model=False
            )
            return version_id

    def update_model(self, model_id: int, changes: dict[str, Any]) -> None:
        """Edit name/description/nsfw/tags of a model."""
        now = documents.now_iso()
        with self.write() as conn:
            catalog_writes.update_model(conn, model_id, changes, now)

    def delete_model(self, model_id: int) -> None:
        with self.write() as conn:
            catalog_writes.delete_model(conn, model_id)

    def feed_position(self) -> int:
        """The change feed's last sequence number (every model write appends to the feed)."""
        with self.read() as conn:
            return change_feed.last_seq(conn)

    # -- change feed ---------------------------------------------------------------------------
    def changes_since(self, since: int, limit: int) -> tuple[list[Change], bool]:
        """Up to `limit` feed entries after `since`, in seq order, read from one snapshot."""
        with self.read() as conn:
            return change_feed.changes_since(conn, since, limit)

    # -- bulk loading (seed) -------------------------------------------------------------------
    def max_ids(self) -> dict[str, int]:
        with self.read() as conn:
            return bulk_seed.max_ids(conn)

    def bulk_insert(self, rows: dict[str, list[Sequence[Any]]], model_changes: Sequence[int]) -> None:
        """Insert prepared rows (columns as in BULK_TABLES) and feed entries in one transaction."""
        with self.write() as conn:
            bulk_seed.bulk_insert(conn, rows, model_changes)

    def finish_bulk(self) -> None:
        """After bulk loading: recount creators' models and tags, and feed the creators."""
        with self.write() as conn:
            bulk_seed.recount_after_bulk(conn)
        with self.write() as conn:
            bulk_seed.analyze(conn)


def _version_published(
    conn: sqlite3.Connection, model_id: int, version_id: int, creator_id: int, new_model: bool
) -> None:
    """Queue the event that notifies the followers of the model and of its creator."""
    data = {"modelId": model_id, "versionId": version_id, "creatorId": creator_id, "isNewModel": new_model}
    job_queue.emit_event(conn, MODEL_VERSION_PUBLISHED, data, f"version:{version_id}", time.time())
