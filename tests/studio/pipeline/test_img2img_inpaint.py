from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio.infotext import parse_infotext
from studio.pipeline.engine import Engine
from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest, RequestError
from tests.studio.pipeline.conftest import pixels, png_of

SIZE = 64


def gradient_png() -> bytes:
    x = np.linspace(0, 255, SIZE, dtype=np.uint8)
    rgb = np.stack(
        [np.tile(x, (SIZE, 1)), np.tile(x[:, None], (1, SIZE)), np.full((SIZE, SIZE), 90, np.uint8)], -1
    )
    return png_of(Image.fromarray(rgb, "RGB"))


def centre_mask_png() -> bytes:
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).rectangle((24, 24, 39, 39), fill=255)
    return png_of(mask)


BASE = GenerationRequest(
    prompt="a cat", seed=3, steps=4, width=SIZE, height=SIZE, init_images=(gradient_png(),), save_images=False
)


def test_img2img_strength_zero_returns_the_input(engine: Engine) -> None:
    result = engine.generate(replace(BASE, denoising_strength=0.0, save_images=True), GenerationControl())
    assert np.array_equal(pixels(result.images[0].png), pixels(gradient_png()))
    assert "img2img-images" in result.images[0].path
    assert parse_infotext(result.images[0].infotext)["Denoising strength"] == "0"


def test_img2img_runs_strength_times_steps_and_is_reproducible(engine: Engine) -> None:
    steps: list[StepInfo] = []
    half = engine.generate(replace(BASE, denoising_strength=0.5), GenerationControl(on_step=steps.append))
    assert [s.step for s in steps] == [1, 2] and steps[0].steps == 2  # 4 steps x strength 0.5
    full = engine.generate(replace(BASE, denoising_strength=1.0), GenerationControl())
    again = engine.generate(replace(BASE, denoising_strength=0.5), GenerationControl())
    assert np.array_equal(pixels(half.images[0].png), pixels(again.images[0].png))
    assert not np.array_equal(pixels(half.images[0].png), pixels(full.images[0].png))


@pytest.mark.parametrize("fill", [0, 1, 2, 3])
def test_inpaint_leaves_unmasked_region_intact(engine: Engine, fill: int) -> None:
    request = replace(BASE, mask=centre_mask_png(), mask_blur=2, inpainting_fill=fill, denoising_strength=0.9)
    result = engine.generate(request, GenerationControl())
    out, source = pixels(result.images[0].png), pixels(gradient_png())
    # Outside the mask grown by the blur radius (3 sigma), every pixel is the original, exactly.
    keep = np.ones((SIZE, SIZE), bool)
    keep[24 - 6 : 40 + 6, 24 - 6 : 40 + 6] = False
    assert np.abs(out - source)[keep].max() == 0
    inside = np.abs(out - source)[28:36, 28:36].mean()
    assert inside > 3, "the masked centre should be repainted"
    assert parse_infotext(result.images[0].infotext)["Mask blur"] == "2"


def test_inpaint_invert_and_only_masked(engine: Engine) -> None:
    inverted = engine.generate(
        replace(BASE, mask=centre_mask_png(), mask_blur=0, inpainting_mask_invert=1, denoising_strength=0.9),
        GenerationControl(),
    )
    out, source = pixels(inverted.images[0].png), pixels(gradient_png())
    assert np.abs(out - source)[24:40, 24:40].max() == 0  # now the centre is kept
    only_masked = engine.generate(
        replace(BASE, mask=centre_mask_png(), mask_blur=0, inpaint_full_res=True, inpaint_full_res_padding=8),
        GenerationControl(),
    )
    out = pixels(only_masked.images[0].png)
    keep = np.ones((SIZE, SIZE), bool)
    keep[24:40, 24:40] = False
    assert np.abs(out - source)[keep].max() == 0
    assert np.abs(out - source)[24:40, 24:40].mean() > 3
    parsed = parse_infotext(only_masked.images[0].infotext)
    assert parsed["Inpaint area"] == "Only masked" and parsed["Masked area padding"] == "8"


def test_unreadable_init_image_names_the_field(engine: Engine) -> None:
    with pytest.raises(RequestError) as error:
        engine.generate(replace(BASE, init_images=(b"not an image",)), GenerationControl())
    assert error.value.field == "init_images[0]"
