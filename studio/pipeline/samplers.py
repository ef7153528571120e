"""A1111 sampler names and schedule types -> diffusers scheduler classes and their config.

A `SamplerSpec` names a diffusers scheduler class and the config overrides that make it behave
like the A1111/k-diffusion sampler of that name. Schedule types (A1111's "Schedule type"
dropdown) are config overrides applied on top, where the scheduler class supports the option.
A `SamplerRegistry` holds the samplers and schedule types of one studio: the built-in ones
(`BUILTIN_SAMPLERS`, `BUILTIN_SCHEDULE_TYPES`) and those of extensions, all added through the
`register_samplers` hook (`studio.scripts.registries` builds it).
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
    # an attribute name of the `diffusers` package, or a scheduler class (an extension's own)
    scheduler_class: str | type
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


BUILTIN_SAMPLERS: tuple[SamplerSpec, ...] = (
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
    SamplerSpec("LMS", "LMSDiscreteScheduler", requires=("scipy",)),
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
)
BUILTIN_SCHEDULE_TYPES: tuple[ScheduleType, ...] = (
    ScheduleType("Automatic"),
    ScheduleType("Uniform", {"timestep_spacing": "linspace"}),
    ScheduleType("Karras", {"use_karras_sigmas": True}),
    ScheduleType("Exponential", {"use_exponential_sigmas": True}),
    ScheduleType("Beta", {"use_beta_sigmas": True}, requires=("scipy",)),
    ScheduleType("SGM Uniform", {"timestep_spacing": "trailing"}),
)

# Old A1111 names carried the schedule in the sampler name ("DPM++ 2M Karras").
_LEGACY_SUFFIXES = {" Karras": "Karras", " Exponential": "Exponential"}


def _scheduler_class(spec: SamplerSpec) -> type:
    if isinstance(spec.scheduler_class, type):
        return spec.scheduler_class
    import diffusers

    return getattr(diffusers, spec.scheduler_class)


def _accepted_options(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self"}


class SamplerRegistry:
    """The samplers and schedule types one studio offers, in the order they were added.

    Filled once per composition by the `register_samplers` hook (built-ins first, then each
    extension in load order); the engine asks it for names, resolves aliases and builds the
    scheduler of each batch from it.
    """

    def __init__(self) -> None:
        self._samplers: dict[str, SamplerSpec] = {}
        self._schedule_types: dict[str, ScheduleType] = {}

    def add(self, spec: SamplerSpec) -> None:
        """Add a sampler; a name (or alias) that is already taken is refused (ValueError)."""
        taken = set(self._samplers) | {alias for known in self._samplers.values() for alias in known.aliases}
        for name in (spec.name, *spec.aliases):
            if name in taken:
                raise ValueError(f"a sampler named {name!r} is already registered")
        self._samplers[spec.name] = spec

    def add_schedule_type(self, schedule: ScheduleType) -> None:
        """Add a schedule type; a name that is already taken is refused (ValueError)."""
        if schedule.name in self._schedule_types:
            raise ValueError(f"a schedule type named {schedule.name!r} is already registered")
        self._schedule_types[schedule.name] = schedule

    def get(self, name: str) -> SamplerSpec:
        """The sampler registered as `name` (KeyError when there is none)."""
        return self._samplers[name]

    def schedule_type(self, name: str) -> ScheduleType:
        """The schedule type registered as `name` (KeyError when there is none)."""
        return self._schedule_types[name]

    def sampler_names(self) -> list[str]:
        """The samplers that can run here (their `requires` are importable)."""
        return [name for name, spec in self._samplers.items() if spec.available()]

    def schedule_type_names(self) -> list[str]:
        return [name for name, schedule in self._schedule_types.items() if schedule.available()]

    def normalize(self, sampler_name: str, schedule: str = "Automatic") -> tuple[str, str]:
        """Resolve aliases ("PNDM") and legacy combined names ("DPM++ 2M Karras") to (sampler, schedule)."""
        for spec in self._samplers.values():
            if sampler_name in spec.aliases:
                return spec.name, schedule
        if sampler_name not in self._samplers:
            for suffix, legacy_schedule in _LEGACY_SUFFIXES.items():
                base = sampler_name.removesuffix(suffix)
                if (
                    base != sampler_name
                    and base in self._samplers
                    and schedule in ("Automatic", legacy_schedule)
                ):
                    return base, legacy_schedule
        return sampler_name, schedule

    def schedule_types_for(self, sampler_name: str) -> list[str]:
        """The schedule types the sampler's scheduler class can honour."""
        accepted = _accepted_options(_scheduler_class(self._samplers[sampler_name]))
        return [
            name
            for name, schedule in self._schedule_types.items()
            if schedule.available() and set(schedule.options) <= accepted
        ]

    def make_scheduler(self, sampler_name: str, schedule: str, base_config: Mapping[str, Any]) -> Any:
        """A configured diffusers scheduler for the model's `base_config` (its scheduler_config).

        Raises RequestError naming `sampler_name` or `scheduler` with the valid choices.
        """
        sampler_name, schedule = self.normalize(sampler_name, schedule)
        if sampler_name not in self._samplers or not self._samplers[sampler_name].available():
            raise RequestError(
                "sampler_name",
                f"unknown sampler {sampler_name!r}; choose one of: {', '.join(self.sampler_names())}",
            )
        spec = self._samplers[sampler_name]
        valid = self.schedule_types_for(sampler_name)
        if schedule not in valid:
            raise RequestError(
                "scheduler",
                f"schedule type {schedule!r} does not apply to sampler {sampler_name!r}; choose one of: {', '.join(valid)}",
            )
        cls = _scheduler_class(spec)
        accepted = _accepted_options(cls)
        config = {k: v for k, v in dict(base_config).items() if not k.startswith("_") and k in accepted}
        config.update({k: v for k, v in spec.options.items() if k in accepted})
        config.update(self._schedule_types[schedule].options)
        return cls.from_config(config)
