"""Throwaway PostgreSQL databases for tests, on the server named by $ATELIER_TEST_POSTGRES_URL.

Without that variable the PostgreSQL half of the tests is skipped (`SKIP_REASON`); `.ci/run`
starts a real server and sets it. Each database is created empty (or as a copy of a template
database) and dropped when its block ends; names start with $ATELIER_TEST_POSTGRES_PREFIX
(default `atelier_test`) and carry the process id, so parallel runs never share one.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "ATELIER_TEST_POSTGRES_URL"
SKIP_REASON = f"PostgreSQL tests need a server: set {ENV}=postgresql://user@host:port/db"
_counter = itertools.count()

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def server_url() -> str | None:
    return os.environ.get(ENV) or None


def require_server() -> str:
    url = server_url()
    if url is None:
        pytest.skip(SKIP_REASON)
    return url


def database_url(name: str) -> str:
    parts = urlsplit(require_server())
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(require_server(), autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def fresh_database(label: str, template: str | None = None) -> Iterator[str]:
    """A new database (a copy of `template`, a database name, when given); yields its URL and
    drops it (closing any connection left) at the end."""
    prefix = os.environ.get("ATELIER_TEST_POSTGRES_PREFIX", "atelier_test")
    name = f"{prefix}_{label}_{os.getpid()}_{next(_counter)}".lower()
    _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield database_url(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_name(url: str) -> str:
    return urlsplit(url).path.strip("/")
