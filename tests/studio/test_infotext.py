from __future__ import annotations

from dataclasses import replace

from PIL import Image

from studio.infotext import (
    encode_png,
    format_infotext,
    generation_parameters,
    parse_infotext,
    read_png_infotext,
    request_fields,
)
from studio.request import GenerationRequest

A1111_SAMPLE = (
    "a castle on a hill, (masterpiece:1.2)\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, "
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "detail: abc123, style: def456", '
    "Version: v1.10.1"
)


def test_parses_a1111_text() -> None:
    parsed = parse_infotext(A1111_SAMPLE)
    assert parsed["Prompt"] == "a castle on a hill, (masterpiece:1.2)"
    assert parsed["Negative prompt"] == "blurry, lowres"
    assert parsed["Steps"] == "20" and parsed["Sampler"] == "DPM++ 2M" and parsed["Schedule type"] == "Karras"
    assert parsed["Size-1"] == "512" and parsed["Size-2"] == "768"
    assert parsed["Lora hashes"] == "detail: abc123, style: def456"
    assert parsed["Version"] == "v1.10.1"


def test_format_is_a1111_exactly() -> None:
    request = GenerationRequest(
        prompt="a cat", negative_prompt="ugly", seed=1, steps=20, cfg_scale=7.0, width=512, height=512
    )
    params = generation_parameters(request, seed=1, subseed=0, model_name="sd15", model_hash="abcdef0123")
    text = format_infotext(request.prompt, request.negative_prompt, params)
    assert text == (
        "a cat\nNegative prompt: ugly\n"
        "Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 1, Size: 512x512, "
        "Model hash: abcdef0123, Model: sd15"
    )
    no_negative = format_infotext("a cat", "", {"Steps": 1, "Sampler": "Euler", "Seed": 2})
    assert no_negative == "a cat\nSteps: 1, Sampler: Euler, Seed: 2"


def test_values_with_commas_colons_are_json_quoted() -> None:
    text = format_infotext(
        "p", "", {"Steps": 2, "Model": 'name, with "quotes": yes', "Seed": 1, "CFG scale": 6.5}
    )
    assert 'Model: "name, with \\"quotes\\": yes"' in text
    assert parse_infotext(text)["Model"] == 'name, with "quotes": yes'
    assert parse_infotext(text)["CFG scale"] == "6.5"


def test_round_trip_every_field() -> None:
    request = GenerationRequest(
        prompt="a red, round\nthing: big",
        negative_prompt="bad, worse",
        seed=42,
        subseed=77,
        subseed_strength=0.25,
        sampler_name="DPM++ 2M SDE",
        scheduler="Exponential",
        steps=33,
        cfg_scale=6.5,
        width=640,
        height=384,
        init_images=(b"x",),
        denoising_strength=0.6,
        mask=b"m",
        mask_blur=5,
        inpainting_fill=2,
        inpaint_full_res=True,
        inpaint_full_res_padding=12,
        inpainting_mask_invert=1,
        clip_skip=2,
        model="my, model",
        vae="vae-ft-mse",
    )
    params = generation_parameters(
        request,
        seed=42,
        subseed=77,
        model_name="my, model",
        model_hash="0123456789",
        vae_name="vae-ft-mse",
        vae_hash="9876543210",
    )
    text = format_infotext(request.prompt, request.negative_prompt, params)
    fields = request_fields(parse_infotext(text))
    rebuilt = replace(request, **fields)
    assert rebuilt == request
    assert parse_infotext(text)["Model hash"] == "0123456789"
    assert parse_infotext(text)["VAE hash"] == "9876543210"


def test_png_chunk_round_trip() -> None:
    png = encode_png(Image.new("RGB", (8, 8)), A1111_SAMPLE)
    assert read_png_infotext(png) == A1111_SAMPLE
    assert read_png_infotext(encode_png(Image.new("RGB", (8, 8)), None)) is None


def test_last_line_without_parameters_belongs_to_the_prompt() -> None:
    parsed = parse_infotext("just a prompt\nsecond line")
    assert parsed["Prompt"] == "just a prompt\nsecond line"
    assert "Steps" not in parsed
