"""Several processes of one hub: `hub-server serve --workers N` (uvicorn's process manager, N
web processes on one port) and `hub-server worker` (a background job worker, worker_queue.py).

uvicorn starts each web process afresh (spawn) and builds its app by calling a factory named by
an import string; the settings travel to the factory in one environment variable (JSON), since
the children inherit the parent's environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from hub.server.cli import _database_argument, smtp_arguments, smtp_options
from hub.server.config import ServerConfig

SETTINGS_VARIABLE = "ATELIER_HUB_SERVER_SETTINGS"


def serve_processes(
    data_dir: Path, options: dict[str, Any], workers: int, host: str, port: int, log_level: str
) -> None:
    """Run `workers` web processes on host:port until SIGTERM/SIGINT."""
    import uvicorn

    settings = {
        key: sorted(value) if isinstance(value, frozenset) else value for key, value in options.items()
    }
    settings = settings | {"data_dir": str(data_dir)}
    os.environ[SETTINGS_VARIABLE] = json.dumps(settings)
    # The same uvicorn settings as one process (cli.uvicorn_config: no proxy headers from uvicorn).
    uvicorn.run(
        "hub.server.processes:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        forwarded_allow_ips="",
    )


def app_from_environment() -> Any:
    """The factory each web process of `serve_processes` calls."""
    from hub.server.app import create_app

    settings = json.loads(os.environ[SETTINGS_VARIABLE])
    data_dir = settings.pop("data_dir")
    for key in ("trusted_proxies", "disabled_features"):
        if key in settings:
            settings[key] = (frozenset if key == "disabled_features" else tuple)(settings[key])
    return create_app(data_dir, **settings)


def worker_main(argv: list[str]) -> int:
    """`hub-server worker`: run background jobs from the queue until SIGTERM/SIGINT."""
    from hub.server.worker_queue import WorkerSettings, serve_worker

    parser = argparse.ArgumentParser(
        prog="hub.server worker", description="run the hub server's background jobs from its queue"
    )
    parser.add_argument("--data", required=True, type=Path, help="the server's data directory")
    _database_argument(parser)
    parser.add_argument(
        "--queue-url", required=True, help="the queue the servers use (redis://... or postgresql://...)"
    )
    parser.add_argument("--redis-url", default=None, help="the servers' cache (invalidated after writes)")
    parser.add_argument("--public-url", default=None, help="origin of links in emails")
    defaults = WorkerSettings()
    parser.add_argument("--concurrency", default=defaults.concurrency, type=int, help="jobs run at once")
    parser.add_argument(
        "--heartbeat",
        default=defaults.heartbeat,
        type=int,
        help="seconds: a job whose worker sent no heartbeat this long is run again by another worker",
    )
    parser.add_argument(
        "--retry-delay", default=defaults.retry_delay, type=float, help="seconds before the first retry"
    )
    parser.add_argument(
        "--retry-cap", default=defaults.retry_cap, type=float, help="longest delay between retries"
    )
    parser.add_argument(
        "--poll", default=defaults.poll, type=float, help="seconds between looks for newly due jobs"
    )
    smtp_arguments(parser)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    bad = [
        f"--{name}: must be positive"
        for name, value in (
            ("concurrency", args.concurrency),
            ("heartbeat", args.heartbeat),
            ("retry-delay", args.retry_delay),
            ("retry-cap", args.retry_cap),
            ("poll", args.poll),
        )
        if value <= 0
    ]
    if bad:
        parser.error("; ".join(bad))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = ServerConfig(
        data_dir=args.data,
        database=args.database,
        public_url=args.public_url,
        redis_url=args.redis_url,
        queue_url=args.queue_url,
        **smtp_options(args),
    )
    settings = WorkerSettings(
        concurrency=args.concurrency,
        heartbeat=args.heartbeat,
        retry_delay=args.retry_delay,
        retry_cap=args.retry_cap,
        poll=args.poll,
    )
    asyncio.run(serve_worker(config, settings))
    return 0
