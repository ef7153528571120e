"""Command line: `serve` (default), `worker`, `seed` and `refresh-stats`. launch.py maps `hub-server ...` to `main(argv)`.

python -m hub.server --data DIR [--database URL] [--host 127.0.0.1] [--port 8765] [--public-url URL] ...
python -m hub.server seed --data DIR [--database URL] --models 1000 [--seed 0] [--unique-files 20000] [--articles N]
python -m hub.server refresh-stats --data DIR [--database URL]
python -m hub.server migrate --from sqlite:///DIR/hub.db --to postgresql://user@host:port/db [--replace]
python -m hub.server worker --data DIR [--database URL] --queue-url redis://...|postgresql://... [--concurrency 4]
python -m hub.server serve --data DIR --workers 4 --redis-url redis://... [--queue-url ...]

`--database`: sqlite:///path/to/hub.db or postgresql://user@host:port/db (default: hub.db in --data).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from hub.server.client_address import parse_proxies
from hub.server.features import COMMUNITY_FEATURES


def _serve_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="data directory (database, files, media)")
    _database_argument(parser)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", default=8765, type=int)
    parser.add_argument(
        "--public-url", default=None, help="origin for absolute URLs (default: the request's)"
    )
    parser.add_argument("--ip-rate-limit", default=600, type=int, help="requests/minute per IP; 0 = off")
    parser.add_argument(
        "--key-rate-limit", default=1200, type=int, help="requests/minute per API key; 0 = off"
    )
    parser.add_argument(
        "--max-upload-mb", default=16 * 1024, type=int, help="largest upload in MiB (default 16384: 16 GiB)"
    )
    parser.add_argument(
        "--stats-refresh", default=300.0, type=float, help="seconds between stats refreshes; 0 = off"
    )
    parser.add_argument(
        "--trust-forwarded",
        default="",
        type=_proxies,
        metavar="PROXIES",
        help="comma-separated IP addresses or networks of your reverse proxies: requests they deliver "
        "are rate-limited by the client address in X-Forwarded-For (default: none; the header is ignored)",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="Redis (redis://host:port/db) for the cache and rate limits shared by several server processes",
    )
    parser.add_argument(
        "--queue-url",
        default=None,
        help="worker queue (redis://host:port/db or postgresql://...): background jobs then run in "
        "`hub-server worker` processes, not in the server (default: in-process)",
    )
    parser.add_argument(
        "--workers",
        default=1,
        type=int,
        help="server processes sharing the port (more than 1 needs --redis-url for the shared cache)",
    )
    parser.add_argument("--accel-redirect", default=None, help="nginx internal location prefix for downloads")
    parser.add_argument(
        "--disable-feature",
        action="append",
        default=[],
        choices=COMMUNITY_FEATURES,
        help="switch a community feature off (its routes answer 404); repeatable",
    )
    parser.add_argument(
        "--job-poll", default=1.0, type=float, help="seconds between job worker polls; 0 = no worker"
    )
    smtp_arguments(parser)
    parser.add_argument("--log-level", default="info")


def smtp_arguments(parser: argparse.ArgumentParser) -> None:
    """The email channel's options (the server's and the worker's: both may send the email)."""
    parser.add_argument(
        "--smtp-host", default=None, help="SMTP server for email notifications (none: no email)"
    )
    parser.add_argument("--smtp-port", default=25, type=int)
    parser.add_argument(
        "--smtp-from", default="atelier-hub@localhost", help="sender address of notification emails"
    )
    parser.add_argument(
        "--smtp-username",
        default=None,
        help="SMTP login (the password is read from $ATELIER_HUB_SMTP_PASSWORD)",
    )
    parser.add_argument(
        "--smtp-starttls", action="store_true", help="upgrade the SMTP connection with STARTTLS"
    )


def smtp_options(args: argparse.Namespace) -> dict[str, Any]:
    return dict(
        smtp_host=args.smtp_host,
        smtp_port=args.smtp_port,
        smtp_from=args.smtp_from,
        smtp_username=args.smtp_username,
        smtp_password=os.environ.get("ATELIER_HUB_SMTP_PASSWORD") if args.smtp_username else None,
        smtp_starttls=args.smtp_starttls,
    )


def _database_url(value: str) -> str:
    from hub.server.store.connections import check_url

    try:
        return check_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        default=None,
        type=_database_url,
        metavar="URL",
        help="sqlite:///path/to/hub.db or postgresql://user@host:port/db (default: hub.db in --data)",
    )


def _migrate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="hub.server migrate",
        description="copy a hub server's SQLite database into PostgreSQL and verify every table "
        "(row counts and checksums)",
    )
    parser.add_argument("--from", dest="source", required=True, type=_database_url, metavar="sqlite:///PATH")
    parser.add_argument("--to", dest="target", required=True, type=_database_url, metavar="postgresql://...")
    parser.add_argument(
        "--replace", action="store_true", help="empty a target that already holds data, then copy"
    )
    args = parser.parse_args(argv)
    import sqlite3
    import sys

    import psycopg

    from hub.server.store.database_copy import MigrateError, migrate_database

    try:
        reports = migrate_database(args.source, args.target, replace=args.replace)
    except MigrateError as exc:
        print(f"hub.server migrate: {exc}", file=sys.stderr)
        return 1
    except (psycopg.Error, sqlite3.Error) as exc:
        print(f"hub.server migrate: database error: {exc}", file=sys.stderr)
        return 1
    rows = sum(r.source_rows for r in reports)
    print(f"migrated {len(reports)} tables, {rows} rows; every count and checksum matches")
    return 0


def _proxies(value: str) -> tuple[str, ...]:
    entries = tuple(e.strip() for e in value.split(",") if e.strip())
    try:
        parse_proxies(entries)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return entries


def uvicorn_config(app: Any, **options: Any) -> Any:
    """uvicorn's settings for the hub server (the CLI's, and the tests' servers').

    uvicorn's own proxy-header handling is off: by default it takes the client address from
    X-Forwarded-For for any request from 127.0.0.1, which would let anyone on the machine (or
    behind a local proxy that passes the header through) pick their own rate-limit bucket. The
    app decides itself, from `--trust-forwarded` (hub/server/client_address.py).
    """
    import uvicorn

    return uvicorn.Config(app, proxy_headers=False, forwarded_allow_ips="", workers=1, **options)


def main(argv: list[str] | None = None) -> int:
    import sys

    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "seed":
        parser = argparse.ArgumentParser(prog="hub.server seed", description="build a synthetic catalog")
        parser.add_argument("--data", required=True, type=Path)
        _database_argument(parser)
        parser.add_argument("--models", default=1000, type=int)
        parser.add_argument("--seed", default=0, type=int)
        parser.add_argument(
            "--unique-files", default=20_000, type=int, help="distinct model files before reuse"
        )
        parser.add_argument("--articles", default=None, type=int, help="articles (default: one per 4 models)")
        parser.add_argument(
            "--no-community", action="store_true", help="models only: no articles, follows, ..."
        )
        args = parser.parse_args(args_list[1:])
        from hub.server.seed import main_seed

        result = main_seed(args.data, args.models, args.seed, args.unique_files, args.database)
        if not args.no_community:
            import json

            from hub.server.seed_community import seed_community

            community = seed_community(
                args.data, seed=args.seed, articles=args.articles, progress=print, database=args.database
            )
            print(json.dumps(result | {"community": community}))  # the last line sums the whole seed
        return 0
    if args_list and args_list[0] == "refresh-stats":
        parser = argparse.ArgumentParser(prog="hub.server refresh-stats")
        parser.add_argument("--data", required=True, type=Path)
        _database_argument(parser)
        args = parser.parse_args(args_list[1:])
        from hub.server.store import ServerStore

        store = ServerStore(args.data, args.database)
        try:
            print(f"refreshed {store.refresh_stats()} models")
        finally:
            store.close()
        return 0
    if args_list and args_list[0] == "worker":
        from hub.server.processes import worker_main

        return worker_main(args_list[1:])
    if args_list and args_list[0] == "migrate":
        return _migrate(args_list[1:])
    if args_list and args_list[0] == "serve":
        args_list = args_list[1:]
    parser = argparse.ArgumentParser(
        prog="hub.server", description="Atelier hub server (Civitai-compatible API)"
    )
    _serve_parser(parser)
    args = parser.parse_args(args_list)
    import uvicorn

    from hub.server.app import create_app

    if args.workers < 1:
        parser.error("--workers: must be at least 1")
    if args.workers > 1 and not args.redis_url:
        parser.error("--workers: more than one process needs --redis-url (their cache and rate limits)")
    options = dict(
        database=args.database,
        public_url=args.public_url,
        ip_rate_limit=args.ip_rate_limit or None,
        key_rate_limit=args.key_rate_limit or None,
        max_upload_bytes=args.max_upload_mb * 1024 * 1024,
        stats_refresh_seconds=args.stats_refresh,
        trusted_proxies=args.trust_forwarded,
        redis_url=args.redis_url,
        queue_url=args.queue_url,
        accel_redirect=args.accel_redirect,
        disabled_features=frozenset(args.disable_feature),
        job_poll_seconds=args.job_poll,
        **smtp_options(args),
    )
    if args.workers > 1:
        from hub.server.processes import serve_processes

        serve_processes(args.data, options, args.workers, args.host, args.port, args.log_level)
        return 0
    app = create_app(args.data, **options)
    uvicorn.Server(uvicorn_config(app, host=args.host, port=args.port, log_level=args.log_level)).run()
    return 0
