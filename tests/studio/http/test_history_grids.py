"""X/Y/Z grids in the history (#19 item 7), over the real server: a saved plot is an entry of its
own with the grid image and its infotext, and its cells open from it (API routes of /studio/v1)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from studio.history import HistoryFilter
from studio.infotext import parse_infotext
from tests.studio.http.conftest import LiveServer, make_config, serve

PLOT = {
    "prompt": "a red circle",
    "width": 64,
    "height": 64,
    "steps": 1,
    "seed": 11,
    "save_images": True,
    "scripts": {
        "X/Y/Z plot": {"x_type": "Steps", "x_values": "1, 2", "y_type": "CFG Scale", "y_values": "5, 9"}
    },
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[LiveServer]:
    server = serve(make_config(tmp_path_factory.mktemp("history-grids"), tiny_model_dir))
    yield server
    server.stop()


def run_job(client: httpx.Client, kind: str, payload: dict) -> dict:
    job = client.post("/studio/v1/jobs", json={"kind": kind, "payload": payload}).json()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = client.get(f"/studio/v1/jobs/{job['id']}").json()
        if state["state"] not in ("queued", "running"):
            assert state["state"] == "done", state
            return state
        time.sleep(0.1)
    raise AssertionError("the job did not finish")


def test_a_saved_plot_is_a_history_entry_that_opens_its_cells(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, timeout=60) as client:
        run_job(client, "generate", {**PLOT, "scripts": {}, "seed": 99})  # a plain image besides
        run_job(client, "xyz", PLOT)
        grids = client.get("/studio/v1/history", params={"kind": "grid"}).json()
        assert grids["total"] == 1
        (grid,) = grids["items"]
        assert grid["kind"] == "grid" and grid["grid_id"] is None and grid["mode"] == "txt2img"
        fields = parse_infotext(grid["infotext"])
        assert fields["X Type"] == "Steps" and fields["Y Type"] == "CFG Scale"

        png = client.get(grid["image_url"])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(png.content)) as image:
            assert image.width > 2 * 64 and image.height > 2 * 64  # the grid, not a cell
            assert image.info["parameters"] == grid["infotext"]

        opened = client.get(f"/studio/v1/history/{grid['id']}").json()
        cells = opened["cells"]
        assert len(cells) == 4 and all(cell["grid_id"] == grid["id"] for cell in cells)
        made = {
            (parse_infotext(c["infotext"])["Steps"], parse_infotext(c["infotext"])["CFG scale"])
            for c in cells
        }
        assert made == {("1", "5"), ("2", "5"), ("1", "9"), ("2", "9")}
        listed = client.get("/studio/v1/history", params={"grid": grid["id"]}).json()
        assert sorted(item["id"] for item in listed["items"]) == sorted(cell["id"] for cell in cells)
        everything = client.get("/studio/v1/history").json()
        assert everything["total"] == 6  # the plain image, 4 cells, the grid
        images = client.get("/studio/v1/history", params={"kind": "image"}).json()
        assert images["total"] == 5

        bad = client.get("/studio/v1/history", params={"kind": "grids", "mode": "sketch"})
        assert bad.status_code == 422
        assert {item["loc"][-1] for item in bad.json()["detail"]} == {"kind", "mode"}
        assert client.get("/studio/v1/history/999999").status_code == 404

        # deleting the grid keeps its cells, as plain images
        assert client.delete(f"/studio/v1/history/{grid['id']}").json() == {"deleted": grid["id"]}
        assert client.get(grid["image_url"]).status_code == 404
        history = live.services.engine.history
        assert history.count(None, HistoryFilter(kind="grid")) == 0
        assert all(entry.grid_id is None for entry in history.list())
        assert history.count() == 5
