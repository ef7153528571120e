"""The dtype policy and the automatic memory policy on real generations of the tiny model."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from studio.devices import DeviceChoice
from studio.devices.dtype_policy import cpu_has_fast_bf16
from studio.memory.policy import choose_strategies
from studio.pipeline.engine import Engine
from studio.pipeline.vae_guard import guard_vae, vae_fp32_retries
from studio.request import GenerationRequest
from tests.helpers import make_studio_config
from tests.studio.pipeline.conftest import pixels

REQUEST = GenerationRequest(prompt="a red square", steps=2, width=64, height=64, seed=7)


def _engine(tmp_path: Path, tiny_model_dir: Path, **changes) -> Engine:
    return Engine(make_studio_config(tmp_path, tiny_model_dir, **changes))


@pytest.mark.slow
def test_bf16_on_cpu_runs_the_tiny_model_and_leaves_the_infotext_alone(tmp_path, tiny_model_dir):
    bf16 = _engine(tmp_path / "bf16", tiny_model_dir, device="cpu", dtype="bf16")
    first = bf16.generate(REQUEST)
    again = bf16.generate(REQUEST)
    runtime = first.runtime
    assert runtime["dtype"] == "bfloat16" and runtime["vae_dtype"] == "bfloat16"
    assert runtime["fallback"] is None and runtime["dtype_reason"] == "bf16 asked for"
    loaded = bf16.cache.get(bf16.registry.find("checkpoint", "tiny"), bf16.device, {}, False)
    assert loaded.pipe.unet.dtype == torch.bfloat16
    # same seed, same request, same device and policy -> the same image
    assert (pixels(first.images[0].png) == pixels(again.images[0].png)).all()
    fp32 = _engine(tmp_path / "fp32", tiny_model_dir, device="cpu", dtype="fp32").generate(REQUEST)
    assert fp32.runtime["dtype"] == "float32"
    assert first.images[0].infotext == fp32.images[0].infotext  # the dtype is not in the infotext
    difference = abs(pixels(first.images[0].png) - pixels(fp32.images[0].png)).mean()
    assert 0 < difference < 40  # bf16 changes the picture a little, not into noise


def test_auto_keeps_a_small_model_in_fp32_on_cpu(tmp_path, tiny_model_dir):
    result = _engine(tmp_path, tiny_model_dir, device="cpu").generate(REQUEST)
    assert result.runtime["dtype"] == "float32"
    if cpu_has_fast_bf16():  # this CPU would run a big model in bf16
        assert "small model" in result.runtime["dtype_reason"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_here_generates_on_the_cpu_and_says_so(tmp_path, tiny_model_dir):
    engine = _engine(tmp_path, tiny_model_dir, device="cuda")
    result = engine.generate(REQUEST)
    assert len(result.images) == 1
    assert result.runtime["name"] == "cpu" and result.runtime["requested"] == "cuda"
    assert "cuda could not start" in result.runtime["fallback"]
    assert engine.device_report()["fallback"] == result.runtime["fallback"]


def _overflowing_vae(folder: Path):
    """The tiny VAE with its decoder's first convolution scaled up: fine in fp32, but its
    activations overflow fp16 (max 65504) and the decode comes out as NaN/inf."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(folder / "vae")
    with torch.no_grad():
        weight = vae.decoder.conv_in.weight
        weight.mul_(1e4 / weight.abs().max())
    return vae


def test_a_nan_decode_in_low_precision_is_decoded_again_in_fp32(tiny_model_dir):
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = _overflowing_vae(tiny_model_dir).decode(latents).sample
        assert torch.isfinite(reference).all()
        bare = _overflowing_vae(tiny_model_dir).to(torch.float16)
        assert not torch.isfinite(bare.decode(latents.half()).sample).all()  # the failure is real
        vae = guard_vae(_overflowing_vae(tiny_model_dir), torch.float16)
        decoded = vae.decode(latents.half()).sample
        assert torch.isfinite(decoded).all() and vae_fp32_retries(vae) == 1
        assert next(vae.parameters()).dtype == torch.float32  # it stays in fp32
        assert (decoded - reference).abs().max() < 1e-2
        vae.decode(latents.half())
        assert vae_fp32_retries(vae) == 1  # fp32 now: not checked again


@pytest.mark.slow
def test_the_retry_works_inside_a_real_pipeline(tiny_model_dir):
    """The whole diffusers pipeline in fp16 on the CPU with the overflowing VAE: the image
    comes out right, from the fp32 decode."""
    from studio.pipeline.loader import load_pipeline
    from studio.pipeline.model_registry import ModelEntry

    entry = ModelEntry(kind="checkpoint", name="tiny", path=tiny_model_dir, format="diffusers", sha256=None)
    device = DeviceChoice("cpu", torch.device("cpu"), torch.float16, vae_dtype=torch.float16)
    pipe = load_pipeline(entry, device, {}, False)
    with torch.no_grad():
        weight = pipe.vae.decoder.conv_in.weight
        weight.mul_(1e4 / weight.float().abs().max())
        image = pipe(
            "a red square",
            num_inference_steps=1,
            width=64,
            height=64,
            output_type="np",
            generator=torch.Generator().manual_seed(1),
        ).images[0]
    assert vae_fp32_retries(pipe.vae) == 1
    assert image.shape == (64, 64, 3) and (image == image).all()


def test_memory_policy_picks_the_cheapest_set_that_fits():
    needs = {(): 900, ("vae_slicing",): 700, ("vae_slicing", "vae_tiling"): 300}

    def need(names):
        return needs.get(tuple(sorted(names)), 250), 1000

    names = ["attention_slicing", "vae_slicing", "vae_tiling", "model_cpu_offload", "sequential_cpu_offload"]
    assert choose_strategies(need, 2000, on_gpu=False, available=names).added == ()
    plan = choose_strategies(need, 500, on_gpu=False, available=names)
    assert plan.added == ("vae_slicing", "vae_tiling") and plan.fits
    tight = choose_strategies(need, 100, on_gpu=False, available=names)
    assert not tight.fits and "model_cpu_offload" not in tight.added  # never offload on a CPU
    gpu = choose_strategies(need, 100, on_gpu=True, available=names)
    assert gpu.added[-1] == "model_cpu_offload" and gpu.fits  # 250 - 25% of 1000 weights
    kept = choose_strategies(need, 2000, on_gpu=False, configured=["vae_tiling"], available=names)
    assert kept.added == () and kept.to_json()["strategies"] == ["vae_tiling"]


def test_auto_memory_policy_reports_its_plan_and_adds_what_a_job_needs(tmp_path, tiny_model_dir):
    engine = _engine(tmp_path, tiny_model_dir, device="cpu", memory_policy="auto")
    result = engine.generate(REQUEST)
    memory = result.runtime["memory"]
    assert memory["policy"] == "auto" and memory["fits"] is True and memory["added"] == []
    assert 0 < memory["need_bytes"] < memory["free_bytes"]
    json.dumps(result.runtime)
    off = _engine(tmp_path / "off", tiny_model_dir, device="cpu", memory_policy="off").generate(REQUEST)
    assert off.runtime["memory"]["policy"] == "off"


@pytest.mark.slow
@pytest.mark.parametrize("family", ["sd15", "sdxl", "flux", "z-image"])
def test_live_previews_follow_the_family(tmp_path, tiny_model_dir, tiny_family, family):
    """Each step's latents reach the observer with the model's family and the image size, and
    the cheap preview of them has the latent's size (Flux's packed latents unpacked)."""
    import shutil

    from studio.jobs.preview import preview_png
    from studio.progress import GenerationControl

    config = make_studio_config(tmp_path, tiny_model_dir if family == "sd15" else None)
    if family != "sd15":
        shutil.copytree(tiny_family(family), config.models_path / "Diffusers" / family)
    engine = Engine(config)
    seen = []
    control = GenerationControl(on_step=seen.append)
    request = GenerationRequest(
        prompt="a red square",
        steps=2,
        width=64,
        height=128,
        seed=3,
        sampler_name="Euler",
        model="tiny" if family == "sd15" else family,
        save_images=False,
        cfg_scale=1.0 if family == "flux" else 5.0,
    )
    engine.generate(request, control)
    info = seen[-1]
    assert (info.family, info.width, info.height) == (family, 64, 128)
    png = preview_png(info.latents, info.family, info.width, info.height, min_size=1)
    assert png is not None
    factor = engine.cache.get(engine.registry.find("checkpoint", request.model), engine.device, {}, False)
    factor = factor.pipe.vae_scale_factor
    assert Image.open(io.BytesIO(png)).size == (64 // factor, 128 // factor)
