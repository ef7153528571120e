"""Issue #20.1: with --api-auth (and --ui-auth) EVERY route a listening studio serves asks for a
login: the API, the Gradio page and all of Gradio's routes (queue, uploads, files, SSE), the
WebSockets, /docs and /openapi.json. The route list is read from the real app (its own routes
and the mounted Gradio app's), so a route added later is walked without changing this test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.sync.client
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from studio.http.security import auth_users
from tests.studio.http.conftest import LiveServer, make_config, serve

pytestmark = pytest.mark.slow

API_USER = ("api", "api-pw")
UI_USER = ("ui", "ui-pw")
PARAM = re.compile(r"\{[^}]+\}")


def _is_websocket(route: object) -> bool:
    return isinstance(route, WebSocketRoute) or type(route).__name__ == "APIWebSocketRoute"


def walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method or "WS", path) of every route, included routers and mounted apps included, path
    parameters filled in. FastAPI keeps an included router as one entry whose
    `effective_route_contexts()` are its routes with their full paths."""
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            for context in route.effective_route_contexts():
                original = context.original_route
                full = getattr(context.starlette_route, "path", None) or context.path or original.path
                if isinstance(original, Mount):
                    yield from walk(list(original.routes), prefix + full)
                    continue
                path = prefix + PARAM.sub("x", full)
                if _is_websocket(original):
                    yield "WS", path
                else:
                    for method in sorted(getattr(original, "methods", None) or {"GET"}):
                        yield method, path
        elif isinstance(route, Mount):
            yield from walk(list(route.routes), prefix + route.path)
        elif _is_websocket(route):
            yield "WS", prefix + PARAM.sub("x", route.path)
        elif isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                yield method, prefix + PARAM.sub("x", route.path)


@pytest.fixture(scope="module")
def gradio_temp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    saved = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio"))
    yield
    if saved is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = saved


def start(root: Path, tiny_model_dir: Path, **auth: str) -> LiveServer:
    return serve(make_config(root, tiny_model_dir, api_only=False, **auth))


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, tiny_model_dir, gradio_temp) -> Iterator[LiveServer]:
    """`serve --api-auth api:api-pw` with the UI: the issue's setup."""
    server = start(tmp_path_factory.mktemp("guarded"), tiny_model_dir, api_auth="api:api-pw")
    yield server
    server.stop()


def every_route(server: LiveServer) -> list[tuple[str, str]]:
    app = server.server.config.app
    return sorted(set(walk(list(app.routes))))


def test_every_route_of_the_real_app_asks_for_a_login(guarded: LiveServer) -> None:
    routes = every_route(guarded)
    paths = {path for _, path in routes}
    # the routes the issue names are among those walked (the list itself comes from the app)
    for wanted in (
        "/gradio_api/call/x",
        "/gradio_api/upload",
        "/gradio_api/queue/join",
        "/sdapi/v1/options",
        "/sdapi/v1/txt2img",
        "/studio/v1/extensions/install",
        "/studio/v1/events",
        "/openapi.json",
    ):
        assert any(path.rstrip("/") == wanted for path in paths), wanted
    assert any(method == "WS" for method, _ in routes)
    assert len(routes) > 60, routes
    open_routes = []
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        for method, path in routes:
            if method == "WS":
                try:
                    websockets.sync.client.connect(
                        f"ws://127.0.0.1:{guarded.port}{path}", open_timeout=10
                    ).close()
                    open_routes.append(("WS", path, "opened"))
                except websockets.InvalidStatus as refused:
                    if refused.response.status_code not in (401, 403):
                        open_routes.append(("WS", path, refused.response.status_code))
                continue
            body = {} if method in ("POST", "PUT", "PATCH") else None
            # streamed: an open route may be an endless event stream; its status is all we need
            with client.stream(method, path, json=body) as response:
                challenge = response.headers.get("www-authenticate", "")
                if response.status_code != 401 or not challenge.startswith("Basic"):
                    open_routes.append((method, path, response.status_code))
    assert open_routes == []


def test_with_credentials_the_ui_and_the_api_answer(guarded: LiveServer) -> None:
    with httpx.Client(base_url=guarded.url, timeout=30, auth=API_USER) as client:
        page = client.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert client.get("/gradio_api/info").status_code == 200
        assert client.get("/config").status_code == 200
        assert client.get("/sdapi/v1/sd-models").json()[0]["model_name"] == "tiny"
        assert client.get("/openapi.json").status_code == 200
        # the Settings save, the run endpoint and uploads are behind the same login
        uploaded = client.post("/gradio_api/upload", files={"files": ("a.txt", b"hello")})
        assert uploaded.status_code == 200, uploaded.text
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        assert client.get("/", auth=("api", "wrong")).status_code == 401
        assert client.post("/gradio_api/upload", files={"files": ("a.txt", b"x")}).status_code == 401
    auth = httpx.BasicAuth(*API_USER)._auth_header
    with websockets.sync.client.connect(
        f"ws://127.0.0.1:{guarded.port}/studio/v1/events", additional_headers={"Authorization": auth}
    ) as socket_:
        assert socket_.protocol.state.name == "OPEN"


def test_ui_auth_users_get_the_ui_and_api_users_the_api(tmp_path, tiny_model_dir, gradio_temp) -> None:
    server = start(tmp_path, tiny_model_dir, api_auth="api:api-pw", ui_auth="ui:ui-pw", max_body_mb=1)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/", auth=UI_USER).status_code == 200
            assert client.get("/config", auth=UI_USER).status_code == 200
            assert client.get("/", auth=API_USER).status_code == 401
            assert client.get("/", auth=None).status_code == 401
            assert client.get("/sdapi/v1/samplers", auth=API_USER).status_code == 200
            assert client.get("/sdapi/v1/samplers", auth=UI_USER).status_code == 401
            assert client.get("/studio/v1/jobs", auth=None).status_code == 401
            # Gradio's uploads are held to the same size limit as API bodies
            small = client.post("/gradio_api/upload", auth=UI_USER, files={"files": ("a.bin", b"x" * 1000)})
            assert small.status_code == 200, small.text
            big = b"x" * (1024 * 1024 + 100)
            too_big = client.post("/gradio_api/upload", auth=UI_USER, files={"files": ("b.bin", big)})
            assert too_big.status_code == 413, too_big.text
            flags = client.get("/sdapi/v1/cmd-flags", auth=API_USER).json()
            assert flags["api_auth"] == flags["ui_auth"] == flags["gradio_auth"] == "********"
    finally:
        server.stop()


def test_auth_users_stand_in_for_each_other() -> None:
    assert auth_users("a:1", None) == ({"a": "1"}, {"a": "1"})
    assert auth_users(None, "u:2") == ({"u": "2"}, {"u": "2"})
    assert auth_users("a:1", "u:2") == ({"a": "1"}, {"u": "2"})
    assert auth_users(None, None) == ({}, {})
    with pytest.raises(ValueError, match="ui_auth"):
        auth_users(None, " , ")


@pytest.mark.browser
def test_the_ui_works_in_a_browser_with_the_login(guarded: LiveServer) -> None:
    from tests.studio.ui.conftest import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    from tests.studio.ui.test_browser import small_settings, start_generation, wait_finished

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            assert browser.new_context().request.get(guarded.url + "/").status == 401
            context = browser.new_context(http_credentials={"username": "api", "password": "api-pw"})
            page: Any = context.new_page()
            page.set_default_timeout(90_000)
            page.goto(guarded.url + "/")
            page.wait_for_selector("#txt2img_prompt textarea")
            page.wait_for_selector("body[data-restored]", state="attached")
            small_settings(page, steps=2)
            page.fill("#txt2img_prompt textarea", "a red circle")
            start_generation(page, "txt2img")
            assert wait_finished(page) == "done"  # the queue and its event stream went through
        finally:
            browser.close()


def test_serve_refuses_to_listen_without_a_login(tmp_path, capsys) -> None:
    from studio.cli import serve as serve_cli

    assert serve_cli.main(["--listen", "--data-dir", str(tmp_path), "--no-browser"]) == 2
    assert "--api-auth" in capsys.readouterr().out
    config = make_config(tmp_path, None, listen=True)
    assert serve_cli.listen_refusal(config, insecure_no_auth=False)
    assert serve_cli.listen_refusal(config, insecure_no_auth=True) is None
    assert (
        serve_cli.listen_refusal(
            make_config(tmp_path, None, listen=True, ui_auth="u:p"), insecure_no_auth=False
        )
        is None
    )
    assert serve_cli.listen_refusal(make_config(tmp_path, None), insecure_no_auth=False) is None
