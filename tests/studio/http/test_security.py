"""Auth (A1111's --api-auth), body limits, CORS, and the loopback-only default bind."""

from __future__ import annotations

import base64
import socket

import httpx
import pytest
import websockets.sync.client
import webuiapi

from studio.http.security import parse_credentials


def test_parse_credentials() -> None:
    assert parse_credentials("a:b, c:d:e") == {"a": "b", "c": "d:e"}
    assert parse_credentials(None) == {}
    with pytest.raises(ValueError, match="api_auth"):
        parse_credentials("nopassword")


def test_api_auth_protects_every_api_route(make_server) -> None:
    server = make_server(api_auth="alice:s3cret,bob:pw")
    url = f"{server.url}/sdapi/v1/sd-models"
    refused = httpx.get(url)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic realm=")
    assert httpx.get(url, auth=("alice", "wrong")).status_code == 401
    assert httpx.get(url, auth=("mallory", "s3cret")).status_code == 401
    assert httpx.get(url, auth=("bob", "pw")).status_code == 200
    assert httpx.get(f"{server.url}/studio/v1/jobs").status_code == 401
    client = webuiapi.WebUIApi(port=server.port, username="alice", password="s3cret")
    assert client.get_sd_models()[0]["model_name"] == "tiny"
    assert client.get_cmd_flags()["api_auth"] == "********"
    with pytest.raises(websockets.InvalidStatus):
        websockets.sync.client.connect(f"ws://127.0.0.1:{server.port}/studio/v1/events").close()
    auth = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    with websockets.sync.client.connect(
        f"ws://127.0.0.1:{server.port}/studio/v1/events", additional_headers={"Authorization": auth}
    ) as socket_:
        assert socket_.protocol.state.name == "OPEN"


def test_request_bodies_over_the_limit_get_413(make_server) -> None:
    server = make_server(max_body_mb=1)
    big = b'{"prompt": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = httpx.post(
        f"{server.url}/sdapi/v1/txt2img", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413

    def chunks():
        yield b'{"prompt": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    chunked = httpx.post(
        f"{server.url}/studio/v1/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    small = httpx.post(f"{server.url}/sdapi/v1/png-info", json={"image": ""})
    assert small.status_code == 422  # under the limit: handled normally


def test_cors_only_for_allowed_origins(make_server) -> None:
    server = make_server(cors_origins=("http://good.example",))
    preflight = {"Access-Control-Request-Method": "POST"}
    good = httpx.options(
        f"{server.url}/sdapi/v1/txt2img", headers={"Origin": "http://good.example", **preflight}
    )
    assert good.headers.get("access-control-allow-origin") == "http://good.example"
    evil = httpx.options(
        f"{server.url}/sdapi/v1/txt2img", headers={"Origin": "http://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in evil.headers
    simple = httpx.get(f"{server.url}/sdapi/v1/samplers", headers={"Origin": "http://evil.example"})
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


def test_no_cors_headers_unless_configured(live) -> None:
    response = httpx.get(f"{live.url}/sdapi/v1/samplers", headers={"Origin": "http://good.example"})
    assert "access-control-allow-origin" not in response.headers


def _outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))
            address = sock.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_binds_loopback_only_by_default(live) -> None:
    assert live.services.config.host == "127.0.0.1"
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to try")
    with pytest.raises(OSError), socket.create_connection((address, live.port), timeout=2):
        pass
