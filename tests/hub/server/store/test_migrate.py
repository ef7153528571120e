"""`hub-server migrate`: a seeded SQLite hub (catalog and community) moves into PostgreSQL,
every table verified by row count and checksum; the server then reads the same documents and
feed from PostgreSQL and keeps writing with fresh ids; a non-empty target is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.server.cli import main
from hub.server.records import ModelQuery
from hub.server.seed import seed_catalog
from hub.server.seed_community import CommunitySizes, seed_community
from hub.server.store import ServerStore
from hub.server.store.database_copy import checksum
from tests.postgres_databases import fresh_database


def test_checksum_ignores_order_and_sees_one_changed_value() -> None:
    rows = [(1, "a", None, 2.5), (2, "b", 3, 0.0), (2, "b", 3, 0.0)]
    assert checksum(rows) == checksum(list(reversed(rows)))
    assert checksum(rows)[1] != checksum([(1, "a", None, 2.5), (2, "b", 3, 0.0), (2, "b", 4, 0.0)])[1]
    assert checksum(rows)[1] != checksum(rows[:2])[1]


def test_bad_arguments_are_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert main(["migrate", "--from", missing, "--to", "postgresql://nobody@127.0.0.1:1/x"]) == 1
    assert "no SQLite database at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["migrate", "--from", "mysql://x/y", "--to", "postgresql://u@h/db"])
    assert "--database must be sqlite:///path or postgresql://" in capsys.readouterr().err
    assert main(["migrate", "--from", "postgresql://u@h/a", "--to", "postgresql://u@h/b"]) == 1
    assert "--from must be a SQLite database" in capsys.readouterr().err


def _everything(store: ServerStore) -> tuple[list[str], list[tuple], dict[str, int]]:
    docs: list[str] = []
    after = None
    while True:
        page = store.list_models(ModelQuery(limit=100, after=after, sort="Oldest", nsfw=None))
        docs += page.docs
        if page.last_key is None:
            break
        after = page.last_key
    changes, more = store.changes_since(0, 10_000)
    assert not more
    return docs, [(c.seq, c.entity, c.entity_id, c.data) for c in changes], store.counts()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_seeded_sqlite_hub_moves_into_postgresql_verified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "hub"
    seed_catalog(data, 40, seed=2, unique_files=8)
    seed_community(
        data,
        seed=2,
        sizes=CommunitySizes(articles=6, readers=5, collections=2, reviews=8, comments=8, events=3),
    )
    source = f"sqlite:///{data / 'hub.db'}"
    lite = ServerStore(data)
    try:
        expected = _everything(lite)
        ledger = lite.ledger_entry_count()
    finally:
        lite.close()
    with fresh_database("migrate") as target:
        assert main(["migrate", "--from", source, "--to", target]) == 0
        out = capsys.readouterr().out
        table_lines = [line for line in out.splitlines() if " rows " in line and " -> " in line]
        assert len(table_lines) > 30 and all(line.endswith("ok") for line in table_lines), out
        assert "every count and checksum matches" in out
        for table in ("models", "changes", "buzz_entries", "collection_items", "models_fts"):
            assert any(line.startswith(table + " ") for line in table_lines), table

        pg = ServerStore(data, target)
        try:
            assert _everything(pg) == expected
            assert pg.ledger_entry_count() == ledger and pg.ledger_problems() == []
            # Sequences continue after the copied ids: a new account and feed entry get fresh ones.
            user = pg.create_user("after-migrate", None)
            assert user.id > expected[2]["users"]
            pg.update_model(1, {"name": "Renamed after migrate"})
            changes, _ = pg.changes_since(expected[1][-1][0], 10)
            assert [c.entity_id for c in changes] == ["1"]
        finally:
            pg.close()

        assert main(["migrate", "--from", source, "--to", target]) == 1
        assert "the target database is not empty" in capsys.readouterr().err
        assert main(["migrate", "--from", source, "--to", target, "--replace"]) == 0
        assert "every count and checksum matches" in capsys.readouterr().out
