"""Two real `hub-server serve` processes on one database and one Redis (ATELIER_TEST_REDIS_URL),
on SQLite and on PostgreSQL (ATELIER_TEST_POSTGRES_URL; skipped without it): a write through one
reaches a sync client of the other, the change feed read through both (alternately) never skips
or repeats while both take writes, and two processes selling the last items never oversell.
And `serve --workers 2`: one port, two web processes, stopped together."""

from __future__ import annotations

import functools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from hub.store import HubDatabase
from hub.sync import CatalogSync, HubClient
from tests.hub.server.conftest import model_metadata, register, safetensors_bytes, upload_model
from tests.hub.server.test_redis_shared import REDIS_URL, ROOT, _free_port, server_process

# A loaded machine (argon2, several processes) can take more than httpx's default 5 s.
GET = functools.partial(httpx.get, timeout=60)
POST = functools.partial(httpx.post, timeout=60)
PATCH = functools.partial(httpx.patch, timeout=60)
pytestmark = [
    pytest.mark.skipif(
        not REDIS_URL,
        reason="ATELIER_TEST_REDIS_URL is not set (no redis-server to test against; .ci/run starts one)",
    ),
    pytest.mark.slow,
]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[tuple[str, ...]]:
    """The serve options naming the database: none for SQLite (hub.db in --data), `--database
    postgresql://...` for a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield ()
        return
    if not os.environ.get("ATELIER_TEST_POSTGRES_URL"):
        pytest.skip(
            "ATELIER_TEST_POSTGRES_URL is not set (no PostgreSQL to test against; .ci/run starts one)"
        )
    from tests.postgres_databases import fresh_database

    with fresh_database("hubscale_processes") as url:
        yield ("--database", url)


@contextmanager
def two_servers(data: Path, database: tuple[str, ...], *extra: str) -> Iterator[tuple[str, str]]:
    options = (
        "--redis-url",
        str(REDIS_URL),
        "--stats-refresh",
        "0",
        "--ip-rate-limit",
        "0",
        *database,
        *extra,
    )
    with server_process(data, *options) as a, server_process(data, *options) as b:
        yield a, b


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _upload(api: str, key: str, name: str, seed: int) -> int:
    files = [(f"m{seed}.safetensors", safetensors_bytes(16, seed=seed))]
    response = upload_model(api, key, model_metadata(name), files)
    assert response.status_code == 201, response.text
    return response.json()["modelId"]


def test_a_write_through_one_reaches_a_sync_client_of_the_other(
    tmp_path: Path, database: tuple[str, ...]
) -> None:
    with two_servers(tmp_path / "hub", database, "--key-rate-limit", "0") as (a, b):
        alice = register(a, "alice")
        model_id = _upload(a, alice, "Written on A", 1)
        b_origin = b.removesuffix("/api/v1")
        with HubDatabase(tmp_path / "mirror.db") as local, HubClient(b_origin) as client:
            CatalogSync(local, client).run()
            assert local.scalar("SELECT name FROM models WHERE id = ?", (model_id,)) == "Written on A"
            edit = PATCH(f"{a}/models/{model_id}", json={"name": "Renamed on A"}, headers=_auth(alice))
            assert edit.status_code == 200, edit.text
            report = CatalogSync(local, client).run()
            assert report.items >= 1
            assert local.scalar("SELECT name FROM models WHERE id = ?", (model_id,)) == "Renamed on A"


def test_change_feed_read_through_both_never_skips_or_repeats(
    tmp_path: Path, database: tuple[str, ...]
) -> None:
    with two_servers(tmp_path / "hub", database, "--key-rate-limit", "0") as (a, b):
        keys = {api: register(api, f"writer{n}") for n, api in enumerate((a, b))}
        created: list[int] = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def write(api: str, offset: int) -> None:
            rng = random.Random(offset)
            try:
                n = 0
                while not stop.is_set() and n < 40:
                    n += 1
                    model_id = _upload(api, keys[api], f"Model {offset + n}", offset + n)
                    created.append(model_id)
                    patch = {"name": f"Edited {offset + n}", "tags": [f"t{rng.randrange(5)}"]}
                    assert PATCH(f"{api}/models/{model_id}", json=patch, headers=_auth(keys[api])).is_success
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        writers = [threading.Thread(target=write, args=(api, 1000 * (n + 1))) for n, api in enumerate((a, b))]
        for writer in writers:
            writer.start()
        seqs: list[int] = []
        mirror: dict[tuple[str, object], dict | None] = {}
        cursor, pages = None, 0
        while True:
            api = (a, b)[pages % 2]  # alternate processes page by page
            params = {"limit": 5} | ({"since": cursor} if cursor else {})
            body = GET(f"{api}/sync/changes", params=params, timeout=30).json()
            pages += 1
            for item in body["items"]:
                seqs.append(item["seq"])
                mirror[(item["entity"], item["id"])] = item["data"]
            cursor = body["nextCursor"] or cursor
            if not body["hasMore"]:
                if any(w.is_alive() for w in writers):
                    if len(created) >= 30:
                        stop.set()
                    time.sleep(0.05)
                    continue
                break
        for writer in writers:
            writer.join(30)
        assert not errors, errors
        assert pages > 10 and len(created) >= 30
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), (
            "a change came back twice or out of order"
        )
        models = {key[1]: data for key, data in mirror.items() if key[0] == "model"}
        missing = [m for m in created if m not in models and str(m) not in models]
        assert not missing, f"the feed skipped models: {missing}"
        for model_id in created:
            data = models.get(model_id) or models.get(str(model_id))
            assert data is not None and data["name"].startswith("Edited "), data


def test_two_processes_selling_the_last_items_never_oversell(
    tmp_path: Path, database: tuple[str, ...]
) -> None:
    with two_servers(tmp_path / "hub", database, "--key-rate-limit", "0") as (a, b):
        admin = register(a, "admin")  # the first account is the admin
        buyers = {
            name: register((a, b)[n % 2], name)
            for n, name in enumerate(["buyer0", "buyer1", "buyer2", "buyer3"])
        }
        for name in buyers:
            grant = {"to": name, "amount": 100, "idempotencyKey": f"grant-{name}"}
            assert POST(f"{a}/buzz/grants", json=grant, headers=_auth(admin)).status_code == 200
        section = POST(f"{a}/admin/shop/sections", json={"name": "Last ones"}, headers=_auth(admin)).json()
        items = []
        for n in range(6):
            body = {
                "sectionId": section["id"],
                "kind": "badge",
                "name": f"Last {n}",
                "price": 10,
                "quantity": 1,
            }
            made = POST(f"{b}/admin/shop/items", json=body, headers=_auth(admin))
            assert made.status_code == 201, made.text
            items.append(made.json()["id"])

        def buy(args: tuple[int, str, str]) -> int:
            item, name, api = args
            body = {"idempotencyKey": f"{name}-{item}"}
            url = f"{api}/shop/items/{item}/purchase"
            return POST(url, json=body, headers=_auth(buyers[name]), timeout=60).status_code

        attempts = [(item, name, (a, b)[n % 2]) for item in items for n, name in enumerate(buyers)]
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(buy, attempts))
        per_item = [codes[i * 4 : i * 4 + 4] for i in range(len(items))]
        assert all(sorted(c) == [200, 409, 409, 409] for c in per_item), per_item
        balances = [
            GET(f"{(a, b)[n % 2]}/buzz/balance", headers=_auth(key)).json()["balance"]
            for n, key in enumerate(buyers.values())
        ]
        assert sum(balances) == 4 * 100 - 6 * 10 and min(balances) >= 0, balances


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to count the processes")
def test_serve_workers_runs_several_processes_on_one_port(tmp_path: Path) -> None:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "hub.server",
        "serve",
        "--data",
        str(tmp_path / "hub"),
        "--port",
        str(port),
    ]
    options = [
        "--workers",
        "2",
        "--redis-url",
        str(REDIS_URL),
        "--key-rate-limit",
        "6",
        "--log-level",
        "warning",
    ]
    refused = subprocess.run(
        [*command, "--workers", "2"],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
    )
    assert refused.returncode == 2 and b"--workers: more than one process needs --redis-url" in refused.stderr
    with ExitStack() as stack:
        process = subprocess.Popen([*command, *options], env=os.environ | {"PYTHONPATH": str(ROOT)}, cwd=ROOT)
        stack.callback(lambda: process.poll() is None and process.kill())
        api = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                if GET(f"{api}/flags").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "the processes did not start"
            time.sleep(0.2)
        web = [c for c in _children(process.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(web) == 2, web  # uvicorn's worker processes (multiprocessing's spawn)
        key = register(api, "carol")
        if time.time() % 60 > 45:  # the limit counts per minute window: start in a fresh one
            time.sleep(61 - time.time() % 60)
        with httpx.Client() as fresh:  # new connections: the kernel spreads them over the processes
            codes = [
                fresh.get(f"{api}/me", headers={**_auth(key), "Connection": "close"}).status_code
                for _ in range(7)
            ]
        assert codes == [200] * 6 + [429], codes
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        children = _children(process.pid) if Path(f"/proc/{process.pid}").exists() else []
        assert children == []
