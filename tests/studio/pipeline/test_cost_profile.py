"""The cost profile of a real (tiny) model, the engine's cost check, and the ratio it learns."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch

from studio.memory.estimate import CostRefused
from studio.pipeline.cost_profile import (
    RATIO_KEY,
    UnsupportedModel,
    component_configs,
    profile_model,
    weights_bytes,
)
from studio.pipeline.engine import Engine
from studio.pipeline.model_registry import ModelEntry
from studio.progress import GenerationControl
from studio.request import GenerationRequest

SMALL = GenerationRequest(prompt="a red circle", seed=1, steps=4, width=64, height=64, save_images=False)


def tiny_entry(engine: Engine):
    return engine.registry.find("checkpoint", "tiny")


def checking(engine: Engine, **changes: object) -> Engine:
    """The engine with the cost check on (the test config has it off)."""
    engine.config = dataclasses.replace(engine.config, **{"cost_check": "warn", **changes})
    return engine


def test_the_replay_counts_what_a_real_forward_computes(engine: Engine) -> None:
    from diffusers import UNet2DConditionModel
    from torch.utils.flop_counter import FlopCounterMode

    entry = tiny_entry(engine)
    configs = component_configs(entry)
    cost = profile_model(configs["unet"], configs["vae"], weights=weights_bytes(entry, 4))
    assert cost.latent_factor == 2 and cost.head_dim == 8
    unet = UNet2DConditionModel.from_pretrained(entry.path / "unet")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:  # a real forward at a latent twice the replay's side
        unet(torch.randn(1, 4, 64, 64), torch.tensor(10), torch.randn(1, 77, 32))
    real_dense = counter.get_total_flops()  # convolutions and matrix products (no attention kernels)
    predicted = cost.denoiser.linear_flops * 64 * 64  # also holds the small cross-attention
    assert real_dense <= predicted <= 1.05 * real_dense
    # weights from the safetensors headers = the parameters the loaded modules hold
    loaded = engine._load(entry).pipe
    parameters = sum(
        p.numel() for module in (loaded.unet, loaded.vae, loaded.text_encoder) for p in module.parameters()
    )
    assert cost.weights_bytes == 4 * parameters


def test_an_unknown_denoiser_is_unsupported() -> None:
    with pytest.raises(UnsupportedModel, match="no diffusers class"):
        profile_model(("NoSuchModel", {}), ("AutoencoderKL", {}), weights=0)


def test_engine_refuses_before_any_work_and_warns_into_the_result(engine: Engine) -> None:
    base = engine.config
    engine.config = dataclasses.replace(base, cost_check="refuse", max_job_seconds=60)
    started = time.monotonic()
    with pytest.raises(CostRefused) as refused:
        engine.generate(dataclasses.replace(SMALL, width=512, height=512, steps=50))
    assert time.monotonic() - started < 30  # the replay and calibration, not the 50 steps
    assert "max_job_seconds=60" in refused.value.message and refused.value.verdict.estimate.seconds > 60
    assert engine.history.count() == 0 and engine.cache.loads == 0  # not even loaded

    engine.config = dataclasses.replace(base, cost_check="warn", max_job_seconds=0.01)
    result = engine.generate(dataclasses.replace(SMALL, save_images=True), GenerationControl())
    assert len(result.images) == 1 and engine.history.count() == 1
    assert len(result.warnings) == 1 and "max_job_seconds=0.01" in result.warnings[0]
    assert result.cost["cost_check"] == "warn" and result.cost["estimate"]["seconds"] > 0.01

    engine.config = dataclasses.replace(base, cost_check="off")
    quiet = engine.generate(SMALL, GenerationControl())
    assert quiet.warnings == [] and quiet.cost == {"cost_check": "off", "estimate": None, "warnings": []}


def test_batches_that_ran_teach_the_estimate(engine: Engine) -> None:
    checking(engine, max_job_seconds=3600)
    entry = tiny_entry(engine)
    key = RATIO_KEY.format(device="cpu", model=entry.path)
    assert engine.registry.get_state(key) is None
    result = engine.generate(dataclasses.replace(SMALL, n_iter=2), GenerationControl())
    learned = json.loads(engine.registry.get_state(key))
    assert learned["batches"] == 2 and learned["ratio"] > 0
    # after learning, the estimate of that shape is close to what the batches took
    estimate = engine.check_cost(SMALL).estimate
    assert estimate is not None and estimate.learned and estimate.weights_loaded
    took = result.timings["denoise"] / 2
    assert took / 3 < estimate.batch_seconds < took * 3


def test_estimates_cover_the_documented_maximum(engine: Engine) -> None:
    """4096x4096 on the tiny model: a step of hours on a CPU, and more memory than it has."""
    checking(engine)
    verdict = engine.check_cost(dataclasses.replace(SMALL, width=4096, height=4096, steps=1, batch_size=64))
    estimate = verdict.estimate
    assert estimate.step_seconds > 3600
    assert estimate.working_bytes > 500e9  # more than any machine running this has free
    assert any("of memory" in warning for warning in verdict.warnings)


def test_weights_of_a_single_file_come_from_its_header(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({"a": torch.zeros(3, 4, dtype=torch.float16), "b": torch.zeros(5)}, str(path))
    entry = ModelEntry("checkpoint", "model.safetensors", path, "0" * 64, "safetensors")
    assert weights_bytes(entry, 4) == (12 + 5) * 4
    assert weights_bytes(entry, 2) == (12 + 5) * 2


def test_a_folder_counts_one_set_of_weights(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    unet = tmp_path / "tiny" / "unet"
    unet.mkdir(parents=True)
    save_file({"w": torch.zeros(10)}, str(unet / "diffusion_pytorch_model.safetensors"))
    save_file(
        {"w": torch.zeros(10, dtype=torch.float16)}, str(unet / "diffusion_pytorch_model.fp16.safetensors")
    )
    entry = ModelEntry("checkpoint", "tiny", tmp_path / "tiny", "0" * 64, "diffusers")
    assert weights_bytes(entry, 4) == 40
