import gc
from dataclasses import replace
from pathlib import Path

import torch

from studio.config import StudioConfig
from studio.pipeline.engine import Engine
from studio.pipeline.prompt_cache import PromptEmbeddingCache
from studio.request import GenerationRequest


def _pipe(folder: Path):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)


def test_embeddings_equal_diffusers_own_encoding(tiny_model_dir: Path) -> None:
    pipe = _pipe(tiny_model_dir)
    cache = PromptEmbeddingCache()
    with torch.no_grad():
        theirs, their_negative = pipe.encode_prompt("a red circle", "cpu", 1, True, negative_prompt=None)
        ours = cache.conditioning(pipe, "a red circle", "", steps=20, clip_skip=1).pipeline_kwargs()
    assert torch.equal(ours["prompt_embeds"], theirs)
    assert torch.equal(ours["negative_prompt_embeds"], their_negative)


def test_repeated_prompts_are_encoded_once_and_images_do_not_change(studio_config: StudioConfig) -> None:
    engine = Engine(studio_config)
    request = GenerationRequest(
        prompt="a blue square", steps=3, width=64, height=64, seed=5, save_images=False
    )
    first = engine.generate(request)
    misses = engine._prompts.misses
    again = engine.generate(replace(request, cfg_scale=5.0))
    same = engine.generate(request)
    assert engine._prompts.misses == misses  # the second and third runs encoded nothing
    assert engine._prompts.hits >= 4
    assert same.images[0].png == first.images[0].png
    assert again.images[0].png != first.images[0].png


def test_a_new_encoder_never_gets_a_freed_ones_embeddings(tiny_model_dir: Path) -> None:
    cache = PromptEmbeddingCache()
    with torch.no_grad():
        first = _pipe(tiny_model_dir)
        cache.embed(first, "a cat", 1)
        del first
        gc.collect()
        second = _pipe(tiny_model_dir)
        torch.manual_seed(1)
        for parameter in second.text_encoder.parameters():
            parameter.add_(torch.randn_like(parameter))
        fresh = cache.embed(second, "a cat", 1)
        assert cache.misses == 2
        assert torch.equal(fresh, cache.embed(second, "a cat", 1))
