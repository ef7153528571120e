"""Every family generates through the one engine: txt2img, img2img and inpaint from the files
people download (single files and diffusers folders), reproducibly by seed, with infotext that
PNG Info reads back (family fields included); the SDXL refiner takes over at a fraction of the
steps; what a family cannot do is refused by field. Tiny models, 64x64, a few steps.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from studio.infotext import parse_infotext, read_png_infotext, request_fields
from studio.pipeline.engine import Engine
from studio.progress import GenerationControl
from studio.request import GenerationRequest, RequestError
from tests.helpers import make_studio_config
from tests.studio.pipeline.conftest import install_single_file, pixels, png_of

# model name -> (tiny family, how it is installed)
INSTALLS = {
    "sdxl": ("sdxl", "all-in-one"),
    "sdxl-refiner": ("sdxl-refiner", "diffusers"),
    "sd3": ("sd3", "split"),
    "flux": ("flux", "split"),
    "flux-schnell": ("flux-schnell", "diffusers"),
    "z-image": ("z-image", "split"),
    "chroma": ("chroma", "split"),
}
BASE = GenerationRequest(
    prompt="a red cat",
    negative_prompt="blue",
    seed=11,
    steps=3,
    width=64,
    height=64,
    sampler_name="Euler",
    save_images=False,
)
# fields each family honours, sent with a non-default value
FAMILY_FIELDS: dict[str, dict[str, Any]] = {
    "sdxl": {"original_width": 256, "original_height": 128, "crop_left": 16, "crop_top": 8},
    "sd3": {"skip_layer_guidance_scale": 2.8, "flow_shift": 6.0},
    "flux": {"distilled_cfg_scale": 6.0, "flow_shift": 1.5, "cfg_scale": 1.0},
    "flux-schnell": {"flow_shift": 2.0, "cfg_scale": 1.0},
    "z-image": {"flow_shift": 6.0},
    "chroma": {"flow_shift": 2.0},
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, tiny_family: Any) -> Engine:
    config = make_studio_config(tmp_path_factory.mktemp("families"), model_cache_size=len(INSTALLS))
    for name, (family, layout) in INSTALLS.items():
        if layout == "diffusers":
            shutil.copytree(tiny_family(family), config.models_path / "Diffusers" / name)
        else:
            install_single_file(tiny_family(family), config.models_path, name, layout)
    return Engine(config)


def _png(color: tuple[int, int, int]) -> bytes:
    return png_of(Image.new("RGB", (64, 64), color))


def _mask() -> bytes:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_model_list_knows_each_family_and_its_size(engine: Engine) -> None:
    families = {entry.model_name: entry.family for entry in engine.registry.checkpoints()}
    assert families == {
        "sdxl": "sdxl",
        "sdxl-refiner": "sdxl-refiner",
        "sd3": "sd3",
        "flux": "flux",
        "flux-schnell": "flux",
        "z-image": "z-image",
        "chroma": "chroma",
    }
    architectures = {entry.model_name: entry.architecture for entry in engine.registry.checkpoints()}
    assert architectures["flux"] == "flux-dev" and architectures["flux-schnell"] == "flux-schnell"
    from studio.pipeline.model_registry import native_size

    sizes = {entry.model_name: native_size(entry) for entry in engine.registry.checkpoints()}
    assert sizes["sdxl"] == 1024  # a single file: its family's size
    assert sizes["flux-schnell"] == 64  # a folder: its own VAE's


@pytest.mark.slow
@pytest.mark.parametrize("model", list(FAMILY_FIELDS))
def test_each_family_generates_reproducibly_with_infotext(
    engine: Engine, no_network: list, model: str
) -> None:
    request = replace(BASE, model=model)
    first = engine.generate(request, GenerationControl())
    again = engine.generate(request, GenerationControl())
    other_seed = engine.generate(replace(request, seed=12), GenerationControl())
    image = pixels(first.images[0].png)
    assert image.shape == (64, 64, 3) and image.std() > 0
    assert np.array_equal(image, pixels(again.images[0].png))
    assert not np.array_equal(image, pixels(other_seed.images[0].png))
    # the family's own fields change the image and come back from PNG Info
    fields = FAMILY_FIELDS[model]
    special = engine.generate(replace(request, **fields), GenerationControl())
    assert not np.array_equal(image, pixels(special.images[0].png))
    text = read_png_infotext(special.images[0].png)
    assert text is not None
    back = request_fields(parse_infotext(text))
    assert back["model"] == model and back["sampler_name"] == "Euler" and back["seed"] == 11
    for name, value in fields.items():
        assert back[name] == value, name
    assert no_network == []


@pytest.mark.slow
@pytest.mark.parametrize("model", ["sdxl", "sd3", "flux", "z-image", "chroma"])
def test_each_family_runs_img2img_and_inpaint(engine: Engine, model: str) -> None:
    init = _png((200, 40, 40))
    img2img = engine.generate(replace(BASE, model=model, init_images=(init,), denoising_strength=0.7))
    inpaint = engine.generate(
        replace(BASE, model=model, init_images=(init,), mask=_mask(), denoising_strength=0.9)
    )
    original = pixels(init)
    for result in (img2img, inpaint):
        image = pixels(result.images[0].png)
        assert image.shape == (64, 64, 3) and not np.array_equal(image, original)
        assert "Denoising strength: " in result.images[0].infotext
    painted = pixels(inpaint.images[0].png)
    assert np.array_equal(painted[:8, :8], original[:8, :8])  # outside the mask: the original
    assert not np.array_equal(painted[24:40, 24:40], original[24:40, 24:40])


@pytest.mark.slow
def test_the_sdxl_refiner_takes_over_at_a_fraction_of_the_steps(engine: Engine) -> None:
    request = replace(BASE, model="sdxl", steps=4)
    alone = engine.generate(request)
    refined = engine.generate(replace(request, refiner_checkpoint="sdxl-refiner", refiner_switch_at=0.5))
    later = engine.generate(replace(request, refiner_checkpoint="sdxl-refiner", refiner_switch_at=0.75))
    images = [pixels(result.images[0].png) for result in (alone, refined, later)]
    assert not np.array_equal(images[0], images[1]) and not np.array_equal(images[1], images[2])
    refiner = next(e for e in engine.registry.checkpoints() if e.model_name == "sdxl-refiner")
    assert f"Refiner: sdxl-refiner [{refiner.hash10}], Refiner switch at: 0.5" in refined.images[0].infotext
    back = request_fields(parse_infotext(refined.images[0].infotext))
    again = engine.generate(
        replace(request, **{k: back[k] for k in ("refiner_checkpoint", "refiner_switch_at")})
    )
    assert np.array_equal(images[1], pixels(again.images[0].png))
    # img2img hands over the same way; the refiner alone runs img2img
    init = _png((30, 160, 60))
    refined_img2img = engine.generate(
        replace(request, init_images=(init,), refiner_checkpoint="sdxl-refiner", refiner_switch_at=0.5)
    )
    assert pixels(refined_img2img.images[0].png).std() > 0
    assert engine.generate(replace(request, model="sdxl-refiner", init_images=(init,))).images


@pytest.mark.slow
@pytest.mark.parametrize("init", [False, True])
def test_the_refiner_continues_the_step_count_of_the_base_model(engine: Engine, init: bool) -> None:
    """One progress count over the base model's and the refiner's steps (A1111's one bar):
    1..N with the same N throughout, never restarting at the switch."""
    steps: list[tuple[int, int]] = []
    control = GenerationControl(on_step=lambda info: steps.append((info.step, info.steps)))
    request = replace(BASE, model="sdxl", steps=6, refiner_checkpoint="sdxl-refiner", refiner_switch_at=0.5)
    if init:  # img2img: the run is the steps the strength leaves
        request = replace(request, init_images=(_png((30, 160, 60)),), denoising_strength=0.5)
    engine.generate(request, control)
    total = len(steps)
    assert steps == [(step, total) for step in range(1, total + 1)]
    assert total == 6 if not init else 3 <= total < 6


@pytest.mark.parametrize(
    ("model", "changes", "field", "words"),
    [
        (
            "sdxl",
            {"distilled_cfg_scale": 3.5},
            "distilled_cfg_scale",
            "applies to Flux.1, Flux.1 Fill models only",
        ),
        ("sdxl", {"flow_shift": 3.0}, "flow_shift", "SDXL"),
        ("flux", {"refiner_checkpoint": "sdxl-refiner"}, "refiner_checkpoint", "applies to SDXL models only"),
        ("sdxl", {"refiner_checkpoint": "flux"}, "refiner_checkpoint", "flux is Flux.1"),
        ("flux-schnell", {"distilled_cfg_scale": 3.5}, "distilled_cfg_scale", "no guidance input"),
        ("flux", {"sampler_name": "DPM++ 2M"}, "sampler_name", "choose one of: Euler a, Euler, LCM"),
        ("sd3", {"sampler_name": "DPM++ 2M", "scheduler": "Karras"}, "scheduler", "choose one of: Automatic"),
        ("sd3", {"sampler_name": "DDIM"}, "sampler_name", "does not run with sd3"),
        ("flux", {"width": 72}, "width", "not a multiple of 16"),
        ("z-image", {"clip_skip": 2}, "clip_skip", "not CLIP"),
        ("sdxl-refiner", {}, "init_images", "no txt2img mode"),
        (
            "sd3",
            {"skip_layer_guidance_scale": 2.0, "init_images": (b"x",)},
            "skip_layer_guidance_scale",
            "text-to-image only",
        ),
        (
            "z-image",
            {"prompt": "a (red:1.3) cat"},
            "prompt",
            "work with SD 1.x / 2.x and SDXL models (weights also with Flux.1 and SD 3.5); z-image is Z-Image",
        ),
        ("flux", {"prompt": "a red BREAK cat"}, "prompt", "BREAK does not apply"),
        ("sd3", {"prompt": "a [red:blue:0.5] cat"}, "prompt", "not AND or [from:to:when] editing"),
        (
            "flux",
            {"negative_prompt": "[blue:red:0.5]"},
            "negative_prompt",
            "not AND or [from:to:when] editing",
        ),
        ("sdxl", {"prompt": "a cat AND a dog"}, "prompt", "AND (composable prompts) works with SD 1.x / 2.x"),
        ("z-image", {"negative_prompt": "[blue:red:0.5]"}, "negative_prompt", "editing"),
        ("flux", {"enable_hr": True, "hr_upscaler": "Latent"}, "hr_upscaler", "latent upscalers work with"),
        (
            "flux",
            {"enable_hr": True, "hr_upscaler": "Lanczos", "width": 80, "hr_scale": 1.5},
            "hr_resize_x",
            "multiple of 16",
        ),
        (
            "sdxl",
            {"enable_hr": True, "refiner_checkpoint": "sdxl-refiner"},
            "enable_hr",
            "hires fix and a refiner together",
        ),
    ],
)
def test_what_a_family_cannot_do_is_refused_by_field(
    engine: Engine, model: str, changes: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(RequestError) as raised:
        engine.check(replace(BASE, model=model, **changes))
    assert raised.value.field == field
    assert words in raised.value.message


def test_requests_every_family_accepts_pass_the_checks(engine: Engine) -> None:
    for model, fields in FAMILY_FIELDS.items():
        request, entry, _ = engine.check(replace(BASE, model=model, **fields))
        assert entry.model_name == model
    request, _, _ = engine.check(replace(BASE, model="sdxl", refiner_checkpoint="sdxl-refiner"))
    assert request.refiner_checkpoint is not None and request.refiner_checkpoint.startswith("sdxl-refiner [")
    engine.check(replace(BASE, model="sd3", sampler_name="Heun"))
    engine.check(replace(BASE, model="sd3", sampler_name="DPM++ 2M"))
    engine.check(replace(BASE, model="flux", sampler_name="Euler", scheduler="Karras"))
    engine.check(replace(BASE, model="flux", prompt="a cat \\(sitting\\)"))  # escapes are plain text


@pytest.mark.slow
@pytest.mark.parametrize("model", ["sd3", "flux", "z-image"])
def test_every_sampler_offered_for_a_flow_family_runs(engine: Engine, model: str) -> None:
    from studio.pipeline.families import family_of, sampler_context

    entry = next(e for e in engine.registry.checkpoints() if e.model_name == model)
    family = family_of(entry.architecture)
    for sampler in engine.samplers.sampler_names(sampler_context(family)):
        for schedule in engine.samplers.schedule_types_for(sampler, flow=True)[:2]:
            result = engine.generate(
                replace(BASE, model=model, sampler_name=sampler, scheduler=schedule, steps=2)
            )
            image = pixels(result.images[0].png)
            assert image.std() > 0, (sampler, schedule)


@pytest.mark.parametrize("model", ["flux", "sd3"])
def test_ancestral_flow_sampling_is_reproducible_by_seed(engine: Engine, model: str) -> None:
    """diffusers' flow pipelines call the scheduler's step without a generator: the studio hands
    "Euler a" the images' own generators, so torch's global random state changes nothing."""
    import torch

    request = replace(BASE, model=model, sampler_name="Euler a", steps=2)
    torch.manual_seed(1)
    first = pixels(engine.generate(request, GenerationControl()).images[0].png)
    torch.manual_seed(2)
    again = pixels(engine.generate(request, GenerationControl()).images[0].png)
    plain = pixels(engine.generate(replace(request, sampler_name="Euler"), GenerationControl()).images[0].png)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, plain)  # the step noise is there, drawn from the seed
