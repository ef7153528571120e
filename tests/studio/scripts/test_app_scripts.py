"""Scripts and extensions through the real studio server (uvicorn on 127.0.0.1, tiny model)."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from tests.studio.http.conftest import make_config, serve
from tests.studio.scripts.conftest import write_extension, zip_folder

webuiapi = pytest.importorskip("webuiapi")

XYZ_ARGS = ["Steps", "1, 2", [], "CFG Scale", "5, 9", [], "Nothing", "", [], True, True]


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("scripts-live")
    broken = root / "data" / "extensions" / "broken-ext" / "scripts"
    broken.mkdir(parents=True)
    (broken.parent / "extension.toml").write_text('name = "broken-ext"\n')
    (broken / "main.py").write_text("import a_package_nobody_has\n")
    server = serve(make_config(root, tiny_model_dir))
    yield server
    server.stop()


def wait_done(client: httpx.Client, job_id: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/studio/v1/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError("job did not finish")


@pytest.mark.slow
def test_a1111_client_runs_an_xyz_plot(live):
    api = webuiapi.WebUIApi(host="127.0.0.1", port=live.port)
    result = api.txt2img(
        prompt="a red circle", width=64, height=64, steps=1, seed=11, sampler_name="Euler",
        script_name="x/y/z plot", script_args=XYZ_ARGS,
    )  # fmt: skip
    assert len(result.images) == 5  # the grid, then the 4 cells
    grid, cells = result.images[0], result.images[1:]
    assert grid.width > 2 * 64 and grid.height > 2 * 64
    assert "X Type: Steps" in result.info["infotexts"][0]
    assert [("Steps: 1" in t, "CFG scale: 5" in t) for t in result.info["infotexts"][1:3]] == [
        (True, True),
        (False, True),
    ]
    alone = api.txt2img(
        prompt="a red circle", width=64, height=64, steps=2, cfg_scale=9, seed=11, sampler_name="Euler"
    )
    assert np.array_equal(np.asarray(cells[3].convert("RGB")), np.asarray(alone.image.convert("RGB")))


@pytest.mark.slow
def test_bad_axis_values_are_refused_before_anything_is_queued(live):
    with httpx.Client(base_url=live.url, timeout=60) as client:
        before = client.get("/studio/v1/jobs").json()["total"]
        bad = client.post(
            "/sdapi/v1/txt2img",
            json={"prompt": "x", "width": 64, "height": 64, "script_name": "x/y/z plot",
                  "script_args": ["Steps", "1, 0", []]},
        )  # fmt: skip
        assert bad.status_code == 422
        assert "X axis (Steps), value '0'" in bad.text
        native = client.post(
            "/studio/v1/jobs",
            json={
                "kind": "xyz",
                "payload": {
                    "prompt": "x",
                    "scripts": {"X/Y/Z plot": {"x_type": "Sampler", "x_values": "Nope"}},
                },
            },
        )
        assert native.status_code == 422 and "X axis (Sampler), value 'Nope'" in native.text
        assert client.get("/studio/v1/jobs").json()["total"] == before

        job = client.post(
            "/studio/v1/jobs",
            json={"kind": "xyz", "payload": {"prompt": "x", "width": 64, "height": 64, "steps": 1,
                  "scripts": {"X/Y/Z plot": {"x_type": "Seed", "x_values": "1-3"}}}},
        )  # fmt: skip
        assert job.status_code == 202, job.text
        done = wait_done(client, job.json()["id"])
        assert done["state"] == "done"
        assert (
            len(done["result"]["images"]) == 1
            and 'X Values: "1, 2, 3"' in done["result"]["images"][0]["infotext"]
        )


@pytest.mark.slow
def test_extensions_over_http_and_a_broken_one_does_not_stop_the_studio(live, tmp_path):
    with httpx.Client(base_url=live.url, timeout=60) as client:
        listed = {item["name"]: item for item in client.get("/studio/v1/extensions").json()}
        assert (
            listed["broken-ext"]["status"] == "error"
            and "a_package_nobody_has" in listed["broken-ext"]["error"]
        )
        assert listed["caption-stamp"]["status"] == "loaded"

        archive = zip_folder(write_extension(tmp_path / "src", "shouter", "LOUD"), tmp_path / "shouter.zip")
        with archive.open("rb") as handle:
            installed = client.post(
                "/studio/v1/extensions/install/zip", files={"file": ("shouter.zip", handle)}
            )
        assert installed.json()["status"] == "loaded"
        payload = {"prompt": "a cat", "width": 64, "height": 64, "steps": 1,
                   "alwayson_scripts": {"shouter": {"args": ["LOUD"]}, "caption stamp": {"args": ["hi"]}}}  # fmt: skip
        answer = client.post("/sdapi/v1/txt2img", json=payload)
        assert answer.status_code == 200, answer.text
        infotext = answer.json()["info"]
        assert "a cat LOUD" in infotext and "Caption stamp: hi" in infotext

        assert client.post("/studio/v1/extensions/shouter/disable").json()["status"] == "disabled"
        refused = client.post("/sdapi/v1/txt2img", json=payload)
        assert refused.status_code == 422 and "no such script" in refused.text
        assert client.delete("/studio/v1/extensions/shouter").status_code == 200
        names = {item["name"] for item in client.get("/studio/v1/extensions").json()}
        assert "shouter" not in names
