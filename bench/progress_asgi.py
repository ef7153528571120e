"""The server's own cost of a progress poll: the studio's ASGI app called directly, no HTTP.

    python bench/progress_asgi.py                      this checkout
    PYTHONPATH=<other checkout> python bench/progress_asgi.py --source <other checkout>

Builds the services on the tiny offline model (engine on a thread of this process), starts a
long job and, while it generates, calls the app (every middleware, the routing, the handler) as
uvicorn would, with `GET /sdapi/v1/progress?skip_current_image=true`, the same with the preview,
and `GET /studio/v1/jobs/{id}`. Prints for each the CPU time of the calling thread per request
(`time.thread_time`: what the event loop spends, whatever the machine's load) and the wall time
p50 / p95 (which includes waiting for the GIL while the engine's thread runs). uvicorn's HTTP
parsing and the client are not in these figures; bench/api_load.py measures them end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def scope(path: str, query: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def call(app: Any, path: str, query: bytes) -> tuple[float, float, int]:
    """(wall seconds, thread CPU seconds, status) of one request through `app`."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    wall, cpu = time.perf_counter(), time.thread_time()
    await app(scope(path, query), receive, send)
    return time.perf_counter() - wall, time.thread_time() - cpu, sent[0]["status"]


async def measure(app: Any, path: str, query: bytes, count: int) -> str:
    walls, cpus = [], []
    for _ in range(count):
        wall, cpu, status = await call(app, path, query)
        assert status == 200, (path, status)
        walls.append(wall * 1e6)
        cpus.append(cpu * 1e6)
    walls.sort()
    return (
        f"CPU/request mean {statistics.fmean(cpus):6.0f} us   wall p50 {walls[len(walls) // 2]:6.0f} us"
        f"  p95 {walls[int(len(walls) * 0.95)]:6.0f} us"
    )


async def main_async(count: int) -> None:
    from studio.app import build_services
    from studio.http.app import create_app
    from studio.pipeline.tiny_model import build_tiny_pipeline
    from tests.helpers import make_studio_config

    with tempfile.TemporaryDirectory(prefix="atelier-progress-") as folder:
        root = Path(folder)
        tiny = build_tiny_pipeline(root / "tiny", seed=0)
        services = build_services(make_studio_config(root, tiny, api_only=True))
        services.start()
        try:
            app = create_app(services)
            payload = {"prompt": "a red circle", "width": 64, "height": 64, "steps": 150}
            job = services.jobs.submit("generate", payload)
            queued = services.jobs.submit("generate", {**payload, "steps": 2})  # one behind it
            deadline = time.monotonic() + 120
            while (snapshot := services.jobs.progress()).step is None or snapshot.preview is None:
                if time.monotonic() > deadline:
                    raise SystemExit("the job did not start")
                await asyncio.sleep(0.05)
            for name, path, query in (
                ("progress, skip_current_image", "/sdapi/v1/progress", b"skip_current_image=true"),
                ("progress, with the preview", "/sdapi/v1/progress", b""),
                ("job (GET /studio/v1/jobs/id)", f"/studio/v1/jobs/{job.id}", b""),
            ):
                print(f"{name:<32} {await measure(app, path, query, count)}")
            if services.jobs.progress().job is None:
                print("warning: the job ended during the measurement (figures partly idle)")
            services.jobs.cancel(queued.id)
            services.jobs.cancel(job.id)
        finally:
            services.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000, help="requests per route")
    parser.add_argument("--source", type=Path, default=ROOT, help="the checkout whose studio is measured")
    args = parser.parse_args()
    sys.path.insert(0, str(args.source.resolve()))
    import studio

    print(f"studio from {Path(studio.__file__).parent.parent.name}")
    asyncio.run(main_async(args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
