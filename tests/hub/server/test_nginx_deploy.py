"""deploy/nginx/atelier-hub.conf in front of a real hub server: downloads are answered by the
server with X-Accel-Redirect and sent by a real nginx (Debian's; skipped without it), ranges
included, and the internal file location cannot be fetched from outside."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.hub.server.conftest import model_metadata, register, running_hub, safetensors_bytes, upload_model

NGINX = shutil.which("nginx") or (Path("/usr/sbin/nginx").exists() and "/usr/sbin/nginx")
ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not NGINX, reason="nginx is not installed (Debian: apt-get install nginx)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nginx_config(folder: Path, site: str) -> Path:
    """A minimal main configuration around the deployed site file, in `folder`."""
    for sub in ("client", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    main = folder / "nginx.conf"
    main.write_text(
        f"""
user root;
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {folder}/client;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{site}
}}
"""
    )
    return main


def test_nginx_sends_downloads_named_by_x_accel_redirect(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    with running_hub(data, accel_redirect="/_hubfiles", trusted_proxies=("127.0.0.1",)) as hub:
        key = register(hub.api, "alice")
        payload = safetensors_bytes(64, seed=3)
        files = [{"name": "big.safetensors", "primary": True}]
        made = upload_model(
            hub.api, key, model_metadata("Served", files=files), [("big.safetensors", payload)]
        )
        assert made.status_code == 201, made.text
        version_id = made.json()["id"]
        direct = httpx.get(f"{hub.url}/api/download/models/{version_id}")
        assert direct.content == b"" and direct.headers["x-accel-redirect"].startswith("/_hubfiles/files/")

        port = _free_port()
        site = (ROOT / "deploy/nginx/atelier-hub.conf").read_text()
        site = site.replace("127.0.0.1:8765", hub.url.removeprefix("http://")).replace(
            "listen 80;", f"listen 127.0.0.1:{port};"
        )
        site = site.replace("alias /srv/hub/;", f"alias {data}/;")
        config = _nginx_config(tmp_path / "nginx", site)
        process = subprocess.Popen([str(NGINX), "-c", str(config), "-e", str(tmp_path / "nginx/error.log")])
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(f"{base}/api/v1/enums")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and process.poll() is None, "nginx did not start"
                    time.sleep(0.1)
            whole = httpx.get(f"{base}/api/download/models/{version_id}")
            assert whole.status_code == 200 and whole.content == payload
            assert "x-accel-redirect" not in whole.headers  # nginx consumed it
            assert 'filename="big.safetensors"' in whole.headers["content-disposition"]
            assert whole.headers["server"].startswith("nginx")
            part = httpx.get(f"{base}/api/download/models/{version_id}", headers={"Range": "bytes=8-99"})
            assert part.status_code == 206 and part.content == payload[8:100]
            internal = httpx.get(f"{base}{direct.headers['x-accel-redirect']}")
            assert internal.status_code == 404  # the file location is internal
            api = httpx.get(f"{base}/api/v1/models/{made.json()['modelId']}")
            assert api.status_code == 200 and api.json()["name"] == "Served"
        finally:
            process.send_signal(signal.SIGQUIT)
            process.wait(timeout=20)
