"""Per-image noise like A1111: image i gets its own CPU generator seeded with its seed, so the
same seed makes the same noise alone or in a batch, on any device; variation seeds mix in a
second noise with A1111's slerp."""

from __future__ import annotations

import inspect
import random
from collections.abc import Sequence
from typing import Any

import torch

from studio.request import MAX_SEED


def fixed_seed(seed: int) -> int:
    return random.randrange(MAX_SEED) if seed is None or seed == -1 else int(seed)


def image_seeds(seed: int, subseed: int, subseed_strength: float, count: int) -> tuple[list[int], list[int]]:
    """A1111's all_seeds / all_subseeds: seeds advance per image unless a variation is mixed in."""
    seeds = [seed + (i if subseed_strength == 0 else 0) for i in range(count)]
    subseeds = [subseed + i for i in range(count)]
    return seeds, subseeds


def slerp(val: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """A1111's spherical interpolation between two noise tensors (norms along dim 1)."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(
        1
    ) * high


def make_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    return [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]


def bind_step_noise(scheduler: Any, generators: Sequence[torch.Generator]) -> Any:
    """`scheduler` whose `step` draws its noise (ancestral / stochastic samplers) from the
    images' `generators` when the pipeline passes none: diffusers' flow-matching pipelines (Flux,
    SD 3.5, Chroma) call `step` without a generator, so "Euler a" would take torch's global random
    state and the same seed would not give the same image. A generator the pipeline does pass
    (the SD 1.x / SDXL pipelines) is kept."""
    step = scheduler.step
    if "generator" not in inspect.signature(step).parameters:
        return scheduler
    bound = list(generators)

    def step_with_noise(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("generator") is None:
            kwargs["generator"] = bound
        return step(*args, **kwargs)

    scheduler.step = step_with_noise
    return scheduler


def make_noise(
    shape: tuple[int, ...],
    generators: Sequence[torch.Generator],
    subseeds: Sequence[int] = (),
    subseed_strength: float = 0.0,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Stacked noise (batch, *shape): image i from generators[i] (which advance), mixed with its subseed noise."""
    images = []
    for i, generator in enumerate(generators):
        noise = torch.randn((1, *shape), generator=generator, dtype=dtype)
        if subseed_strength > 0:
            sub_generator = torch.Generator("cpu").manual_seed(int(subseeds[i]))
            sub = torch.randn((1, *shape), generator=sub_generator, dtype=dtype)
            noise = slerp(subseed_strength, noise[0], sub[0]).unsqueeze(0)
        images.append(noise)
    return torch.cat(images)
