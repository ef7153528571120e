"""Styles and wildcards with LoRA tags through the real engine: a wildcard line may bring a tag
(the LoRA is on for the images whose prompt has it, and the infotext says so per image), and a
style's tag is checked before the job like one typed in the prompt."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from studio.config import StudioConfig
from studio.infotext import parse_infotext
from studio.pipeline.engine import Engine
from studio.prompts.styles import PromptStyle
from studio.request import GenerationRequest, RequestError
from tests.studio.pipeline import network_files as files
from tests.studio.pipeline.conftest import pixels

BASE = GenerationRequest(prompt="a red circle", seed=3, steps=3, width=64, height=64, save_images=False)


@pytest.fixture
def tiny_pipe(tiny_model_dir: Path) -> Any:
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)


@pytest.mark.slow
def test_a_wildcard_brings_a_lora_to_some_images_of_a_batch(
    studio_config: StudioConfig, tiny_pipe: Any
) -> None:
    files.write_kohya(studio_config.models_path / "Lora" / "detail.safetensors", tiny_pipe, seed=1)
    studio_config.wildcards_path.mkdir(parents=True)
    (studio_config.wildcards_path / "touch.txt").write_text("<lora:detail:1>\nplain\n", encoding="utf-8")
    engine = Engine(studio_config)
    result = engine.generate(replace(BASE, prompt="a red circle __touch__", batch_size=6, seed=40))
    parsed = [parse_infotext(image.infotext) for image in result.images]
    with_lora = [p for p in parsed if "<lora:detail:1>" in p["Prompt"]]
    without = [p for p in parsed if p["Prompt"].endswith("plain")]
    assert with_lora and without and len(with_lora) + len(without) == 6
    assert all("Lora hashes" in p for p in with_lora) and not any("Lora hashes" in p for p in without)
    # each image is what its own prompt and seed give alone
    for image, p in zip(result.images, parsed, strict=True):
        alone = engine.generate(replace(BASE, prompt=p["Prompt"], seed=image.seed))
        assert np.abs(pixels(alone.images[0].png) - pixels(image.png)).max() <= 2


def test_a_styles_lora_tag_is_checked_before_the_job(studio_config: StudioConfig) -> None:
    engine = Engine(studio_config)
    engine.prompt_library.styles.save(PromptStyle("Bad", "{prompt} <lora:nope:1>", ""))
    with pytest.raises(RequestError) as error:
        engine.check(replace(BASE, styles=("Bad",)))
    assert error.value.field == "prompt" and "nope" in error.value.message
