"""LoRA on SDXL, SD 3.5, Flux.1 and Z-Image, in the kohya layout (the original model's layer
names, fused qkv layers included) and diffusers / PEFT's; SDXL textual-inversion embeddings
(clip_l + clip_g). Tiny models, 64x64, a few steps."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.torch import load_file

from studio.infotext import parse_infotext
from studio.pipeline.engine import Engine
from studio.request import GenerationRequest, RequestError
from tests.helpers import make_studio_config
from tests.studio.pipeline.conftest import pixels
from tests.studio.pipeline.family_network_files import (
    original_layers,
    write_kohya_family_lora,
    write_peft_family_lora,
    write_sdxl_embedding,
)

FAMILIES = ("sdxl", "sd3", "flux", "z-image")
BASE = GenerationRequest(
    prompt="a red cat",
    negative_prompt="blue",
    seed=5,
    steps=2,
    width=64,
    height=64,
    sampler_name="Euler",
    save_images=False,
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, tiny_family: Any) -> Engine:
    config = make_studio_config(
        tmp_path_factory.mktemp("family-networks"), model_cache_size=len(FAMILIES) + 1
    )
    for family in FAMILIES:
        folder = tiny_family(family)
        shutil.copytree(folder, config.models_path / "Diffusers" / family)
        write_kohya_family_lora(
            config.models_path / "Lora" / f"{family}-kohya.safetensors", folder, family, 1
        )
        write_peft_family_lora(config.models_path / "Lora" / f"{family}-peft.safetensors", folder, family, 2)
    write_sdxl_embedding(config.models_path / "embeddings" / "xlstyle.safetensors", tiny_family("sdxl"), 3)
    shutil.copytree(tiny_family("sdxl-refiner"), config.models_path / "Diffusers" / "sdxl-refiner")
    return Engine(config)


def _image(engine: Engine, **changes: Any) -> np.ndarray:
    return pixels(engine.generate(replace(BASE, **changes)).images[0].png)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_a_lora_changes_each_familys_picture_by_its_weight_and_comes_off_exactly(
    engine: Engine, family: str
) -> None:
    base = _image(engine, model=family)
    for layout in ("kohya", "peft"):
        tag = f"{family}-{layout}"
        full = engine.generate(replace(BASE, model=family, prompt=f"a red cat <lora:{tag}:1>"))
        image = pixels(full.images[0].png)
        assert not np.array_equal(image, base), layout
        assert "Lora hashes" in parse_infotext(full.images[0].infotext)
        half = _image(engine, model=family, prompt=f"a red cat <lora:{tag}:0.5>")
        assert not np.array_equal(half, image) and not np.array_equal(half, base), layout
        assert np.array_equal(_image(engine, model=family, prompt=f"a red cat <lora:{tag}:0>"), base), layout
    # no tag: the base weights are back, bit for bit
    assert np.array_equal(_image(engine, model=family), base)


@pytest.mark.parametrize("family", ["flux", "sd3", "z-image"])
def test_kohya_fused_layers_split_onto_diffusers_layers_exactly(
    family: str, tiny_family: Any, tmp_path: Path
) -> None:
    """The patched diffusers transformer, put back in the original layout, is the original
    weights plus each kohya module's alpha/rank * up @ down, fused qkv included."""
    import torch

    from studio.pipeline.families.export import sd3_to_original, zimage_to_original
    from studio.pipeline.families.flux_keys import flux_to_original
    from studio.pipeline.networks.lora_format import LoraFile, parse_modules
    from studio.pipeline.networks.patcher import NetworkPatcher, NetworkUse
    from studio.pipeline.networks.transformer_lora import rewrite_for_family

    folder = tiny_family(family)
    classes = {
        "flux": "FluxTransformer2DModel",
        "sd3": "SD3Transformer2DModel",
        "z-image": "ZImageTransformer2DModel",
    }
    import diffusers

    model = getattr(diffusers, classes[family]).from_pretrained(folder / "transformer")
    to_original = {"flux": flux_to_original, "sd3": sd3_to_original, "z-image": zimage_to_original}[family]
    before = {k: v.clone() for k, v in to_original(model.state_dict()).items()}
    path = write_kohya_family_lora(tmp_path / "lora.safetensors", folder, family, 7)
    state = {k: v for k, v in load_file(str(path)).items() if k.startswith("lora_unet_")}
    modules = rewrite_for_family(parse_modules(path.name, state, {}), family, model.config)
    use = NetworkUse("lora", LoraFile(path, modules), (str(path), 0, 0), te=1.0, unet=0.8)
    patcher = NetworkPatcher()
    patcher.apply({"transformer": model}, [use])
    after = to_original(model.state_dict())
    layers = original_layers(folder, family)
    assert any("qkv" in name or "linear1" in name for name in layers)
    for name in layers:
        key = name.replace(".", "_")
        down, up = state[f"lora_unet_{key}.lora_down.weight"], state[f"lora_unet_{key}.lora_up.weight"]
        expected = before[f"{name}.weight"] + 0.8 * (2.0 / 4) * (up @ down)
        torch.testing.assert_close(after[f"{name}.weight"], expected, rtol=1e-5, atol=1e-6)
    untouched = [key for key in before if key.removesuffix(".weight") not in layers]
    assert untouched and all(torch.equal(before[key], after[key]) for key in untouched)
    patcher.restore({"transformer": model})
    assert all(torch.equal(before[key], value) for key, value in to_original(model.state_dict()).items())


def test_a_lora_for_another_family_is_refused_naming_it(engine: Engine) -> None:
    with pytest.raises(RequestError, match=r"flux-kohya.*match no layer of this model"):
        engine.generate(replace(BASE, model="sd3", prompt="a cat <lora:flux-kohya:1>"))


@pytest.mark.slow
def test_an_sdxl_embedding_goes_to_both_text_encoders(engine: Engine) -> None:
    plain = _image(engine, model="sdxl", prompt="a red cat")
    styled = engine.generate(replace(BASE, model="sdxl", prompt="a red cat xlstyle"))
    assert not np.array_equal(pixels(styled.images[0].png), plain)
    assert "TI hashes" in parse_infotext(styled.images[0].infotext)
    again = _image(engine, model="sdxl", prompt="a red cat xlstyle")
    assert np.array_equal(again, pixels(styled.images[0].png))
    assert np.array_equal(_image(engine, model="sdxl", prompt="a red cat"), plain)


@pytest.mark.parametrize("model", ["flux", "sd3", "z-image"])
def test_embeddings_are_refused_where_the_text_encoders_have_none(engine: Engine, model: str) -> None:
    with pytest.raises(RequestError, match="T5 / Qwen text encoders") as raised:
        engine.check(replace(BASE, model=model, prompt="a cat xlstyle"))
    assert raised.value.field == "prompt"


def test_a_plain_sdxl_prompt_encodes_as_diffusers_does(tiny_family: Any) -> None:
    import torch
    from diffusers import StableDiffusionXLPipeline

    from studio.pipeline.families.sdxl_conditioning import sdxl_conditioning

    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_family("sdxl"))
    for negative in ("blue", ""):
        ours = sdxl_conditioning(pipe, "a red cat", negative, 4, 1).kwargs_at(0)
        embeds, negative_embeds, pooled, negative_pooled = pipe.encode_prompt(
            "a red cat", negative_prompt=negative, do_classifier_free_guidance=True
        )
        torch.testing.assert_close(ours["prompt_embeds"], embeds)
        torch.testing.assert_close(ours["negative_prompt_embeds"], negative_embeds)
        torch.testing.assert_close(ours["pooled_prompt_embeds"], pooled)
        torch.testing.assert_close(ours["negative_pooled_prompt_embeds"], negative_pooled)


@pytest.mark.slow
def test_sdxl_takes_a1111_prompt_syntax(engine: Engine) -> None:
    plain = _image(engine, model="sdxl", prompt="a red cat")
    assert np.array_equal(_image(engine, model="sdxl", prompt="a (red:1.0) cat"), plain)
    assert np.array_equal(_image(engine, model="sdxl", prompt="a [red:blue:1.0] cat"), plain)
    # the tiny random model follows weights faintly: (red:1.6) moved pixels by 1 level on an AMX
    # CPU, (red:3.0) by 4
    weighted = _image(engine, model="sdxl", prompt="a (red:3.0) cat")
    # blue for the first step, red for the second: the first, noisiest step is the one the
    # tiny random model's picture follows (red then blue changed no pixel on an AMX CPU)
    edited = _image(engine, model="sdxl", prompt="a [blue:red:0.5] cat")
    broken = _image(engine, model="sdxl", prompt="a red BREAK cat")
    for image in (weighted, edited, broken):
        assert not np.array_equal(image, plain)
    long = " ".join(["red cat"] * 60)  # 120 tokens: two chunks
    assert not np.array_equal(
        _image(engine, model="sdxl", prompt=long), _image(engine, model="sdxl", prompt="red cat")
    )
    with pytest.raises(RequestError, match="AND"):
        engine.check(replace(BASE, model="sdxl", prompt="a cat AND a dog"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "upscaler"),
    [
        ("sdxl", "Latent"),
        ("sdxl", "Lanczos"),
        ("flux", "Lanczos"),
        ("sd3", "Lanczos"),
        ("z-image", "Lanczos"),
    ],
)
def test_hires_fix_runs_on_each_family(engine: Engine, family: str, upscaler: str) -> None:
    from studio.progress import GenerationControl

    steps: list[tuple[int, int]] = []
    request = replace(
        BASE,
        model=family,
        enable_hr=True,
        hr_upscaler=upscaler,
        hr_scale=1.5 if family == "sdxl" else 2.0,
        denoising_strength=0.5,
        hr_second_pass_steps=2,
    )
    result = engine.generate(
        request, GenerationControl(on_step=lambda info: steps.append((info.step, info.steps)))
    )
    image = pixels(result.images[0].png)
    size = 96 if family == "sdxl" else 128
    assert image.shape == (size, size, 3) and image.std() > 0
    assert steps == [(1, 3), (2, 3), (3, 3)]  # 2 first-pass steps, int(2 * 0.5) second-pass step
    again = pixels(engine.generate(request).images[0].png)
    assert np.array_equal(image, again)
    stronger = pixels(engine.generate(replace(request, denoising_strength=1.0)).images[0].png)
    assert not np.array_equal(image, stronger)
    assert "Hires upscale" in result.images[0].infotext


def test_the_embedding_listing_follows_the_current_models_family(engine: Engine) -> None:
    engine.select_model("sdxl")
    assert "xlstyle" in engine.embedding_listing()["loaded"]
    engine.select_model("flux")
    listing = engine.embedding_listing()
    assert "xlstyle" in listing["skipped"] and not listing["loaded"]


def test_a_plain_flux_prompt_encodes_as_diffusers_does(tiny_family: Any) -> None:
    import torch
    from diffusers import FluxPipeline

    from studio.pipeline.families.t5_conditioning import flux_conditioning

    pipe = FluxPipeline.from_pretrained(tiny_family("flux"))
    ours = flux_conditioning(pipe, "a red cat, sitting", "blue", 512).pipeline_kwargs()
    for prompt, prefix in (("a red cat, sitting", ""), ("blue", "negative_")):
        embeds, pooled, _ids = pipe.encode_prompt(prompt, prompt_2=None, max_sequence_length=512)
        torch.testing.assert_close(ours[f"{prefix}prompt_embeds"], embeds)
        torch.testing.assert_close(ours[f"{prefix}pooled_prompt_embeds"], pooled)


@pytest.mark.slow
def test_flux_takes_emphasis_weights(engine: Engine) -> None:
    plain = _image(engine, model="flux", prompt="a red cat")
    assert np.array_equal(_image(engine, model="flux", prompt="a (red:1.0) cat"), plain)
    assert not np.array_equal(_image(engine, model="flux", prompt="a (red:1.8) cat"), plain)
    negative = _image(engine, model="flux", negative_prompt="(blue:1.8)")
    assert not np.array_equal(negative, plain)


def test_embeddings_with_a_refiner_are_refused_naming_the_refiner(engine: Engine) -> None:
    with pytest.raises(RequestError, match="base model only") as raised:
        engine.check(replace(BASE, model="sdxl", prompt="a cat xlstyle", refiner_checkpoint="sdxl-refiner"))
    assert raised.value.field == "refiner_checkpoint"


def test_a_plain_sd3_prompt_encodes_as_diffusers_does(tiny_family: Any) -> None:
    import torch
    from diffusers import StableDiffusion3Pipeline

    from studio.pipeline.families.t5_conditioning import sd3_conditioning

    pipe = StableDiffusion3Pipeline.from_pretrained(tiny_family("sd3"))
    ours = sd3_conditioning(pipe, "a red cat, sitting", "blue", 1).pipeline_kwargs()
    embeds, negative, pooled, negative_pooled = pipe.encode_prompt(
        "a red cat, sitting", None, None, negative_prompt="blue", do_classifier_free_guidance=True
    )
    torch.testing.assert_close(ours["prompt_embeds"], embeds)
    torch.testing.assert_close(ours["negative_prompt_embeds"], negative)
    torch.testing.assert_close(ours["pooled_prompt_embeds"], pooled)
    torch.testing.assert_close(ours["negative_pooled_prompt_embeds"], negative_pooled)


@pytest.mark.slow
def test_sd3_takes_emphasis_weights(engine: Engine) -> None:
    plain = _image(engine, model="sd3", prompt="a red cat")
    assert np.array_equal(_image(engine, model="sd3", prompt="a (red:1.0) cat"), plain)
    assert not np.array_equal(_image(engine, model="sd3", prompt="a (red:1.8) cat"), plain)
