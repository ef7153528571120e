"""Model families over HTTP: `/sdapi/v1/sd-models` names each model's family, A1111's refiner
fields and Forge's distilled CFG work as those clients send them, `/studio/v1/models` tells a
client what each model runs with. A real server on loopback over tiny SDXL, refiner and Flux.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from studio.infotext import parse_infotext

from .conftest import LiveServer, make_config, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[LiveServer]:
    from studio.pipeline.families.tiny import build_tiny_family

    config = make_config(tmp_path_factory.mktemp("families-api"), tiny_model_dir, model_cache_size=3)
    for name, family in (("sdxl-tiny", "sdxl"), ("sdxl-refiner-tiny", "sdxl-refiner"), ("flux-tiny", "flux")):
        build_tiny_family(family, config.models_path / "Diffusers" / name)
    from tests.studio.pipeline.family_network_files import write_kohya_family_lora

    for name, family in (("sdxl-tiny", "sdxl"), ("flux-tiny", "flux")):
        folder = config.models_path / "Diffusers" / name
        write_kohya_family_lora(
            config.models_path / "Lora" / f"{family}-style.safetensors", folder, family, 1
        )
    server = serve(config)
    yield server
    server.stop()


def small(**changes: object) -> dict:
    values = {
        "prompt": "a red cat",
        "width": 64,
        "height": 64,
        "steps": 4,
        "seed": 5,
        "sampler_name": "Euler",
    }
    values.update(changes)
    return values


def test_sd_models_names_each_family(live: LiveServer) -> None:
    models = requests.get(f"{live.url}/sdapi/v1/sd-models", timeout=30).json()
    families = {model["model_name"]: (model["family"], model["architecture"]) for model in models}
    assert families == {
        "flux-tiny": ("flux", "flux-dev"),
        "sdxl-refiner-tiny": ("sdxl-refiner", "sdxl-refiner"),
        "sdxl-tiny": ("sdxl", "sdxl"),
        "tiny": ("sd15", "sd15"),
    }


def test_studio_models_say_what_each_model_runs_with(live: LiveServer) -> None:
    models = {
        info["title"].split(" [")[0]: info
        for info in requests.get(f"{live.url}/studio/v1/models", timeout=30).json()
    }
    flux = models["flux-tiny"]
    assert flux["samplers"] == ["Euler a", "Euler", "LCM"] and flux["native_size"] == 64
    assert flux["fields"] == ["distilled_cfg_scale", "flow_shift"] and flux["defaults"]["cfg_scale"] == 1.0
    sdxl = models["sdxl-tiny"]
    assert "refiner_checkpoint" in sdxl["fields"] and "DPM++ 2M" in sdxl["samplers"]
    assert [title.split(" [")[0] for title in sdxl["refiners"]] == ["sdxl-refiner-tiny", "sdxl-tiny"]


def test_a1111_refiner_fields_hand_over_the_last_steps(live: LiveServer) -> None:
    url = f"{live.url}/sdapi/v1/txt2img"
    body = small(override_settings={"sd_model_checkpoint": "sdxl-tiny"})
    plain = requests.post(url, json=body, timeout=300).json()
    refined = requests.post(
        url, json={**body, "refiner_checkpoint": "sdxl-refiner-tiny", "refiner_switch_at": 0.5}, timeout=300
    ).json()
    assert plain["images"][0] != refined["images"][0]
    parsed = parse_infotext(json.loads(refined["info"])["infotexts"][0])
    assert parsed["Refiner"].startswith("sdxl-refiner-tiny [") and parsed["Refiner switch at"] == "0.5"
    wrong = requests.post(url, json={**body, "refiner_checkpoint": "flux-tiny"}, timeout=60)
    assert wrong.status_code == 422 and wrong.json()["field"] == "refiner_checkpoint"


def test_forge_distilled_cfg_goes_to_flux_and_its_default_is_dropped_elsewhere(live: LiveServer) -> None:
    url = f"{live.url}/sdapi/v1/txt2img"
    flux = requests.post(
        url,
        json=small(
            override_settings={"sd_model_checkpoint": "flux-tiny"}, cfg_scale=1, distilled_cfg_scale=4.5
        ),
        timeout=300,
    ).json()
    assert "Distilled CFG Scale: 4.5" in json.loads(flux["info"])["infotexts"][0]
    forge_default = requests.post(
        url,
        json=small(override_settings={"sd_model_checkpoint": "tiny"}, distilled_cfg_scale=3.5),
        timeout=300,
    )
    assert forge_default.status_code == 200
    assert "Distilled CFG" not in json.loads(forge_default.json()["info"])["infotexts"][0]
    chosen = requests.post(
        url,
        json=small(override_settings={"sd_model_checkpoint": "tiny"}, distilled_cfg_scale=5.0),
        timeout=60,
    )
    assert chosen.status_code == 422 and chosen.json()["field"] == "distilled_cfg_scale"


def test_lora_tags_weights_and_hires_fix_on_sdxl_and_flux(live: LiveServer) -> None:
    import base64
    import io

    from PIL import Image

    def pixels(png: bytes) -> bytes:
        return Image.open(io.BytesIO(png)).convert("RGB").tobytes()

    names = {lora["name"] for lora in requests.get(f"{live.url}/sdapi/v1/loras", timeout=30).json()}
    assert {"sdxl-style", "flux-style"} <= names

    def txt2img(**changes: object) -> tuple[bytes, dict]:
        response = requests.post(f"{live.url}/sdapi/v1/txt2img", json=small(steps=2, **changes), timeout=300)
        assert response.status_code == 200, response.text
        body = response.json()
        return base64.b64decode(body["images"][0]), json.loads(body["info"])

    for model, family in (("sdxl-tiny", "sdxl"), ("flux-tiny", "flux")):
        override = {"override_settings": {"sd_model_checkpoint": model}}
        if family == "flux":
            override["cfg_scale"] = 1.0
        base, _ = txt2img(**override)
        styled, info = txt2img(prompt=f"a red cat <lora:{family}-style:1>", **override)
        off, _ = txt2img(prompt=f"a red cat <lora:{family}-style:0>", **override)
        assert pixels(styled) != pixels(base) and pixels(off) == pixels(base), model
        assert "Lora hashes" in info["infotexts"][0]
        hires, info = txt2img(
            enable_hr=True, hr_scale=2, hr_upscaler="Lanczos", denoising_strength=0.5, **override
        )
        assert Image.open(io.BytesIO(hires)).size == (128, 128)
        assert "Hires upscaler: Lanczos" in info["infotexts"][0]
    weighted, _ = txt2img(prompt="a (red:1.4) cat", override_settings={"sd_model_checkpoint": "sdxl-tiny"})
    plain, _ = txt2img(prompt="a red cat", override_settings={"sd_model_checkpoint": "sdxl-tiny"})
    assert pixels(weighted) != pixels(plain)
    refused = requests.post(
        f"{live.url}/sdapi/v1/txt2img",
        json=small(
            prompt="a [red:blue:0.5] cat",
            cfg_scale=1.0,
            override_settings={"sd_model_checkpoint": "flux-tiny"},
        ),
        timeout=60,
    )
    assert refused.status_code == 422 and "prompt" in refused.text
