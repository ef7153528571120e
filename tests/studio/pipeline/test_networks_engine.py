"""LoRA tags and embeddings through the real engine on the tiny model: the picture changes as the
tags say, the base model comes back, errors name the tag, and the infotext carries A1111's
`Lora hashes` / `TI hashes`."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from studio.config import StudioConfig
from studio.infotext import parse_infotext, request_fields
from studio.pipeline.engine import Engine
from studio.request import GenerationRequest, RequestError
from tests.studio.pipeline import network_files as files
from tests.studio.pipeline.conftest import pixels

BASE = GenerationRequest(prompt="a red circle", seed=3, steps=3, width=64, height=64, save_images=False)


@pytest.fixture
def tiny_pipe(tiny_model_dir: Path) -> Any:
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)


@pytest.fixture
def lora_dir(studio_config: StudioConfig) -> Path:
    return studio_config.models_path / "Lora"


def image(engine: Engine, prompt: str, negative: str = "") -> np.ndarray:
    result = engine.generate(replace(BASE, prompt=prompt, negative_prompt=negative))
    return pixels(result.images[0].png)


def addnet_hash(path: Path) -> str:
    data = path.read_bytes()
    header = int.from_bytes(data[:8], "little")
    return hashlib.sha256(data[8 + header :]).hexdigest()


def test_lora_weight_zero_is_the_base_picture_and_weight_one_changes_it(
    studio_config: StudioConfig, lora_dir: Path, tiny_pipe: Any
) -> None:
    files.write_kohya(lora_dir / "styles" / "detail.safetensors", tiny_pipe, seed=1, convs=True)
    engine = Engine(studio_config)
    plain = image(engine, "a red circle")
    assert np.array_equal(image(engine, "a red circle <lora:detail:0>"), plain)
    with_lora = image(engine, "a red circle <lora:detail:1>")
    assert np.abs(with_lora - plain).max() > 20
    assert np.array_equal(
        image(engine, "a red circle <lyco:styles/detail:1>"), with_lora
    )  # lyco = lora, by path
    te_only = image(engine, "a red circle <lora:detail:1:0>")
    unet_only = image(engine, "<lora:detail:te=0:unet=1> a red circle")
    assert not np.array_equal(te_only, unet_only)
    assert not np.array_equal(te_only, plain) and not np.array_equal(unet_only, plain)
    # no tag again: the base model, pixel for pixel, without loading the checkpoint again
    assert np.array_equal(image(engine, "a red circle"), plain)
    assert engine.cache.loads == 1


def test_several_loras_at_once_and_switching_sets_between_jobs(
    studio_config: StudioConfig, lora_dir: Path, tiny_pipe: Any
) -> None:
    files.write_kohya(lora_dir / "one.safetensors", tiny_pipe, seed=2)
    files.write_loha(lora_dir / "two.safetensors", tiny_pipe, seed=3)
    files.write_peft(lora_dir / "three.safetensors", tiny_pipe, seed=4)
    engine = Engine(studio_config)
    plain = image(engine, "a red circle")
    one = image(engine, "a red circle <lora:one:0.8>")
    both = image(engine, "a red circle <lora:one:0.8> <lora:two:0.5>")
    all_three = image(engine, "<lora:three:0.7> a red circle <lora:one:0.8> <lora:two:0.5>")
    pictures = [plain, one, both, all_three]
    assert all(not np.array_equal(a, b) for i, a in enumerate(pictures) for b in pictures[i + 1 :])
    assert np.array_equal(image(engine, "a red circle <lora:one:0.8>"), one)
    assert np.array_equal(image(engine, "a red circle"), plain)
    assert engine.cache.loads == 1


def test_a_tag_naming_no_file_fails_before_the_job_with_the_nearest_names(
    studio_config: StudioConfig, lora_dir: Path, tiny_pipe: Any
) -> None:
    files.write_kohya(lora_dir / "add_detail.safetensors", tiny_pipe, seed=5)
    files.write_kohya(lora_dir / "add_details_xl.safetensors", tiny_pipe, seed=6)
    engine = Engine(studio_config)
    bad = replace(BASE, prompt="a cat <lora:add_detial:0.7>")
    with pytest.raises(RequestError) as raised:
        engine.check(bad)
    assert raised.value.field == "prompt"
    assert "<lora:add_detial:0.7>" in str(raised.value) and "nearest: add_detail" in str(raised.value)
    with pytest.raises(RequestError, match="add_detial"):
        engine.generate(bad)
    for prompt, message in (
        ("<lora:add_detail:abc>", "te weight must be a number"),
        ("<lora:add_detail:1:2:3:4>", "too many arguments"),
        ("<hypernet:thing:1>", "'hypernet' networks are not supported"),
    ):
        with pytest.raises(RequestError, match=message):
            engine.check(replace(BASE, prompt=prompt))
    with pytest.raises(RequestError, match="negative prompt") as raised:
        engine.check(replace(BASE, negative_prompt="<lora:add_detail:1>"))
    assert raised.value.field == "negative_prompt"


def test_an_unsupported_lora_file_is_refused_by_format_before_the_job(
    studio_config: StudioConfig, lora_dir: Path, tiny_pipe: Any
) -> None:
    from safetensors.torch import save_file

    state = files.kohya_state(tiny_pipe, seed=7)
    key = next(iter(state)).split(".")[0]
    state[f"{key}.dora_scale"] = torch.ones(1, 4)
    save_file(state, str(lora_dir / "dora.safetensors"))
    with pytest.raises(
        RequestError, match=r"<lora:dora:1>: dora\.safetensors: this network format is not supported: DoRA"
    ):
        Engine(studio_config).check(replace(BASE, prompt="<lora:dora:1>"))


def test_infotext_has_a1111_lora_and_ti_hashes_and_keeps_the_tags_in_the_prompt(
    studio_config: StudioConfig, lora_dir: Path, tiny_pipe: Any
) -> None:
    detail = files.write_kohya(
        lora_dir / "detail.safetensors", tiny_pipe, seed=8, metadata={"ss_output_name": "Detail, Tweaker"}
    )
    styled = files.write_kohya(
        lora_dir / "styled.safetensors", tiny_pipe, seed=9, metadata={"sshs_model_hash": "f" * 64}
    )
    emb_dir = studio_config.models_path / "embeddings"
    negative_file = files.write_embedding(emb_dir / "badhands.safetensors", torch.randn(2, 32))
    prompt = "a red circle <lora:detail:0.6>, <lora:styled:1:0.5>"
    engine = Engine(studio_config)
    result = engine.generate(replace(BASE, prompt=prompt, negative_prompt="blurry, badhands"))
    parsed = parse_infotext(result.images[0].infotext)
    assert parsed["Prompt"] == prompt
    assert parsed["Lora hashes"] == f"detail: {addnet_hash(detail)[:12]}, styled: {'f' * 12}"
    assert parsed["TI hashes"] == f"badhands: {hashlib.sha256(negative_file.read_bytes()).hexdigest()[:12]}"
    assert request_fields(parsed)["prompt"] == prompt  # Send-to / PNG Info bring the tags back
    assert styled.exists()
    # by alias (ss_output_name); A1111 writes the name as the tag wrote it, without : and ,
    by_alias = engine.generate(replace(BASE, prompt="a red circle <lora:Detail, Tweaker:0.6>"))
    assert (
        parse_infotext(by_alias.images[0].infotext)["Lora hashes"]
        == f"Detail Tweaker: {addnet_hash(detail)[:12]}"
    )
    assert np.array_equal(
        pixels(by_alias.images[0].png),
        pixels(engine.generate(replace(BASE, prompt="a red circle <lora:detail:0.6>")).images[0].png),
    )


def word_vectors(pipe: Any, *words: str) -> torch.Tensor:
    """The text encoder's input vectors of these words: an embedding made of them must encode
    exactly like the words themselves."""
    ids = pipe.tokenizer.convert_tokens_to_ids([f"{word}</w>" for word in words])
    return pipe.text_encoder.get_input_embeddings().weight[ids].detach().clone()


def test_an_embedding_used_by_name_encodes_as_its_vectors(
    studio_config: StudioConfig, tiny_pipe: Any
) -> None:
    emb_dir = studio_config.models_path / "embeddings"
    files.write_embedding(emb_dir / "bigdog.safetensors", word_vectors(tiny_pipe, "big", "dog"))
    files.write_embedding(
        emb_dir / "sub" / "Bright-Sky.safetensors", word_vectors(tiny_pipe, "bright"), "string_to_param"
    )
    engine = Engine(studio_config)
    plain = image(engine, "a red circle")
    # two vectors in place of the name: the same picture as the two words, pixel for pixel
    assert np.array_equal(image(engine, "a red bigdog"), image(engine, "a red big dog"))
    assert np.array_equal(image(engine, "a red BigDog"), image(engine, "a red big dog"))  # case-insensitive
    # in the negative prompt too
    assert np.array_equal(
        image(engine, "a red circle", "bright-sky"), image(engine, "a red circle", "bright")
    )
    assert not np.array_equal(image(engine, "a red circle", "bright-sky"), plain)
    result = engine.generate(replace(BASE, prompt="a bigdog, (bigdog:1.1)", negative_prompt="Bright-Sky"))
    parsed = parse_infotext(result.images[0].infotext)
    sha = {
        path.stem: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in emb_dir.rglob("*.safetensors")
    }
    assert parsed["TI hashes"] == f"bigdog: {sha['bigdog']}, Bright-Sky: {sha['Bright-Sky']}"
    assert "TI hashes" not in parse_infotext(engine.generate(BASE).images[0].infotext)
    assert np.array_equal(image(engine, "a red circle"), plain)  # tokenizer and encoder restored


def test_pickle_embeddings_need_the_allowance(studio_config: StudioConfig, tiny_pipe: Any) -> None:
    emb_dir = studio_config.models_path / "embeddings"
    files.write_embedding(emb_dir / "oldstyle.pt", word_vectors(tiny_pipe, "blue"), "a1111-pt")
    with pytest.raises(RequestError, match=r"oldstyle.*pickle"):
        Engine(studio_config).check(replace(BASE, prompt="a oldstyle circle"))
    allowed = Engine(replace(studio_config, allow_pickle=True))
    assert np.array_equal(image(allowed, "a oldstyle circle"), image(allowed, "a blue circle"))


def test_an_embedding_for_another_text_encoder_width_is_an_error(studio_config: StudioConfig) -> None:
    files.write_embedding(studio_config.models_path / "embeddings" / "wide.safetensors", torch.randn(2, 768))
    with pytest.raises(
        RequestError, match=r"embedding 'wide' is made for another model .width 768.*width 32"
    ):
        Engine(studio_config).generate(replace(BASE, prompt="a wide circle"))
