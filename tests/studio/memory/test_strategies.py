from __future__ import annotations

import importlib.util

import pytest
import torch
from diffusers import StableDiffusionPipeline

from studio.devices import resolve_device
from studio.memory import MemoryStrategyError, apply_memory_options, builtin_strategies, moves_model_itself


@pytest.fixture
def pipe(tiny_model_dir):
    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(pipe, batch: int = 1) -> torch.Tensor:
    with torch.no_grad():
        return pipe(
            "a red star",
            num_inference_steps=2,
            width=64,
            height=64,
            num_images_per_prompt=batch,
            generator=[torch.Generator().manual_seed(i) for i in range(batch)],
            output_type="pt",
        ).images


def test_registry_names() -> None:
    assert set(builtin_strategies()) == {
        "attention_slicing",
        "vae_slicing",
        "vae_tiling",
        "model_cpu_offload",
        "sequential_cpu_offload",
        "token_merging",
        "t5_on_cpu",
    }


def test_slicing_gives_identical_output(pipe) -> None:
    cpu = resolve_device("cpu")
    before = run(pipe, batch=2)
    applied = apply_memory_options(pipe, {"attention_slicing": {"slice_size": 1}, "vae_slicing": True}, cpu)
    assert applied == ["attention_slicing", "vae_slicing"]
    assert pipe.vae.use_slicing
    after = run(pipe, batch=2)
    assert torch.allclose(before, after, atol=1e-5)


def test_vae_tiling_is_enabled_and_off_switch(pipe) -> None:
    cpu = resolve_device("cpu")
    assert apply_memory_options(pipe, {"vae_tiling": True, "vae_slicing": {"enabled": False}}, cpu) == [
        "vae_tiling"
    ]
    assert pipe.vae.use_tiling and not pipe.vae.use_slicing
    assert run(pipe).shape == (1, 3, 64, 64)


@pytest.mark.parametrize("name", ["model_cpu_offload", "sequential_cpu_offload"])
def test_offload_needs_a_gpu(pipe, name: str) -> None:
    assert moves_model_itself({name: True})
    with pytest.raises(MemoryStrategyError, match="needs a GPU"):
        apply_memory_options(pipe, {name: True}, resolve_device("cpu"))


def test_unknown_strategy_is_named(pipe) -> None:
    with pytest.raises(MemoryStrategyError, match=r"memory\.nope: unknown strategy"):
        apply_memory_options(pipe, {"nope": True}, resolve_device("cpu"))


def test_token_merging(pipe) -> None:
    cpu = resolve_device("cpu")
    if importlib.util.find_spec("tomesd") is None:
        with pytest.raises(MemoryStrategyError, match="tomesd"):
            apply_memory_options(pipe, {"token_merging": {"ratio": 0.5}}, cpu)
        return
    before = run(pipe)
    apply_memory_options(pipe, {"token_merging": {"ratio": 0.5, "max_downsample": 2}}, cpu)
    assert run(pipe).shape == before.shape


def test_engine_applies_config_memory(studio_config) -> None:
    import dataclasses

    from studio.pipeline.engine import Engine

    engine = Engine(dataclasses.replace(studio_config, memory={"vae_slicing": True}))
    engine.select_model("tiny")
    loaded = engine.cache.get(engine.registry.find("checkpoint", "tiny"), engine.device, {}, False)
    assert loaded.pipe.vae.use_slicing
