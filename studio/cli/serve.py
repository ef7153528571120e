"""`python launch.py [serve] [flags]`: run the studio (UI + API) or, with --api-only, the API alone.

Binds 127.0.0.1 unless --listen. Stops cleanly on Ctrl+C / SIGTERM: the running job ends
`interrupted` (re-queue it from the API or the UI) and queued jobs wait for the next start.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
import webbrowser
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from studio.cli import acceleration
from studio.config import ConfigError, StudioConfig, load_config

if TYPE_CHECKING:
    import uvicorn

    from studio.app import Services

log = logging.getLogger("atelier")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="launch.py serve", description=__doc__)
    parser.add_argument("--port", type=int, help="port to serve on (default 7860)")
    parser.add_argument(
        "--listen", action="store_true", default=None, help="listen on all interfaces (default: 127.0.0.1)"
    )
    parser.add_argument("--data-dir", help="where the database, config, outputs and models live")
    parser.add_argument("--models-dir", help="models folder (default: DATA_DIR/models)")
    parser.add_argument(
        "--device",
        help="device backend: auto, cpu, cuda, rocm, mps, xpu, directml (default auto); one that "
        "cannot start falls back to the CPU and says why",
    )
    parser.add_argument(
        "--dtype", help="auto, fp32, fp16, bf16 (default auto: the dtype policy, docs/performance.md)"
    )
    parser.add_argument(
        "--memory-policy",
        help="auto: add the memory strategies a job needs to fit (default); off: only the `memory` setting's",
    )
    acceleration.add_arguments(parser)
    parser.add_argument("--no-browser", action="store_true", default=None, help="do not open a browser tab")
    parser.add_argument("--api-only", action="store_true", default=None, help="serve the API without the UI")
    parser.add_argument(
        "--api-auth",
        help="HTTP Basic users for the API, user:pass[,user2:pass2]; they also guard the UI unless "
        "--ui-auth is given (with either, every route asks for a login)",
    )
    parser.add_argument(
        "--ui-auth",
        help="HTTP Basic users for the UI and its Gradio routes (A1111's --gradio-auth); default: "
        "the --api-auth users",
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="with --listen, serve without any login: whoever reaches the port can generate, change "
        "settings and install extensions (run code) on this machine",
    )
    parser.add_argument(
        "--cors-origins", help="comma-separated origins allowed to call the API from a browser"
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        default=None,
        help="allow loading pickle (.ckpt/.pt) checkpoints",
    )
    parser.add_argument("--hub-server", help="the hub server the Hub tab syncs from (http://...)")
    parser.add_argument(
        "--hub-api-key", help="your API key on that hub server (better: ATELIER_HUB_API_KEY or Settings)"
    )
    parser.add_argument(
        "--in-process",
        action="store_false",
        dest="worker_process",
        default=None,
        help="run the engine on a thread of the web process instead of a worker process (the "
        "default, which keeps the UI and API responsive while a job runs; docs/studio-core.md)",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    return parser.parse_args(list(argv))


def listen_refusal(config: StudioConfig, *, insecure_no_auth: bool) -> str | None:
    """Why `serve` will not start, or None: listening on the network without a login gives anyone
    who reaches the port this machine (extensions are code), so it takes --insecure-no-auth."""
    if config.listen and not config.auth_configured and not insecure_no_auth:
        return (
            "--listen serves every network interface: set --api-auth user:password (and optionally "
            "--ui-auth) so the UI and the API ask for a login, or pass --insecure-no-auth if this "
            "network is yours alone"
        )
    return None


def leave_a_core_for_the_server(environ: Mapping[str, str] | None = None) -> int | None:
    """Cap torch's CPU threads at (cores - 1) so the web server keeps a core while a job runs.

    With every core busy in torch's (OpenMP) thread pool, HTTP answers waited on the worker;
    on an oversubscribed CPU the spinning pool also slowed generation itself many times over
    (see docs/api.md). Skipped when the user set OMP_NUM_THREADS. Returns the thread count set.
    """
    environ = os.environ if environ is None else environ
    if environ.get("OMP_NUM_THREADS"):
        return None
    import torch

    threads = max(1, (os.cpu_count() or 2) - 1)
    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)
        return threads
    return None


def make_server(config: StudioConfig, services: Services, app: Any, log_level: str) -> uvicorn.Server:
    """The uvicorn server. On SIGINT / SIGTERM it interrupts the running job at once, so that a
    caller waiting on it (the A1111 routes wait for their job) gets its answer before uvicorn
    stops waiting for open connections (5 s) and the app's lifespan stops the services."""
    import uvicorn

    class StudioServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            # on another thread: the signal may have come while this (main) thread held a lock
            # begin_stop takes (a /progress answer reading the worker's state)
            threading.Thread(target=services.jobs.begin_stop, name="atelier-stop", daemon=True).start()

    return StudioServer(
        uvicorn.Config(
            app, host=config.host, port=config.port, log_level=log_level, timeout_graceful_shutdown=5
        )
    )


def _open_browser_when_up(server: uvicorn.Server, url: str) -> None:
    def wait_and_open() -> None:
        for _ in range(600):
            if server.started:
                webbrowser.open(url)
                return
            if server.should_exit:
                return
            time.sleep(0.1)

    threading.Thread(target=wait_and_open, name="atelier-browser", daemon=True).start()


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cli = {
        "port": args.port,
        "listen": args.listen,
        "data_dir": args.data_dir,
        "models_dir": args.models_dir,
        "device": args.device,
        "dtype": args.dtype,
        "memory_policy": args.memory_policy,
        "no_browser": args.no_browser,
        "api_only": args.api_only,
        "api_auth": args.api_auth,
        "ui_auth": args.ui_auth,
        "cors_origins": args.cors_origins,
        "allow_pickle": args.allow_pickle,
        "hub_server": args.hub_server,
        "hub_api_key": args.hub_api_key,
        **acceleration.config_values(args),
        "worker_process": args.worker_process,
    }
    try:
        config = load_config(cli)
        from studio.http.security import auth_users

        auth_users(config.api_auth, config.ui_auth)
    except (ConfigError, ValueError) as error:
        print(f"atelier: {error}")
        return 2
    refusal = listen_refusal(config, insecure_no_auth=args.insecure_no_auth)
    if refusal:
        print(f"atelier: {refusal}")
        return 2

    from studio.app import build_services
    from studio.http.app import create_app
    from studio.pipeline.engine import ensure_default_model

    if config.listen and not config.auth_configured:
        log.warning("listening on all interfaces without a login (--insecure-no-auth): anyone on the network "
                    "can use the studio and run code on this machine")  # fmt: skip
    threads = leave_a_core_for_the_server()
    if threads:
        log.info(
            "torch uses %d CPU thread(s), leaving a core for the server (set OMP_NUM_THREADS to change)",
            threads,
        )
    ensure_default_model(config)  # the offline fallback model, when no model is installed
    services = build_services(config)
    try:
        app = create_app(services, manage_services=True)  # started/stopped by the app's lifespan
        server = make_server(config, services, app, args.log_level)
        shown_host = "127.0.0.1" if config.host in ("127.0.0.1", "0.0.0.0") else config.host
        url = f"http://{shown_host}:{config.port}/"
        log.info("Atelier on %s (API docs at %sdocs)", url, url)
        if not config.no_browser and not config.api_only:
            _open_browser_when_up(server, url)
        # returns after SIGINT / SIGTERM once connections are closed and the services stopped
        # (uvicorn then re-raises the signal, so a SIGTERM exit status is the signal's)
        server.run()
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
