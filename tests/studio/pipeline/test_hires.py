from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image

from studio.infotext import parse_infotext, request_fields
from studio.pipeline.engine import Engine
from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest, RequestError
from tests.studio.pipeline.conftest import pixels
from tests.studio.pipeline.upscaler_models import write_tiny_esrgan

BASE = GenerationRequest(
    prompt="a red circle", seed=7, steps=4, width=64, height=64, enable_hr=True, denoising_strength=0.5
)


def _size(png: bytes) -> tuple[int, int]:
    import io

    return Image.open(io.BytesIO(png)).size


def test_latent_hires_makes_target_size_with_a1111_infotext(engine: Engine) -> None:
    steps: list[StepInfo] = []
    request = replace(BASE, hr_second_pass_steps=4, batch_size=2)
    result = engine.generate(request, GenerationControl(on_step=steps.append))
    assert [_size(record.png) for record in result.images] == [(128, 128), (128, 128)]
    text = result.images[0].infotext
    assert text.endswith(
        "Size: 64x64, Model hash: " + parse_infotext(text)["Model hash"] + ", Model: tiny, "
        "Denoising strength: 0.5, Hires upscale: 2, Hires steps: 4, Hires upscaler: Latent"
    )
    # progress covers both passes: 4 first-pass steps + int(4 * 0.5) second-pass steps
    assert [info.step for info in steps] == [1, 2, 3, 4, 5, 6]
    assert {info.steps for info in steps} == {6}
    fields = request_fields(parse_infotext(text))
    assert fields["enable_hr"] is True and fields["hr_scale"] == 2.0 and fields["hr_upscaler"] == "Latent"


def test_pixel_and_model_upscalers_and_resize(engine: Engine) -> None:
    write_tiny_esrgan(engine.config.models_path)
    assert "tiny-esrgan-2x" in engine.upscalers.pixel_names()
    plain = engine.generate(replace(BASE, enable_hr=False))
    for upscaler in ("Lanczos", "tiny-esrgan-2x"):
        request = replace(BASE, hr_upscaler=upscaler, hr_resize_x=96, hr_resize_y=0, denoising_strength=0.0)
        record = engine.generate(request).images[0]
        assert _size(record.png) == (96, 96)
        assert "Hires resize: 96x0" in record.infotext and f"Hires upscaler: {upscaler}" in record.infotext
    # denoise 0 with Lanczos is exactly the first image resized
    lanczos = engine.generate(replace(BASE, hr_upscaler="Lanczos", denoising_strength=0.0)).images[0]
    first = Image.open(__import__("io").BytesIO(plain.images[0].png)).convert("RGB")
    expected = first.resize((128, 128), Image.Resampling.LANCZOS)
    assert (abs(pixels(lanczos.png) - pixels(_png(expected)))).max() <= 1


def _png(image: Image.Image) -> bytes:
    from tests.studio.pipeline.conftest import png_of

    return png_of(image)


def test_bad_hires_fields_are_named(engine: Engine) -> None:
    with pytest.raises(RequestError, match="hr_upscaler"):
        engine.check(replace(BASE, hr_upscaler="Bogus"))
    with pytest.raises(RequestError, match="hr_checkpoint_name"):
        engine.check(replace(BASE, hr_checkpoint_name="other-model"))
    with pytest.raises(RequestError, match="hr_scale"):
        engine.check(replace(BASE, hr_scale=20.0))
    request, _, _ = engine.check(replace(BASE, hr_sampler_name="Use same sampler"))
    assert request.hr_sampler_name is None


def test_xyz_hires_axes_sweep_the_second_pass(studio_config) -> None:
    from studio.scripts.base import Choices
    from studio.scripts.builtin import builtin_scripts
    from studio.scripts.builtin.xyz import XYZ_NAME
    from studio.scripts.manager import ScriptManager

    scripts = ScriptManager()
    for script in builtin_scripts():
        scripts.register(script)
    engine = Engine(studio_config, hooks=scripts, registries=scripts.registries)
    run = scripts.runner(
        engine.generate, outputs_dir=studio_config.outputs_path, choices=lambda: Choices.from_engine(engine)
    )
    sweep = {
        "x_type": "Hires upscale",
        "x_values": "1.5, 2",
        "y_type": "Hires upscaler",
        "y_values": "Latent, Lanczos",
    }
    result = run(
        replace(BASE, steps=2, hr_second_pass_steps=2, scripts={XYZ_NAME: sweep}), GenerationControl()
    )
    assert "X Type: Hires upscale" in result.images[0].infotext
    # every cell is saved by the engine: its size and hires fields come from the axes
    cells = sorted(engine.history.list(), key=lambda entry: entry.id)
    sizes = [Image.open(entry.path).size for entry in cells]
    assert sizes == [(96, 96), (128, 128), (96, 96), (128, 128)]
    assert "Hires upscale: 1.5" in cells[0].infotext and "Hires upscaler: Lanczos" in cells[3].infotext
