"""API under load: a real server on loopback, N concurrent clients submitting and polling.

    python bench/api_load.py                     50 clients, 6 steps per job, both engines
    python bench/api_load.py --quick             50 clients, 2 steps per job
    python bench/api_load.py --lockstep          all clients poll at the same instants
    python bench/api_load.py --a1111             synchronous A1111 clients (txt2img + polling)
    python bench/api_load.py --engine worker     only the worker-process engine (or in-process)
    python bench/api_load.py --client raw        only the lean client (or httpx; default both)
    python bench/api_load.py --server-source DIR --server-source .
                                                 a before/after: servers from two checkouts

Starts `launch.py serve --api-only` in a subprocess (fresh data dir, the tiny offline model),
then each client submits one job (POST /studio/v1/jobs), and polls /sdapi/v1/progress and its
job until the job ends, while the worker is busy generating. Prints submit latency and
progress-poll latency (p50/p95/max) and checks that every job completed exactly once: each is
`done`, ran on one attempt, has its image, and the queue holds exactly the jobs submitted.

By default the same scenario runs twice, one server after the other: with the engine on a thread
of the web process (`serve --in-process`) and in its worker process (the default), and the
figures are printed side by side with the load average around each run (on a shared machine
the load says how far the figures can be trusted).

The clients run in this one Python process, on the same cores as the server, so what a latency
measures depends on the client. Each server runs the scenario once per client kind (`--client`):
- `httpx`: httpx.AsyncClient, as a Python script would. Its per-request Python cost and its
  pool's bookkeeping (which grows with the requests in flight) dominate a lock-step of 50: the
  figure is mostly the client's.
- `raw`: bench/raw_http.py, plain asyncio HTTP/1.1 on keep-alive connections (one per request in
  flight): close to the server's own latency plus the loopback.
Both columns check exactly-once the same way (each scenario's jobs, and the queue holding every
job submitted so far). Two more figures say which part is the server's:
- "floor": the same clients' polls in the same rhythm to a trivial ASGI app under the same
  uvicorn (`--no-floor` skips it): the client's, uvicorn's and the OS's part, no studio.
- "web process CPU/request": the server process's CPU time (/proc) over the scenario divided by
  the requests it answered (the worker process's CPU is not in it).
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
from raw_http import RawHttp

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

    http: httpx.AsyncClient | RawHttp
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


def start_server(data_dir: Path, port: int, in_process: bool, source: Path = ROOT) -> subprocess.Popen:
    """`serve` from the checkout at `source` (this one by default; another for a before/after)."""
    sys.path.insert(0, str(ROOT))
    from studio.pipeline.tiny_model import build_tiny_pipeline

    build_tiny_pipeline(data_dir / "models" / "Diffusers" / "bench-tiny")
    builtin = data_dir / "no-builtin-models"  # keep the shipped starter model out of the figures
    builtin.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "ATELIER_DEFAULT_MODEL": "bench-tiny",
        "ATELIER_BUILTIN_MODELS_DIR": str(builtin),
        "PYTHONPATH": str(source),
    }
    command = [sys.executable, "-m", "studio.cli.serve", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--api-only", "--no-browser", "--log-level", "warning"]
    if in_process:
        command.append("--in-process")
    return subprocess.Popen(command, cwd=source, env=env)


async def wait_up(
    client: httpx.AsyncClient | RawHttp, server: subprocess.Popen, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}")
        try:
            if (await client.request("GET", "/sdapi/v1/progress")).status_code == 200:
                return
        except (httpx.TransportError, OSError, asyncio.IncompleteReadError):
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
    ids: list[str] = field(default_factory=list)
    server_cpu_per_request: float | None = None
    idle_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    poll_ms: list[float] = field(default_factory=list)
    job_ms: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_client(kind: str, port: int, connections: int) -> httpx.AsyncClient | RawHttp:
    if kind == "raw":
        return RawHttp("127.0.0.1", port)
    # idle connections are dropped after 2 s, before uvicorn closes them (5 s): reusing one
    # the server is closing fails the request ("Server disconnected without a response")
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2.0
    )
    # 600 s: with --a1111 the last of 50 synchronous txt2img calls waits for the 49 before
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=600, limits=limits)


async def close_client(client: httpx.AsyncClient | RawHttp) -> None:
    await (client.close() if isinstance(client, RawHttp) else client.aclose())


def source_label(source: Path, sources: list[Path]) -> str:
    return "" if len(sources) == 1 else f" [{source.name}]"


async def measure(args: argparse.Namespace, in_process: bool, source: Path) -> list[Figures]:
    """One server (from `source`), the scenario once per client kind; one Figures each."""
    engine = ("in-process" if in_process else "worker process") + source_label(source, args.sources)
    all_figures: list[Figures] = []
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as folder:
        server = start_server(Path(folder), port, in_process, source)
        try:
            setup = open_client("httpx", port, 4)
            try:
                await wait_up(setup, server)
                payload = {"prompt": "a red circle", "steps": args.steps, "width": 64, "height": 64}
                # one warm-up job loads the model, so the figures are about the API, not the first load
                warm = (await setup.post("/studio/v1/jobs", json={"payload": payload})).json()["id"]
                while (await setup.get(f"/studio/v1/jobs/{warm}")).json()["state"] in ("queued", "running"):
                    await asyncio.sleep(0.1)
                # a second job with nobody polling: the run time of a job on an idle server
                idle = (await setup.post("/studio/v1/jobs", json={"payload": payload})).json()["id"]
                while (idle_job := (await setup.get(f"/studio/v1/jobs/{idle}")).json())["state"] in (
                    "queued",
                    "running",
                ):
                    await asyncio.sleep(0.2)
                idle_run = idle_job["finished_at"] - idle_job["started_at"]
                for kind in args.client_kinds:
                    figures = Figures(f"{engine}, {kind}", os.getloadavg(), idle_run=idle_run)
                    client = open_client(kind, port, args.clients * 2)
                    try:
                        await run_scenario(args, figures, client, payload, server.pid)
                    finally:
                        await close_client(client)
                    submitted = args.clients * (len(all_figures) + 1) + 2
                    await check_listing(args, figures, setup, submitted)
                    all_figures.append(figures)
            finally:
                await close_client(setup)
        finally:
            server.terminate()
            server.wait(30)
    return all_figures


async def run_scenario(
    args: argparse.Namespace,
    figures: Figures,
    client: httpx.AsyncClient | RawHttp,
    payload: dict,
    server_pid: int,
) -> None:
    for _ in range(100):
        tick = time.perf_counter()
        await client.request("GET", "/sdapi/v1/progress", params={"skip_current_image": "true"})
        figures.idle_ms.append(time.perf_counter() - tick)
    cpu_before = cpu_seconds(server_pid)
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
                figures.ids,
                args.a1111,
            )
            for i in range(args.clients)
        )
    )
    figures.elapsed = time.perf_counter() - began
    cpu_after = cpu_seconds(server_pid)
    requests = len(figures.submit_ms) + len(figures.poll_ms) + len(figures.job_ms)
    if cpu_before is not None and cpu_after is not None and requests:
        figures.server_cpu_per_request = (cpu_after - cpu_before) / requests
    if isinstance(client, RawHttp):
        figures.retries.extend(["keep-alive closed"] * client.reconnects)
    figures.load_after = os.getloadavg()


async def check_listing(
    args: argparse.Namespace, figures: Figures, setup: httpx.AsyncClient, submitted: int
) -> None:
    """Every job of this scenario done once, with its image, and the queue holding exactly the
    jobs submitted so far (this scenario's, the earlier scenarios' and the two warm-up jobs)."""
    listing = (await setup.get("/studio/v1/jobs", params={"limit": 500, "kind": "generate"})).json()
    jobs = {job["id"]: job for job in listing["items"]}
    problems = figures.problems
    if len(set(figures.ids)) != args.clients:
        problems.append(f"{args.clients} submitted but {len(set(figures.ids))} distinct ids")
    if listing["total"] != submitted:
        problems.append(f"the queue holds {listing['total']} generate jobs, expected {submitted}")
    for job_id in figures.ids:
        job = jobs.get(job_id)
        if job is None:
            problems.append(f"{job_id} missing")
        elif (
            job["state"] != "done"
            or job["attempts"] != 1
            or len((job["result"] or {}).get("images", [])) != 1
        ):
            problems.append(f"{job_id}: state {job['state']}, attempts {job['attempts']}")
    ids = set(figures.ids)
    figures.runs = [job["finished_at"] - job["started_at"] for job in jobs.values() if job["id"] in ids]


async def trivial_app(scope: dict, receive: object, send: object) -> None:
    """The floor: an ASGI app that answers every request with a fixed small JSON body."""
    if scope["type"] != "http":
        return
    body = b'{"progress":0.0,"eta_relative":0.0}'
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


async def measure_floor(args: argparse.Namespace, kind: str, rounds: int = 10) -> Figures:
    """The same clients' polls, in the same rhythm, against `trivial_app` under uvicorn: what
    the client and uvicorn cost without the studio."""
    figures = Figures(f"trivial app, {kind}", os.getloadavg())
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "api_load:trivial_app"]
    server = subprocess.Popen([*command, "--port", str(port), "--log-level", "warning"], cwd=ROOT)
    try:
        client = open_client(kind, port, args.clients * 2)
        try:
            await wait_up(client, server)

            async def poll(index: int) -> None:
                rng = random.Random(index)
                if not args.lockstep:
                    await asyncio.sleep(rng.uniform(0, args.interval))
                for _ in range(rounds):
                    tick = time.perf_counter()
                    response = await client.request(
                        "GET", "/sdapi/v1/progress", params={"skip_current_image": "true"}
                    )
                    figures.poll_ms.append(time.perf_counter() - tick)
                    response.raise_for_status()
                    pause = args.interval if args.lockstep else args.interval * rng.uniform(0.5, 1.5)
                    await asyncio.sleep(pause)

            cpu_before = cpu_seconds(server.pid)
            await asyncio.gather(*(poll(i) for i in range(args.clients)))
            cpu_after = cpu_seconds(server.pid)
            if cpu_before is not None and cpu_after is not None:
                figures.server_cpu_per_request = (cpu_after - cpu_before) / len(figures.poll_ms)
        finally:
            await close_client(client)
    finally:
        server.terminate()
        server.wait(30)
    figures.load_after = os.getloadavg()
    return figures


def cpu_per_request(figures: Figures) -> str:
    value = figures.server_cpu_per_request
    return "-" if value is None else f"{value * 1000:.2f} ms"


def stats(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    if not ms:
        return "-"
    return f"{percentile(ms, 0.5):.1f} / {percentile(ms, 0.95):.1f} / {max(ms):.1f}"


def report(args: argparse.Namespace, all_figures: list[Figures], floors: list[Figures]) -> int:
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
        ("web process CPU/request", [cpu_per_request(f) for f in all_figures]),
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
    width = max(28, *(len(f.engine) + 2 for f in all_figures))
    print(f"{'':<24}" + "".join(f"{f.engine:>{width}}" for f in all_figures))
    for name, cells in rows:
        print(f"{name:<24}" + "".join(f"{cell:>{width}}" for cell in cells))
    if floors:
        print("floor: the same clients' polls, same rhythm, to a trivial ASGI app under uvicorn (no studio):")
        for floor in floors:
            print(
                f"  {floor.engine:<22} progress poll {stats(floor.poll_ms)} ms,"
                f" server CPU/request {cpu_per_request(floor)}, load {floor.load_before[0]:.2f} -> {floor.load_after[0]:.2f}"
            )
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
    floors = [await measure_floor(args, kind) for kind in args.client_kinds] if args.floor else []
    all_figures: list[Figures] = []
    for in_process in engines:
        for source in args.sources:
            all_figures += await measure(args, in_process, source)
    return report(args, all_figures, floors)


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
    parser.add_argument(
        "--client",
        choices=("both", "raw", "httpx"),
        default="both",
        help="the clients' HTTP library: httpx, or raw (asyncio keep-alive HTTP/1.1, bench/raw_http.py:"
        " a lean client that leaves more of the shared CPU to the server), or both, one after the other"
        " on the same server (default)",
    )
    parser.add_argument(
        "--server-source",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="run the server from this checkout (repeat for a before/after in one run, e.g. an"
        " exported main beside this one); default: this checkout",
    )
    parser.add_argument("--no-floor", dest="floor", action="store_false", help="skip the trivial-app floor")
    args = parser.parse_args()
    args.client_kinds = ["raw", "httpx"] if args.client == "both" else [args.client]
    args.sources = [source.resolve() for source in args.server_source] or [ROOT]
    if args.quick:
        args.steps = 2
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
