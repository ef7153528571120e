"""The dtype policy: which precision each device (and each model) runs in.

`--dtype` / the `dtype` setting is `auto`, `fp32`, `fp16` or `bf16`. With `auto`:
- CUDA: bf16 where the GPU supports it (Ampere and later), else fp16;
- ROCm, MPS, DirectML: fp16; XPU: bf16;
- CPU: bf16 when the CPU computes it natively (AVX-512 BF16 or AMX: the `avx512_bf16` /
  `amx_bf16` flags of /proc/cpuinfo), fp32 elsewhere - and fp32 for a small model (under
  `SMALL_MODEL_BYTES` of fp32 weights, like the tiny and starter models), where bf16 saves
  nothing measurable and only changes the picture;
- a backend an extension adds: its own `preferred_dtype`.
The VAE runs in fp32 beside an fp16 model (fp16 VAEs overflow into NaN, SDXL's above all) and
in the model's dtype otherwise; `studio.pipeline.vae_guard` checks every low-precision decode
for NaN and decodes again in fp32 when it finds one.

The same request on the same device and policy makes the same image: the dtype is not part of
the infotext (A1111 does not write it either); the result reports it (`runtime`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from studio.config import DTYPE_CHOICES
from studio.devices.base import DeviceChoice

# fp32 weights under this size count as a small model (the tiny and starter models are a few MB;
# SD 1.5 is 4.3 GB)
SMALL_MODEL_BYTES = 400 * 2**20
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def check_dtype(value: Any) -> str:
    """`value` when it is one of DTYPE_CHOICES; ValueError naming the choices otherwise."""
    if value not in DTYPE_CHOICES:
        raise ValueError(f"expected one of {', '.join(DTYPE_CHOICES)}, got {value!r}")
    return str(value)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_has_fast_bf16(flags: Iterable[str] | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX)."""
    found = cpu_flags() if flags is None else set(flags)
    return any(flag in found for flag in CPU_BF16_FLAGS)


def _named(torch: Any, name: str) -> Any:
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def device_dtype(
    choice: DeviceChoice, requested: str, torch: Any, flags: Iterable[str] | None = None
) -> DeviceChoice:
    """`choice` with the policy's dtype for its device (before any model is known)."""
    check_dtype(requested)
    if requested != "auto":
        dtype, reason = _named(torch, requested), f"{requested} asked for"
    elif choice.is_cpu:
        if cpu_has_fast_bf16(flags):
            dtype, reason = torch.bfloat16, "bf16: this CPU has AVX-512 BF16 / AMX"
        else:
            dtype, reason = torch.float32, "fp32: this CPU has no native bf16"
    elif choice.name == "cuda":
        bf16 = bool(torch.cuda.is_bf16_supported())
        dtype = torch.bfloat16 if bf16 else torch.float16
        reason = "bf16: the GPU supports it" if bf16 else "fp16: the GPU has no bf16"
    else:
        dtype, reason = choice.dtype, f"{_short(choice.dtype)}: the {choice.name} backend's default"
    return dataclasses.replace(
        choice, dtype=dtype, vae_dtype=vae_dtype_for(dtype, torch), dtype_reason=reason
    )


def vae_dtype_for(dtype: Any, torch: Any) -> Any:
    """The VAE's dtype beside a model in `dtype`: fp32 beside fp16 (the upcast), else the same."""
    return torch.float32 if dtype == torch.float16 else dtype


def model_dtype(choice: DeviceChoice, requested: str, weights_bytes: int | None, torch: Any) -> DeviceChoice:
    """`choice` for one model: `auto` on a CPU keeps a small model (`weights_bytes` of fp32
    weights under SMALL_MODEL_BYTES) in fp32."""
    if (
        requested == "auto"
        and choice.is_cpu
        and choice.dtype != torch.float32
        and weights_bytes is not None
        and weights_bytes < SMALL_MODEL_BYTES
    ):
        return dataclasses.replace(
            choice,
            dtype=torch.float32,
            vae_dtype=torch.float32,
            dtype_reason="fp32: a small model (bf16 saves nothing on it)",
        )
    return choice


def _short(dtype: Any) -> str:
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(
        str(dtype).replace("torch.", ""), str(dtype).replace("torch.", "")
    )


def dtype_label(choice: DeviceChoice) -> str:
    """'bf16', or 'fp16, VAE fp32' when the VAE runs in another dtype."""
    label = _short(choice.dtype)
    if choice.vae_dtype is not None and choice.vae_dtype != choice.dtype:
        label += f", VAE {_short(choice.vae_dtype)}"
    return label
