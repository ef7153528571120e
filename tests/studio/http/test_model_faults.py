"""Issue #20.6/#20.7 and #19.14: a model that cannot be used is the client's 4xx naming it and the
reason, never a 200 followed by failing jobs, never a 500.

The models folder of a real server holds, besides the tiny model: a pickle checkpoint, a file
that is not safetensors, a truncated one, one whose header is fine but whose weights fit no
architecture (found only when it loads), and two broken VAEs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from safetensors.numpy import save_file

from studio.jobs import JobState
from studio.request import RequestError
from studio.ui.services_backend import ServicesBackend
from tests.studio.http.conftest import LiveServer, make_config, serve

SMALL = {"prompt": "a red circle", "width": 64, "height": 64, "steps": 2, "seed": 1}


def write_broken_models(models: Path) -> None:
    checkpoints = models / "Stable-diffusion"
    (checkpoints / "pickled.ckpt").write_bytes(b"\x80\x04 a pickle would run code here")
    (checkpoints / "garbage.safetensors").write_bytes(b"this is not a safetensors file at all" * 4)
    save_file({"weight": np.zeros((64, 64), dtype=np.float32)}, str(checkpoints / "cut.safetensors"))
    data = (checkpoints / "cut.safetensors").read_bytes()
    (checkpoints / "cut.safetensors").write_bytes(data[: len(data) // 2])
    # a good header, but no known architecture: found only when the pipeline loads
    save_file({"weight": np.zeros((4,), dtype=np.float32)}, str(checkpoints / "odd.safetensors"))
    (models / "VAE" / "old.pt").write_bytes(b"\x80\x04 pickle")
    (models / "VAE" / "junk.safetensors").write_bytes(b"\xff" * 64)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[LiveServer]:
    # odd.safetensors sorts first and looks fine until it loads: the default is named
    config = make_config(tmp_path_factory.mktemp("faulty"), tiny_model_dir, default_model="tiny")
    write_broken_models(config.models_path)
    server = serve(config)
    yield server
    server.stop()


@pytest.fixture
def client(faulty: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=faulty.url, timeout=120) as http:
        yield http


def problems(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {
        ".".join(str(part) for part in item["loc"][1:]): item["msg"] for item in response.json()["detail"]
    }


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("sd_model_checkpoint", "pickled.ckpt", ["pickled.ckpt", "pickle", "--allow-pickle"]),
        ("sd_model_checkpoint", "garbage.safetensors", ["garbage.safetensors", "not a safetensors file"]),
        ("sd_model_checkpoint", "cut.safetensors", ["cut.safetensors", "truncated"]),
        ("sd_model_checkpoint", "nowhere.safetensors", ["unknown checkpoint", "tiny ["]),
        ("sd_vae", "old.pt", ["old.pt", "--allow-pickle"]),
        ("sd_vae", "junk.safetensors", ["junk.safetensors", "not a safetensors file"]),
    ],
)
def test_a_broken_model_option_is_refused_and_nothing_is_saved(client, option, value, words) -> None:
    before = client.get("/sdapi/v1/options").json()
    found = problems(client.post("/sdapi/v1/options", json={option: value, "samples_format": "jpg"}))
    assert list(found) == [option]
    assert all(word in found[option] for word in words), found
    assert client.get("/sdapi/v1/options").json() == before  # not even the good key was saved
    assert client.post("/sdapi/v1/txt2img", json=SMALL).status_code == 200  # generation still works


def test_every_bad_option_is_named_in_one_answer(client) -> None:
    found = problems(
        client.post(
            "/sdapi/v1/options",
            json={
                "sd_model_checkpoint": "pickled.ckpt",
                "sd_vae": "junk.safetensors",
                "CLIP_stop_at_last_layers": 40,
            },
        )
    )
    assert set(found) == {"sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers"}


def test_a_model_file_gone_since_the_scan_is_named(faulty: LiveServer, client) -> None:
    doomed = faulty.services.config.models_path / "Stable-diffusion" / "doomed.safetensors"
    save_file({"weight": np.zeros((4,), dtype=np.float32)}, str(doomed))
    assert client.post("/sdapi/v1/refresh-checkpoints").status_code == 200
    doomed.unlink()
    found = problems(client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "doomed.safetensors"}))
    assert "missing" in found["sd_model_checkpoint"]
    client.post("/sdapi/v1/refresh-checkpoints")


def test_a_pickle_checkpoint_is_refused_at_submit_on_both_apis(faulty: LiveServer, client) -> None:
    jobs_before = faulty.services.queue.count()
    a1111 = problems(
        client.post(
            "/sdapi/v1/txt2img", json={**SMALL, "override_settings": {"sd_model_checkpoint": "pickled.ckpt"}}
        )
    )
    assert "--allow-pickle" in a1111["override_settings.sd_model_checkpoint"]
    native = problems(client.post("/studio/v1/jobs", json={"payload": {**SMALL, "model": "pickled.ckpt"}}))
    assert "pickled.ckpt" in native["payload.model"] and "--allow-pickle" in native["payload.model"]
    vae = problems(client.post("/studio/v1/jobs", json={"payload": {**SMALL, "vae": "old.pt"}}))
    assert "--allow-pickle" in vae["payload.vae"]
    assert faulty.services.queue.count() == jobs_before  # refused before anything was queued


def test_a_model_that_fails_to_load_is_4xx_naming_it_never_500(faulty: LiveServer, client) -> None:
    body = {**SMALL, "override_settings": {"sd_model_checkpoint": "odd.safetensors"}}
    response = client.post("/sdapi/v1/txt2img", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "model"]
    assert "odd.safetensors could not be loaded" in detail[0]["msg"] and "architecture" in detail[0]["msg"]
    # the native API queues it (the header is fine); the job fails with the same clear message
    submitted = client.post("/studio/v1/jobs", json={"payload": {**SMALL, "model": "odd.safetensors"}})
    assert submitted.status_code == 202
    job = faulty.services.jobs.wait(submitted.json()["id"], timeout=120)
    assert job.state == JobState.FAILED and job.result == {"error_field": "model"}
    assert "odd.safetensors could not be loaded" in (job.error or "")
    assert client.post("/sdapi/v1/txt2img", json=SMALL).status_code == 200  # the studio goes on


def test_the_settings_tab_save_checks_the_default_model(faulty: LiveServer) -> None:
    backend = ServicesBackend(faulty.services)
    config_file = faulty.services.config.config_file
    before = config_file.read_text() if config_file.exists() else None
    for name in ("pickled.ckpt", "garbage.safetensors", "nowhere"):
        with pytest.raises(RequestError) as error:
            backend.save_settings({"default_model": name, "clip_skip": 2})
        assert error.value.field == "default_model"
    assert (config_file.read_text() if config_file.exists() else None) == before
    # allowing pickles and choosing the pickle checkpoint in one save is accepted
    saved = backend.save_settings({"default_model": "pickled.ckpt", "allow_pickle": True})
    assert saved.config.default_model == "pickled.ckpt"
    # switching pickles off again while the default is one is refused
    with pytest.raises(RequestError, match="--allow-pickle"):
        backend.save_settings({"allow_pickle": False})
    saved = backend.save_settings({"default_model": "", "allow_pickle": False})
    faulty.services.engine.config = saved.config


def test_with_allow_pickle_the_refusal_is_lifted(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = make_config(tmp_path, tiny_model_dir, allow_pickle=True)
    write_broken_models(config.models_path)
    server = serve(config)
    try:
        response = httpx.post(f"{server.url}/sdapi/v1/options", json={"sd_model_checkpoint": "pickled.ckpt"})
        assert response.status_code == 200, response.text
    finally:
        server.stop()


def test_a_broken_file_is_not_made_the_default_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    from studio.pipeline.engine import Engine

    config = make_config(tmp_path, tiny_model_dir)
    write_broken_models(config.models_path)
    (config.models_path / "Stable-diffusion" / "odd.safetensors").unlink()
    engine = Engine(config)
    assert [entry.name for entry in engine.registry.checkpoints()][:3] == [
        "cut.safetensors",
        "garbage.safetensors",
        "pickled.ckpt",
    ]
    assert engine.current_model is not None and engine.current_model.startswith("tiny [")
