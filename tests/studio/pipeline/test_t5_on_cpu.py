"""The `t5_on_cpu` memory strategy: the automatic policy picks it (with the real estimate of a
tiny Flux model and a given free memory) before any offload, and on real generations the T5
stays on the CPU, its embeddings reach the denoiser's device in the denoiser's dtype, and the
image is the plain path's."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from studio.devices import DeviceChoice
from studio.memory import builtin_strategies
from studio.memory.estimate import JobShape
from studio.memory.strategies import MemoryStrategyError
from studio.memory.t5_on_cpu import keep_t5_on_cpu, t5_encoders, t5_gpu_bytes
from studio.pipeline.cost_profile import CostEstimator
from studio.pipeline.engine import Engine
from studio.pipeline.runtime_policy import plan_memory
from studio.request import GenerationRequest
from tests.helpers import make_studio_config
from tests.studio.pipeline.conftest import pixels

REQUEST = GenerationRequest(
    prompt="a (red:1.2) cat",
    seed=5,
    steps=2,
    width=64,
    height=64,
    cfg_scale=1.0,
    sampler_name="Euler",
    save_images=False,
)
CPU32 = DeviceChoice("cpu", torch.device("cpu"), torch.float32)
# a GPU as the policy sees it: the weights' device is torch's meta device (no memory, no compute)
GPU = DeviceChoice("cuda", torch.device("meta"), torch.float32)


def _pipe(folder: Path) -> Any:
    from diffusers import DiffusionPipeline

    return DiffusionPipeline.from_pretrained(folder, local_files_only=True)


def _engine(root: Path, tiny_family: Any, family: str, **changes: Any) -> Engine:
    config = make_studio_config(root, **changes)
    shutil.copytree(tiny_family(family), config.models_path / "Diffusers" / family)
    return Engine(config)


def test_the_policy_moves_the_t5_off_the_gpu_before_any_offload(tmp_path, tiny_family):
    folder = tiny_family("flux")
    engine = _engine(tmp_path, tiny_family, "flux")
    entry = engine.registry.find("checkpoint", "flux")
    pipe = _pipe(folder)
    pipe.to("meta")  # every part "on the GPU"
    t5 = t5_gpu_bytes(pipe)
    assert t5 == sum(p.numel() * 4 for p in pipe.text_encoder_2.parameters()) > 0
    shape = JobShape(width=1024, height=1024, steps=4, cfg=False)
    strategies = builtin_strategies()

    def plan(free: int, device: DeviceChoice = GPU, memory: dict | None = None) -> Any:
        return plan_memory(
            CostEstimator(engine.registry), shape, entry, device, memory or {}, strategies, "auto", pipe, free
        )

    first = plan(1)
    assert first.tried, first.note
    tried = {tuple(step["strategies"]): step["need_bytes"] for step in first.tried}
    slicing = tried[("vae_slicing", "vae_tiling", "attention_slicing")]
    with_t5 = tried[("vae_slicing", "vae_tiling", "attention_slicing", "t5_on_cpu")]
    assert with_t5 == max(0, slicing - t5)
    # free memory between the two: the T5 step is the first that fits, no offload
    fits = plan(int((slicing + with_t5) / 2 / 0.9))
    assert fits.fits and fits.added[-1] == "t5_on_cpu" and "model_cpu_offload" not in fits.added
    assert "t5_on_cpu" in fits.to_json()["strategies"] and "t5_on_cpu" in fits.note
    # less free than that: on to the model offload, without the T5 step
    tight = plan(int(with_t5 * 0.9) if with_t5 else 1)
    assert "t5_on_cpu" not in tight.added
    # never on a CPU device (everything is on the CPU already), nor when asked for already
    assert "t5_on_cpu" not in plan(1, CPU32).added
    assert not any("t5_on_cpu" in step["strategies"] for step in plan(1, CPU32).tried)


def test_the_strategy_keeps_the_t5_on_the_cpu_and_sends_the_embeddings_to_the_device(tiny_family):
    from studio.pipeline.families.t5_conditioning import encode_flux

    pipe = _pipe(tiny_family("flux"))
    keep_t5_on_cpu(pipe, {"dtype": "bf16"}, GPU)
    assert {p.device.type for p in pipe.transformer.parameters()} == {"meta"}  # the target
    assert {p.device.type for p in pipe.vae.parameters()} == {"meta"}
    assert {(p.device.type, p.dtype) for p in pipe.text_encoder_2.parameters()} == {("cpu", torch.bfloat16)}
    assert t5_gpu_bytes(pipe) == 0
    embeds, pooled = encode_flux(pipe, "a (red:1.2) cat", 16)  # T5 computes on the CPU
    assert embeds.device.type == "meta" and embeds.dtype == torch.float32  # the denoiser's
    assert pooled.device.type == "meta"
    with pytest.raises(MemoryStrategyError, match=r"memory\.t5_on_cpu: dtype: expected one of auto, bf16"):
        keep_t5_on_cpu(pipe, {"dtype": "fp16"}, GPU)
    assert list(t5_encoders(_pipe(tiny_family("sd3")))) == ["text_encoder_3"]
    assert list(t5_encoders(_pipe(tiny_family("chroma")))) == ["text_encoder"]
    assert t5_encoders(_pipe(tiny_family("sdxl"))) == {}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["flux", "sd3", "chroma"])
def test_a_generation_with_the_t5_on_the_cpu_is_the_plain_paths_image(tmp_path, tiny_family, family):
    request = replace(REQUEST, model=family, cfg_scale=1.0 if family == "flux" else 3.0)
    plain = _engine(tmp_path / "plain", tiny_family, family, device="cpu").generate(request)
    moved_engine = _engine(tmp_path / "t5", tiny_family, family, device="cpu", memory={"t5_on_cpu": True})
    moved = moved_engine.generate(request)
    assert (pixels(plain.images[0].png) == pixels(moved.images[0].png)).all()
    assert plain.images[0].infotext == moved.images[0].infotext
    assert moved.runtime["memory"]["configured"] == ["t5_on_cpu"]
    # a bf16 model with its T5 in fp32 on the CPU: the embeddings are cast to the denoiser's dtype
    mixed = _engine(
        tmp_path / "bf16",
        tiny_family,
        family,
        device="cpu",
        dtype="bf16",
        memory={"t5_on_cpu": {"dtype": "fp32"}},
    )
    image = pixels(mixed.generate(request).images[0].png)
    loaded = mixed.cache.get(mixed.registry.find("checkpoint", family), mixed.device, {}, False)
    t5 = next(iter(t5_encoders(loaded.pipe).values()))
    assert t5.dtype == torch.float32 and loaded.pipe.transformer.dtype == torch.bfloat16
    assert 0 < abs(image - pixels(plain.images[0].png)).mean() < 40


def test_asked_for_on_a_model_without_t5_the_result_says_so(tmp_path, tiny_family):
    engine = _engine(tmp_path, tiny_family, "sdxl", device="cpu", memory={"t5_on_cpu": True})
    result = engine.generate(replace(REQUEST, model="sdxl", cfg_scale=3.0))
    assert "t5_on_cpu: this model has no T5 text encoder" in result.runtime["memory"]["note"]


@pytest.mark.parametrize("family", ["sd3", "flux", "chroma"])
def test_the_cost_profile_replays_the_transformer_families(tmp_path, tiny_family, family):
    engine = _engine(tmp_path, tiny_family, family)
    cost = CostEstimator(engine.registry).model_cost(engine.registry.find("checkpoint", family), CPU32, {})
    assert cost.denoiser.linear_flops > 0 and cost.denoiser.attention_flops > 0
    assert cost.denoiser.bytes_per_pixel > 0 and cost.weights_bytes > 0


def test_a_plain_chroma_prompt_gives_diffusers_own_embeddings(tiny_family):
    """The studio encodes Chroma's prompts (weights, and the T5 anywhere); a prompt without
    weights gives exactly ChromaPipeline's embeddings and attention mask."""
    from studio.pipeline.families.t5_conditioning import CHROMA_T5_LENGTH, encode_chroma

    pipe = _pipe(tiny_family("chroma"))
    with torch.no_grad():
        embeds, mask = encode_chroma(pipe, "a red cat", CHROMA_T5_LENGTH)
        theirs, _ids, their_mask = pipe.encode_prompt("a red cat", None, do_classifier_free_guidance=False)[
            :3
        ]
        weighted, _ = encode_chroma(pipe, "a (red:1.3) cat", CHROMA_T5_LENGTH)
    assert torch.equal(embeds, theirs) and torch.equal(mask, their_mask)
    assert not torch.equal(weighted, embeds)
