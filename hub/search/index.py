"""The on-disk catalog index (models and articles): generations (a rebuild writes a new one beside the live one and
swaps a pointer file atomically), batched updates from the index queue, and the rebuild."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.util.filelock import FileLock

from hub.search.schema import (
    article_doc_id,
    article_documents_for,
    build_schema,
    documents_for,
    iter_all_documents,
)
from hub.store import index_queue
from hub.store.database import HubDatabase

log = logging.getLogger(__name__)
POINTER = "CURRENT"


@dataclass
class DrainReport:
    rows: int = 0
    updated: int = 0
    deleted: int = 0
    seconds: float = 0.0


class IndexStore:
    """Owns the index folder. Writers (drain, rebuild, merge) are serialised by `writing()`, across processes too."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.write_lock = threading.RLock()
        if self.current_dir() is None:
            first = self.folder / "gen-000001"
            first.mkdir(exist_ok=True)
            whoosh_index.create_in(str(first), build_schema())
            self._point_to(first.name)

    def is_outdated(self) -> bool:
        """True when the live generation was built with another schema (an older release):
        `catch_up` then rebuilds instead of draining."""
        ix = self.open()
        try:
            return sorted(ix.schema.names()) != sorted(build_schema().names())
        finally:
            ix.close()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Serialise index writers: threads of this process (lock) and other processes (a
        file lock), so a drain in the app never interleaves with a `hub reindex` swap."""
        with self.write_lock:
            lock = FileLock(str(self.folder / "WRITER.lock"))
            lock.acquire(blocking=True)
            try:
                yield
            finally:
                lock.release()

    def current_dir(self) -> Path | None:
        pointer = self.folder / POINTER
        if not pointer.exists():
            return None
        return self.folder / pointer.read_text().strip()

    def _point_to(self, name: str) -> None:
        tmp = self.folder / f".{POINTER}.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.folder / POINTER)

    def open(self) -> whoosh_index.Index:
        folder = self.current_dir()
        assert folder is not None
        return whoosh_index.open_dir(str(folder))

    # -- writes -------------------------------------------------------------------------------
    def drain(
        self, db: HubDatabase, batch_size: int = 2000, before_commit: Callable[[], None] | None = None
    ) -> DrainReport:
        """Apply up to `batch_size` queue rows to the index in one commit, then delete exactly
        those rows. A crash before the commit leaves the rows for the next drain (updates are
        idempotent: the document is rebuilt from the store's current state)."""
        started = time.perf_counter()
        with self.writing():
            rows = index_queue.oldest(db.conn, batch_size)
            if not rows:
                return DrainReport()
            model_ids = sorted({int(r.entity_id) for r in rows if r.entity == "model"})
            article_ids = sorted({int(r.entity_id) for r in rows if r.entity == "article"})
            with db.snapshot() as conn:
                docs = documents_for(conn, model_ids)
                article_docs = article_documents_for(conn, article_ids)
            ix = self.open()
            writer = ix.writer(limitmb=128)
            try:
                for entity_ids, found, doc_id in (
                    (model_ids, docs, str),
                    (article_ids, article_docs, article_doc_id),
                ):
                    for entity_id in entity_ids:
                        doc = found.get(entity_id)
                        if doc is None:
                            writer.delete_by_term("id", doc_id(entity_id))
                        else:
                            writer.update_document(**doc)
                if before_commit is not None:  # fault injection point for crash tests
                    before_commit()
                writer.commit(merge=False)
            except BaseException:
                writer.cancel()
                raise
            finally:
                ix.close()
            with db.transaction() as conn:
                index_queue.remove(conn, [r.seq for r in rows])
            updated = len(docs) + len(article_docs)
            touched = len(model_ids) + len(article_ids)
            return DrainReport(len(rows), updated, touched - updated, time.perf_counter() - started)

    def drain_all(self, db: HubDatabase, batch_size: int = 2000) -> DrainReport:
        total = DrainReport()
        while True:
            report = self.drain(db, batch_size)
            if report.rows == 0:
                return total
            total.rows += report.rows
            total.updated += report.updated
            total.deleted += report.deleted
            total.seconds += report.seconds

    def catch_up(self, db: HubDatabase, rebuild_above: int = 10_000) -> DrainReport:
        """Bring the index up to date: drain the queue, or rebuild when so many rows wait that
        a fresh build is cheaper (the first sync of a large catalog)."""
        waiting = index_queue.count(db.conn)
        if waiting > rebuild_above or self.is_outdated():
            started = time.perf_counter()
            count = self.rebuild(db)
            return DrainReport(rows=waiting, updated=count, seconds=time.perf_counter() - started)
        return self.drain_all(db)

    def segment_count(self) -> int:
        ix = self.open()
        try:
            return len(ix._segments())
        finally:
            ix.close()

    def merge_small_segments(self) -> None:
        """Merge the small segments that queue drains leave behind (background upkeep)."""
        with self.writing():
            ix = self.open()
            try:
                ix.writer().commit()  # default policy: MERGE_SMALL
            finally:
                ix.close()

    def rebuild(self, db: HubDatabase, procs: int = 1, progress: Callable[[int], None] | None = None) -> int:
        """Build a fresh generation from the store beside the live one, then swap it in.

        Searches keep using the live generation meanwhile. Queue rows that existed when the
        rebuild read its snapshot are covered by it and are deleted after the swap; newer rows
        stay and are drained into the new generation."""
        with self.writing():
            current = self.current_dir()
            number = int(current.name.split("-")[1]) + 1 if current else 1
            target = self.folder / f"gen-{number:06d}"
            # Generations older than the live one may still be open in a searcher only until its
            # next refresh; by the next rebuild they are long unused.
            for old in self.folder.glob("gen-*"):
                if old != current:
                    shutil.rmtree(old, ignore_errors=True)
            target.mkdir()
            ix = whoosh_index.create_in(str(target), build_schema())
            count = 0
            reader_db = db.reopen()
            try:
                with reader_db.snapshot() as conn:
                    covered = index_queue.last_seq(conn)
                    kwargs = {"procs": procs, "multisegment": True} if procs > 1 else {}
                    writer = ix.writer(limitmb=256, **kwargs)
                    try:
                        for doc in iter_all_documents(conn):
                            writer.add_document(**doc)
                            count += 1
                            if progress and count % 10000 == 0:
                                progress(count)
                        writer.commit()
                    except BaseException:
                        writer.cancel()
                        raise
            finally:
                reader_db.close()
                ix.close()
            self._point_to(target.name)
            with db.transaction() as conn:
                index_queue.remove_through(conn, covered)
            return count
