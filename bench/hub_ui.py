"""Hub tab benchmark: search as you type through the studio's route, and download-to-usable.

    python bench/hub_ui.py                   2,000 models; a 20 MB LoRA file
    python bench/hub_ui.py --models 100000 --file-mb 100

A seeded hub server (hub.server.seed) and a studio (API only) run on loopback in this process;
the studio syncs the catalog through POST /studio/v1/hub/sync. Then:

1. Search as you type: every prefix of a few words ("w", "wa", "wat", ...) as the Hub tab sends
   them, through GET /studio/v1/hub/search (HTTP, JSON, summaries), beside the local hub's own
   `LocalHub.search` on the same mirror: p50 / p95 in ms.
2. Download to usable: a LoRA of N MB is uploaded to the hub server and synced; the figure is the
   time from POST /studio/v1/hub/downloads to the file listed by GET /studio/v1/loras (download,
   SHA256 check, sidecars, registry refresh).

Other processes on the machine inflate the figures; print `uptime` beside them.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import numpy as np
import uvicorn
from safetensors.numpy import save as save_safetensors

from hub.local import LocalHub
from hub.search import SearchQuery
from hub.server.app import create_app as create_hub_app
from hub.server.seed import seed_catalog

WORDS = ("watercolour", "portrait", "anime", "castle", "realistic")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms ({len(ordered)} queries)"


def upload(api: str, megabytes: int) -> None:
    key = httpx.post(f"{api}/auth/register", json={"username": "bench", "password": "correct horse battery"})
    key.raise_for_status()
    floats = np.random.default_rng(1).standard_normal(megabytes * 2**18).astype(np.float32)
    metadata = {
        "name": "Watercolour Wash",
        "type": "LORA",
        "description": "<p>bench</p>",
        "tags": ["style"],
        "version": {"name": "v1", "baseModel": "SD 1.5", "trainedWords": ["wet paper"], "files": []},
    }
    response = httpx.post(
        f"{api}/models",
        headers={"Authorization": f"Bearer {key.json()['apiKey']}"},
        data={"metadata": json.dumps(metadata)},
        files=[("files", ("wash.safetensors", save_safetensors({"w": floats}), "application/octet-stream"))],
        timeout=600,
    )
    response.raise_for_status()


def wait(check: Any, timeout: float = 3600) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.02)
    raise TimeoutError


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--file-mb", type=int, default=20)
    args = parser.parse_args()

    from studio.app import build_services
    from studio.config import StudioConfig
    from studio.http.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        seed_catalog(root / "server", args.models, seed=11, unique_files=20)
        hub_url, hub_server, hub_thread = serve(create_hub_app(root / "server", stats_refresh_seconds=0))
        upload(f"{hub_url}/api/v1", args.file_mb)
        print(
            f"seeded {args.models} models and a {args.file_mb} MB LoRA in {time.perf_counter() - started:.1f} s"
        )

        config = StudioConfig(data_dir=root / "studio", api_only=True)
        services = build_services(config)
        services.start()
        studio_url, studio_server, studio_thread = serve(create_app(services))
        base = f"{studio_url}/studio/v1/hub"
        try:
            started = time.perf_counter()
            job = httpx.post(f"{base}/sync", json={"server": hub_url}).json()["job"]
            wait(
                lambda: (
                    (s := httpx.get(f"{base}/sync").json())["job"]["id"] == job
                    and s["job"]["status"] == "done"
                )
            )
            print(f"sync through the studio: {time.perf_counter() - started:.1f} s")

            prefixes = [word[:n] for word in WORDS for n in range(1, len(word) + 1)]
            with httpx.Client() as client:
                client.get(f"{base}/search", params={"q": "warm"})  # warm the index
                through_route = []
                for prefix in prefixes:
                    begin = time.perf_counter()
                    client.get(f"{base}/search", params={"q": prefix, "nsfw": "any"}).raise_for_status()
                    through_route.append((time.perf_counter() - begin) * 1000)
            with LocalHub.open(config.data_dir, config.models_path) as local:
                local.search(SearchQuery(text="warm", as_you_type=True))  # warm, as the route was
                own = []
                for prefix in prefixes:
                    begin = time.perf_counter()
                    local.search(SearchQuery(text=prefix, as_you_type=True, nsfw=None))
                    own.append((time.perf_counter() - begin) * 1000)
            print(f"search as you type, studio route: {percentiles(through_route)}")
            print(f"search as you type, LocalHub.search: {percentiles(own)}")

            version = httpx.get(f"{base}/search", params={"q": "Watercolour Wash"}).json()["items"][0]
            version_id = httpx.get(f"{base}/models/{version['id']}").json()["modelVersions"][0]["id"]
            begin = time.perf_counter()
            httpx.post(f"{base}/downloads", json={"versionId": version_id}).raise_for_status()
            wait(lambda: any(x["name"] == "wash" for x in httpx.get(f"{studio_url}/studio/v1/loras").json()))
            print(f"download to usable in txt2img ({args.file_mb} MB): {time.perf_counter() - begin:.2f} s")
        finally:
            studio_server.should_exit = True
            studio_thread.join(20)
            services.close()
            hub_server.should_exit = True
            hub_thread.join(20)


if __name__ == "__main__":
    main()
