"""Hub server benchmark: seed a catalog, then measure the API from concurrent loopback clients,
with 1, 2, 4 ... web processes (`hub-server serve --workers N`) side by side.

    python bench/hub_server.py                  # 100,000 models, one process
    python bench/hub_server.py --quick          # 10,000 models
    python bench/hub_server.py --data DIR       # reuse (or create) a seeded data directory
    python bench/hub_server.py --database postgresql://user@host/db --models 1000000 --users 100000 \
        --processes 1 2 4 --redis-url redis://127.0.0.1:6379/0

Prints seeding time; p50/p95 latency and requests/s for list, query and by-hash requests and the
change feed's throughput (items/s, concurrent readers of 500-item pages from random cursors), one
column per process count; then download throughput next to reading the same file from disk
(`--download-mb 0` skips it). More than one process needs `--redis-url` (their shared cache and
rate limits; rate limits are off here). The server runs as its own processes; clients are threads
with keep-alive httpx clients in this process, so on a small machine the clients compete with the
server for the same cores: say the machine (and its load average) with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.catalog_generator.catalog_rows import ADJECTIVES, NOUNS, STYLES  # noqa: E402
from hub.server.enums import MODEL_SORTS  # noqa: E402
from hub.server.hashing import hash_file  # noqa: E402
from hub.server.records import NewBlob, NewFile, NewModel, NewVersion  # noqa: E402
from hub.server.seed import seed_catalog  # noqa: E402
from hub.server.store import ServerStore  # noqa: E402
from hub.server.uploads import blob_path  # noqa: E402

CHUNK = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_load(
    name: str, base: str, make_path: Callable[[random.Random], str], total: int, clients: int
) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    per_client = total // clients

    def worker(index: int) -> None:
        rng = random.Random(index)
        local: list[float] = []
        with httpx.Client(base_url=base, timeout=60) as http:
            for _ in range(per_client):
                path = make_path(rng)
                started = time.perf_counter()
                response = http.get(path)
                local.append(time.perf_counter() - started)
                if response.status_code not in (200, 404):
                    with lock:
                        errors[0] += 1
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    result = {
        "kind": name,
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
        "req_per_s": round(len(latencies) / wall, 1),
        "errors": errors[0],
    }
    print(
        f"{name:<10} {result['requests']:>6} req  p50 {result['p50_ms']:>7.1f} ms  p95 {result['p95_ms']:>7.1f} ms  "
        f"{result['req_per_s']:>7.1f} req/s  errors {result['errors']}",
        flush=True,
    )
    return result


def add_big_file(data_dir: Path, megabytes: int, database: str | None = None) -> int:
    """Put one large safetensors model into the catalog; returns its version id."""
    rng = np.random.default_rng(0)
    floats = megabytes * 1024 * 1024 // 4
    tmp = data_dir / "tmp" / "big.safetensors"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    header = f'{{"weight":{{"dtype":"F32","shape":[{floats}],"data_offsets":[0,{floats * 4}]}}}}'.encode()
    header += b" " * (-len(header) % 8)
    with tmp.open("wb") as out:
        out.write(len(header).to_bytes(8, "little") + header)
        left = floats
        while left:
            n = min(left, CHUNK)
            out.write(rng.standard_normal(n).astype(np.float32).tobytes())
            left -= n
    hashes = hash_file(tmp, safetensors=True)
    final = data_dir / blob_path(hashes.sha256)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
    store = open_store(data_dir, database)
    try:
        user = store.user_by_name("bench") or store.create_user("bench", None, "user")
        file = NewFile(
            "big.safetensors", "Model", "SafeTensor", NewBlob(hashes, blob_path(hashes.sha256)), "fp32"
        )
        version = NewVersion("v1", "SDXL 1.0", [file])
        _, version_id = store.create_model(
            user.id, NewModel(f"Bench Big {megabytes} MB", "Checkpoint", version)
        )
    finally:
        store.close()
    return version_id


def read_disk(path: Path, with_hash: bool) -> float:
    digest = hashlib.sha256()
    started = time.perf_counter()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            if with_hash:
                digest.update(chunk)
    return path.stat().st_size / (time.perf_counter() - started)


def download(url: str, size: int, with_hash: bool) -> float:
    digest = hashlib.sha256()
    received = 0
    started = time.perf_counter()
    with httpx.Client(timeout=120) as http, http.stream("GET", url) as response:
        for chunk in response.iter_bytes(CHUNK):
            received += len(chunk)
            if with_hash:
                digest.update(chunk)
    assert received == size, (received, size)
    return size / (time.perf_counter() - started)


def curl_download(url: str) -> float | None:
    if not shutil.which("curl"):
        return None
    out = subprocess.run(
        ["curl", "-s", "-o", os.devnull, "-w", "%{speed_download}", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return float(out.stdout) if out.returncode == 0 else None


def sendfile_ceiling(path: Path) -> float | None:
    """curl against a bare zero-copy `socket.sendfile` server: what loopback HTTP can do here."""
    if not shutil.which("curl"):
        return None
    size = path.stat().st_size
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_once() -> None:
        conn, _ = listener.accept()
        with conn, path.open("rb") as f:
            conn.recv(65536)
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode())
            conn.sendfile(f)

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    try:
        return curl_download(f"http://127.0.0.1:{port}/")
    finally:
        thread.join(timeout=60)
        listener.close()


def open_store(data_dir: Path, database: str | None) -> ServerStore:
    return ServerStore(data_dir, database)


def start_server(data_dir: Path, database: str | None, processes: int, redis_url: str | None) -> tuple:
    port = free_port()
    command = [sys.executable, "-m", "hub.server", "serve", "--data", str(data_dir), "--port", str(port)]
    command += ["--ip-rate-limit", "0", "--key-rate-limit", "0", "--stats-refresh", "0", "--job-poll", "0"]
    command += ["--log-level", "warning", "--workers", str(processes)]
    if database:
        command += ["--database", database]
    if redis_url:
        command += ["--redis-url", redis_url]
    server = subprocess.Popen(command, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{base}/api/v1/enums")
            return server, base
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the server did not start") from None
            time.sleep(0.2)


def feed_throughput(base: str, clients: int, pages: int, highest_seq: int) -> dict:
    """Concurrent readers of the change feed, each paging from its own random cursor."""
    items = [0]
    lock = threading.Lock()

    def reader(index: int) -> None:
        rng = random.Random(index)
        cursor = str(rng.randrange(0, max(1, highest_seq - 500 * pages)))
        got = 0
        with httpx.Client(base_url=base, timeout=120) as http:
            for _ in range(pages):
                body = http.get("/api/v1/sync/changes", params={"since": cursor, "limit": 500}).json()
                got += len(body["items"])
                cursor = body["nextCursor"] or cursor
                if not body["hasMore"]:
                    break
        with lock:
            items[0] += got

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    result = {"kind": "feed", "items": items[0], "items_per_s": round(items[0] / wall)}
    print(f"{'feed':<10} {items[0]:>6} items in {wall:.1f} s: {result['items_per_s']} items/s", flush=True)
    return result


def seed(args: argparse.Namespace, data_dir: Path, models: int) -> None:
    existing = open_store(data_dir, args.database)
    have = existing.counts()["models"]
    existing.close()
    if have >= models:
        return
    print(f"seeding {models - have} models into {args.database or data_dir} ...", flush=True)
    options = {"database": args.database} if args.database else {}
    result = seed_catalog(data_dir, models - have, seed=1, users=args.users, **options)
    rate = (models - have) / result["seconds"]
    print(
        f"seed: {models - have} models in {result['seconds']:.1f} s ({rate:.0f} models/s); "
        f"{result.get('users', '?')} users, {result['versions']} versions, {result['files']} files "
        f"({result['uniqueSafetensors']} distinct safetensors), {result['images']} images",
        flush=True,
    )


def measure_api(base: str, args: argparse.Namespace, hashes: list[str], highest_seq: int) -> list[dict]:
    types = ["LORA", "Checkpoint", "TextualInversion", "VAE", "Controlnet"]
    bases = ["SD 1.5", "SDXL 1.0", "Pony", "Illustrious", "Flux.1 D"]
    sorts = [s for s in MODEL_SORTS if s != "Most Commented"]

    def list_path(rng: random.Random) -> str:
        params = [("limit", "20"), ("sort", rng.choice(sorts))]
        if rng.random() < 0.5:
            params.append(("types", rng.choice(types)))
        if rng.random() < 0.5:
            params.append(("baseModels", rng.choice(bases)))
        return "/api/v1/models?" + "&".join(f"{k}={v}" for k, v in params)

    def query_path(rng: random.Random) -> str:
        word = rng.choice(ADJECTIVES + NOUNS + STYLES).lower()
        if rng.random() < 0.3:
            word = word[:4]
        return f"/api/v1/models?limit=20&query={word}"

    def hash_path(rng: random.Random) -> str:
        sha = rng.choice(hashes)
        form = rng.choice((sha, sha[:10], sha.lower()))
        return f"/api/v1/model-versions/by-hash/{form}"

    run_load("warmup", base, list_path, 40, 4)
    return [
        run_load("list", base, list_path, args.requests, args.clients),
        run_load("query", base, query_path, args.requests, args.clients),
        run_load("by-hash", base, hash_path, args.requests, args.clients),
        feed_throughput(base, args.clients, args.feed_pages, highest_seq),
    ]


def print_side_by_side(results: dict[int, list[dict]]) -> None:
    counts = sorted(results)
    head = "".join(f"  {str(n) + (' processes' if n > 1 else ' process'):>26}" for n in counts)
    print(f"\n{'':<10}{head}")
    for index, kind in enumerate(("list", "query", "by-hash")):
        cells = []
        for n in counts:
            row = results[n][index]
            cell = f"p95 {row['p95_ms']:.1f} ms, {row['req_per_s']:.0f} req/s"
            cells.append(f"  {cell:>26}")
        print(f"{kind:<10}{''.join(cells)}")
    feed = "".join(f"  {str(results[n][3]['items_per_s']) + ' items/s':>26}" for n in counts)
    print(f"{'feed':<10}{feed}")


def measure_downloads(base: str, version_id: int, big_path: Path, size: int) -> None:
    url = f"{base}/api/download/models/{version_id}"
    read_disk(big_path, False)  # page cache warm, as for the server
    disk = max(read_disk(big_path, False) for _ in range(2))
    net = max(download(url, size, False) for _ in range(2))
    disk_h = read_disk(big_path, True)
    net_h = download(url, size, True)
    curl = curl_download(url)
    ceiling = sendfile_ceiling(big_path)
    mb = 1024 * 1024
    print(f"\ndownload of a {size / mb:.0f} MiB file (page cache warm):")
    print(f"  read from disk        {disk / mb:8.0f} MiB/s")
    print(f"  HTTP download (httpx) {net / mb:8.0f} MiB/s   {net / disk:6.1%} of disk")
    if curl:
        print(f"  HTTP download (curl)  {curl / mb:8.0f} MiB/s   {curl / disk:6.1%} of disk")
    if ceiling:
        print(
            f"  sendfile server (curl){ceiling / mb:8.0f} MiB/s   {ceiling / disk:6.1%} of disk (loopback ceiling)"
        )
        if curl:
            print(f"  hub server vs sendfile server (both curl): {curl / ceiling:6.1%}")
    print(f"  read + SHA256         {disk_h / mb:8.0f} MiB/s")
    print(f"  download + SHA256     {net_h / mb:8.0f} MiB/s   {net_h / disk_h:6.1%} of read + SHA256")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 models instead of 100,000")
    parser.add_argument("--models", type=int, default=None)
    parser.add_argument(
        "--users", type=int, default=None, help="creators seeded (default: one per 25 models)"
    )
    parser.add_argument("--data", type=Path, default=None, help="data directory to reuse or create (kept)")
    parser.add_argument(
        "--database",
        default=None,
        help="sqlite:///... or postgresql://... (default: hub.db in the data directory)",
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1], help="web process counts to compare")
    parser.add_argument("--redis-url", default=None, help="Redis for more than one process (shared cache)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=800, help="requests per kind")
    parser.add_argument("--feed-pages", type=int, default=10, help="500-item feed pages per client")
    parser.add_argument("--download-mb", type=int, default=512, help="0: no download measurement")
    args = parser.parse_args(argv)
    if max(args.processes) > 1 and not args.redis_url:
        parser.error("--processes: more than one process needs --redis-url")
    if min(args.processes) < 1:
        parser.error("--processes: each count must be at least 1")
    models = args.models or (10_000 if args.quick else 100_000)
    if args.quick:
        args.requests = min(args.requests, 400)
        args.download_mb = min(args.download_mb, 256)
    temp = None
    data_dir = args.data
    if data_dir is None:
        temp = tempfile.mkdtemp(prefix="hub-bench-")
        data_dir = Path(temp) / "hub"
    try:
        seed(args, data_dir, models)
        version_id = add_big_file(data_dir, args.download_mb, args.database) if args.download_mb else None
        store = open_store(data_dir, args.database)
        hashes = store.sample_hashes(500)
        highest_seq = store.counts().get("changes") or models
        big = store.download_file(version_id) if version_id else None
        store.close()
        print(f"\n{models} models, {args.clients} concurrent clients, {args.requests} requests per kind")
        results: dict[int, list[dict]] = {}
        for processes in args.processes:
            print(f"\n-- {processes} web process{'es' if processes > 1 else ''}", flush=True)
            server, base = start_server(data_dir, args.database, processes, args.redis_url)
            try:
                results[processes] = measure_api(base, args, hashes, highest_seq)
                if big is not None and processes == args.processes[0]:
                    measure_downloads(base, version_id, data_dir / big.path, big.size)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)
        print_side_by_side(results)
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
