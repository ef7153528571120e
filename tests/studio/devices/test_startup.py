"""Starting a device: the asked-for one, or the CPU loudly with the reason; the dtype policy."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from studio.devices import DeviceChoice, DeviceError, builtin_backends
from studio.devices.dtype_policy import (
    SMALL_MODEL_BYTES,
    cpu_flags,
    cpu_has_fast_bf16,
    device_dtype,
    dtype_label,
    model_dtype,
)
from studio.devices.startup import device_report, label_of_report, start_device

NO_BF16 = ("sse2", "avx2")
BF16 = ("sse2", "avx512f", "avx512_bf16")


class MetaBackend:
    """A backend that detection finds but that cannot compute: torch's meta device holds
    shapes only, so the start probe fails reading a value back, as a broken driver does."""

    name = "meta"
    priority = 1000

    def is_available(self, torch):
        return True

    def device(self, torch, index=None):
        return torch.device("meta")

    def preferred_dtype(self, torch):
        return torch.float16


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_on_a_cpu_machine_falls_back_loudly(caplog):
    with caplog.at_level(logging.WARNING, logger="atelier"):
        choice = start_device("cuda", cpu_flags=NO_BF16)
    assert choice.is_cpu and choice.device == torch.device("cpu")
    assert choice.requested == "cuda"
    assert "cuda could not start" in choice.fallback and "not available" in choice.fallback
    assert "running on the CPU instead" in caplog.text and "cuda could not start" in caplog.text
    report = device_report(choice)
    assert report["requested"] == "cuda" and report["fallback"] == choice.fallback
    assert label_of_report(report).startswith("cpu (float32) - FALLBACK: cuda could not start")
    assert torch.ones(2, device=choice.device, dtype=choice.dtype).sum().item() == 2  # it runs


def test_a_backend_that_fails_its_probe_falls_back():
    backends = [MetaBackend(), *builtin_backends()]
    choice = start_device("auto", backends=backends, cpu_flags=NO_BF16)
    assert choice.is_cpu and choice.requested == "auto"
    assert choice.fallback.startswith("auto could not start:")
    assert "meta" in choice.fallback.lower()


def test_unknown_device_falls_back_naming_the_choices():
    choice = start_device("tpu", cpu_flags=NO_BF16)
    assert choice.is_cpu
    assert "unknown backend 'tpu'" in choice.fallback and "cpu" in choice.fallback


def test_cpu_starts_without_fallback_and_a_failing_cpu_is_an_error():
    choice = start_device("cpu", cpu_flags=NO_BF16)
    assert choice.fallback is None and choice.dtype == torch.float32

    def broken(choice, torch):
        raise RuntimeError("no")

    with pytest.raises(DeviceError, match="CPU backend failed to start"):
        start_device("cpu", probe=broken)


def test_bad_dtype_is_refused():
    with pytest.raises(ValueError, match="auto, fp32, fp16, bf16"):
        start_device("cpu", dtype="int3")


def test_cpu_dtype_follows_its_flags(tmp_path: Path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n")
    assert "avx512_bf16" in cpu_flags(info)
    assert cpu_has_fast_bf16(BF16) and not cpu_has_fast_bf16(NO_BF16)
    assert not cpu_flags(tmp_path / "missing")
    fast = start_device("cpu", cpu_flags=BF16)
    assert fast.dtype == torch.bfloat16 and fast.vae_dtype == torch.bfloat16
    assert "AVX-512 BF16" in fast.dtype_reason
    slow = start_device("cpu", cpu_flags=NO_BF16)
    assert slow.dtype == torch.float32 and "no native bf16" in slow.dtype_reason
    forced = start_device("cpu", dtype="fp16", cpu_flags=NO_BF16)
    assert forced.dtype == torch.float16 and forced.vae_dtype == torch.float32  # the VAE upcast
    assert dtype_label(forced) == "fp16, VAE fp32"


def test_small_models_stay_fp32_on_a_cpu_under_auto():
    fast = start_device("cpu", cpu_flags=BF16)
    small = model_dtype(fast, "auto", 10 * 2**20, torch)
    assert small.dtype == torch.float32 and "small model" in small.dtype_reason
    big = model_dtype(fast, "auto", SMALL_MODEL_BYTES * 10, torch)
    assert big.dtype == torch.bfloat16
    asked = model_dtype(fast, "bf16", 10 * 2**20, torch)
    assert asked.dtype == torch.bfloat16  # an explicit choice is kept


def _gpu_torch(bf16: bool):
    """Only what the dtype policy reads of a CUDA torch (no GPU here)."""
    return SimpleNamespace(
        cuda=SimpleNamespace(is_bf16_supported=lambda: bf16),
        float32=torch.float32,
        float16=torch.float16,
        bfloat16=torch.bfloat16,
    )


@pytest.mark.parametrize(
    ("name", "bf16", "dtype", "vae"),
    [
        ("cuda", True, torch.bfloat16, torch.bfloat16),
        ("cuda", False, torch.float16, torch.float32),
        ("rocm", True, torch.float16, torch.float32),
        ("mps", True, torch.float16, torch.float32),
        ("xpu", True, torch.bfloat16, torch.bfloat16),
        ("directml", True, torch.float16, torch.float32),
    ],
)
def test_gpu_dtype_policy(name, bf16, dtype, vae):
    backend = {b.name: b for b in builtin_backends()}[name]
    fake = _gpu_torch(bf16)
    choice = device_dtype(DeviceChoice(name, "gpu", backend.preferred_dtype(fake)), "auto", fake)
    assert (choice.dtype, choice.vae_dtype) == (dtype, vae)


def test_runtime_summary_names_device_memory_and_retries():
    from studio.devices.startup import runtime_summary

    assert runtime_summary(None) == ""
    text = runtime_summary(
        {
            "name": "cpu",
            "dtype": "float16",
            "vae_dtype": "float32",
            "fallback": "cuda could not start: no driver",
            "memory": {"strategies": ["vae_slicing", "vae_tiling"], "added": ["vae_tiling"]},
            "vae_fp32_retries": 1,
        }
    )
    assert text.startswith("cpu (float16, VAE float32) - FALLBACK: cuda could not start: no driver")
    assert "memory: vae_slicing, vae_tiling (vae_tiling added by the auto policy)" in text
    assert "decoded again in fp32 1x" in text
