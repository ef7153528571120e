"""The studio database (`atelier.db`): one way to open a short-lived connection to it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def transaction(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A WAL-mode connection whose block is one transaction (committed on success, rolled back
    on error), closed afterwards."""
    db = sqlite3.connect(db_path, timeout=30)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        with db:
            yield db
    finally:
        db.close()


def ensure_schema(db_path: Path, schema: str) -> None:
    """Create the folder and run an idempotent schema script (CREATE ... IF NOT EXISTS)."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    with transaction(db_path) as db:
        db.executescript(schema)
