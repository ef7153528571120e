"""ControlNet on the tiny model: effect and no-effect checks, several units, modes, infotext."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from studio.config import StudioConfig
from studio.controlnet.units import ControlNetUnit
from studio.infotext import parse_infotext
from studio.pipeline.engine import Engine
from studio.progress import GenerationControl
from studio.request import GenerationRequest, RequestError
from tests.studio.pipeline.conftest import pixels
from tests.studio.pipeline.controlnet_files import shapes_png, write_tiny_controlnet

BASE = GenerationRequest(prompt="red circle", seed=3, steps=4, width=64, height=64, save_images=False)


@pytest.fixture
def cn_engine(studio_config: StudioConfig, tiny_model_dir: Path) -> Engine:
    write_tiny_controlnet(tiny_model_dir, studio_config.models_path)
    return Engine(studio_config)


def unit(**changes: object) -> dict:
    values = {
        "image": shapes_png(),
        "module": "canny",
        "model": "tiny_canny",
        "threshold_a": 100,
        "threshold_b": 200,
    }
    values.update(changes)
    return ControlNetUnit(**values).to_json()  # type: ignore[arg-type]


def run(engine: Engine, request: GenerationRequest) -> np.ndarray:
    return pixels(engine.generate(request, GenerationControl()).images[0].png)


@pytest.mark.slow
def test_weight_zero_and_guidance_end_zero_equal_no_controlnet_and_weight_one_differs(
    cn_engine: Engine,
) -> None:
    plain = run(cn_engine, BASE)
    zero = run(cn_engine, replace(BASE, controlnet_units=(unit(weight=0.0),)))
    ended = run(cn_engine, replace(BASE, controlnet_units=(unit(guidance_end=0.0),)))
    full = run(cn_engine, replace(BASE, controlnet_units=(unit(),)))
    assert np.array_equal(plain, zero)
    assert np.array_equal(plain, ended)
    assert np.abs(plain - full).mean() > 1.0


def test_two_units_control_modes_and_infotext(cn_engine: Engine) -> None:
    one = run(cn_engine, replace(BASE, controlnet_units=(unit(),)))
    result = cn_engine.generate(
        replace(
            BASE, controlnet_units=(unit(), unit(module="invert", weight=0.5, resize_mode="Just Resize"))
        ),
        GenerationControl(),
    )
    two = pixels(result.images[0].png)
    assert np.abs(one - two).mean() > 1.0
    parsed = parse_infotext(result.images[0].infotext)
    model = cn_engine.controlnets.models()[0]
    assert parsed["ControlNet 0"] == (
        f"Module: canny, Model: {model.title}, Weight: 1.0, Resize Mode: Crop and Resize, Processor Res: 512, "
        "Threshold A: 100, Threshold B: 200, Guidance Start: 0.0, Guidance End: 1.0, Pixel Perfect: False, "
        "Control Mode: Balanced"
    )
    assert 'ControlNet 1: "Module: invert, ' in result.images[0].infotext
    assert "Weight: 0.5, Resize Mode: Just Resize" in parsed["ControlNet 1"]
    prompt_mode = run(
        cn_engine, replace(BASE, controlnet_units=(unit(control_mode="My prompt is more important"),))
    )
    control_mode = run(
        cn_engine, replace(BASE, controlnet_units=(unit(control_mode="ControlNet is more important"),))
    )
    assert np.abs(one - prompt_mode).mean() > 0.5
    assert np.abs(prompt_mode - control_mode).mean() > 0.5


def test_img2img_and_inpaint_take_a_unit(cn_engine: Engine) -> None:
    from PIL import Image

    from tests.studio.pipeline.conftest import png_of

    init = png_of(Image.new("RGB", (64, 64), (120, 60, 200)))
    mask = png_of(Image.new("L", (64, 64), 255))
    img2img = replace(BASE, init_images=(init,), denoising_strength=0.8)
    for request in (img2img, replace(img2img, mask=mask)):
        plain = run(cn_engine, request)
        controlled = run(cn_engine, replace(request, controlnet_units=(unit(),)))
        assert np.abs(plain - controlled).mean() > 0.5, request.mode


def test_bad_units_are_refused_naming_the_field(cn_engine: Engine) -> None:
    with pytest.raises(RequestError, match=r"controlnet.args\[0\].model.*installed: tiny_canny \["):
        cn_engine.generate(replace(BASE, controlnet_units=(unit(model="missing"),)), GenerationControl())
    with pytest.raises(RequestError, match=r"controlnet.args\[0\].module.*midas/dpt_hybrid"):
        cn_engine.generate(replace(BASE, controlnet_units=(unit(module="depth_midas"),)), GenerationControl())


def test_and_prompt_with_a_unit_is_refused(cn_engine: Engine) -> None:
    request = replace(BASE, prompt="red circle AND blue square", controlnet_units=(unit(),))
    with pytest.raises(RequestError, match=r"AND .* ControlNet"):
        cn_engine.generate(request, GenerationControl())


def test_original_layout_file_and_diffusers_folder_load_the_same_weights(
    studio_config: StudioConfig, tiny_model_dir: Path
) -> None:
    from studio.controlnet.models import scan
    from studio.pipeline.controlnet.loading import load_controlnet
    from tests.studio.pipeline.controlnet_files import write_original_layout

    diffusers_file = write_tiny_controlnet(tiny_model_dir, studio_config.models_path)
    original = write_original_layout(diffusers_file)
    from safetensors.torch import load_file

    assert any(key.startswith("control_model.input_blocks.") for key in load_file(str(original)))
    load_controlnet(scan(studio_config.models_path)[0]).save_pretrained(
        str(studio_config.models_path / "ControlNet" / "tiny_folder")
    )
    models = {m.name: m for m in scan(studio_config.models_path)}
    assert sorted(models) == ["tiny_canny", "tiny_folder", "tiny_original"]
    a = load_controlnet(models["tiny_canny"]).state_dict()
    for other in ("tiny_original", "tiny_folder"):
        b = load_controlnet(models[other]).state_dict()
        assert a.keys() == b.keys()
        assert all((a[k] == b[k]).all() for k in a), other
