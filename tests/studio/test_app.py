"""The composition root: services built from a config, the app's routes, start/stop."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

from starlette.routing import Mount
from starlette.testclient import TestClient

from studio.app import build_services
from studio.cli.serve import parse_args
from studio.config import StudioConfig, load_config
from studio.http.app import create_app
from studio.jobs import GENERATE, SELECT_MODEL, JobState
from studio.request import GenerationRequest


def paths(app) -> set[str]:
    return set(app.openapi()["paths"])


def test_build_services_wires_the_real_engine_and_the_job_system(studio_config: StudioConfig) -> None:
    services = build_services(studio_config)
    try:
        assert set(services.runners.names()) >= {GENERATE, SELECT_MODEL}
        assert services.queue.db_path == studio_config.database_path
        assert services.history is services.engine.history
        assert services.engine.current_model.startswith("tiny [")
        services.start()
        services.start()  # idempotent
        job = services.jobs.submit_request(
            GenerationRequest(prompt="a circle", width=64, height=64, steps=2, seed=1, save_images=False)
        )
        done = services.jobs.wait(job.id, timeout=120)
        assert done.state == JobState.DONE and done.result["images"][0]["seed"] == 1
        assert services.queue.images(job.id)[0].read_png().startswith(b"\x89PNG")
    finally:
        services.close()
        services.close()  # idempotent


def test_create_app_serves_both_apis_and_its_lifespan_runs_the_services(studio_config: StudioConfig) -> None:
    services = build_services(dataclasses.replace(studio_config, api_only=True))
    app = create_app(services, manage_services=True)
    routes = paths(app)
    assert {
        "/sdapi/v1/txt2img",
        "/sdapi/v1/progress",
        "/studio/v1/jobs",
        "/studio/v1/jobs/{job_id}/events",
    } <= routes
    assert not any(isinstance(route, Mount) for route in app.routes)  # api_only: no UI
    with TestClient(app) as client:
        assert services.started and services.worker.alive
        assert "Euler a" in [sampler["name"] for sampler in client.get("/sdapi/v1/samplers").json()]
    assert not services.started and not services.worker.alive


def test_the_ui_is_mounted_at_root_unless_api_only(studio_config: StudioConfig) -> None:
    services = build_services(studio_config)
    try:
        app = create_app(services)
        mounted = any(isinstance(route, Mount) for route in app.routes)
        assert mounted == (importlib.util.find_spec("studio.ui") is not None)
    finally:
        services.close()


def test_serve_flags_map_onto_the_config(tmp_path: Path) -> None:
    args = parse_args(
        [
            "--port",
            "9000",
            "--listen",
            "--data-dir",
            str(tmp_path),
            "--api-only",
            "--api-auth",
            "a:b",
            "--cors-origins",
            "http://x,http://y",
        ]
    )
    config = load_config(
        {
            "port": args.port,
            "listen": args.listen,
            "data_dir": args.data_dir,
            "api_only": args.api_only,
            "api_auth": args.api_auth,
            "cors_origins": args.cors_origins,
            "no_browser": args.no_browser,
        },
        environ={},
    )
    assert (config.port, config.host, config.api_only, config.api_auth) == (9000, "0.0.0.0", True, "a:b")
    assert config.cors_origins == ("http://x", "http://y") and config.no_browser is False
    default = load_config({"data_dir": str(tmp_path)}, environ={})
    assert default.host == "127.0.0.1"
