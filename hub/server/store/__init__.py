"""The hub server's storage: every SQL statement of the server lives in this package.

The same package runs on SQLite and on PostgreSQL, chosen by a database URL; nothing else in
the server writes SQL.

- `connections`: `Database`, the connections, transactions and migrations of one URL;
  `postgres`: psycopg connections in the shape of sqlite3's (`?` parameters, rows by name and
  index, the advisory write lock); `dialect`: the few things the two spell differently.
- `database_copy`: `hub-server migrate`, a SQLite database copied into PostgreSQL and verified.

- `server_store`: `ServerStore`, the facade the server uses (connections, transactions).
- `schema`: the migration list, applied when a store opens.
- `accounts`, `favorites`, `catalog_queries`, `catalog_writes`, `downloads`, `change_feed`,
  `model_documents`, `bulk_seed`: the statements, as functions of a connection.
- `community_store`: the community half of the facade (`ServerStore.articles`, `.collections`,
  `.reviews`, `.notifications`, `.jobs`) over `articles`, `collections`, `reviews` (and
  comments), `notifications` (follows, preferences, fan-out), `user_feed` (each account's
  private feed), `job_queue` (persisted background jobs and events) and `community_seed`;
  their migrations are in `community_schema`.
- `buzz` (the double-entry ledger, rewards), `buzz_events` (its notification events), `shop`
  (the cosmetic shop), `flags` (feature flags and cohorts): behind `ServerStore`'s Buzz, shop
  and flag methods; migrations `0008_buzz` to `0010_feature_flags` in `schema`.
- `paging`: the filter and keyset page builder of the list queries.
"""

from hub.server.store.accounts import User
from hub.server.store.bulk_seed import BULK_TABLES
from hub.server.store.change_feed import Change
from hub.server.store.errors import Conflict, NotFound
from hub.server.store.paging import Page
from hub.server.store.server_store import ServerStore

__all__ = ["BULK_TABLES", "Change", "Conflict", "NotFound", "Page", "ServerStore", "User"]
