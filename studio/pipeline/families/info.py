"""What the forms and `/studio/v1/models` need to know of a checkpoint, read from its keys or
configs without loading it. No torch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from studio.pipeline.families import architecture_of, family_of, sampler_context
from studio.pipeline.samplers import SamplerRegistry

if TYPE_CHECKING:
    from studio.pipeline.model_registry import ModelEntry


def describe_model(
    entry: ModelEntry, checkpoints: Iterable[ModelEntry], samplers: SamplerRegistry
) -> dict[str, Any]:
    """Its family and architecture, native size, the samplers and schedule types it runs with,
    its defaults, the family-only request fields it honours, and for SDXL the checkpoints
    (among `checkpoints`) it can take as refiner."""
    from studio.pipeline.model_registry import native_size

    family, architecture = family_of(entry.architecture), architecture_of(entry.architecture)
    if family is None or architecture is None:
        return {"title": entry.title, "family": "unknown", "family_label": entry.architecture, "fields": []}
    names = samplers.sampler_names(sampler_context(family))
    schedules = list(
        dict.fromkeys(s for name in names for s in samplers.schedule_types_for(name, family.flow))
    )
    fields = set(family.fields)
    if "refiner_checkpoint" in fields:
        fields.add("refiner_switch_at")
    if architecture.name == "flux-schnell":
        fields.discard("distilled_cfg_scale")  # schnell has no guidance input
    refiners = [
        other.title
        for other in checkpoints
        if family.refiner_family is not None and other.family in (family.refiner_family, family.name)
    ]
    return {
        "title": entry.title,
        "family": family.name,
        "family_label": family.label,
        "flow": family.flow,
        "architecture": architecture.name,
        "architecture_label": architecture.label,
        "native_size": native_size(entry),
        "samplers": names,
        "schedule_types": schedules,
        "defaults": {
            "steps": int(architecture.defaults.get("default_steps", family.default_steps)),
            "cfg_scale": float(architecture.defaults.get("default_cfg", family.default_cfg)),
            "sampler_name": family.default_sampler,
            "scheduler": "Automatic",
        },
        "fields": sorted(fields),
        "refiners": refiners,
        "memory": family.memory,
    }
