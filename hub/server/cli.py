"""Command line: `serve` (default) and `seed`. launch.py maps `hub-server ...` to `main(argv)`.

python -m hub.server --data DIR [--host 127.0.0.1] [--port 8765] [--public-url URL] ...
python -m hub.server seed --data DIR --models 1000 [--seed 0] [--unique-files 20000]
python -m hub.server refresh-stats --data DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _serve_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="data directory (database, files, media)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", default=8765, type=int)
    parser.add_argument(
        "--public-url", default=None, help="origin for absolute URLs (default: the request's)"
    )
    parser.add_argument("--ip-rate-limit", default=600, type=int, help="requests/minute per IP; 0 = off")
    parser.add_argument(
        "--key-rate-limit", default=1200, type=int, help="requests/minute per API key; 0 = off"
    )
    parser.add_argument("--max-upload-mb", default=16 * 1024, type=int, help="largest upload in MiB")
    parser.add_argument(
        "--stats-refresh", default=300.0, type=float, help="seconds between stats refreshes; 0 = off"
    )
    parser.add_argument("--trust-forwarded", action="store_true", help="client IP from X-Forwarded-For")
    parser.add_argument("--accel-redirect", default=None, help="nginx internal location prefix for downloads")
    parser.add_argument("--log-level", default="info")


def main(argv: list[str] | None = None) -> int:
    import sys

    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "seed":
        parser = argparse.ArgumentParser(prog="hub.server seed", description="build a synthetic catalog")
        parser.add_argument("--data", required=True, type=Path)
        parser.add_argument("--models", default=1000, type=int)
        parser.add_argument("--seed", default=0, type=int)
        parser.add_argument(
            "--unique-files", default=20_000, type=int, help="distinct model files before reuse"
        )
        args = parser.parse_args(args_list[1:])
        from hub.server.seed import main_seed

        main_seed(args.data, args.models, args.seed, args.unique_files)
        return 0
    if args_list and args_list[0] == "refresh-stats":
        parser = argparse.ArgumentParser(prog="hub.server refresh-stats")
        parser.add_argument("--data", required=True, type=Path)
        args = parser.parse_args(args_list[1:])
        from hub.server.store import ServerStore

        store = ServerStore(args.data)
        try:
            print(f"refreshed {store.refresh_stats()} models")
        finally:
            store.close()
        return 0
    if args_list and args_list[0] == "serve":
        args_list = args_list[1:]
    parser = argparse.ArgumentParser(
        prog="hub.server", description="Atelier hub server (Civitai-compatible API)"
    )
    _serve_parser(parser)
    args = parser.parse_args(args_list)
    import uvicorn

    from hub.server.app import create_app

    app = create_app(
        args.data,
        public_url=args.public_url,
        ip_rate_limit=args.ip_rate_limit or None,
        key_rate_limit=args.key_rate_limit or None,
        max_upload_bytes=args.max_upload_mb * 1024 * 1024,
        stats_refresh_seconds=args.stats_refresh,
        trust_forwarded=args.trust_forwarded,
        accel_redirect=args.accel_redirect,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, workers=1)
    return 0
