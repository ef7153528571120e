"""Browser-test fixtures: the real studio (UI + API) on a free port, and Debian's Chromium.

The server runs in this process (uvicorn in a thread) over the tiny model, so the tests can
also read the history database. Chromium is the system one at /usr/bin/chromium (`.ci/run`
installs it); the browser tests skip, saying why, when it is missing. Screenshots go to
$ATELIER_TEST_ARTIFACTS (default: test-artifacts/ui in the repository root).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from studio.config import PROJECT_ROOT, StudioConfig
from tests.helpers import make_studio_config

CHROMIUM = Path(os.environ.get("ATELIER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class RunningStudio:
    url: str
    services: Any
    config: StudioConfig


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    folder = Path(os.environ.get("ATELIER_TEST_ARTIFACTS") or PROJECT_ROOT / "test-artifacts") / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def ui_config(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> StudioConfig:
    """Like the shared `studio_config`, but one per test module (the server outlives a test)."""
    return make_studio_config(tmp_path_factory.mktemp("ui-studio"), tiny_model_dir)


@pytest.fixture(scope="module")
def studio(ui_config: StudioConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStudio]:
    import uvicorn

    from studio.app import build_services
    from studio.http.app import create_app

    gradio_temp = tmp_path_factory.mktemp("gradio")
    saved_env = {key: os.environ.get(key) for key in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED")}
    os.environ["GRADIO_TEMP_DIR"] = str(gradio_temp)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    services = build_services(ui_config)
    services.start()
    app = create_app(services)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="ui-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the studio server did not start")
        time.sleep(0.05)
    try:
        yield RunningStudio(url=f"http://127.0.0.1:{port}/", services=services, config=ui_config)
    finally:
        server.should_exit = True
        thread.join(15)
        services.stop()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
