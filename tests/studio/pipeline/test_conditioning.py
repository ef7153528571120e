"""The prompt language on the tiny model: each feature changes the embeddings the way A1111
computes them and the image where it should, and nothing where it should not.

The tiny model's final layer norm has no bias, so its embeddings have a mean of zero (to float
precision) and A1111's mean restore would be noise there. Real CLIP encoders have one: these
tests give the tiny encoder a bias (`with_bias`) so the restore is exercised as on a real model.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from studio.infotext import parse_infotext
from studio.pipeline.conditioning import chunk_texts, encode_chunks
from studio.pipeline.engine import Engine
from studio.pipeline.prompt_cache import PromptEmbeddingCache
from studio.request import GenerationRequest, RequestError
from tests.studio.pipeline.conftest import pixels

BASE = GenerationRequest(
    prompt="a red circle", seed=11, steps=4, width=64, height=64, cfg_scale=7, save_images=False
)


def with_bias(encoder: Any) -> Any:
    norm = getattr(encoder, "text_model", encoder).final_layer_norm
    with torch.no_grad():
        norm.bias.copy_(torch.linspace(-0.2, 0.4, norm.bias.shape[0]))
    return encoder


def load_pipe(folder: Path) -> Any:
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)


@pytest.fixture(scope="module")
def pipe(tiny_model_dir: Path) -> Any:
    loaded = load_pipe(tiny_model_dir)
    with_bias(loaded.text_encoder)
    return loaded


@pytest.fixture
def engine(studio_config: Any) -> Engine:
    """An engine on a copy of the tiny model whose text encoder has a final layer norm bias."""
    from transformers import CLIPTextModel

    folder = studio_config.models_path / "Diffusers" / "tiny" / "text_encoder"
    with_bias(CLIPTextModel.from_pretrained(folder, local_files_only=True)).save_pretrained(folder)
    return Engine(studio_config)


def image(engine: Engine, **changes: Any) -> np.ndarray:
    return pixels(engine.generate(replace(BASE, **changes)).images[0].png)


def by_hand(pipe: Any, tokens: list[int], clip_skip: int = 1) -> torch.Tensor:
    """One 77-token chunk through the encoder, the way A1111 does it, written out."""
    ids = [pipe.tokenizer.bos_token_id, *tokens]
    ids += [pipe.tokenizer.eos_token_id] * (77 - len(ids))
    output = pipe.text_encoder(torch.tensor([ids]), output_hidden_states=True)
    encoder = getattr(pipe.text_encoder, "text_model", pipe.text_encoder)  # transformers 5 flattened it
    return encoder.final_layer_norm(output.hidden_states[-clip_skip])


def words(pipe: Any, text: str) -> list[int]:
    return pipe.tokenizer(text, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def test_weights_multiply_token_vectors_then_restore_the_mean(pipe: Any) -> None:
    cache = PromptEmbeddingCache()
    plain = cache.embed(pipe, "a red circle", 1)
    for prompt, factor in (("a (red:1.5) circle", 1.5), ("a [red] circle", 1 / 1.1), ("a (red) circle", 1.1)):
        weighted = cache.embed(pipe, prompt, 1)
        position = 1 + words(pipe, "a").__len__()  # after the start token and "a"
        multipliers = torch.ones(1, 77, 1)
        multipliers[0, position] = factor
        expected = plain * multipliers
        expected = expected * (plain.mean() / expected.mean())
        assert torch.allclose(weighted, expected, atol=1e-6), prompt
        assert not torch.allclose(weighted, plain, atol=1e-3), prompt
    assert abs(plain.mean().item()) > 0.05  # the restore is not noise here
    # A weight of 1 is no weight at all: same chunks, so the same cache entry.
    misses = cache.misses
    assert torch.equal(cache.embed(pipe, "a (red:1.0) circle", 1), plain)
    assert cache.misses == misses


@torch.no_grad()
def test_a_zero_mean_is_not_restored(tiny_model_dir: Path) -> None:
    unbiased = load_pipe(tiny_model_dir)  # the tiny model as built: no final layer norm bias
    cache = PromptEmbeddingCache()
    plain = cache.embed(unbiased, "a red circle", 1)
    assert abs(plain.mean().item()) < 1e-6 * plain.abs().mean().item()
    multipliers = torch.ones(1, 77, 1)
    multipliers[0, 2] = 1.5
    assert torch.equal(cache.embed(unbiased, "a (red:1.5) circle", 1), plain * multipliers)


@torch.no_grad()
def test_long_prompts_and_break_are_chunks_of_77_with_clip_skip_in_each(pipe: Any) -> None:
    long_text = ", ".join(["red circle", "blue square", "green"] * 12)  # over 75 tokens
    tokens = words(pipe, long_text)
    assert len(tokens) > 75
    chunks = chunk_texts(pipe.tokenizer, [long_text])[0]
    assert len(chunks) == 2
    for clip_skip in (1, 2):
        embeds = encode_chunks(pipe, [chunks], clip_skip)
        assert embeds.shape[1] == 154
        for index, chunk in enumerate(chunks):
            expected = by_hand(pipe, chunk.tokens[1:-1], clip_skip)
            assert torch.allclose(embeds[:, 77 * index : 77 * (index + 1)], expected, atol=1e-6)
    # A full chunk moves the words after a comma in its last 20 tokens to the next chunk.
    text = " ".join(["red circle"] * 35) + ", " + " ".join(["blue square"] * 3)
    tokens = words(pipe, text)
    assert len(tokens) == 77 and tokens[70] == pipe.tokenizer.get_vocab()[",</w>"]
    first, second = chunk_texts(pipe.tokenizer, [text])[0]
    end = pipe.tokenizer.eos_token_id
    assert first.tokens[1:72] == tokens[:71] and first.tokens[72:] == [end] * 5
    assert second.tokens[1:7] == tokens[71:] and second.tokens[7:] == [end] * 70
    # BREAK: each side in a chunk of its own.
    broken = PromptEmbeddingCache().embed(pipe, "red circle BREAK blue square", 1)
    assert broken.shape[1] == 154
    assert torch.allclose(broken[:, :77], by_hand(pipe, words(pipe, "red circle")), atol=1e-6)
    assert torch.allclose(broken[:, 77:], by_hand(pipe, words(pipe, "blue square")), atol=1e-6)


@torch.no_grad()
def test_the_negative_prompt_is_padded_with_the_empty_prompt(pipe: Any) -> None:
    long_text = ", ".join(["red circle", "blue square", "green"] * 12)
    conditioning = PromptEmbeddingCache().conditioning(pipe, long_text, "blurry", 20, 1)
    assert conditioning.parts[0].embeds.shape == conditioning.negative.embeds.shape == (1, 154, 32)
    negative = conditioning.negative.embeds
    assert torch.allclose(negative[:, :77], by_hand(pipe, words(pipe, "blurry")), atol=1e-6)
    assert torch.allclose(negative[:, 77:], by_hand(pipe, []), atol=1e-6)


@pytest.mark.slow
def test_syntax_changes_the_image_and_no_op_syntax_does_not(engine: Engine) -> None:
    plain = image(engine)
    assert np.array_equal(image(engine, prompt="a (red:1.0) circle"), plain)
    assert np.array_equal(image(engine, prompt="a red circle :1"), plain)
    assert np.array_equal(image(engine, prompt="[a red circle:a blue square:1.0]"), plain)
    assert np.array_equal(image(engine, prompt="[a blue square:a red circle:0]"), plain)
    assert np.array_equal(image(engine, prompt="a red circle BREAK"), plain)  # nothing follows it
    for changed in (
        "a (red:1.6) circle",
        "a [red] circle",
        "[a blue square:a red circle:2]",
        "a red BREAK circle",
    ):
        assert np.abs(image(engine, prompt=changed) - plain).max() > 0, changed
    # A trailing weight scales the guidance, as A1111's composable prompt of one part does
    # (computed on a larger UNet batch: float rounding may move a pixel by 1).
    weighted = image(engine, prompt="a red circle :1.5", cfg_scale=4)
    assert np.abs(weighted - image(engine, cfg_scale=6)).max() <= 1
    assert np.abs(weighted - image(engine, cfg_scale=4)).max() > 1


def test_words_past_75_tokens_now_reach_the_image(engine: Engine) -> None:
    head = ", ".join(["red circle"] * 36)  # 72 tokens + 1 after the comma rule
    first = image(engine, prompt=head)
    assert np.abs(image(engine, prompt=head + ", blue square, green") - first).max() > 0


@torch.no_grad()
def test_the_unet_sees_the_edited_and_alternating_prompt_at_a1111s_steps(engine: Engine) -> None:
    _, entry, _ = engine.check(BASE)
    unet = engine._load(entry).pipe.unet
    seen: list[torch.Tensor] = []
    hook = unet.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["encoder_hidden_states"]), with_kwargs=True
    )
    try:
        cache = PromptEmbeddingCache()
        pipe = engine._load(entry).pipe
        red, blue = cache.embed(pipe, "a red circle", 1), cache.embed(pipe, "a blue square", 1)

        def texts(prompt: str, steps: int) -> list[str]:
            seen.clear()
            engine.generate(replace(BASE, prompt=prompt, steps=steps))
            positive = [call[1:2] for call in seen]  # [negative, positive] with CFG on
            names = []
            for embeds in positive:
                is_red = torch.allclose(embeds, red, atol=1e-5)
                is_blue = torch.allclose(embeds, blue, atol=1e-5)
                assert is_red != is_blue
                names.append("red" if is_red else "blue")
            return names

        # [from:to:when]: A1111 uses `from` for sampling steps 0..when (its step counter starts at
        # 0 and a text lasts while step <= when), `to` after.
        assert texts("[a red circle:a blue square:2]", 5) == ["red", "red", "red", "blue", "blue"]
        assert texts("[a red circle:a blue square:0.5]", 4) == ["red", "red", "red", "blue"]
        # Alternation: entries end at steps 1, 2, 3, ... so steps 0 and 1 both use the first.
        assert texts("[a red circle|a blue square]", 5) == ["red", "red", "blue", "red", "blue"]
        # Several images: every image's embeddings are swapped.
        seen.clear()
        engine.generate(replace(BASE, prompt="[a red circle:a blue square:1]", steps=3, batch_size=2))
        assert [call.shape[0] for call in seen] == [4, 4, 4]
        assert torch.allclose(seen[2][2:], blue.expand(2, -1, -1), atol=1e-5)
        assert torch.allclose(seen[1][2:], red.expand(2, -1, -1), atol=1e-5)
    finally:
        hook.remove()


def test_a_scheduled_prompt_is_encoded_once_across_runs(engine: Engine) -> None:
    result = engine.generate(replace(BASE, prompt="[a red circle:a blue square:2]"))
    assert parse_infotext(result.images[0].infotext)["Prompt"] == "[a red circle:a blue square:2]"  # as typed
    misses = engine._prompts.misses
    engine.generate(replace(BASE, prompt="[a red circle:a blue square:2]", steps=5, cfg_scale=5))
    assert engine._prompts.misses == misses  # same texts at another step count: cache hits


@pytest.mark.slow
def test_and_parts_combine_in_the_guidance(engine: Engine) -> None:
    red, blue = image(engine), image(engine, prompt="a blue square")
    both = image(engine, prompt="a red circle AND a blue square")
    assert np.abs(both - red).max() > 1 and np.abs(both - blue).max() > 1
    # Halves of the same prompt add up to it; a part of weight 0 adds nothing.
    assert np.abs(image(engine, prompt="a red circle :0.5 AND a red circle :0.5") - red).max() <= 1
    assert np.abs(image(engine, prompt="a red circle AND a blue square :0") - red).max() <= 1
    assert np.abs(image(engine, prompt="a red circle AND a blue square :0.3") - red).max() > 1


def test_and_and_editing_in_img2img_and_inpaint(engine: Engine) -> None:
    from tests.studio.pipeline.test_img2img_inpaint import BASE as IMG2IMG
    from tests.studio.pipeline.test_img2img_inpaint import centre_mask_png

    for request in (IMG2IMG, replace(IMG2IMG, mask=centre_mask_png(), denoising_strength=1.0)):
        plain = pixels(engine.generate(replace(request, prompt="a red circle")).images[0].png)
        # img2img at strength 0.75 runs 3 of the 4 steps (0, 1, 2), counted from the first run,
        # as in A1111: an edit at step 2 (0.5 of 4) would never show; at step 1 it does (and the
        # early steps matter most).
        for prompt in ("a red circle AND a blue square", "[a blue square:a red circle:1]"):
            changed = pixels(engine.generate(replace(request, prompt=prompt)).images[0].png)
            assert np.abs(changed - plain).max() > 1, (request.mode, prompt)


@torch.no_grad()
def test_the_unet_sees_every_and_part_with_its_own_schedule(engine: Engine) -> None:
    _, entry, _ = engine.check(BASE)
    loaded = engine._load(entry)
    cache = PromptEmbeddingCache()
    red, blue = cache.embed(loaded.pipe, "a red circle", 1), cache.embed(loaded.pipe, " a blue square", 1)
    empty = cache.embed(loaded.pipe, "", 1)
    seen: list[torch.Tensor] = []
    # A forward hook sees the inputs as the UNet got them (after the composable-prompt hook).
    hook = loaded.pipe.unet.register_forward_hook(
        lambda module, args, kwargs, output: seen.append(kwargs["encoder_hidden_states"]), with_kwargs=True
    )
    try:
        engine.generate(replace(BASE, prompt="[a red circle: a blue square:1] AND a blue square", steps=3))
    finally:
        hook.remove()
    assert [call.shape[0] for call in seen] == [3, 3, 3]  # negative, part 1, part 2
    for step, call in enumerate(seen):
        assert torch.allclose(call[0:1], empty, atol=1e-5)
        assert torch.allclose(call[1:2], red if step <= 1 else blue, atol=1e-5), step
        assert torch.allclose(call[2:3], blue, atol=1e-5)
    # The composable-prompt hooks are gone after the call.
    assert not loaded.pipe.unet._forward_pre_hooks and not loaded.pipe.unet._forward_hooks


def test_prompts_that_cannot_be_honoured_are_refused_naming_the_field(engine: Engine) -> None:
    with pytest.raises(RequestError) as error:
        engine.generate(replace(BASE, prompt="a red circle AND a blue square", cfg_scale=1))
    assert error.value.field == "cfg_scale" and "AND" in error.value.message
    with pytest.raises(RequestError) as error:
        engine.generate(replace(BASE, negative_prompt="(blurry:1.2.3)"))
    assert error.value.field == "negative_prompt"
