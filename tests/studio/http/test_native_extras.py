"""/studio/v1's Extras routes and the upscaler list on a real server: Extras and checkpoint
unload/reload are jobs of the persistent queue (they wait behind a generation, report a step
per image, can be cancelled), and their images are served like a generation's."""

from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest
import requests
from PIL import Image

from studio.extras_jobs import EXTRAS, ExtrasJob
from studio.request import RequestError
from tests.studio.pipeline.upscaler_models import write_tiny_esrgan

from .conftest import LiveServer


def _b64(size: tuple[int, int] = (40, 32), colour: tuple[int, int, int] = (200, 40, 90)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _wait(live: LiveServer, job_id: str) -> dict:
    job = live.services.jobs.wait(job_id, timeout=120)
    return requests.get(f"{live.url}/studio/v1/jobs/{job.id}", timeout=30).json()


def test_upscaler_list(live: LiveServer) -> None:
    write_tiny_esrgan(live.services.config.models_path)
    data = requests.get(f"{live.url}/studio/v1/upscalers", timeout=30).json()
    kinds = {item["name"]: item["kind"] for item in data["upscalers"]}
    assert kinds["Lanczos"] == "builtin" and kinds["tiny-esrgan-2x"] == "model"
    assert "Latent (nearest-exact)" in data["latent_modes"]
    assert {item["name"] for item in data["face_restorers"]} == {"GFPGAN", "CodeFormer"}


def test_extras_single_and_batch_are_jobs(live: LiveServer) -> None:
    write_tiny_esrgan(live.services.config.models_path)
    response = requests.post(
        f"{live.url}/studio/v1/extras/single",
        json={"image": _b64(), "name": "a.png", "upscaler_1": "tiny-esrgan-2x", "upscaling_resize": 2},
        timeout=60,
    )
    assert response.status_code == 202
    job = _wait(live, response.json()["id"])
    assert job["kind"] == EXTRAS and job["state"] == "done"
    [image] = job["result"]["images"]
    assert image["infotext"] == "Postprocess upscale by: 2, Postprocess upscaler: tiny-esrgan-2x"
    png = requests.get(f"{live.url}{image['url']}", timeout=30).content
    assert Image.open(io.BytesIO(png)).size == (80, 64)

    response = requests.post(
        f"{live.url}/studio/v1/extras/batch",
        json={
            "images": [{"data": _b64()}, {"data": _b64((20, 20)), "name": "b"}],
            "resize_mode": 1,
            "upscaling_resize_w": 50,
            "upscaling_resize_h": 30,
            "upscaler_1": "Lanczos",
        },
        timeout=60,
    )
    assert response.status_code == 202
    job = _wait(live, response.json()["id"])
    sizes = [
        Image.open(io.BytesIO(requests.get(f"{live.url}{item['url']}", timeout=30).content)).size
        for item in job["result"]["images"]
    ]
    assert sizes == [(50, 30), (50, 30)]
    # the same kind through the generic jobs route
    response = requests.post(
        f"{live.url}/studio/v1/jobs",
        json={"kind": EXTRAS, "payload": {"images": [{"data": _b64()}], "upscaling_resize": 1.5}},
        timeout=60,
    )
    assert response.status_code == 202 and _wait(live, response.json()["id"])["state"] == "done"


def test_bad_extras_fields_are_named_and_nothing_is_queued(live: LiveServer) -> None:
    before = live.services.queue.count()
    response = requests.post(
        f"{live.url}/studio/v1/extras/single",
        json={"image": _b64(), "upscaler_1": "Bogus", "upscaling_resize": 99, "codeformer_weight": 2},
        timeout=60,
    )
    assert response.status_code == 422
    text = response.text
    assert "upscaling_resize" in text and "codeformer_weight" in text
    response = requests.post(
        f"{live.url}/studio/v1/extras/single", json={"image": _b64(), "upscaler_1": "Bogus"}, timeout=60
    )
    assert response.status_code == 422 and "upscaler_1" in response.text
    response = requests.post(
        f"{live.url}/studio/v1/extras/batch", json={"images": [{"data": "not base64!"}]}, timeout=60
    )
    assert response.status_code == 422 and "images[0].data" in response.text
    assert live.services.queue.count() == before
    with pytest.raises(RequestError) as caught:
        ExtrasJob.from_json({"images": [], "colour": 1, "upscale_first": "yes"})
    assert {problem.field for problem in caught.value.problems} == {"images", "colour", "upscale_first"}


def test_extras_and_unload_wait_behind_a_generation_report_steps_and_cancel(live: LiveServer) -> None:
    jobs = live.services.jobs
    gate = threading.Event()
    started = threading.Event()

    def hold(payload: object, control: object) -> dict:
        started.set()
        gate.wait(30)
        return {}

    live.services.runners.register("test-hold", hold, decode=lambda data: data)
    try:
        holder = jobs.submit("test-hold", {})
        assert started.wait(30)
        settings = {"upscaler_1": "Lanczos", "upscaling_resize": 2}
        first = requests.post(
            f"{live.url}/studio/v1/extras/batch",
            json={"images": [{"data": _b64()}, {"data": _b64()}], **settings},
            timeout=60,
        ).json()
        second = requests.post(
            f"{live.url}/studio/v1/extras/single", json={"image": _b64(), **settings}, timeout=60
        ).json()
        unload = requests.post(f"{live.url}/studio/v1/checkpoint/unload", timeout=60).json()
        assert (first["state"], first["position"]) == ("queued", 0)
        assert (second["position"], unload["position"]) == (1, 2)
        assert requests.delete(f"{live.url}/studio/v1/jobs/{second['id']}", timeout=30).status_code == 200
        with live.services.events.thread_subscription(first["id"]) as events:
            gate.set()
            seen = []
            while not seen or not seen[-1].final:
                seen.append(events.get(timeout=60))
        steps = [(event.data["step"], event.data["steps"]) for event in seen if event.type == "step"]
        assert steps == [(1, 2), (2, 2)]
        assert seen[-1].type == "done" and len(seen[-1].data["result"]["images"]) == 2
        assert jobs.get(second["id"]).state == "cancelled"
        assert jobs.get(holder.id).state == "done"
        assert jobs.wait(unload["id"], timeout=60).state == "done"
        assert live.services.engine.cache.loaded_paths() == []
        reload = requests.post(f"{live.url}/studio/v1/checkpoint/reload", timeout=60).json()
        assert jobs.wait(reload["id"], timeout=120).result == {"model": live.services.engine.current_model}
        assert len(live.services.engine.cache.loaded_paths()) == 1
    finally:
        gate.set()
        live.services.runners.unregister("test-hold")


def test_interrupting_a_running_extras_job_keeps_the_images_made(live: LiveServer) -> None:
    """An interrupt stops before the next image; the finished ones stay with the cancelled job."""
    from studio.extras_jobs import run_extras
    from studio.progress import GenerationControl, StepInfo

    def on_step(info: StepInfo) -> None:
        if info.step == 1:
            control.interrupt()  # the user presses Interrupt during the first image

    control = GenerationControl(on_step=on_step)
    job = ExtrasJob.from_json({"images": [{"data": _b64()}] * 3, "upscaler_1": "Nearest"})
    result = run_extras(live.services.engine, job, control)
    assert result.interrupted and len(result.images) == 1


def test_face_restoration_through_webuiapi_and_the_native_route(live: LiveServer) -> None:
    import webuiapi

    from tests.studio.pipeline.face_models import face_scene, write_tiny_gfpgan

    api = webuiapi.WebUIApi(host="127.0.0.1", port=live.port, sampler="Euler a", steps=2)
    write_tiny_gfpgan(live.services.config.models_path)
    gfpgan = next(item for item in api.get_face_restorers() if item["name"] == "GFPGAN")
    assert gfpgan["available"] is True
    scene = face_scene()
    restored = api.extra_single_image(scene, upscaler_1="None", upscaling_resize=1, gfpgan_visibility=1.0)
    assert restored.image.size == scene.size
    assert restored.image.info["postprocessing"] == (
        "Postprocess upscale by: 1, Postprocess upscaler: None, GFPGAN visibility: 1"
    )
    changed = np.abs(np.asarray(restored.image, dtype=np.int16) - np.asarray(scene, dtype=np.int16))
    assert changed[60:100, 140:180].mean() > 10 and changed[:, :20].max() == 0
    response = requests.post(
        f"{live.url}/studio/v1/extras/single",
        json={
            "image": base64.b64encode(_png(scene)).decode(),
            "upscaling_resize": 2,
            "gfpgan_visibility": 0.5,
        },
        timeout=60,
    )
    job = _wait(live, response.json()["id"])
    assert job["result"]["images"][0]["infotext"].endswith("GFPGAN visibility: 0.5")
    hidden = requests.post(
        f"{live.url}/sdapi/v1/extra-single-image",
        json={"image": base64.b64encode(_png(scene)).decode(), "show_extras_results": False},
        timeout=60,
    ).json()
    assert hidden["image"] == "" and "Postprocess upscale by: 2" in hidden["html_info"]
    # txt2img's restore_faces with the restorer chosen in the options; no face in the tiny
    # model's picture, so only the infotext tells
    result = api.txt2img(
        prompt="a portrait",
        width=64,
        height=64,
        seed=3,
        restore_faces=True,
        override_settings={"face_restoration_model": "GFPGAN"},
    )
    assert result.info["restore_faces"] is True and result.info["face_restoration_model"] == "GFPGAN"
    # with a RetinaFace file in models/GFPGAN, faces are found by it and aligned: the listing
    # says so, and the same request restores differently
    from tests.studio.pipeline.face_landmarks import pointing_state, write_retinaface

    write_retinaface(live.services.config.models_path, "mobilenet0.25", pointing_state())
    gfpgan = next(item for item in api.get_face_restorers() if item["name"] == "GFPGAN")
    assert gfpgan["detector"] == "RetinaFace" and gfpgan["aligned"] is True
    aligned = api.extra_single_image(scene, upscaler_1="None", upscaling_resize=1, gfpgan_visibility=1.0)
    assert (
        np.abs(np.asarray(aligned.image, dtype=np.int16) - np.asarray(restored.image, dtype=np.int16)).max()
        > 10
    )
    assert "Face restoration: GFPGAN" in result.info["infotexts"][0]
    bad = requests.post(
        f"{live.url}/sdapi/v1/txt2img",
        json={"prompt": "x", "steps": 1, "width": 64, "height": 64, "restore_faces": True},
        timeout=60,
    )
    assert bad.status_code == 422 and "restore_faces" in bad.text and "models/Codeformer" in bad.text


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
