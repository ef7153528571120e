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


# Names and aliases as A1111 1.9+ lists them (modules/sd_samplers_kdiffusion.py,
# sd_samplers_timesteps.py, sd_samplers_lcm.py); "PNDM" is diffusers' name for PLMS.
BUILTIN_SAMPLERS: tuple[SamplerSpec, ...] = (
    SamplerSpec(
        "DPM++ 2M",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
        aliases=("k_dpmpp_2m",),
    ),
    SamplerSpec(
        "DPM++ 2M SDE",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
        aliases=("k_dpmpp_2m_sde",),
    ),
    SamplerSpec(
        "DPM++ 3M SDE",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
        aliases=("k_dpmpp_3m_sde",),
    ),
    SamplerSpec(
        "DPM++ 2M SDE Heun",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "heun"},
        aliases=("k_dpmpp_2m_sde_heun",),
    ),
    SamplerSpec("DPM++ SDE", "DPMSolverSDEScheduler", {}, requires=("torchsde",), aliases=("k_dpmpp_sde",)),
    SamplerSpec(
        "DPM++ 2S a",
        "DPMSolverSinglestepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
        aliases=("k_dpmpp_2s_a",),
    ),
    SamplerSpec("Euler a", "EulerAncestralDiscreteScheduler", aliases=("k_euler_a", "k_euler_ancestral")),
    SamplerSpec("Euler", "EulerDiscreteScheduler", aliases=("k_euler",)),
    SamplerSpec("LMS", "LMSDiscreteScheduler", requires=("scipy",), aliases=("k_lms",)),
    SamplerSpec("Heun", "HeunDiscreteScheduler", aliases=("k_heun",)),
    SamplerSpec("DPM2", "KDPM2DiscreteScheduler", aliases=("k_dpm_2",)),
    SamplerSpec("DPM2 a", "KDPM2AncestralDiscreteScheduler", aliases=("k_dpm_2_a",)),
    SamplerSpec(
        "DDIM", "DDIMScheduler", {"set_alpha_to_one": False, "clip_sample": False}, aliases=("ddim",)
    ),
    SamplerSpec("DDPM", "DDPMScheduler", {"clip_sample": False}),
    SamplerSpec("PLMS", "PNDMScheduler", {"skip_prk_steps": True}, aliases=("plms", "PNDM")),
    SamplerSpec("UniPC", "UniPCMultistepScheduler", aliases=("unipc",)),
    SamplerSpec("DEIS", "DEISMultistepScheduler"),
    SamplerSpec("LCM", "LCMScheduler", aliases=("k_lcm",)),
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

# A1111 before 1.9 carried the schedule in the sampler's name, each with an alias of its own
# (modules/sd_samplers_kdiffusion.py of 1.8): name, alias -> sampler, schedule type.
LEGACY_SAMPLERS: tuple[tuple[str, str, str, str], ...] = (
    ("DPM++ 2M Karras", "k_dpmpp_2m_ka", "DPM++ 2M", "Karras"),
    ("DPM++ SDE Karras", "k_dpmpp_sde_ka", "DPM++ SDE", "Karras"),
    ("DPM++ 2M SDE Exponential", "k_dpmpp_2m_sde_exp", "DPM++ 2M SDE", "Exponential"),
    ("DPM++ 2M SDE Karras", "k_dpmpp_2m_sde_ka", "DPM++ 2M SDE", "Karras"),
    ("DPM++ 2M SDE Heun Karras", "k_dpmpp_2m_sde_heun_ka", "DPM++ 2M SDE Heun", "Karras"),
    ("DPM++ 2M SDE Heun Exponential", "k_dpmpp_2m_sde_heun_exp", "DPM++ 2M SDE Heun", "Exponential"),
    ("DPM++ 3M SDE Karras", "k_dpmpp_3m_sde_ka", "DPM++ 3M SDE", "Karras"),
    ("DPM++ 3M SDE Exponential", "k_dpmpp_3m_sde_exp", "DPM++ 3M SDE", "Exponential"),
    ("LMS Karras", "k_lms_ka", "LMS", "Karras"),
    ("DPM2 Karras", "k_dpm_2_ka", "DPM2", "Karras"),
    ("DPM2 a Karras", "k_dpm_2_a_ka", "DPM2 a", "Karras"),
    ("DPM++ 2S a Karras", "k_dpmpp_2s_a_ka", "DPM++ 2S a", "Karras"),
)


def _fold(name: str) -> str:
    """A name as A1111's lookups compare it: case, spaces and underscores do not count."""
    return "".join(ch for ch in name.lower() if ch.isalnum() or ch in "+.")


def schedule_type_spellings(label: str) -> tuple[str, ...]:
    """A schedule type's label and A1111's other spellings of it: "SGM Uniform", "sgm_uniform",
    "SGMUniform"."""
    return tuple(dict.fromkeys((label, label.lower().replace(" ", "_"), label.replace(" ", ""))))


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

    def _sampler_named(self, name: str) -> str | None:
        """The sampler a name or alias means, ignoring case and spacing ("k_euler_a", "euler a")."""
        if name in self._samplers:
            return name
        wanted = _fold(name)
        for spec in self._samplers.values():
            if wanted in (_fold(spec.name), *map(_fold, spec.aliases)):
                return spec.name
        return None

    def _schedule_named(self, name: str) -> str | None:
        if name in self._schedule_types:
            return name
        wanted = _fold(name)
        for label in self._schedule_types:
            if wanted in map(_fold, schedule_type_spellings(label)):
                return label
        return None

    def normalize(self, sampler_name: str, schedule: str = "Automatic") -> tuple[str, str]:
        """(sampler, schedule type) for any name A1111 accepts or once did: aliases ("k_euler_a",
        "PNDM"), other spellings ("euler a", "karras", "sgm_uniform"), and the combined names of
        A1111 before 1.9 ("DPM++ 2M Karras", "k_dpmpp_2m_ka"), split as A1111 1.9+ splits them.

        A combined name's schedule applies when `schedule` is Automatic or the same; a name
        nothing matches comes back as it was, for the validation to name it."""
        if not isinstance(sampler_name, str) or not isinstance(schedule, str):
            return sampler_name, schedule
        schedule = self._schedule_named(schedule) or schedule
        sampler = self._sampler_named(sampler_name)
        if sampler is not None:
            return sampler, schedule
        wanted = _fold(sampler_name)
        split: tuple[str, str] | None = None
        for legacy_name, alias, base, legacy_schedule in LEGACY_SAMPLERS:
            if wanted in (_fold(legacy_name), _fold(alias)) and base in self._samplers:
                split = (base, legacy_schedule)
                break
        if split is None:
            for label in self._schedule_types:
                for spelling in schedule_type_spellings(label):
                    suffix = " " + spelling
                    if sampler_name.lower().endswith(suffix.lower()):
                        base = self._sampler_named(sampler_name[: -len(suffix)])
                        if base is not None:
                            split = (base, label)
                            break
                if split is not None:
                    break
        if split is not None and schedule in ("Automatic", split[1]):
            return split
        return sampler_name, schedule

    def aliases(self, sampler_name: str) -> list[str]:
        """Every other name the sampler is known by: its aliases, then the A1111 < 1.9 combined
        names and aliases that mean it with a schedule type (as `/sdapi/v1/samplers` lists them)."""
        spec = self._samplers[sampler_name]
        legacy = [
            name
            for legacy_name, alias, base, schedule in LEGACY_SAMPLERS
            if base == spec.name and schedule in self._schedule_types
            for name in (legacy_name, alias)
        ]
        return [*spec.aliases, *legacy]

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
