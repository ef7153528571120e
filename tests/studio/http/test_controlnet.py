"""sd-webui-controlnet's API on a real server: webuiapi drives a unit and the /controlnet routes."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from studio.infotext import parse_infotext
from tests.studio.http.conftest import LiveServer
from tests.studio.pipeline.controlnet_files import shapes_png, write_tiny_controlnet


@pytest.fixture(scope="module")
def cn_live(live: LiveServer, tiny_model_dir: Path) -> LiveServer:
    write_tiny_controlnet(tiny_model_dir, live.services.config.models_path)
    return live


def test_list_routes_and_detect(cn_live: LiveServer) -> None:
    import webuiapi

    api = webuiapi.WebUIApi(host="127.0.0.1", port=cn_live.port)
    assert api.controlnet_version() == 2
    models = api.controlnet_model_list()
    assert len(models) == 1 and models[0].startswith("tiny_canny [")
    modules = api.controlnet_module_list()
    assert {"none", "canny", "invert", "lineart_standard", "depth_midas"} <= set(modules)
    image = Image.open(io.BytesIO(shapes_png()))
    detected = api.controlnet_detect(
        [image], module="canny", processor_res=64, threshold_a=100, threshold_b=200
    )
    edges = detected.image
    assert edges.size == (64, 64)
    values = set(np.unique(np.asarray(edges.convert("L"))).tolist())
    assert values == {0, 255}
    refused = httpx.post(
        f"{cn_live.url}/controlnet/detect",
        json={
            "controlnet_module": "openpose",
            "controlnet_input_images": [base64.b64encode(shapes_png()).decode()],
        },
    )
    assert refused.status_code == 422
    assert "openpose/body_pose_model.pth" in refused.text and "annotators" in refused.text


def test_webuiapi_txt2img_with_a_controlnet_unit(cn_live: LiveServer) -> None:
    import webuiapi

    api = webuiapi.WebUIApi(host="127.0.0.1", port=cn_live.port)
    title = api.controlnet_model_list()[0]
    unit = webuiapi.ControlNetUnit(
        image=Image.open(io.BytesIO(shapes_png())),
        module="canny",
        model=title,
        weight=0.8,
        resize_mode="Crop and Resize",
        threshold_a=100,
        threshold_b=200,
        guidance_end=0.9,
        control_mode=1,
    )
    common = {"prompt": "red circle", "seed": 5, "steps": 3, "width": 64, "height": 64, "cfg_scale": 7}
    plain = api.txt2img(**common)
    # a fresh dict: webuiapi writes the unit into its (shared, mutable) default `alwayson_scripts`
    controlled = api.txt2img(**common, controlnet_units=[unit], alwayson_scripts={})
    assert plain.image.tobytes() != controlled.image.tobytes()
    parsed = parse_infotext(controlled.info["infotexts"][0])
    assert parsed["ControlNet 0"] == (
        f"Module: canny, Model: {title}, Weight: 0.8, Resize Mode: Crop and Resize, Processor Res: 512, "
        "Threshold A: 100, Threshold B: 200, Guidance Start: 0.0, Guidance End: 0.9, Pixel Perfect: False, "
        "Control Mode: My prompt is more important"
    )


def test_bad_units_name_their_fields(cn_live: LiveServer) -> None:
    unit = {"image": base64.b64encode(shapes_png()).decode(), "module": "canny", "model": "nope", "weight": 1}
    payload = {
        "prompt": "x",
        "steps": 2,
        "width": 64,
        "height": 64,
        "alwayson_scripts": {"controlnet": {"args": [unit]}},
    }
    response = httpx.post(f"{cn_live.url}/sdapi/v1/txt2img", json=payload, timeout=60)
    assert response.status_code == 422 and "controlnet.args[0].model" in response.text
    unit.update(model="tiny_canny", resize_mode="Sideways", bogus=1)
    response = httpx.post(f"{cn_live.url}/sdapi/v1/txt2img", json=payload, timeout=60)
    assert response.status_code == 422 and "controlnet.args[0].bogus" in response.text


def test_detect_with_a_model_based_preprocessor(cn_live: LiveServer) -> None:
    """/controlnet/detect with softedge_hed: a 422 naming the file until it is there, then its map."""
    import torch
    from safetensors.torch import save_file

    from studio.controlnet.annotators import hed_network

    body = {
        "controlnet_module": "softedge_hed",
        "controlnet_processor_res": 64,
        "controlnet_input_images": [base64.b64encode(shapes_png()).decode()],
    }
    refused = httpx.post(f"{cn_live.url}/controlnet/detect", json=body, timeout=60)
    assert refused.status_code == 422 and "hed/ControlNetHED.pth" in refused.text
    torch.manual_seed(0)
    path = (
        cn_live.services.config.models_path
        / "ControlNet"
        / "annotators"
        / "hed"
        / "ControlNetHED.safetensors"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in hed_network().state_dict().items()}, str(path))
    answer = httpx.post(f"{cn_live.url}/controlnet/detect", json=body, timeout=60)
    assert answer.status_code == 200
    image = Image.open(io.BytesIO(base64.b64decode(answer.json()["images"][0])))
    assert image.size == (64, 64) and len(np.unique(np.asarray(image.convert("L")))) > 3


def test_detect_with_mlsd_and_its_thresholds(cn_live: LiveServer) -> None:
    """/controlnet/detect with mlsd (the extension's network, its .safetensors twin): straight lines
    from the file's network, none when the distance threshold exceeds their length."""
    from safetensors.torch import save_file

    from tests.studio.pipeline.test_controlnet_mlsd import write_mlsd

    folder = cn_live.services.config.models_path / "ControlNet" / "annotators"
    body = {
        "controlnet_module": "mlsd",
        "controlnet_processor_res": 64,
        "controlnet_input_images": [base64.b64encode(shapes_png()).decode()],
    }
    refused = httpx.post(f"{cn_live.url}/controlnet/detect", json=body, timeout=60)
    assert refused.status_code == 422 and "mlsd/mlsd_large_512_fp32.pth" in refused.text
    import torch

    pickle = write_mlsd(folder, 3.0, (0.0, -6.0, 0.0, 6.0))  # vertical 24 px lines
    state = torch.load(str(pickle), weights_only=True)
    save_file(
        {key: value.contiguous() for key, value in state.items()}, str(pickle.with_suffix(".safetensors"))
    )
    pickle.unlink()
    answer = httpx.post(f"{cn_live.url}/controlnet/detect", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    lines = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer.json()["images"][0]))).convert("L"))
    assert lines.shape == (64, 64) and lines.max() == 255
    assert all(lines[:, column].sum() >= 255 * 20 for column in np.nonzero(lines.any(axis=0))[0])
    body |= {"controlnet_threshold_a": 0.1, "controlnet_threshold_b": 12.5}
    answer = httpx.post(f"{cn_live.url}/controlnet/detect", json=body, timeout=60)
    assert np.asarray(Image.open(io.BytesIO(base64.b64decode(answer.json()["images"][0])))).max() == 0
