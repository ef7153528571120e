"""The hub server's storage: every SQL statement of the server lives in this module.

SQLite in WAL mode under the data directory. One connection per thread (kept by the Store
instance, closed by `close()`); reads run in a deferred transaction so that a multi-statement
read sees one snapshot; writes run under `BEGIN IMMEDIATE` so the single writer lock is taken
before anything is read. Model documents (the Civitai JSON) are stored denormalised in
`model_docs` (apart from `models`, whose small rows the list queries scan) and rebuilt in the same transaction as every change, together with the change
feed entry, so a reader never sees one without the other.

A move to a server database replaces this module (and keeps its method signatures).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from hub.server import documents
from hub.server.enums import IMAGE_SORTS, MODEL_SORTS
from hub.server.records import (
    DownloadFile,
    ImageQuery,
    ModelQuery,
    NewFile,
    NewImage,
    NewModel,
    NewVersion,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    image_sha TEXT,
    created_at TEXT NOT NULL,
    model_count INTEGER NOT NULL DEFAULT 0 CHECK (model_count >= 0)
);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL,
    checkpoint_type TEXT,
    nsfw INTEGER NOT NULL DEFAULT 0,
    nsfw_level INTEGER NOT NULL DEFAULT 1,
    poi INTEGER NOT NULL DEFAULT 0,
    minor INTEGER NOT NULL DEFAULT 0,
    allow_no_credit INTEGER NOT NULL DEFAULT 1,
    allow_commercial_use TEXT NOT NULL DEFAULT '[]',
    allow_derivatives INTEGER NOT NULL DEFAULT 1,
    allow_different_license INTEGER NOT NULL DEFAULT 1,
    published_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    download_count INTEGER NOT NULL DEFAULT 0,
    thumbs_up_count INTEGER NOT NULL DEFAULT 0,
    thumbs_down_count INTEGER NOT NULL DEFAULT 0,
    comment_count INTEGER NOT NULL DEFAULT 0,
    collected_count INTEGER NOT NULL DEFAULT 0,
    tipped_amount_count INTEGER NOT NULL DEFAULT 0,
    rating REAL NOT NULL DEFAULT 0,
    rating_count INTEGER NOT NULL DEFAULT 0,
    image_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS model_docs (
    model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS models_rating ON models(rating, id);
CREATE INDEX IF NOT EXISTS models_downloads ON models(download_count, id);
CREATE INDEX IF NOT EXISTS models_likes ON models(thumbs_up_count, id);
CREATE INDEX IF NOT EXISTS models_comments ON models(comment_count, id);
CREATE INDEX IF NOT EXISTS models_collected ON models(collected_count, id);
CREATE INDEX IF NOT EXISTS models_images ON models(image_count, id);
CREATE INDEX IF NOT EXISTS models_published ON models(published_at, id);
CREATE INDEX IF NOT EXISTS models_user ON models(user_id);
CREATE TABLE IF NOT EXISTS model_tags (
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    tag TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (tag, model_id)
);
CREATE INDEX IF NOT EXISTS model_tags_model ON model_tags(model_id);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    model_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS model_base_models (
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    base_model TEXT NOT NULL,
    PRIMARY KEY (base_model, model_id)
);
CREATE INDEX IF NOT EXISTS model_base_models_model ON model_base_models(model_id);
CREATE VIRTUAL TABLE IF NOT EXISTS models_fts USING fts5(name, tags, username, tokenize = 'unicode61');
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    base_model TEXT NOT NULL,
    base_model_type TEXT NOT NULL DEFAULT 'Standard',
    trained_words TEXT NOT NULL DEFAULT '[]',
    nsfw_level INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    published_at TEXT NOT NULL,
    download_count INTEGER NOT NULL DEFAULT 0,
    thumbs_up_count INTEGER NOT NULL DEFAULT 0,
    thumbs_down_count INTEGER NOT NULL DEFAULT 0,
    rating REAL NOT NULL DEFAULT 0,
    rating_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS versions_model ON versions(model_id);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    crc32 TEXT NOT NULL,
    blake3 TEXT NOT NULL,
    autov1 TEXT NOT NULL,
    autov3 TEXT,
    path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_autov2 ON blobs(substr(sha256, 1, 10));
CREATE INDEX IF NOT EXISTS blobs_crc32 ON blobs(crc32);
CREATE INDEX IF NOT EXISTS blobs_blake3 ON blobs(blake3);
CREATE INDEX IF NOT EXISTS blobs_autov1 ON blobs(autov1);
CREATE INDEX IF NOT EXISTS blobs_autov3 ON blobs(autov3);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    format TEXT NOT NULL,
    fp TEXT,
    size_class TEXT,
    is_primary INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    pickle_scan_result TEXT NOT NULL,
    pickle_scan_message TEXT,
    virus_scan_result TEXT NOT NULL DEFAULT 'Success',
    scanned_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_version ON files(version_id);
CREATE INDEX IF NOT EXISTS files_sha ON files(sha256, id);
CREATE TABLE IF NOT EXISTS media (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    blurhash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    media_sha TEXT NOT NULL REFERENCES media(sha256),
    nsfw_level INTEGER NOT NULL DEFAULT 1,
    meta TEXT,
    created_at TEXT NOT NULL,
    post_id INTEGER,
    like_count INTEGER NOT NULL DEFAULT 0,
    heart_count INTEGER NOT NULL DEFAULT 0,
    laugh_count INTEGER NOT NULL DEFAULT 0,
    cry_count INTEGER NOT NULL DEFAULT 0,
    dislike_count INTEGER NOT NULL DEFAULT 0,
    comment_count INTEGER NOT NULL DEFAULT 0,
    collected_count INTEGER NOT NULL DEFAULT 0,
    reaction_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS images_version ON images(version_id);
CREATE INDEX IF NOT EXISTS images_model ON images(model_id, id);
CREATE INDEX IF NOT EXISTS images_user ON images(user_id, id);
CREATE INDEX IF NOT EXISTS images_created ON images(created_at, id);
CREATE INDEX IF NOT EXISTS images_reactions ON images(reaction_count, id);
CREATE INDEX IF NOT EXISTS images_comments ON images(comment_count, id);
CREATE INDEX IF NOT EXISTS images_collected ON images(collected_count, id);
CREATE TABLE IF NOT EXISTS pending_downloads (
    version_id INTEGER PRIMARY KEY,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL CHECK (entity IN ('model', 'creator')),
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('upsert', 'delete')),
    UNIQUE (entity, entity_id)
);
"""

BULK_TABLES: dict[str, tuple[str, ...]] = {
    "users": ("id", "username", "password_hash", "role", "image_sha", "created_at", "model_count"),
    "models": (
        "id",
        "user_id",
        "name",
        "description",
        "type",
        "checkpoint_type",
        "nsfw",
        "nsfw_level",
        "poi",
        "minor",
        "allow_no_credit",
        "allow_commercial_use",
        "allow_derivatives",
        "allow_different_license",
        "published_at",
        "updated_at",
        "download_count",
        "thumbs_up_count",
        "thumbs_down_count",
        "comment_count",
        "collected_count",
        "tipped_amount_count",
        "rating",
        "rating_count",
        "image_count",
    ),
    "model_docs": ("model_id", "doc"),
    "model_tags": ("model_id", "tag"),
    "model_base_models": ("model_id", "base_model"),
    "models_fts": ("rowid", "name", "tags", "username"),
    "versions": (
        "id",
        "model_id",
        "position",
        "name",
        "description",
        "base_model",
        "base_model_type",
        "trained_words",
        "nsfw_level",
        "created_at",
        "updated_at",
        "published_at",
        "download_count",
        "thumbs_up_count",
        "thumbs_down_count",
        "rating",
        "rating_count",
    ),
    "blobs": ("sha256", "size", "crc32", "blake3", "autov1", "autov3", "path"),
    "files": (
        "id",
        "version_id",
        "name",
        "type",
        "format",
        "fp",
        "size_class",
        "is_primary",
        "sha256",
        "pickle_scan_result",
        "pickle_scan_message",
        "virus_scan_result",
        "scanned_at",
        "created_at",
    ),
    "media": ("sha256", "path", "width", "height", "blurhash"),
    "images": (
        "id",
        "version_id",
        "model_id",
        "user_id",
        "media_sha",
        "nsfw_level",
        "meta",
        "created_at",
        "post_id",
        "like_count",
        "heart_count",
        "laugh_count",
        "cry_count",
        "dislike_count",
        "comment_count",
        "collected_count",
        "reaction_count",
    ),
}
# Up to this many matches of a search or tag, fetch them all and sort; above, walk the index.
FEW_MATCHES = 3000
# Sort column -> the index that holds it in order.
SORT_INDEXES = {
    "rating": "models_rating",
    "download_count": "models_downloads",
    "thumbs_up_count": "models_likes",
    "comment_count": "models_comments",
    "collected_count": "models_collected",
    "image_count": "models_images",
    "published_at": "models_published",
}


class NotFound(LookupError):
    """The entity asked for does not exist."""


class Conflict(ValueError):
    """A write that would break a uniqueness rule (e.g. a taken username)."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    password_hash: str | None
    model_count: int
    image_sha: str | None
    created_at: str


@dataclass(frozen=True)
class Page:
    """Raw JSON documents of one page and where the next one starts."""

    docs: list[str]
    last_key: tuple[Any, int] | None  # keyset of the last row, when more may follow
    total: int | None = None


@dataclass(frozen=True)
class Change:
    seq: int
    entity: str
    entity_id: str
    action: str
    data: str | None  # raw JSON text of the entity, or None for deletes


def fts_query(text: str) -> str | None:
    """Turn free text into an FTS5 query of quoted prefix terms (no FTS syntax from users)."""
    words = ["".join(ch for ch in w if ch.isalnum()) for w in text.split()]
    words = [w for w in words if w]
    if not words:
        return None
    return " ".join(f'"{w}"*' for w in words[:8])


class Store:
    """SQLite storage of one hub server data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / "hub.db"
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._connection().executescript(SCHEMA)

    # -- connections and transactions --------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA cache_size=-32000")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- users and keys ------------------------------------------------------------------------
    def create_user(self, username: str, password_hash: str | None, role: str | None = None) -> User:
        """Create an account; the first account of a server becomes its admin."""
        now = documents.now_iso()
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise Conflict(f"username {username!r} is taken")
            if role is None:
                has_admin = conn.execute("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1").fetchone()
                role = "user" if has_admin else "admin"
            cur = conn.execute(
                "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
                (username, password_hash, role, now),
            )
            return self._user(conn, "id = ?", cur.lastrowid)  # type: ignore[return-value]

    @staticmethod
    def _user(conn: sqlite3.Connection, where: str, value: Any) -> User | None:
        row = conn.execute(
            "SELECT id, username, role, password_hash, model_count, image_sha, created_at FROM users WHERE "
            + where,
            (value,),
        ).fetchone()
        return User(**dict(row)) if row else None

    def user_by_name(self, username: str) -> User | None:
        with self.read() as conn:
            return self._user(conn, "username = ?", username)

    def user_by_key_hash(self, key_hash: str) -> User | None:
        with self.read() as conn:
            return self._user(conn, "id = (SELECT user_id FROM api_keys WHERE key_hash = ?)", key_hash)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

    def set_role(self, username: str, role: str) -> User:
        with self.write() as conn:
            cur = conn.execute("UPDATE users SET role = ? WHERE username = ?", (role, username))
            if cur.rowcount == 0:
                raise NotFound(f"user {username!r} not found")
            return self._user(conn, "username = ?", username)  # type: ignore[return-value]

    def lookup_users(self, ids: Sequence[int], prefix: str | None, limit: int = 50) -> list[dict[str, Any]]:
        where, args = [], []
        if ids:
            where.append(f"id IN ({','.join('?' * len(ids))})")
            args += list(ids)
        if prefix:
            where.append("username LIKE ? ESCAPE '\\'")
            args.append(_escape_like(prefix) + "%")
        with self.read() as conn:
            rows = conn.execute(
                f"SELECT id, username FROM users WHERE {' AND '.join(where)} ORDER BY username LIMIT ?",
                [*args, limit],
            ).fetchall()
        return [dict(r) for r in rows]

    def add_api_key(self, user_id: int, key_hash: str, name: str) -> int:
        with self.write() as conn:
            cur = conn.execute(
                "INSERT INTO api_keys (user_id, key_hash, name, created_at) VALUES (?, ?, ?, ?)",
                (user_id, key_hash, name, documents.now_iso()),
            )
            return int(cur.lastrowid or 0)

    def list_api_keys(self, user_id: int) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(
                "SELECT id, name, created_at AS createdAt FROM api_keys WHERE user_id = ? ORDER BY id",
                (user_id,),
            ).fetchall()
            return [dict(r) for r in rows]

    def delete_api_key(self, user_id: int, key_id: int) -> None:
        with self.write() as conn:
            cur = conn.execute("DELETE FROM api_keys WHERE id = ? AND user_id = ?", (key_id, user_id))
            if cur.rowcount == 0:
                raise NotFound(f"API key {key_id} not found")

    # -- catalog reads ---------------------------------------------------------------------------
    def list_models(self, q: ModelQuery) -> Page:
        column, descending = MODEL_SORTS[q.sort]
        where: list[str] = []
        args: list[Any] = []
        match: str | None = None
        if q.nsfw is False:
            where.append("m.nsfw = 0")
        if q.types:
            where.append(f"m.type IN ({','.join('?' * len(q.types))})")
            args += q.types
        if q.base_models:
            # correlated on purpose: common base models match many rows, so walking the sort
            # index and probing beats sorting every match
            where.append(
                "EXISTS (SELECT 1 FROM model_base_models b WHERE b.model_id = m.id AND b.base_model IN "
                f"({','.join('?' * len(q.base_models))}))"
            )
            args += q.base_models
        if q.tag:
            where.append("{probe_tag}m.id IN (SELECT model_id FROM model_tags WHERE tag = ?)")
            args.append(q.tag)
        if q.username:
            where.append("m.user_id = (SELECT id FROM users WHERE username = ?)")
            args.append(q.username)
        if q.ids:
            where.append(f"m.id IN ({','.join('?' * len(q.ids))})")
            args += q.ids
        if q.checkpoint_type:
            where.append("m.checkpoint_type = ?")
            args.append(q.checkpoint_type)
        if q.published_after:
            where.append("m.published_at >= ?")
            args.append(q.published_after)
        if q.query is not None:
            match = fts_query(q.query)
            if match is None:
                return Page([], None, 0)
            where.append("{probe_query}m.id IN (SELECT rowid FROM models_fts WHERE models_fts MATCH ?)")
            args.append(match)
        filter_sql = " AND ".join(where) or "1"
        filter_args = list(args)
        if q.after is not None:
            where.append(f"(m.{column}, m.id) {'<' if descending else '>'} (?, ?)")
            args += [q.after[0], q.after[1]]
        direction = "DESC" if descending else "ASC"
        # Few matches (a creator's models, a list of ids, a rare word or tag): fetch them and
        # sort. Many matches (a common word or tag can match half the catalog): walk the sort
        # index and check each row, which stops after `limit` matches.
        # A "+" before m.id keeps SQLite from driving the query from that list.
        source = "models m"
        order_col = f"m.{column}"
        probes = {"{probe_tag}": "+", "{probe_query}": "+"}
        tag_count, query_count = self._match_counts(match, q.tag)
        smallest = min(tag_count, query_count)
        if q.username or q.ids:
            order_col = f"+m.{column}"
        elif smallest <= FEW_MATCHES:
            order_col = f"+m.{column}"
            probes["{probe_tag}" if tag_count == smallest else "{probe_query}"] = ""
        elif match or q.tag:
            source = f"models m INDEXED BY {SORT_INDEXES[column]}"
        for placeholder, probe in probes.items():
            where = [w.replace(placeholder, probe) for w in where]
            filter_sql = filter_sql.replace(placeholder, "")
        order = f"{order_col} {direction}, m.id {direction}"
        sql = (
            f"SELECT m.id, m.{column} AS k FROM {source} WHERE {' AND '.join(where) or '1'} ORDER BY {order}"
        )
        sql += " LIMIT ? OFFSET ?"
        args += [q.limit + 1, q.offset or 0]
        with self.read() as conn:
            rows = conn.execute(sql, args).fetchall()
            more = len(rows) > q.limit
            rows = rows[: q.limit]
            docs = self._docs(conn, [r["id"] for r in rows])
            total = None
            if q.offset is not None:
                total = conn.execute(
                    f"SELECT COUNT(*) FROM models m WHERE {filter_sql}", filter_args
                ).fetchone()[0]
        last = (rows[-1]["k"], rows[-1]["id"]) if more and rows else None
        return Page([docs[r["id"]] for r in rows], last, total)

    def _match_counts(self, match: str | None, tag: str | None) -> tuple[float, float]:
        """How many models the tag and the search match (capped; inf when not filtering)."""
        tag_count = query_count = float("inf")
        if not match and not tag:
            return tag_count, query_count
        with self.read() as conn:
            if tag:
                row = conn.execute("SELECT model_count FROM tags WHERE name = ?", (tag,)).fetchone()
                tag_count = row[0] if row else 0
            if match:
                query_count = conn.execute(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM models_fts WHERE models_fts MATCH ? LIMIT ?)",
                    (match, FEW_MATCHES + 1),
                ).fetchone()[0]
        return tag_count, query_count

    @staticmethod
    def _docs(conn: sqlite3.Connection, model_ids: list[int]) -> dict[int, str]:
        docs: dict[int, str] = {}
        for chunk in _chunks(model_ids, 500):
            for r in conn.execute(
                f"SELECT model_id, doc FROM model_docs WHERE model_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                docs[r[0]] = r[1]
        return docs

    def model_doc(self, model_id: int) -> str:
        with self.read() as conn:
            row = conn.execute("SELECT doc FROM model_docs WHERE model_id = ?", (model_id,)).fetchone()
        if row is None:
            raise NotFound(f"No model with id {model_id}")
        return row["doc"]

    def version_model_doc(self, version_id: int) -> str:
        """The doc of the model that holds version `version_id`."""
        with self.read() as conn:
            row = conn.execute(
                "SELECT d.doc FROM versions v JOIN model_docs d ON d.model_id = v.model_id WHERE v.id = ?",
                (version_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"Model version not found: {version_id}")
        return row["doc"]

    _HASH_SQL: ClassVar[dict[int, str]] = {
        8: "b.crc32 = :h OR b.autov1 = :h",
        10: "substr(b.sha256, 1, 10) = :h",
        12: "b.autov3 = :h",
        64: "b.sha256 = :h OR b.blake3 = :h",
    }

    def versions_by_hashes(self, hashes: Sequence[str]) -> list[tuple[int, str]]:
        """(version id, model doc) of the first file matching each (uppercase) hash, in order."""
        found: list[tuple[int, str]] = []
        seen: set[int] = set()
        with self.read() as conn:
            for h in hashes:
                cond = self._HASH_SQL[len(h)]
                row = conn.execute(
                    "SELECT f.version_id, d.doc FROM blobs b JOIN files f ON f.sha256 = b.sha256 "
                    "JOIN versions v ON v.id = f.version_id JOIN model_docs d ON d.model_id = v.model_id "
                    f"WHERE {cond} ORDER BY f.id LIMIT 1",
                    {"h": h},
                ).fetchone()
                if row and row["version_id"] not in seen:
                    seen.add(row["version_id"])
                    found.append((row["version_id"], row["doc"]))
        return found

    def list_images(self, q: ImageQuery) -> Page:
        column, descending = IMAGE_SORTS[q.sort]
        where: list[str] = []
        args: list[Any] = []
        if q.model_id is not None:
            where.append("i.model_id = ?")
            args.append(q.model_id)
        if q.version_id is not None:
            where.append("i.version_id = ?")
            args.append(q.version_id)
        if q.username:
            where.append("i.user_id = (SELECT id FROM users WHERE username = ?)")
            args.append(q.username)
        if q.browsing_level is not None:
            where.append("(i.nsfw_level & ?) != 0")
            args.append(q.browsing_level)
        elif q.max_nsfw_level is not None:
            where.append("i.nsfw_level <= ?")
            args.append(q.max_nsfw_level)
        if q.post_id is not None:
            where.append("i.post_id = ?")
            args.append(q.post_id)
        if q.image_id is not None:
            where.append("i.id = ?")
            args.append(q.image_id)
        if q.base_models:
            where.append(
                f"i.version_id IN (SELECT id FROM versions WHERE base_model IN ({','.join('?' * len(q.base_models))}))"
            )
            args += q.base_models
        if q.created_after:
            where.append("i.created_at >= ?")
            args.append(q.created_after)
        filter_sql = " AND ".join(where) or "1"
        filter_args = list(args)
        if q.after is not None:
            where.append(f"(i.{column}, i.id) {'<' if descending else '>'} (?, ?)")
            args += [q.after[0], q.after[1]]
        direction = "DESC" if descending else "ASC"
        selective = any(v is not None for v in (q.model_id, q.version_id, q.post_id, q.image_id)) or bool(
            q.username
        )
        order_col = f"+i.{column}" if selective else f"i.{column}"
        sql = (
            f"SELECT i.*, i.{column} AS k, u.username, v.base_model, m.width, m.height, m.blurhash "
            "FROM images i JOIN users u ON u.id = i.user_id JOIN versions v ON v.id = i.version_id "
            f"JOIN media m ON m.sha256 = i.media_sha WHERE {' AND '.join(where) or '1'} "
            f"ORDER BY {order_col} {direction}, i.id {direction} LIMIT ? OFFSET ?"
        )
        args += [q.limit + 1, q.offset or 0]
        with self.read() as conn:
            rows = conn.execute(sql, args).fetchall()
            total = None
            if q.offset is not None:
                total = conn.execute(
                    f"SELECT COUNT(*) FROM images i WHERE {filter_sql}", filter_args
                ).fetchone()[0]
        more = len(rows) > q.limit
        rows = rows[: q.limit]
        last = (rows[-1]["k"], rows[-1]["id"]) if more and rows else None
        docs = [documents.dumps(documents.image_document(dict(r))) for r in rows]
        return Page(docs, last, total)

    def list_creators(self, limit: int, offset: int, query: str | None) -> tuple[list[dict[str, Any]], int]:
        rows, total = self._named_page(
            "users", "username", "username, image_sha, model_count", "username", limit, offset, query
        )
        return [
            documents.creator_document(r["username"], r["image_sha"], r["model_count"]) for r in rows
        ], total

    def list_tags(self, limit: int, offset: int, query: str | None) -> tuple[list[dict[str, Any]], int]:
        rows, total = self._named_page(
            "tags", "name", "name, model_count", "model_count DESC, name", limit, offset, query
        )
        return [{"name": r["name"], "modelCount": r["model_count"]} for r in rows], total

    def _named_page(
        self, table: str, name: str, columns: str, order: str, limit: int, offset: int, query: str | None
    ) -> tuple[list[sqlite3.Row], int]:
        """One offset page of `table` rows that have models, `name` containing `query`, and the
        total count (creators and tags, with the caller's fixed SQL pieces)."""
        where, args = "model_count > 0", []
        if query:
            where += f" AND {name} LIKE ? ESCAPE '\\'"
            args.append("%" + _escape_like(query) + "%")
        with self.read() as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", args).fetchone()[0]
            rows = conn.execute(
                f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return rows, total

    def download_file(
        self,
        version_id: int,
        file_type: str | None = None,
        file_format: str | None = None,
        fp: str | None = None,
        size_class: str | None = None,
    ) -> DownloadFile:
        """The file of a version a download asks for (primary first), with its blob's path."""
        where, args = ["f.version_id = ?"], [version_id]
        for column, value in (
            ("type", file_type),
            ("format", file_format),
            ("fp", fp),
            ("size_class", size_class),
        ):
            if value is not None:
                where.append(f"f.{column} = ?")
                args.append(value)
        with self.read() as conn:
            row = conn.execute(
                "SELECT f.id, f.version_id, f.name, b.path, b.size, b.sha256 FROM files f "
                f"JOIN blobs b ON b.sha256 = f.sha256 WHERE {' AND '.join(where)} "
                "ORDER BY f.is_primary DESC, f.id LIMIT 1",
                args,
            ).fetchone()
            if row is None:
                exists = conn.execute("SELECT 1 FROM versions WHERE id = ?", (version_id,)).fetchone()
        if row is None:
            if exists:
                raise NotFound(f"No file of model version {version_id} matches the requested type/format/fp")
            raise NotFound(f"Model version not found: {version_id}")
        return DownloadFile(
            row["id"], row["version_id"], row["name"], row["path"], row["size"], row["sha256"]
        )

    def media_path(self, sha256: str) -> str:
        with self.read() as conn:
            row = conn.execute("SELECT path FROM media WHERE sha256 = ?", (sha256.upper(),)).fetchone()
        if row is None:
            raise NotFound("Image not found")
        return row["path"]

    def blob_exists(self, sha256: str) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT path FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
        return row["path"] if row else None

    def model_owner(self, model_id: int) -> int:
        with self.read() as conn:
            row = conn.execute("SELECT user_id FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is None:
            raise NotFound(f"No model with id {model_id}")
        return int(row["user_id"])

    def counts(self) -> dict[str, int]:
        with self.read() as conn:
            return {
                table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("users", "models", "versions", "files", "blobs", "images", "media", "changes")
            }

    def sample_hashes(self, limit: int) -> list[str]:
        with self.read() as conn:
            rows = conn.execute("SELECT sha256 FROM blobs ORDER BY random() LIMIT ?", (limit,)).fetchall()
        return [r[0] for r in rows]

    # -- catalog writes --------------------------------------------------------------------------
    def record_download(self, version_id: int) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO pending_downloads (version_id, count) VALUES (?, 1) "
                "ON CONFLICT(version_id) DO UPDATE SET count = count + 1",
                (version_id,),
            )

    def refresh_stats(self) -> int:
        """Fold pending download counts into versions and models; returns models touched."""
        with self.write() as conn:
            rows = conn.execute(
                "SELECT p.version_id, p.count, v.model_id FROM pending_downloads p "
                "JOIN versions v ON v.id = p.version_id"
            ).fetchall()
            conn.execute("DELETE FROM pending_downloads")
            touched: set[int] = set()
            for r in rows:
                conn.execute(
                    "UPDATE versions SET download_count = download_count + ? WHERE id = ?",
                    (r["count"], r["version_id"]),
                )
                conn.execute(
                    "UPDATE models SET download_count = download_count + ? WHERE id = ?",
                    (r["count"], r["model_id"]),
                )
                touched.add(r["model_id"])
            for model_id in touched:
                self._rebuild_model(conn, model_id)
            return len(touched)

    def create_model(self, user_id: int, model: NewModel) -> tuple[int, int]:
        """Create a model with its first version; returns (model id, version id)."""
        now = documents.now_iso()
        with self.write() as conn:
            cur = conn.execute(
                "INSERT INTO models (user_id, name, description, type, checkpoint_type, nsfw, nsfw_level, poi, minor, "
                "allow_no_credit, allow_commercial_use, allow_derivatives, allow_different_license, published_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    model.name,
                    model.description,
                    model.type,
                    model.checkpoint_type,
                    int(model.nsfw),
                    4 if model.nsfw else 1,
                    int(model.poi),
                    int(model.minor),
                    int(model.allow_no_credit),
                    json.dumps(model.allow_commercial_use),
                    int(model.allow_derivatives),
                    int(model.allow_different_license),
                    now,
                    now,
                ),
            )
            model_id = int(cur.lastrowid or 0)
            self._set_tags(conn, model_id, model.tags)
            version_id = self._insert_version(conn, model_id, user_id, model.version, now)
            conn.execute("UPDATE users SET model_count = model_count + 1 WHERE id = ?", (user_id,))
            self._rebuild_model(conn, model_id)
            self._creator_changed(conn, user_id)
            return model_id, version_id

    def add_version(self, model_id: int, version: NewVersion) -> int:
        now = documents.now_iso()
        with self.write() as conn:
            row = conn.execute("SELECT user_id FROM models WHERE id = ?", (model_id,)).fetchone()
            if row is None:
                raise NotFound(f"No model with id {model_id}")
            version_id = self._insert_version(conn, model_id, row["user_id"], version, now)
            conn.execute("UPDATE models SET updated_at = ? WHERE id = ?", (now, model_id))
            self._rebuild_model(conn, model_id)
            return version_id

    def update_model(self, model_id: int, changes: dict[str, Any]) -> None:
        """Edit name/description/nsfw/tags of a model."""
        allowed = {"name", "description", "nsfw", "tags"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot edit {', '.join(sorted(unknown))}")
        now = documents.now_iso()
        with self.write() as conn:
            if not conn.execute("SELECT 1 FROM models WHERE id = ?", (model_id,)).fetchone():
                raise NotFound(f"No model with id {model_id}")
            for column in ("name", "description"):
                if column in changes:
                    conn.execute(f"UPDATE models SET {column} = ? WHERE id = ?", (changes[column], model_id))
            if "nsfw" in changes:
                nsfw = bool(changes["nsfw"])
                conn.execute(
                    "UPDATE models SET nsfw = ?, nsfw_level = ? WHERE id = ?",
                    (int(nsfw), 4 if nsfw else 1, model_id),
                )
            if "tags" in changes:
                self._set_tags(conn, model_id, changes["tags"])
            conn.execute("UPDATE models SET updated_at = ? WHERE id = ?", (now, model_id))
            self._rebuild_model(conn, model_id)

    def delete_model(self, model_id: int) -> None:
        with self.write() as conn:
            row = conn.execute("SELECT user_id FROM models WHERE id = ?", (model_id,)).fetchone()
            if row is None:
                raise NotFound(f"No model with id {model_id}")
            self._set_tags(conn, model_id, [])
            conn.execute("DELETE FROM models_fts WHERE rowid = ?", (model_id,))
            conn.execute("DELETE FROM images WHERE model_id = ?", (model_id,))
            conn.execute(
                "DELETE FROM files WHERE version_id IN (SELECT id FROM versions WHERE model_id = ?)",
                (model_id,),
            )
            conn.execute("DELETE FROM versions WHERE model_id = ?", (model_id,))
            conn.execute("DELETE FROM model_base_models WHERE model_id = ?", (model_id,))
            conn.execute("DELETE FROM model_docs WHERE model_id = ?", (model_id,))
            conn.execute("DELETE FROM models WHERE id = ?", (model_id,))
            conn.execute("UPDATE users SET model_count = model_count - 1 WHERE id = ?", (row["user_id"],))
            self._append_change(conn, "model", str(model_id), "delete")
            self._creator_changed(conn, row["user_id"])

    def _set_tags(self, conn: sqlite3.Connection, model_id: int, tags: Iterable[str]) -> None:
        old = [r[0] for r in conn.execute("SELECT tag FROM model_tags WHERE model_id = ?", (model_id,))]
        conn.execute("DELETE FROM model_tags WHERE model_id = ?", (model_id,))
        conn.executemany("UPDATE tags SET model_count = model_count - 1 WHERE name = ?", [(t,) for t in old])
        new = list(dict.fromkeys(t.lower() for t in tags))
        conn.executemany(
            "INSERT OR IGNORE INTO model_tags (model_id, tag) VALUES (?, ?)", [(model_id, t) for t in new]
        )
        conn.executemany(
            "INSERT INTO tags (name, model_count) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET model_count = model_count + 1",
            [(t,) for t in new],
        )

    def _insert_version(
        self, conn: sqlite3.Connection, model_id: int, user_id: int, version: NewVersion, now: str
    ) -> int:
        position = conn.execute(
            "SELECT COALESCE(MAX(position) + 1, 0) FROM versions WHERE model_id = ?", (model_id,)
        ).fetchone()[0]
        nsfw_level = max((i.nsfw_level for i in version.images), default=1)
        cur = conn.execute(
            "INSERT INTO versions (model_id, position, name, description, base_model, base_model_type, trained_words, "
            "nsfw_level, created_at, updated_at, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                model_id,
                position,
                version.name,
                version.description,
                version.base_model,
                version.base_model_type,
                json.dumps(version.trained_words),
                nsfw_level,
                now,
                now,
                now,
            ),
        )
        version_id = int(cur.lastrowid or 0)
        conn.execute(
            "INSERT OR IGNORE INTO model_base_models (model_id, base_model) VALUES (?, ?)",
            (model_id, version.base_model),
        )
        for file in version.files:
            self._insert_file(conn, version_id, file, now)
        for image in version.images:
            self._insert_image(conn, version_id, model_id, user_id, image, now)
        return version_id

    @staticmethod
    def _insert_file(conn: sqlite3.Connection, version_id: int, file: NewFile, now: str) -> None:
        h = file.blob.hashes
        conn.execute(
            "INSERT OR IGNORE INTO blobs (sha256, size, crc32, blake3, autov1, autov3, path) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (h.sha256, h.size, h.crc32, h.blake3, h.autov1, h.autov3, file.blob.path),
        )
        conn.execute(
            "INSERT INTO files (version_id, name, type, format, fp, size_class, is_primary, sha256, pickle_scan_result, "
            "pickle_scan_message, scanned_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                version_id,
                file.name,
                file.type,
                file.format,
                file.fp,
                file.size_class,
                int(file.is_primary),
                h.sha256,
                file.pickle_scan_result,
                file.pickle_scan_message,
                now,
                now,
            ),
        )

    @staticmethod
    def _insert_image(
        conn: sqlite3.Connection, version_id: int, model_id: int, user_id: int, image: NewImage, now: str
    ) -> None:
        m = image.media
        conn.execute(
            "INSERT OR IGNORE INTO media (sha256, path, width, height, blurhash) VALUES (?, ?, ?, ?, ?)",
            (m.sha256, m.path, m.width, m.height, m.blurhash),
        )
        conn.execute(
            "INSERT INTO images (version_id, model_id, user_id, media_sha, nsfw_level, meta, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                version_id,
                model_id,
                user_id,
                m.sha256,
                image.nsfw_level,
                json.dumps(image.meta) if image.meta else None,
                now,
            ),
        )

    def _rebuild_model(self, conn: sqlite3.Connection, model_id: int) -> None:
        """Recompute the stored Civitai document, search row and feed entry of one model."""
        model = dict(conn.execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone())
        creator = dict(
            conn.execute("SELECT username, image_sha FROM users WHERE id = ?", (model["user_id"],)).fetchone()
        )
        tags = [
            r[0]
            for r in conn.execute("SELECT tag FROM model_tags WHERE model_id = ? ORDER BY tag", (model_id,))
        ]
        versions = []
        image_count = 0
        for v in conn.execute(
            "SELECT * FROM versions WHERE model_id = ? ORDER BY position DESC", (model_id,)
        ).fetchall():
            files = conn.execute(
                "SELECT f.*, b.size, b.crc32, b.blake3, b.autov1, b.autov3 FROM files f "
                "JOIN blobs b ON b.sha256 = f.sha256 WHERE f.version_id = ? ORDER BY f.is_primary DESC, f.id",
                (v["id"],),
            ).fetchall()
            images = conn.execute(
                "SELECT i.id, i.media_sha, i.nsfw_level, i.meta, m.width, m.height, m.blurhash FROM images i "
                "JOIN media m ON m.sha256 = i.media_sha WHERE i.version_id = ? ORDER BY i.id",
                (v["id"],),
            ).fetchall()
            image_count += len(images)
            versions.append(
                documents.version_document(
                    model, dict(v), [dict(f) for f in files], [dict(i) for i in images]
                )
            )
        model["image_count"] = image_count
        doc = documents.dumps(documents.model_document(model, creator, tags, versions))
        conn.execute("UPDATE models SET image_count = ? WHERE id = ?", (image_count, model_id))
        conn.execute("INSERT OR REPLACE INTO model_docs (model_id, doc) VALUES (?, ?)", (model_id, doc))
        conn.execute("DELETE FROM models_fts WHERE rowid = ?", (model_id,))
        conn.execute(
            "INSERT INTO models_fts (rowid, name, tags, username) VALUES (?, ?, ?, ?)",
            (model_id, model["name"], " ".join(tags), creator["username"]),
        )
        self._append_change(conn, "model", str(model_id), "upsert")

    def _creator_changed(self, conn: sqlite3.Connection, user_id: int) -> None:
        """A creator is an account with published models; the last model gone, it is deleted."""
        row = conn.execute("SELECT username, model_count FROM users WHERE id = ?", (user_id,)).fetchone()
        self._append_change(
            conn, "creator", row["username"], "upsert" if row["model_count"] > 0 else "delete"
        )

    @staticmethod
    def _append_change(conn: sqlite3.Connection, entity: str, entity_id: str, action: str) -> None:
        conn.execute("DELETE FROM changes WHERE entity = ? AND entity_id = ?", (entity, entity_id))
        conn.execute(
            "INSERT INTO changes (entity, entity_id, action) VALUES (?, ?, ?)", (entity, entity_id, action)
        )

    # -- change feed ---------------------------------------------------------------------------
    def changes_since(self, since: int, limit: int) -> tuple[list[Change], bool]:
        """Up to `limit` feed entries after `since`, in seq order, read from one snapshot."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT seq, entity, entity_id, action FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                (since, limit + 1),
            ).fetchall()
            more = len(rows) > limit
            rows = rows[:limit]
            model_ids = [
                int(r["entity_id"]) for r in rows if r["entity"] == "model" and r["action"] == "upsert"
            ]
            usernames = [r["entity_id"] for r in rows if r["entity"] == "creator" and r["action"] == "upsert"]
            docs: dict[tuple[str, str], str] = {
                ("model", str(model_id)): doc for model_id, doc in self._docs(conn, model_ids).items()
            }
            for chunk in _chunks(usernames, 500):
                for r in conn.execute(
                    "SELECT username, image_sha, model_count FROM users WHERE username IN "
                    f"({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall():
                    creator = documents.creator_document(r["username"], r["image_sha"], r["model_count"])
                    docs["creator", r["username"]] = documents.dumps(creator)
        out = [
            Change(
                r["seq"], r["entity"], r["entity_id"], r["action"], docs.get((r["entity"], r["entity_id"]))
            )
            for r in rows
        ]
        return out, more

    # -- bulk loading (seed) -------------------------------------------------------------------
    def max_ids(self) -> dict[str, int]:
        with self.read() as conn:
            return {
                t: conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {t}").fetchone()[0]
                for t in ("users", "models", "versions", "files", "images")
            }

    def bulk_insert(self, rows: dict[str, list[Sequence[Any]]], model_changes: Sequence[int]) -> None:
        """Insert prepared rows (columns as in BULK_TABLES) and feed entries in one transaction."""
        with self.write() as conn:
            for table, columns in BULK_TABLES.items():
                batch = rows.get(table)
                if not batch:
                    continue
                verb = "INSERT OR IGNORE" if table in ("blobs", "media") else "INSERT"
                conn.executemany(
                    f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    batch,
                )
            for model_id in model_changes:
                self._append_change(conn, "model", str(model_id), "upsert")

    def finish_bulk(self) -> None:
        """After bulk loading: recount creators' models and tags, and feed the creators."""
        with self.write() as conn:
            conn.execute(
                "UPDATE users SET model_count = (SELECT COUNT(*) FROM models WHERE models.user_id = users.id)"
            )
            conn.execute("DELETE FROM tags")
            conn.execute(
                "INSERT INTO tags (name, model_count) SELECT tag, COUNT(*) FROM model_tags GROUP BY tag"
            )
            for (username,) in conn.execute("SELECT username FROM users WHERE model_count > 0").fetchall():
                self._append_change(conn, "creator", username, "upsert")
        with self.write() as conn:
            conn.execute("ANALYZE")


def _chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _escape_like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern that uses `ESCAPE '\\'`."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
