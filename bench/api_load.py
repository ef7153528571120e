"""API under load: a real server on loopback, N concurrent clients submitting and polling.

    python bench/api_load.py                     50 clients, 6 steps per job, both engines
    python bench/api_load.py --quick             50 clients, 2 steps per job
    python bench/api_load.py --lockstep          all clients poll at the same instants
    python bench/api_load.py --a1111             synchronous A1111 clients (txt2img + polling)
    python bench/api_load.py --engine worker     only the worker-process engine (or in-process)

Starts `launch.py serve --api-only` in a subprocess (fresh data dir, the tiny offline model),
then each client submits one job (POST /studio/v1/jobs), and polls /sdapi/v1/progress and its
job until the job ends, while the worker is busy generating. Prints submit latency and
progress-poll latency (p50/p95/max) and checks that every job completed exactly once: each is
`done`, ran on one attempt, has its image, and the queue holds exactly the jobs submitted.

By default the same scenario runs twice, one server after the other: with the engine on a thread
of the web process (`serve --in-process`) and in its worker process (the default), and the
figures are printed side by side with the load average around each run (on a shared machine
the load says how far the figures can be trusted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def line(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<22} n={len(ms):<6} p50={percentile(ms, 0.5):7.1f} ms  p95={percentile(ms, 0.95):7.1f} ms"
        f"  max={max(ms):7.1f} ms  mean={statistics.fmean(ms):7.1f} ms"
    )


RETRIED = (httpx.RemoteProtocolError, httpx.ReadError)  # a keep-alive connection the server closed


@dataclass
class Session:
    """The clients' HTTP client and the requests it had to send again."""

    http: httpx.AsyncClient
    retries: list[str]


async def send(client: Session, method: str, url: str, **kwargs: object) -> httpx.Response:
    """`client.request`, sent again (up to 3 times) when the server had closed the connection it
    went out on: on a machine this busy the client's loop can wake after uvicorn dropped an idle
    keep-alive connection (5 s). The request was never read then, so sending it again cannot
    make a second job; the exactly-once check below would report it if it did."""
    for attempt in range(3):
        try:
            return await client.http.request(method, url, **kwargs)  # type: ignore[arg-type]
        except RETRIED as error:
            if attempt == 2:
                raise
            client.retries.append(f"{method} {url}: {type(error).__name__}")
    raise AssertionError("unreachable")


def start_server(data_dir: Path, port: int, in_process: bool) -> subprocess.Popen:
    sys.path.insert(0, str(ROOT))
    from studio.pipeline.tiny_model import build_tiny_pipeline

    build_tiny_pipeline(data_dir / "models" / "Diffusers" / "bench-tiny")
    builtin = data_dir / "no-builtin-models"  # keep the shipped starter model out of the figures
    builtin.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "ATELIER_DEFAULT_MODEL": "bench-tiny",
        "ATELIER_BUILTIN_MODELS_DIR": str(builtin),
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "studio.cli.serve", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--api-only", "--no-browser", "--log-level", "warning"]
    if in_process:
        command.append("--in-process")
    return subprocess.Popen(command, cwd=ROOT, env=env)


async def wait_up(client: httpx.AsyncClient, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}")
        try:
            if (await client.get("/sdapi/v1/progress")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("server did not come up")


async def run_client(
    client: Session,
    index: int,
    payload: dict,
    interval: float,
    lockstep: bool,
    submit_ms: list,
    poll_ms: list,
    job_ms: list,
    ids: list,
    a1111: bool = False,
) -> None:
    rng = random.Random(index)
    if not lockstep:  # clients arrive spread over one interval and drift apart, as real ones do
        await asyncio.sleep(rng.uniform(0, interval))
    if a1111:
        await run_a1111_client(
            client, index, payload, interval, lockstep, rng, submit_ms, poll_ms, job_ms, ids
        )
        return
    started = time.perf_counter()
    response = await send(
        client, "POST", "/studio/v1/jobs", json={"kind": "generate", "payload": {**payload, "seed": index}}
    )
    submit_ms.append(time.perf_counter() - started)
    response.raise_for_status()
    job_id = response.json()["id"]
    ids.append(job_id)
    while True:
        tick = time.perf_counter()
        progress = await send(client, "GET", "/sdapi/v1/progress", params={"skip_current_image": "true"})
        poll_ms.append(time.perf_counter() - tick)
        progress.raise_for_status()
        tick = time.perf_counter()
        job = (await send(client, "GET", f"/studio/v1/jobs/{job_id}")).json()
        job_ms.append(time.perf_counter() - tick)
        if job["state"] not in ("queued", "running"):
            return
        await asyncio.sleep(interval if lockstep else interval * rng.uniform(0.5, 1.5))


async def run_a1111_client(
    client: Session,
    index: int,
    payload: dict,
    interval: float,
    lockstep: bool,
    rng: random.Random,
    round_trip_ms: list,
    poll_ms: list,
    options_ms: list,
    ids: list,
) -> None:
    """An A1111 client: a synchronous txt2img, polling progress and options while it waits."""
    started = time.perf_counter()
    generation = asyncio.create_task(
        send(client, "POST", "/sdapi/v1/txt2img", json={**payload, "seed": index})
    )
    while not generation.done():
        tick = time.perf_counter()
        (
            await send(client, "GET", "/sdapi/v1/progress", params={"skip_current_image": "true"})
        ).raise_for_status()
        poll_ms.append(time.perf_counter() - tick)
        tick = time.perf_counter()
        (await send(client, "GET", "/sdapi/v1/options")).raise_for_status()
        options_ms.append(time.perf_counter() - tick)
        await asyncio.wait({generation}, timeout=interval if lockstep else interval * rng.uniform(0.5, 1.5))
    response = generation.result()
    round_trip_ms.append(time.perf_counter() - started)
    response.raise_for_status()
    ids.append(json.loads(response.json()["info"])["job_id"])


@dataclass
class Figures:
    """One run's measurements (seconds) and what went wrong."""

    engine: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    elapsed: float = 0.0
    idle_run: float = 0.0
    runs: list[float] = field(default_factory=list)
    idle_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    poll_ms: list[float] = field(default_factory=list)
    job_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)


async def measure(args: argparse.Namespace, in_process: bool) -> Figures:
    figures = Figures("in-process" if in_process else "worker process", os.getloadavg())
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as folder:
        server = start_server(Path(folder), port, in_process)
        try:
            # idle connections are dropped after 2 s, before uvicorn closes them (5 s): reusing one
            # the server is closing fails the request ("Server disconnected without a response")
            limits = httpx.Limits(
                max_connections=args.clients * 2,
                max_keepalive_connections=args.clients * 2,
                keepalive_expiry=2.0,
            )
            async with httpx.AsyncClient(
                # 600 s: with --a1111 the last of 50 synchronous txt2img calls waits for the 49 before
                base_url=f"http://127.0.0.1:{port}",
                timeout=600,
                limits=limits,
            ) as client:
                await wait_up(client, server)
                payload = {"prompt": "a red circle", "steps": args.steps, "width": 64, "height": 64}
                # one warm-up job loads the model, so the figures are about the API, not the first load
                warm = (await client.post("/studio/v1/jobs", json={"payload": payload})).json()["id"]
                while (await client.get(f"/studio/v1/jobs/{warm}")).json()["state"] in ("queued", "running"):
                    await asyncio.sleep(0.1)
                # a second job with nobody polling: the run time of a job on an idle server
                idle = (await client.post("/studio/v1/jobs", json={"payload": payload})).json()["id"]
                while (idle_job := (await client.get(f"/studio/v1/jobs/{idle}")).json())["state"] in (
                    "queued",
                    "running",
                ):
                    await asyncio.sleep(0.2)
                figures.idle_run = idle_job["finished_at"] - idle_job["started_at"]
                for _ in range(100):
                    tick = time.perf_counter()
                    await client.get("/sdapi/v1/progress", params={"skip_current_image": "true"})
                    figures.idle_ms.append(time.perf_counter() - tick)
                ids: list[str] = []
                began = time.perf_counter()
                await asyncio.gather(
                    *(
                        run_client(
                            Session(client, figures.retries),
                            i,
                            payload,
                            args.interval,
                            args.lockstep,
                            figures.submit_ms,
                            figures.poll_ms,
                            figures.job_ms,
                            ids,
                            args.a1111,
                        )
                        for i in range(args.clients)
                    )
                )
                figures.elapsed = time.perf_counter() - began
                listing = (
                    await client.get("/studio/v1/jobs", params={"limit": 500, "kind": "generate"})
                ).json()
        finally:
            server.terminate()
            server.wait(30)
    figures.load_after = os.getloadavg()
    jobs = {job["id"]: job for job in listing["items"]}
    problems = figures.problems
    if len(set(ids)) != args.clients:
        problems.append(f"{args.clients} submitted but {len(set(ids))} distinct ids")
    if listing["total"] != args.clients + 2:
        problems.append(f"the queue holds {listing['total']} generate jobs, expected {args.clients + 2}")
    for job_id in ids:
        job = jobs.get(job_id)
        if job is None:
            problems.append(f"{job_id} missing")
        elif (
            job["state"] != "done"
            or job["attempts"] != 1
            or len((job["result"] or {}).get("images", [])) != 1
        ):
            problems.append(f"{job_id}: state {job['state']}, attempts {job['attempts']}")
    figures.runs = [job["finished_at"] - job["started_at"] for job in jobs.values() if job["id"] in set(ids)]
    return figures


def stats(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    if not ms:
        return "-"
    return f"{percentile(ms, 0.5):.1f} / {percentile(ms, 0.95):.1f} / {max(ms):.1f}"


def report(args: argparse.Namespace, all_figures: list[Figures]) -> int:
    print(
        f"clients {args.clients}{' in lock-step' if args.lockstep else ''}"
        f"{', synchronous A1111 txt2img' if args.a1111 else ''}, {args.steps} steps per 64x64 job,"
        f" polling every {args.interval} s; latencies in ms as p50 / p95 / max"
    )
    rows: list[tuple[str, list[str]]] = [
        ("load average before", ["{:.2f} {:.2f} {:.2f}".format(*f.load_before) for f in all_figures]),
        ("load average after", ["{:.2f} {:.2f} {:.2f}".format(*f.load_after) for f in all_figures]),
        ("all jobs took", [f"{f.elapsed:.1f} s" for f in all_figures]),
        ("throughput", [f"{args.clients / f.elapsed:.2f} jobs/s" if f.elapsed else "-" for f in all_figures]),
        (
            "job run: idle / loaded",
            [
                f"{f.idle_run * 1000:.0f} / {statistics.median(f.runs) * 1000:.0f} ms" if f.runs else "-"
                for f in all_figures
            ],
        ),
        ("progress, server idle", [stats(f.idle_ms) for f in all_figures]),
        (
            "txt2img round trip" if args.a1111 else "submit (POST /jobs)",
            [stats(f.submit_ms) for f in all_figures],
        ),
        ("progress poll", [stats(f.poll_ms) for f in all_figures]),
        (
            "options (GET)" if args.a1111 else "job poll (GET /jobs/id)",
            [stats(f.job_ms) for f in all_figures],
        ),
        (
            "progress p95 < 50 ms",
            [
                "met" if percentile([v * 1000 for v in f.poll_ms], 0.95) < 50 else "NOT met"
                for f in all_figures
            ],
        ),
    ]
    print(f"{'':<24}" + "".join(f"{f.engine:>28}" for f in all_figures))
    for name, cells in rows:
        print(f"{name:<24}" + "".join(f"{cell:>28}" for cell in cells))
    for figures in all_figures:
        if figures.retries:
            print(f"{figures.engine}: {len(figures.retries)} request(s) sent again (keep-alive closed)")
    failed = False
    for figures in all_figures:
        if figures.problems:
            failed = True
            print(f"PROBLEMS ({figures.engine}):\n  " + "\n  ".join(figures.problems[:20]))
        else:
            print(f"{figures.engine}: all {args.clients} jobs completed exactly once")
    return 1 if failed else 0


async def main_async(args: argparse.Namespace) -> int:
    engines = {"both": [True, False], "in-process": [True], "worker": [False]}[args.engine]
    return report(args, [await measure(args, in_process) for in_process in engines])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between a client's polls")
    parser.add_argument("--quick", action="store_true", help="2 steps per job")
    parser.add_argument(
        "--a1111",
        action="store_true",
        help="clients use the synchronous /sdapi/v1/txt2img and poll progress and options",
    )
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="all clients submit and poll at the same instants (worst case)",
    )
    parser.add_argument(
        "--engine",
        choices=("both", "in-process", "worker"),
        default="both",
        help="which engine to measure: on the web process's thread, in its worker process, or "
        "both, one after the other (default)",
    )
    args = parser.parse_args()
    if args.quick:
        args.steps = 2
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
