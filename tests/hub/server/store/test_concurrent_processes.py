"""The store's guarantees hold with writers in several processes, on SQLite and PostgreSQL:
the change feed never skips or repeats an entry, Buzz balances never go negative and the shop
never sells more units than it has.

Each writer process opens its own `ServerStore` on the same database (as several server
processes do); the reader drains the feed in this process while they write.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from hub.server.store import ServerStore
from hub.server.store.buzz import InsufficientFunds
from hub.server.store.shop import SoldOut
from tests.hub.server.conftest import Catalog, catalog_copy, empty_database

PROCESSES = 3
pytestmark = pytest.mark.slow


def _rename_models(folder: str, database: str | None, model_ids: list[int]) -> int:
    """A writer process: one edit per model (each appends that model's feed entry)."""
    store = ServerStore(Path(folder), database)
    try:
        for model_id in model_ids:
            store.update_model(model_id, {"name": f"Renamed {model_id}"})
        return len(model_ids)
    finally:
        store.close()


def _tip_repeatedly(folder: str, database: str | None, payer: int, payee: str, tries: int, tag: str) -> int:
    """A spender process: `tries` tips of 1 Buzz; returns how many were paid."""
    store = ServerStore(Path(folder), database)
    paid = 0
    try:
        for n in range(tries):
            try:
                store.tip(payer, payee, 1, f"{tag}-{n}", "")
                paid += 1
            except InsufficientFunds:
                pass
        return paid
    finally:
        store.close()


def _buy(folder: str, database: str | None, user_ids: list[int], item_id: int) -> int:
    """A buyer process: each of `user_ids` tries to buy the item once; returns units bought."""
    store = ServerStore(Path(folder), database)
    bought = 0
    try:
        for user_id in user_ids:
            try:
                store.purchase(user_id, item_id, f"buy-{user_id}")
                bought += 1
            except SoldOut:
                pass
        return bought
    finally:
        store.close()


def _pool() -> multiprocessing.pool.Pool:
    return multiprocessing.get_context("spawn").Pool(PROCESSES)


def test_feed_never_skips_or_repeats_with_writers_in_several_processes(
    backend_catalog: Catalog, tmp_path: Path
) -> None:
    with catalog_copy(backend_catalog, tmp_path / "hub") as copy:
        store = ServerStore(copy.folder, copy.database)
        try:
            start = store.feed_position()
            targets = list(range(1, 241))
            slices = [targets[n::PROCESSES] for n in range(PROCESSES)]
            seen: list[tuple[int, str, str]] = []
            cursor = start
            with _pool() as pool:
                pending = pool.starmap_async(
                    _rename_models, [(str(copy.folder), copy.database, s) for s in slices]
                )
                while True:
                    done = pending.ready()  # read before draining: a last drain follows the end
                    while True:
                        changes, more = store.changes_since(cursor, 7)
                        seen += [(c.seq, c.entity, c.entity_id) for c in changes]
                        if changes:
                            cursor = changes[-1].seq
                        if not more:
                            break
                    if done:
                        break
                    time.sleep(0.002)
                assert sum(pending.get(60)) == len(targets)
            seqs = [s for s, _, _ in seen]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), "seq must increase, never repeat"
            final, more = store.changes_since(start, 10_000)
            assert not more
            # Every entry the feed now holds after `start` was read by the reader, at its seq:
            # an entry committed behind the reader's cursor would be missing here.
            assert {(c.seq, c.entity, c.entity_id) for c in final} <= set(seen)
            assert {int(c.entity_id) for c in final if c.entity == "model"} == set(targets)
        finally:
            store.close()


def test_buzz_and_shop_hold_with_spenders_in_several_processes(backend: str, tmp_path: Path) -> None:
    with empty_database(backend) as database:
        folder = tmp_path / "hub"
        store = ServerStore(folder, database)
        try:
            store.create_user("admin", None)
            alice = store.create_user("alice", None)
            store.create_user("bob", None)
            store.grant_buzz("alice", 100, "start", "")
            buyers = [store.create_user(f"buyer{n}", None).id for n in range(30)]
            for n in range(30):
                store.grant_buzz(f"buyer{n}", 100, f"start-{n}", "")
            section = store.add_shop_section("Badges")
            item = store.add_shop_item(
                section, {"kind": "badge", "name": "Rare", "price": 40, "quantity": 10}
            )
            with _pool() as pool:
                tips = pool.starmap_async(
                    _tip_repeatedly,
                    [(str(folder), database, alice.id, "bob", 50, f"p{n}") for n in range(PROCESSES)],
                )
                sales = pool.starmap_async(
                    _buy, [(str(folder), database, buyers[n::PROCESSES], item) for n in range(PROCESSES)]
                )
                paid, sold = sum(tips.get(120)), sum(sales.get(120))
            assert paid == 100  # 150 tries of 1 Buzz from a balance of 100
            assert store.buzz_balance(alice.id) == 0
            assert store.buzz_balance(store.user_by_name("bob").id) == 100
            assert sold == 10 and store.shop_item(item)["sold"] == 10
            assert sum(store.buzz_balance(b) for b in buyers) == 30 * 100 - 10 * 40
            assert store.ledger_problems() == []
        finally:
            store.close()
