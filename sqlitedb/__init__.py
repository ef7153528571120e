"""One SQLite base for every database of the project (studio, local hub, hub server).

- `connect(path)`: a connection with the shared settings (WAL, foreign keys, busy timeout,
  autocommit mode so transactions are explicit).
- `write(conn)` / `read(conn)`: short transactions; writes take the lock up front
  (`BEGIN IMMEDIATE`), reads see one snapshot.
- `MIN_INTEGER` / `MAX_INTEGER`: the range of SQLite's INTEGER (signed 64-bit); an id or offset
  outside it cannot be bound, so routes refuse it (422) before any query.
- `Migration` / `migrate(conn, migrations)`: named, ordered migrations, each applied once in
  its own transaction and recorded in the `_migrations` table.

This package imports nothing of the studio or the hub: both halves may use it.
"""

from sqlitedb.connection import MAX_INTEGER, MIN_INTEGER, connect, read, write
from sqlitedb.migrations import Migration, applied_migrations, migrate

__all__ = [
    "MAX_INTEGER",
    "MIN_INTEGER",
    "Migration",
    "applied_migrations",
    "connect",
    "migrate",
    "read",
    "write",
]
