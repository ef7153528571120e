"""A1111 sampler names and schedule types -> diffusers scheduler classes and their config.

`SAMPLERS` is the registry: each entry names a diffusers scheduler class and the config
overrides that make it behave like the A1111/k-diffusion sampler of that name. Schedule types
(A1111's "Schedule type" dropdown) are config overrides applied on top, where the scheduler
class supports the option. Extensions may register more entries with `register_sampler`.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from studio.request import RequestError


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    scheduler_class: str  # attribute of the `diffusers` package
    options: Mapping[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()  # importable modules the scheduler needs (e.g. torchsde)
    aliases: tuple[str, ...] = ()

    def available(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in self.requires)


@dataclass(frozen=True)
class ScheduleType:
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()

    def available(self) -> bool:
        return all(importlib.util.find_spec(module) is not None for module in self.requires)


SAMPLERS: dict[str, SamplerSpec] = {}
SCHEDULE_TYPES: dict[str, ScheduleType] = {}


def register_sampler(spec: SamplerSpec) -> None:
    SAMPLERS[spec.name] = spec


def register_schedule_type(schedule: ScheduleType) -> None:
    SCHEDULE_TYPES[schedule.name] = schedule


for _spec in (
    SamplerSpec(
        "DPM++ 2M", "DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}
    ),
    SamplerSpec(
        "DPM++ 2M SDE",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
    ),
    SamplerSpec(
        "DPM++ 3M SDE",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
    ),
    SamplerSpec("DPM++ SDE", "DPMSolverSDEScheduler", {}, requires=("torchsde",)),
    SamplerSpec(
        "DPM++ 2S a", "DPMSolverSinglestepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}
    ),
    SamplerSpec("Euler a", "EulerAncestralDiscreteScheduler"),
    SamplerSpec("Euler", "EulerDiscreteScheduler"),
    SamplerSpec("LMS", "LMSDiscreteScheduler"),
    SamplerSpec("Heun", "HeunDiscreteScheduler"),
    SamplerSpec("DPM2", "KDPM2DiscreteScheduler"),
    SamplerSpec("DPM2 a", "KDPM2AncestralDiscreteScheduler"),
    SamplerSpec("DDIM", "DDIMScheduler", {"set_alpha_to_one": False, "clip_sample": False}),
    SamplerSpec("DDPM", "DDPMScheduler", {"clip_sample": False}),
    SamplerSpec("PLMS", "PNDMScheduler", {"skip_prk_steps": True}, aliases=("PNDM",)),
    SamplerSpec("UniPC", "UniPCMultistepScheduler"),
    SamplerSpec("DEIS", "DEISMultistepScheduler"),
    SamplerSpec("LCM", "LCMScheduler"),
    SamplerSpec("TCD", "TCDScheduler"),
):
    register_sampler(_spec)

for _schedule in (
    ScheduleType("Automatic"),
    ScheduleType("Uniform", {"timestep_spacing": "linspace"}),
    ScheduleType("Karras", {"use_karras_sigmas": True}),
    ScheduleType("Exponential", {"use_exponential_sigmas": True}),
    ScheduleType("Beta", {"use_beta_sigmas": True}, requires=("scipy",)),
    ScheduleType("SGM Uniform", {"timestep_spacing": "trailing"}),
):
    register_schedule_type(_schedule)

# Old A1111 names carried the schedule in the sampler name ("DPM++ 2M Karras").
_LEGACY_SUFFIXES = {" Karras": "Karras", " Exponential": "Exponential"}


def sampler_names() -> list[str]:
    return [name for name, spec in SAMPLERS.items() if spec.available()]


def schedule_type_names() -> list[str]:
    return [name for name, schedule in SCHEDULE_TYPES.items() if schedule.available()]


def normalize(sampler_name: str, schedule: str = "Automatic") -> tuple[str, str]:
    """Resolve aliases ("PNDM") and legacy combined names ("DPM++ 2M Karras") to (sampler, schedule)."""
    for spec in SAMPLERS.values():
        if sampler_name in spec.aliases:
            return spec.name, schedule
    if sampler_name not in SAMPLERS:
        for suffix, legacy_schedule in _LEGACY_SUFFIXES.items():
            base = sampler_name.removesuffix(suffix)
            if base != sampler_name and base in SAMPLERS and schedule in ("Automatic", legacy_schedule):
                return base, legacy_schedule
    return sampler_name, schedule


def _scheduler_class(spec: SamplerSpec) -> type:
    import diffusers

    return getattr(diffusers, spec.scheduler_class)


def _accepted_options(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self"}


def schedule_types_for(sampler_name: str) -> list[str]:
    """The schedule types the sampler's scheduler class can honour."""
    accepted = _accepted_options(_scheduler_class(SAMPLERS[sampler_name]))
    return [
        name
        for name, schedule in SCHEDULE_TYPES.items()
        if schedule.available() and set(schedule.options) <= accepted
    ]


def make_scheduler(sampler_name: str, schedule: str, base_config: Mapping[str, Any]):
    """A configured diffusers scheduler for the model's `base_config` (its scheduler_config).

    Raises RequestError naming `sampler_name` or `scheduler` with the valid choices.
    """
    sampler_name, schedule = normalize(sampler_name, schedule)
    if sampler_name not in SAMPLERS or not SAMPLERS[sampler_name].available():
        raise RequestError(
            "sampler_name", f"unknown sampler {sampler_name!r}; choose one of: {', '.join(sampler_names())}"
        )
    spec = SAMPLERS[sampler_name]
    valid = schedule_types_for(sampler_name)
    if schedule not in valid:
        raise RequestError(
            "scheduler",
            f"schedule type {schedule!r} does not apply to sampler {sampler_name!r}; choose one of: {', '.join(valid)}",
        )
    cls = _scheduler_class(spec)
    accepted = _accepted_options(cls)
    config = {k: v for k, v in dict(base_config).items() if not k.startswith("_") and k in accepted}
    config.update({k: v for k, v in spec.options.items() if k in accepted})
    config.update(SCHEDULE_TYPES[schedule].options)
    return cls.from_config(config)
