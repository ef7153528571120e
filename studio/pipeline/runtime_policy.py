"""The engine's per-model dtype and per-job memory decisions, and what each result reports.

- `model_device`: the device choice for one model (the dtype policy's per-model rule: a small
  model stays fp32 on a CPU under `auto`; `studio.devices.dtype_policy`).
- `plan_memory`: the automatic memory policy's plan for a job (`studio.memory.policy`), from the
  cost profile's memory estimate for each candidate set of strategies and the free memory.
- `job_memory`: turns the plan's strategies on for the job and the reversible ones off after
  it (an offload stays on the loaded model: moving the weights back is a reload).
- `runtime_report`: the result's `runtime`: device, dtypes, fallback, memory plan, fp32 retries.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from studio.devices.base import DeviceChoice
from studio.devices.dtype_policy import model_dtype
from studio.devices.startup import device_report
from studio.memory.estimate import DeviceSpeed, JobShape, estimate_job
from studio.memory.policy import REVERSIBLE, MemoryPlan, choose_strategies
from studio.memory.strategies import MemoryStrategy, _enabled
from studio.pipeline.model_registry import ModelEntry

log = logging.getLogger("atelier")
_ANY_SPEED = DeviceSpeed(1e12, 1e12)  # memory only: the time is not looked at


def model_device(device: DeviceChoice, entry: ModelEntry) -> DeviceChoice:
    """The device choice `entry` loads with (its dtype by the policy's per-model rule, from the
    `dtype` setting the device started with: a changed setting waits for a restart)."""
    import torch

    requested_dtype = device.dtype_setting
    if not (requested_dtype == "auto" and device.is_cpu and device.dtype != torch.float32):
        return device
    from studio.pipeline.cost_profile import weights_bytes

    try:
        size = weights_bytes(entry, 4)
    except (OSError, ValueError):
        size = None
    return model_dtype(device, requested_dtype, size, torch)


def configured_names(memory: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(name for name, value in memory.items() if _enabled(value)[0])


def plan_memory(
    estimator: Any,
    shape: JobShape,
    entry: ModelEntry,
    device: DeviceChoice,
    memory: Mapping[str, Any],
    strategies: Mapping[str, MemoryStrategy],
    policy: str,
    pipe: Any = None,
    free_bytes: int | None = None,
) -> MemoryPlan:
    """The memory plan of one job (`policy`: auto | off) on the loaded `pipe` (what its T5
    holds on the GPU; `free_bytes`: the free memory, read from the device when None). Never
    raises: a model the cost profile cannot replay gets no strategy added and a note saying why."""
    configured = configured_names(memory)
    if policy == "off":
        return _with_t5_note(
            MemoryPlan("off", configured=configured, note="memory_policy is off"), pipe, device
        )
    from studio.memory.t5_on_cpu import t5_gpu_bytes
    from studio.pipeline.cost_profile import free_memory

    try:
        free = free_memory(device) if free_bytes is None else free_bytes
        t5_bytes = 0 if pipe is None or device.is_cpu else t5_gpu_bytes(pipe)

        def need(names: tuple[str, ...]) -> tuple[int, int]:
            options = {**dict(memory), **{name: memory.get(name, True) for name in names}}
            options = {name: value for name, value in options.items() if name in REVERSIBLE}
            cost = estimator.model_cost(entry, device, options)
            estimate = estimate_job(
                cost, shape, _ANY_SPEED, device=device.name, weights_loaded=True, available_bytes=free
            )
            return estimate.memory_bytes, cost.weights_bytes

        plan = choose_strategies(
            need,
            free,
            on_gpu=not device.is_cpu,
            configured=configured,
            available=strategies,
            t5_bytes=t5_bytes,
        )
        return _with_t5_note(plan, pipe, device)
    except Exception as error:  # a plan never stops a generation by failing
        log.info("no memory plan for %s: %s", entry.name, error)
        return MemoryPlan("auto", configured=configured, note=f"no memory estimate for {entry.name}: {error}")


def _with_t5_note(plan: MemoryPlan, pipe: Any, device: DeviceChoice) -> MemoryPlan:
    """Say where the T5 is when the plan alone would not: `t5_on_cpu` asked for on a model
    without a T5, or a T5 left on the CPU by the policy for an earlier job."""
    from studio.memory.t5_on_cpu import NAME, t5_encoders, t5_kept_on_cpu

    if pipe is None:
        return plan
    encoders = t5_encoders(pipe)
    note = ""
    if NAME in plan.configured and not encoders:
        note = f"{NAME}: this model has no T5 text encoder, nothing to move"
    elif not device.is_cpu and NAME not in (*plan.configured, *plan.added) and t5_kept_on_cpu(pipe):
        note = f"the T5 text encoder stays on the CPU ({NAME}, added for an earlier job)"
    if not note:
        return plan
    return dataclasses.replace(plan, note=f"{plan.note}; {note}" if plan.note else note)


def _turn_off(pipe: Any, vae: Any, name: str) -> None:
    if name == "attention_slicing":
        pipe.disable_attention_slicing()
    elif name == "vae_slicing":
        vae.disable_slicing()
    elif name == "vae_tiling":
        vae.disable_tiling()


@contextmanager
def job_memory(
    pipe: Any,
    vae: Any,
    plan: MemoryPlan,
    device: DeviceChoice,
    strategies: Mapping[str, MemoryStrategy],
) -> Iterator[None]:
    """The plan's added strategies on `pipe` (and the request's own VAE `vae`, when it has one)
    for the job; the reversible ones are turned off again after it."""
    applied: list[str] = []
    vaes = [pipe.vae] if vae is None else [pipe.vae, vae]
    try:
        for name in plan.added:
            if name in ("vae_slicing", "vae_tiling"):
                for module in vaes:
                    (module.enable_slicing if name == "vae_slicing" else module.enable_tiling)()
            else:
                strategies[name].apply(pipe, {}, device)
            applied.append(name)
        yield
    finally:
        for name in applied:
            if name in REVERSIBLE:
                for module in vaes:
                    _turn_off(pipe, module, name)


def runtime_report(device: DeviceChoice, plan: MemoryPlan | None, fp32_retries: int) -> dict[str, Any]:
    """The result's `runtime` (not part of the infotext)."""
    return {
        **device_report(device),
        "memory": None if plan is None else plan.to_json(),
        "vae_fp32_retries": fp32_retries,
    }
