"""Flux.1 Fill runs inpainting (and outpainting: a mask over a padded border) from the files
people download, offline: a transformer-only file with separate text encoders and VAE. Its
distilled guidance is the one guidance it has; CFG and a negative prompt are refused by field."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from studio.infotext import parse_infotext, request_fields
from studio.pipeline.engine import Engine
from studio.request import GenerationRequest, RequestError
from tests.helpers import make_studio_config
from tests.studio.pipeline.conftest import install_single_file, pixels, png_of
from tests.studio.pipeline.family_network_files import write_kohya_family_lora

pytestmark = pytest.mark.slow


def _mask() -> bytes:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


REQUEST = GenerationRequest(
    prompt="a red cat",
    seed=3,
    steps=2,
    width=64,
    height=64,
    sampler_name="Euler",
    save_images=False,
    init_images=(png_of(Image.new("RGB", (64, 64), (40, 160, 200))),),
    mask=_mask(),
    denoising_strength=1.0,
    cfg_scale=1.0,
    model="flux-fill",
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, tiny_family: Any) -> Engine:
    config = make_studio_config(tmp_path_factory.mktemp("fill"))
    folder = tiny_family("flux-fill")
    install_single_file(folder, config.models_path, "flux-fill", "split")
    write_kohya_family_lora(config.models_path / "Lora" / "fill-style.safetensors", folder, "flux", 4)
    return Engine(config)


def test_flux_fill_inpaints_reproducibly_offline(engine: Engine, no_network: list) -> None:
    entry = next(e for e in engine.registry.checkpoints() if e.model_name == "flux-fill")
    assert (entry.family, entry.architecture) == ("flux-fill", "flux-fill")
    first = engine.generate(REQUEST)
    image, original = pixels(first.images[0].png), pixels(REQUEST.init_images[0])
    assert np.array_equal(image, pixels(engine.generate(REQUEST).images[0].png))
    assert np.array_equal(image[:8, :8], original[:8, :8])  # outside the mask: the original
    assert not np.array_equal(image[24:40, 24:40], original[24:40, 24:40])
    guided = pixels(engine.generate(replace(REQUEST, distilled_cfg_scale=5.0)).images[0].png)
    assert not np.array_equal(guided, image)
    back = request_fields(parse_infotext(first.images[0].infotext))
    assert back["model"] == "flux-fill" and back["seed"] == 3
    styled = engine.generate(replace(REQUEST, prompt="a red cat <lora:fill-style:1>"))
    assert not np.array_equal(pixels(styled.images[0].png), image)
    assert no_network == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"init_images": (), "mask": None}, "init_images"),
        ({"mask": None}, "init_images"),
        ({"cfg_scale": 4.0}, "cfg_scale"),
        ({"negative_prompt": "blue"}, "negative_prompt"),
    ],
)
def test_what_flux_fill_cannot_do_is_refused_by_field(engine: Engine, changes: dict, field: str) -> None:
    with pytest.raises(RequestError) as raised:
        engine.check(replace(REQUEST, **changes))
    assert raised.value.field == field
