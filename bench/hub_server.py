"""Hub server benchmark: seed a catalog, then measure the API from concurrent loopback clients.

    python bench/hub_server.py            # 100,000 models
    python bench/hub_server.py --quick    # 10,000 models
    python bench/hub_server.py --data DIR # reuse (or create) a seeded data directory

Prints seeding time, p50/p95 latency and requests/s for list, query and by-hash requests, and
download throughput next to reading the same file from disk, measured in the same run. The
server runs as its own process (rate limits off); clients are threads with keep-alive httpx
clients in this process.
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


def add_big_file(data_dir: Path, megabytes: int) -> int:
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
    store = ServerStore(data_dir)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 models instead of 100,000")
    parser.add_argument("--models", type=int, default=None)
    parser.add_argument("--data", type=Path, default=None, help="data directory to reuse or create (kept)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=800, help="requests per kind")
    parser.add_argument("--download-mb", type=int, default=512)
    args = parser.parse_args(argv)
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
        existing = ServerStore(data_dir)
        have = existing.counts()["models"]
        existing.close()
        if have < models:
            print(f"seeding {models - have} models into {data_dir} ...", flush=True)
            result = seed_catalog(data_dir, models - have, seed=1)
            rate = (models - have) / result["seconds"]
            print(
                f"seed: {models - have} models in {result['seconds']:.1f} s ({rate:.0f} models/s); "
                f"{result['versions']} versions, {result['files']} files "
                f"({result['uniqueSafetensors']} distinct safetensors), {result['images']} images",
                flush=True,
            )
        version_id = add_big_file(data_dir, args.download_mb)
        store = ServerStore(data_dir)
        hashes = store.sample_hashes(500)
        big = store.download_file(version_id)
        store.close()
        big_path = data_dir / big.path

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub.server",
                "--data",
                str(data_dir),
                "--port",
                str(port),
                "--ip-rate-limit",
                "0",
                "--key-rate-limit",
                "0",
                "--stats-refresh",
                "0",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{base}/api/v1/enums")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            print(f"\n{models} models, {args.clients} concurrent clients, {args.requests} requests per kind")
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

            # warm up caches a little
            run_load("warmup", base, list_path, 40, 4)
            results = [
                run_load("list", base, list_path, args.requests, args.clients),
                run_load("query", base, query_path, args.requests, args.clients),
                run_load("by-hash", base, hash_path, args.requests, args.clients),
            ]
            url = f"{base}/api/download/models/{version_id}"
            size = big.size
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
            del results
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
