"""The A1111-compatible API driven by `webuiapi`, a real third-party A1111 client."""

from __future__ import annotations

import base64
import io
import threading
import time

import pytest
import requests
import webuiapi
from PIL import Image

from studio.infotext import parse_infotext

from .a1111_models import SAMPLERS, SCRIPT_INFOS, EmbeddingsResponse, MemoryResponse
from .conftest import LiveServer


@pytest.fixture(scope="module")
def api(live: LiveServer) -> webuiapi.WebUIApi:
    return webuiapi.WebUIApi(host="127.0.0.1", port=live.port, sampler="Euler a", steps=3)


def small(**changes: object) -> dict:
    values = {"prompt": "a red circle", "width": 64, "height": 64, "steps": 3, "seed": 42}
    values.update(changes)
    return values


def test_txt2img_returns_pngs_with_infotext_and_a1111_info(api: webuiapi.WebUIApi) -> None:
    result = api.txt2img(**small(batch_size=2, negative_prompt="blue"))
    assert len(result.images) == 2
    assert all(image.size == (64, 64) and image.format == "PNG" for image in result.images)
    assert result.info["all_seeds"] == [42, 43]
    assert result.info["prompt"] == "a red circle" and result.info["negative_prompt"] == "blue"
    assert result.info["sd_model_name"] == "tiny" and len(result.info["infotexts"]) == 2
    assert result.parameters["prompt"] == "a red circle" and result.parameters["steps"] == 3
    infotext = result.images[1].info["parameters"]
    assert "Seed: 43" in infotext and "Steps: 3" in infotext and infotext == result.info["infotexts"][1]


def test_same_seed_same_image_and_different_seed_differs(api: webuiapi.WebUIApi) -> None:
    first = api.txt2img(**small(seed=7)).image
    again = api.txt2img(**small(seed=7)).image
    other = api.txt2img(**small(seed=8)).image
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()


def test_img2img_and_inpaint(api: webuiapi.WebUIApi, live: LiveServer) -> None:
    init = Image.new("RGB", (64, 64), (200, 30, 30))
    result = api.img2img(images=[init], denoising_strength=0.5, **small())
    assert result.image.size == (64, 64)
    assert "Denoising strength: 0.5" in result.image.info["parameters"]
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    inpainted = api.img2img(
        images=[init], mask_image=mask, denoising_strength=0.9, inpainting_fill=1, **small()
    )
    assert inpainted.image.size == (64, 64)
    job = requests.get(
        f"{live.url}/studio/v1/jobs/{inpainted.info['job_id']}", params={"payload": True}
    ).json()
    assert job["state"] == "done" and job["payload"]["mask"] and job["payload"]["init_images"]
    assert "Mask blur" in inpainted.image.info["parameters"]


def test_options_get_and_set(api: webuiapi.WebUIApi) -> None:
    options = api.get_options()
    titles = api.util_get_model_names()
    assert len(titles) == 1 and titles[0].startswith("tiny [")
    assert options["sd_model_checkpoint"] == titles[0]
    assert options["sd_vae"] == "Automatic" and options["CLIP_stop_at_last_layers"] == 1
    assert "samples_save" in options
    try:
        api.set_options(
            {"sd_model_checkpoint": "tiny", "CLIP_stop_at_last_layers": 2, "some_client_option": "kept"}
        )
        options = api.get_options()
        assert options["sd_model_checkpoint"] == titles[0] and options["CLIP_stop_at_last_layers"] == 2
        assert options["some_client_option"] == "kept" and api.util_get_current_model() == titles[0]
        assert api.txt2img(**small()).info["clip_skip"] == 2
    finally:
        api.set_options({"CLIP_stop_at_last_layers": 1})
    refused = requests.post(f"{api.baseurl}/options", json={"sd_model_checkpoint": "no-such-model"})
    assert refused.status_code == 422 and refused.json()["field"] == "sd_model_checkpoint"
    assert api.get_options()["sd_model_checkpoint"] == titles[0]  # nothing half-written


def test_lists_and_small_endpoints(api: webuiapi.WebUIApi) -> None:
    assert "Euler a" in api.util_get_sampler_names()
    assert "automatic" in api.util_get_scheduler_names()
    models = api.get_sd_models()
    assert set(models[0]) >= {"title", "model_name", "hash", "sha256", "filename"}
    assert models[0]["hash"] == models[0]["sha256"][:10]
    assert api.get_sd_vae() == [] and api.get_loras() == []
    assert api.get_embeddings() == {"loaded": {}, "skipped": {}}
    api.refresh_checkpoints()
    memory = api.get_memory()
    assert memory["ram"]["total"] > 0 and "cuda" in memory
    flags = api.get_cmd_flags()
    assert flags["api_auth"] is None and flags["nowebui"] is True
    idle = api.get_progress()
    assert idle["state"]["job_count"] == 0 and idle["progress"] == 0


def test_png_info_reads_back_the_infotext(api: webuiapi.WebUIApi) -> None:
    image = api.txt2img(**small(seed=5)).image
    info = api.png_info(image)
    assert "Seed: 5" in info.info
    assert info.parameters["Seed"] == "5" or info.parameters["Seed"] == 5


def test_progress_answers_during_a_generation_and_interrupt_keeps_what_was_made(
    api: webuiapi.WebUIApi, live: LiveServer
) -> None:
    outcome: dict = {}

    def long_generation() -> None:
        outcome["result"] = api.txt2img(**small(steps=150))

    thread = threading.Thread(target=long_generation)
    thread.start()
    deadline = time.monotonic() + 30
    progress = api.get_progress()
    while progress["state"]["sampling_step"] < 6 or progress["current_image"] is None:
        assert time.monotonic() < deadline, progress
        time.sleep(0.05)
        progress = api.get_progress()
    assert progress["state"]["job"] == "txt2img" and progress["state"]["job_count"] == 1
    assert progress["state"]["sampling_steps"] == 150 and 0 < progress["progress"] < 1
    assert progress["eta_relative"] > 0 and progress["textinfo"].startswith("Step ")
    assert Image.open(io.BytesIO(base64.b64decode(progress["current_image"]))).format == "PNG"
    no_image = requests.get(f"{live.url}/sdapi/v1/progress", params={"skip_current_image": "true"}).json()
    assert no_image["current_image"] is None
    tick = time.perf_counter()
    api.get_options()
    assert time.perf_counter() - tick < 2.0  # options answer while the worker is busy
    api.interrupt()
    thread.join(30)
    result = outcome["result"]
    assert len(result.images) == 1  # interrupted: the partial image is still returned
    assert result.info["interrupted"] is True and result.info["job_state"] == "cancelled"
    assert 6 <= int(parse_infotext(result.info["infotexts"][0])["Steps"]) < 150  # the steps done
    assert api.get_progress()["state"]["job_count"] == 0


def test_listings_have_a1111s_exact_shapes(api: webuiapi.WebUIApi, live: LiveServer) -> None:
    """Strict clients (#19 item 15): validated against A1111's models, extra keys forbidden."""
    samplers = {item.name: item for item in SAMPLERS.validate_python(api.get_samplers())}
    assert {"k_euler_a", "k_euler_ancestral"} <= set(samplers["Euler a"].aliases)
    assert "DPM++ 2M Karras" in samplers["DPM++ 2M"].aliases  # the old combined name
    assert samplers["Heun"].options == {"second_order": True}
    assert samplers["Euler a"].options == {"uses_ensd": True} and samplers["Euler"].options == {}
    infos = SCRIPT_INFOS.validate_python(requests.get(f"{live.url}/sdapi/v1/script-info").json())
    xyz = [info for info in infos if info.name == "x/y/z plot"]
    assert [(info.is_alwayson, info.is_img2img) for info in xyz] == [(False, False), (False, True)]
    assert xyz[0].args and all(arg.label for arg in xyz[0].args)
    assert any(arg.choices for arg in xyz[0].args)  # the axis types
    listed = api.get_scripts()
    assert set(listed) == {"txt2img", "img2img"}
    for tab, img2img in (("txt2img", False), ("img2img", True)):
        assert listed[tab] == [info.name for info in infos if info.is_img2img is img2img]
    memory = MemoryResponse.model_validate(api.get_memory())
    assert set(memory.ram) == {"free", "used", "total"} and memory.ram["total"] > 0
    assert memory.cuda == {"error": "unavailable"}  # no CUDA device on the test machine
    EmbeddingsResponse.model_validate(api.get_embeddings())
    schema = requests.get(f"{live.url}/openapi.json").json()
    declared = schema["paths"]["/sdapi/v1/memory"]["get"]["responses"]["200"]["content"]
    assert declared["application/json"]["schema"]["$ref"].endswith("/MemoryResponse")


def test_bad_input_is_a_422_naming_the_field(live: LiveServer) -> None:
    url = f"{live.url}/sdapi/v1"
    bad_base64 = requests.post(f"{url}/img2img", json={**small(), "init_images": ["%%%"]})
    assert bad_base64.status_code == 422 and bad_base64.json()["field"] == "init_images[0]"
    not_image = base64.b64encode(b"not an image").decode()
    undecodable = requests.post(f"{url}/img2img", json={**small(), "init_images": [not_image]})
    assert undecodable.status_code == 422 and "decodable" in undecodable.text
    png = io.BytesIO()
    Image.new("RGB", (64, 64)).save(png, format="PNG")
    bad_mask = requests.post(
        f"{url}/img2img",
        json={**small(), "init_images": [base64.b64encode(png.getvalue()).decode()], "mask": "x"},
    )
    assert bad_mask.status_code == 422 and bad_mask.json()["field"] == "mask"
    sampler = requests.post(f"{url}/txt2img", json=small(sampler_name="No Such Sampler"))
    assert sampler.status_code == 422 and sampler.json()["field"] == "sampler_name"
    width = requests.post(f"{url}/txt2img", json=small(width=65))
    assert width.status_code == 422 and width.json()["field"] == "width"
    typed = requests.post(f"{url}/txt2img", json=small(steps="many"))
    assert typed.status_code == 422 and "steps" in typed.text
    script = requests.post(f"{url}/txt2img", json=small(script_name="no such script"))
    assert script.status_code == 422 and "script" in script.json()["field"]
    assert requests.post(f"{url}/png-info", json={"image": "%%%"}).json()["field"] == "image"


def test_skip_ends_the_current_batch_and_the_job_goes_on(api: webuiapi.WebUIApi) -> None:
    outcome: dict = {}
    thread = threading.Thread(
        target=lambda: outcome.setdefault("result", api.txt2img(**small(steps=150, n_iter=2)))
    )
    thread.start()
    deadline = time.monotonic() + 30
    while api.get_progress()["state"]["sampling_step"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    api.skip()
    progress = api.get_progress()
    while progress["state"]["job_no"] != 1:  # the second batch started
        assert time.monotonic() < deadline, progress
        time.sleep(0.05)
        progress = api.get_progress()
    assert progress["state"]["skipped"] is True and progress["state"]["job_count"] == 2
    assert progress["progress"] >= 0.5
    api.interrupt()
    thread.join(30)
    result = outcome["result"]
    assert len(result.images) == 2  # the skipped batch's partial image, then the interrupted one
    assert result.info["all_seeds"] == [42, 43]
    # each records the steps it really got, not the 150 asked for (#19 item 6)
    done = [int(parse_infotext(text)["Steps"]) for text in result.info["infotexts"]]
    assert done[0] >= 3 and all(1 <= steps < 150 for steps in done), done
    assert f"Steps: {done[0]}," in result.images[0].info["parameters"]
