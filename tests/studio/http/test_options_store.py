"""One store of truth for options (#19): the Settings tab's saves are what `/sdapi/v1/options`
answers, the options the API sets are what the Settings form shows after a reload, and both
reach the engine: `samples_save` set through the API decides whether the next job saves."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from studio.config import StudioConfig
from studio.database import open_database
from studio.options import Options
from studio.ui.services_backend import ServicesBackend
from studio.ui.settings import settings_values

SMALL = {"prompt": "a red circle", "steps": 2, "width": 64, "height": 64, "seed": 3, "save_images": True}


def test_settings_tab_and_options_api_share_one_store(make_server) -> None:
    server = make_server()
    url = f"{server.url}/sdapi/v1"
    backend = ServicesBackend(server.services)  # the Settings tab's backend, on the same services
    title = requests.get(f"{url}/sd-models", timeout=30).json()[0]["title"]

    backend.save_settings({"clip_skip": 3, "samples_save": True, "default_model": title})
    options = requests.get(f"{url}/options", timeout=30).json()
    assert options["CLIP_stop_at_last_layers"] == 3  # not the startup config's 1
    assert options["samples_save"] is True and options["sd_model_checkpoint"] == title

    changed = requests.post(
        f"{url}/options", json={"CLIP_stop_at_last_layers": 5, "samples_save": False}, timeout=30
    )
    assert changed.status_code == 200, changed.text
    shown = settings_values(backend.config)  # what the Settings form fills in after a reload
    assert shown["clip_skip"] == 5 and shown["samples_save"] is False
    saved = json.loads(server.services.config.config_file.read_text(encoding="utf-8"))
    assert saved["clip_skip"] == 5 and saved["samples_save"] is False
    assert server.services.engine.config.clip_skip == 5

    # samples_save off reaches the engine: a request asking to save saves nothing
    outputs = server.services.config.outputs_path
    before = sorted(outputs.rglob("*.png")) if outputs.exists() else []
    made = requests.post(f"{url}/txt2img", json=SMALL, timeout=120)
    assert made.status_code == 200 and len(made.json()["images"]) == 1
    assert (sorted(outputs.rglob("*.png")) if outputs.exists() else []) == before
    requests.post(f"{url}/options", json={"samples_save": True}, timeout=30).raise_for_status()
    requests.post(f"{url}/txt2img", json=SMALL, timeout=120).raise_for_status()
    assert len(sorted(outputs.rglob("*.png"))) == len(before) + 1

    # every bad key in one 422, and nothing saved
    cost_check = backend.config.cost_check
    bad = requests.post(
        f"{url}/options",
        json={"CLIP_stop_at_last_layers": 40, "cost_check": "sometimes", "max_job_seconds": -1},
        timeout=30,
    )
    assert bad.status_code == 422
    named = {tuple(item["loc"])[-1] for item in bad.json()["detail"]}
    assert named == {"CLIP_stop_at_last_layers", "cost_check", "max_job_seconds"}
    assert backend.config.clip_skip == 5 and backend.config.cost_check == cost_check


def test_values_an_older_release_stored_as_options_move_into_the_settings(tmp_path: Path) -> None:
    config = StudioConfig(data_dir=tmp_path)
    db = open_database(config.database_path)
    with db:
        db.executemany(
            "INSERT INTO api_options (key, value) VALUES (?, ?)",
            [("CLIP_stop_at_last_layers", "4"), ("samples_save", "false"), ("custom_key", '"kept"')],
        )
    db.close()
    config.config_file.write_text(json.dumps({"samples_save": True}), encoding="utf-8")
    options = Options(config.database_path, config)
    try:
        assert options.config.clip_skip == 4  # the file did not set it: the stored value moves
        assert options.config.samples_save is True  # the file set it: the file's value stays
        assert options.get("custom_key") == "kept"
        assert set(options.stored()) == {"custom_key"}
        assert json.loads(config.config_file.read_text(encoding="utf-8"))["clip_skip"] == 4
    finally:
        options.close()
