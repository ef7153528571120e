import io

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from studio.config import PROJECT_ROOT
from studio.http.extensions import build_router
from studio.scripts.builtin import builtin_scripts
from studio.scripts.extensions import ExtensionManager
from studio.scripts.manager import ScriptManager
from tests.studio.scripts.conftest import write_extension, zip_folder


def make_app(tmp_path):
    scripts = ScriptManager()
    for script in builtin_scripts():
        scripts.register(script)
    extensions = ExtensionManager(
        tmp_path / "ext", tmp_path / "state.json", scripts, [PROJECT_ROOT / "extensions"]
    )
    extensions.load_all()
    app = FastAPI()
    app.include_router(build_router(scripts, extensions))
    extension_routers = {}
    scripts.call_api(
        lambda owner: extension_routers.setdefault(owner, APIRouter(prefix=f"/studio/v1/ext/{owner}")), None
    )
    for router in extension_routers.values():
        app.include_router(router)
    return app


@pytest.fixture
def client(tmp_path):
    with TestClient(make_app(tmp_path), client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def test_extension_lifecycle_over_http(tmp_path, client):
    archive = zip_folder(write_extension(tmp_path / "src", "web-ext", "w"), tmp_path / "web-ext.zip")
    with archive.open("rb") as handle:
        installed = client.post("/studio/v1/extensions/install/zip", files={"file": ("web-ext.zip", handle)})
    assert installed.status_code == 200, installed.text
    assert installed.json()["status"] == "loaded"
    names = {item["name"]: item["status"] for item in client.get("/studio/v1/extensions").json()}
    assert names == {"caption-stamp": "loaded", "web-ext": "loaded"}
    assert client.get("/studio/v1/scripts/web-ext").json()["schema"]["properties"]["word"]["default"] == "w"

    assert client.post("/studio/v1/extensions/web-ext/disable").json()["status"] == "disabled"
    assert client.get("/studio/v1/scripts/web-ext").status_code == 404
    assert client.post("/studio/v1/extensions/web-ext/enable").json()["status"] == "loaded"
    assert client.delete("/studio/v1/extensions/web-ext").json() == {"removed": "web-ext"}
    missing = client.post("/studio/v1/extensions/web-ext/enable")
    assert missing.status_code == 404 and "no extension named" in missing.json()["error"]
    shipped = client.delete("/studio/v1/extensions/caption-stamp")
    assert shipped.status_code == 409


def test_install_from_a_folder_path_and_bad_source(tmp_path, client):
    source = write_extension(tmp_path / "folder-ext", "folder-ext", "f")
    response = client.post("/studio/v1/extensions/install", json={"source": str(source)})
    assert response.status_code == 200 and response.json()["source"].startswith("folder:")
    bad = client.post("/studio/v1/extensions/install", json={"source": str(tmp_path / "nowhere")})
    assert bad.status_code == 404


def test_scripts_listing_and_extension_routes(client):
    assert {entry["name"] for entry in client.get("/studio/v1/scripts").json()} == {
        "X/Y/Z plot",
        "Caption stamp",
    }
    xyz = client.get("/studio/v1/scripts/x/y/z plot").json()
    assert xyz["kind"] == "selectable" and xyz["args"][:2] == ["x_type", "x_values"]
    preview = client.get("/studio/v1/ext/caption-stamp/preview", params={"text": "hi"})
    assert preview.status_code == 200
    assert Image.open(io.BytesIO(preview.content)).size == (256, 128)


def test_a_remote_client_cannot_install_from_a_path_on_the_studio_machine(tmp_path):
    source = write_extension(tmp_path / "folder-ext", "folder-ext", "f")
    with TestClient(make_app(tmp_path), client=("203.0.113.9", 50000)) as remote:
        for body in (
            {"source": str(source)},
            {"source": str(source), "kind": "git"},
            {"source": "file:///etc"},
        ):
            refused = remote.post("/studio/v1/extensions/install", json=body)
            assert refused.status_code == 403, body
        assert remote.get("/studio/v1/extensions").json()[0]["name"] == "caption-stamp"
        assert len(remote.get("/studio/v1/extensions").json()) == 1


@pytest.fixture
def remote_client(tmp_path):
    """A client that is not on the studio's machine (TEST-NET address)."""
    with TestClient(make_app(tmp_path), client=("203.0.113.7", 50000)) as test_client:
        yield test_client


def test_a_remote_client_gets_403_for_every_local_source(tmp_path, remote_client):
    """Issue #20.2: `{"source": "/tmp/repo.git"}` from elsewhere was cloned and its code ran."""
    from tests.studio.scripts.conftest import git

    marker = tmp_path / "ran"
    repo = write_extension(tmp_path / "repo.git", "evil", "x")
    (repo / "scripts" / "main.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "evil")
    (tmp_path / "link.git").symlink_to(repo)
    for body in (
        {"source": str(repo)},
        {"source": str(repo), "kind": "git"},
        {"source": f"file://{repo}"},
        {"source": str(tmp_path / "link.git")},
        {"source": "repo.git"},
        {"source": "../repo.git"},
    ):
        response = remote_client.post("/studio/v1/extensions/install", json=body)
        assert response.status_code == 403, (body, response.text)
    for body in (
        {"source": "ext::sh -c touch% /tmp/pwned"},
        {"source": "--upload-pack=touch /tmp/pwned"},
        {"source": "http://example.org/repo.git"},
    ):
        response = remote_client.post("/studio/v1/extensions/install", json=body)
        assert response.status_code in (403, 422), (body, response.text)
    assert not marker.exists()
    assert [item["name"] for item in remote_client.get("/studio/v1/extensions").json()] == ["caption-stamp"]


def test_the_local_machine_may_install_a_local_repo(tmp_path, client):
    from tests.studio.scripts.conftest import git

    repo = write_extension(tmp_path / "repo.git", "local-git", "x")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "first")
    response = client.post("/studio/v1/extensions/install", json={"source": str(repo)})
    assert response.status_code == 200 and response.json()["source"].startswith("git:")
