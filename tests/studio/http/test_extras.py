"""Hires fix, Extras and the rest of /sdapi/v1 driven by `webuiapi` against a real server."""

from __future__ import annotations

import base64
import io

import pytest
import requests
import webuiapi
from PIL import Image

from studio.infotext import parse_infotext
from tests.studio.pipeline.upscaler_models import write_tiny_esrgan

from .conftest import LiveServer

LATENT_MODES = [
    "Latent",
    "Latent (antialiased)",
    "Latent (bicubic)",
    "Latent (bicubic antialiased)",
    "Latent (nearest)",
    "Latent (nearest-exact)",
]


@pytest.fixture(scope="module")
def api(live: LiveServer) -> webuiapi.WebUIApi:
    write_tiny_esrgan(live.services.config.models_path)
    return webuiapi.WebUIApi(host="127.0.0.1", port=live.port, sampler="Euler a", steps=3)


def _image(seed: int = 0) -> Image.Image:
    import numpy as np

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))


def test_hires_fix_through_webuiapi(api: webuiapi.WebUIApi) -> None:
    result = api.txt2img(
        prompt="a red circle",
        width=64,
        height=64,
        steps=3,
        seed=3,
        batch_size=2,
        enable_hr=True,
        hr_scale=1.5,
        hr_upscaler="tiny-esrgan-2x",
        hr_second_pass_steps=2,
        denoising_strength=0.5,
    )
    assert [image.size for image in result.images] == [(96, 96), (96, 96)]
    text = result.info["infotexts"][0]
    assert "Size: 64x64" in text
    assert (
        "Denoising strength: 0.5, Hires upscale: 1.5, Hires steps: 2, Hires upscaler: tiny-esrgan-2x" in text
    )
    assert result.info["denoising_strength"] == 0.5
    # PNG Info reads the hires fields back
    png = io.BytesIO()
    result.images[0].save(png, format="PNG", pnginfo=_pnginfo(result.images[0]))
    info = requests.post(
        f"{api.baseurl}/png-info", json={"image": base64.b64encode(png.getvalue()).decode()}, timeout=30
    ).json()
    assert info["parameters"]["Hires upscale"] == "1.5"
    assert info["parameters"]["Hires upscaler"] == "tiny-esrgan-2x"


def test_hires_fix_bad_fields_are_422(live: LiveServer) -> None:
    payload = {"prompt": "x", "width": 64, "height": 64, "steps": 2, "enable_hr": True}
    url = f"{live.url}/sdapi/v1/txt2img"
    response = requests.post(url, json={**payload, "hr_upscaler": "Bogus"}, timeout=60)
    assert response.status_code == 422 and "hr_upscaler" in response.text
    response = requests.post(url, json={**payload, "hr_checkpoint_name": "nope"}, timeout=60)
    assert response.status_code == 422 and "hr_checkpoint_name" in response.text


def test_extras_single_and_batch_keep_infotext(api: webuiapi.WebUIApi, live: LiveServer) -> None:
    source = api.txt2img(prompt="a cat", width=64, height=64, steps=2, seed=5).images[0]
    png = io.BytesIO()
    source.save(png, format="PNG", pnginfo=_pnginfo(source))
    upscaled = api.extra_single_image(
        Image.open(io.BytesIO(png.getvalue())), upscaler_1="tiny-esrgan-2x", upscaling_resize=2
    )
    assert upscaled.image.size == (128, 128)
    assert parse_infotext(upscaled.image.info["parameters"])["Seed"] == "5"
    assert (
        upscaled.image.info["postprocessing"]
        == "Postprocess upscale by: 2, Postprocess upscaler: tiny-esrgan-2x"
    )
    batch = api.extra_batch_images(
        [_image(0), _image(1)],
        resize_mode=1,
        upscaling_resize_w=80,
        upscaling_resize_h=80,
        upscaler_1="Lanczos",
        upscaler_2="Nearest",
        extras_upscaler_2_visibility=0.5,
    )
    assert [image.size for image in batch.images] == [(80, 80), (80, 80)]
    bad = requests.post(
        f"{live.url}/sdapi/v1/extra-single-image",
        json={"image": _b64(_image()), "gfpgan_visibility": 0.5},
        timeout=60,
    )
    assert bad.status_code == 422 and "gfpgan_visibility" in bad.text
    bad = requests.post(
        f"{live.url}/sdapi/v1/extra-single-image",
        json={"image": _b64(_image()), "upscaler_1": "Bogus"},
        timeout=60,
    )
    assert bad.status_code == 422 and "upscaler_1" in bad.text


def _pnginfo(image: Image.Image):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", image.info["parameters"])
    return info


def _b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_list_routes(api: webuiapi.WebUIApi, live: LiveServer) -> None:
    upscalers = api.get_upscalers()
    assert [item["name"] for item in upscalers][:3] == ["None", "Lanczos", "Nearest"]
    assert {"name", "model_name", "model_path", "model_url", "scale"} <= set(upscalers[0])
    assert "tiny-esrgan-2x" in [item["name"] for item in upscalers]
    assert [item["name"] for item in api.get_latent_upscale_modes()] == LATENT_MODES
    restorers = api.get_face_restorers()
    assert {item["name"] for item in restorers} == {"GFPGAN", "CodeFormer"}
    assert all(item["available"] is False and item["reason"] for item in restorers)
    # no RetinaFace file: the Haar cascade runs, and the listing says why
    assert all(item["detector"] == "Haar cascade" and item["aligned"] is False for item in restorers)
    assert all("detection_Resnet50_Final" in item["detector_note"] for item in restorers)
    assert api.get_realesrgan_models() == []
    assert api.get_hypernetworks() == []
    modules = requests.get(f"{live.url}/sdapi/v1/sd-modules", timeout=30)
    assert modules.status_code == 200 and isinstance(modules.json(), list)
    response = requests.post(f"{live.url}/sdapi/v1/interrogate", json={"image": _b64(_image())}, timeout=30)
    assert response.status_code == 501 and "captioning model" in response.text


def test_unload_and_reload_checkpoint(api: webuiapi.WebUIApi, live: LiveServer) -> None:
    engine = live.services.engine
    api.txt2img(prompt="x", width=64, height=64, steps=1, seed=1)
    assert engine.cache.loaded_paths()
    assert requests.post(f"{live.url}/sdapi/v1/unload-checkpoint", timeout=60).status_code == 200
    assert engine.cache.loaded_paths() == []
    assert requests.post(f"{live.url}/sdapi/v1/reload-checkpoint", timeout=60).status_code == 200
    assert len(engine.cache.loaded_paths()) == 1
    requests.post(f"{live.url}/sdapi/v1/unload-checkpoint", timeout=60)
    result = api.txt2img(prompt="x", width=64, height=64, steps=1, seed=1)
    assert result.images and len(engine.cache.loaded_paths()) == 1


def test_samples_format_jpg_saves_exif_infotext_read_by_png_info(
    api: webuiapi.WebUIApi, live: LiveServer
) -> None:
    from pathlib import Path

    bad = requests.post(f"{live.url}/sdapi/v1/options", json={"samples_format": "gif"}, timeout=30)
    assert bad.status_code == 422 and "samples_format" in bad.text
    api.set_options({"samples_format": "jpg"})
    try:
        result = api.txt2img(prompt="a jpeg cat", width=64, height=64, steps=1, seed=11, save_images=True)
    finally:
        api.set_options({"samples_format": "png"})
    saved = [entry.path for entry in live.services.engine.history.list() if entry.seed == 11]
    assert saved and saved[0].endswith(".jpg")
    data = Path(saved[0]).read_bytes()
    assert data[:2] == b"\xff\xd8"
    info = requests.post(
        f"{live.url}/sdapi/v1/png-info", json={"image": base64.b64encode(data).decode()}, timeout=30
    ).json()
    assert info["info"] == result.info["infotexts"][0]
    assert info["parameters"]["Prompt"] == "a jpeg cat" and info["parameters"]["Seed"] == "11"
