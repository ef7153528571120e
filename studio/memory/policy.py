"""The automatic memory policy: the cheapest set of memory strategies that makes a job fit.

Torch-free. Before each job the engine asks `choose_strategies` with a function that estimates
the job's memory with a set of strategies (`studio.memory.estimate` through the cost profile)
and the memory free on the device now (psutil on a CPU, `torch.cuda.mem_get_info` on a GPU).
The candidates are tried from the cheapest (nothing) to the most frugal, and the first that fits
in MEMORY_HEADROOM of the free memory is taken:

1. nothing;  2. VAE slicing (decode a batch one image at a time: no cost in speed);
3. + VAE tiling (decode in tiles: slightly slower, seams are blended);
4. + attention slicing (slower; on torch 2 SDPA already saves most of the attention memory);
GPU only, when the weights themselves do not fit:
5. + the T5 text encoder on the CPU (`t5_on_cpu`, only for a model with a T5 on the GPU - SD 3.5,
   Flux, Chroma: its weights leave the GPU, each prompt is encoded on the CPU);
6. + model CPU offload (each model moves to the GPU when it runs: slower);
7. sequential CPU offload instead (layer by layer: much slower, least VRAM).
Strategies the `memory` setting turns on are always on; the policy only adds. When nothing
fits, the cheapest set that needs the least is used and the plan says it does not fit (the cost check, when on,
has already warned or refused). `memory_policy: off` turns the policy off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from studio.memory.estimate import MEMORY_HEADROOM, format_bytes

CHEAP_LADDER: tuple[tuple[str, ...], ...] = (
    (),
    ("vae_slicing",),
    ("vae_slicing", "vae_tiling"),
    ("vae_slicing", "vae_tiling", "attention_slicing"),
)
T5_STEP = ("vae_slicing", "vae_tiling", "attention_slicing", "t5_on_cpu")
OFFLOAD_LADDER: tuple[tuple[str, ...], ...] = (
    ("vae_slicing", "vae_tiling", "attention_slicing", "model_cpu_offload"),
    ("vae_slicing", "vae_tiling", "attention_slicing", "sequential_cpu_offload"),
)
# The share of the weights an offload takes off the GPU (model offload keeps the biggest
# model - the UNet / transformer - on it while it runs; sequential keeps a layer or so).
OFFLOAD_SAVES = {"model_cpu_offload": 0.25, "sequential_cpu_offload": 0.95}
REVERSIBLE = frozenset({"vae_slicing", "vae_tiling", "attention_slicing"})  # t5_on_cpu stays, as an offload


@dataclass(frozen=True)
class MemoryPlan:
    policy: str  # auto | off
    added: tuple[str, ...] = ()  # strategies the policy turned on for this job
    configured: tuple[str, ...] = ()  # strategies the `memory` setting keeps on
    need_bytes: int | None = None  # the job's estimated memory with the strategies in `added`
    free_bytes: int | None = None
    fits: bool | None = None  # None: no estimate
    note: str = ""
    tried: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "strategies": sorted({*self.configured, *self.added}),
            "added": list(self.added),
            "configured": list(self.configured),
            "need_bytes": self.need_bytes,
            "free_bytes": self.free_bytes,
            "fits": self.fits,
            "note": self.note,
        }


def candidates(on_gpu: bool, available: Iterable[str], t5_bytes: int = 0) -> list[tuple[str, ...]]:
    """The ladder for a device, keeping only strategies the studio has (the T5 step only when
    `t5_bytes` of T5 weights are on the GPU)."""
    names = set(available)
    gpu = [*((T5_STEP,) if t5_bytes > 0 else ()), *OFFLOAD_LADDER] if on_gpu else []
    ladder = [*CHEAP_LADDER, *gpu]
    return [step for step in ladder if set(step) <= names]


def choose_strategies(
    need: Callable[[tuple[str, ...]], tuple[int, int]],
    free_bytes: int | None,
    *,
    on_gpu: bool,
    configured: Iterable[str] = (),
    available: Iterable[str] = (),
    t5_bytes: int = 0,
) -> MemoryPlan:
    """The cheapest candidate that fits. `need(strategies)` -> (working + weights still to load,
    weights bytes) with those strategies on (on top of `configured`); `t5_bytes`: the T5
    encoder's weights on the GPU now (what `t5_on_cpu` frees)."""
    configured = tuple(configured)
    if free_bytes is None:
        return MemoryPlan("auto", configured=configured, note="free memory unknown: no strategy added")
    budget = free_bytes * MEMORY_HEADROOM
    tried: list[dict[str, Any]] = []
    plan_steps = candidates(on_gpu, available, t5_bytes)
    last: MemoryPlan | None = None
    for step in plan_steps:
        added = tuple(name for name in step if name not in configured)
        memory_bytes, weights = need(tuple(sorted({*configured, *step})))
        offload = [name for name in step if name in OFFLOAD_SAVES]
        if offload:
            memory_bytes = int(memory_bytes - OFFLOAD_SAVES[offload[0]] * weights)
        elif "t5_on_cpu" in step:
            memory_bytes = max(0, memory_bytes - t5_bytes)
        tried.append({"strategies": list(step), "need_bytes": memory_bytes})
        fits = memory_bytes <= budget
        candidate = MemoryPlan("auto", added, configured, memory_bytes, free_bytes, fits, tried=tried)
        if last is None or memory_bytes < (last.need_bytes or 0):
            last = candidate  # the least memory so far (the cheapest of equals)
        if fits:
            note = (
                "fits without a memory strategy"
                if not added
                else f"needs about {format_bytes(memory_bytes)} of {format_bytes(free_bytes)} free with "
                f"{', '.join(added)}"
            )
            return MemoryPlan("auto", added, configured, memory_bytes, free_bytes, True, note, tried)
    assert last is not None
    return MemoryPlan(
        "auto",
        last.added,
        configured,
        last.need_bytes,
        free_bytes,
        False,
        f"does not fit even with {', '.join(last.added) or 'every strategy'}: about "
        f"{format_bytes(last.need_bytes or 0)} needed, {format_bytes(free_bytes)} free",
        tried,
    )
