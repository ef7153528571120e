"""The form follows the selected model's family (docs/models.md).

Picking a checkpoint shows its family and native size, offers only the samplers and schedule
types it runs with, and shows the fields only its family has: Flux.1 dev's distilled CFG, the
shift of flow-matching models, SD 3.5's skip-layer guidance, SDXL's refiner and size
conditioning. When the family changes, size, steps, CFG and sampler start at the family's
defaults (Forge's presets do the same); within a family the user's values stay. A field the
selected family does not have is hidden and never sent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import gradio as gr

from studio.request import RequestError
from studio.ui.backend import UIBackend

CURRENT_MODEL = "(current)"  # the model picker's "the studio's current model" (controls.py)
NO_REFINER = "None"
# form field -> the value that means "not used" (what a hidden field sends: nothing)
FAMILY_FIELDS: dict[str, Any] = {
    "distilled_cfg_scale": None,
    "flow_shift": None,
    "skip_layer_guidance_scale": 0.0,
    "refiner_checkpoint": None,
    "refiner_switch_at": 0.8,
    "original_width": 0,
    "original_height": 0,
    "crop_left": 0,
    "crop_top": 0,
}
SDXL_SIZE_FIELDS = ("original_width", "original_height", "crop_left", "crop_top")


def model_info(backend: UIBackend, model: str | None) -> dict[str, Any]:
    """The backend's model info, or an empty one when there is no such model (yet)."""
    try:
        return backend.model_info(None if model in (None, "", CURRENT_MODEL) else model)
    except (RequestError, LookupError):
        return {"family": "unknown", "fields": [], "samplers": [], "schedule_types": []}


def describe(info: Mapping[str, Any]) -> str:
    if info.get("family", "unknown") == "unknown":
        return ""
    return f"**{info['architecture_label']}** ({info['family_label']} family) · native size {info['native_size']} px"


def build_family_controls(form: Any, info: Mapping[str, Any]) -> gr.Markdown:
    """The family line and the family-only fields (into `form.fields`), shown for `info`'s family."""
    prefix, f = form.prefix, form.fields
    fields = set(info.get("fields", ()))
    label = gr.Markdown(describe(info), elem_id=f"{prefix}_model_family")
    with gr.Row():
        f["distilled_cfg_scale"] = gr.Slider(
            0,
            30,
            value=3.5,
            step=0.1,
            label="Distilled CFG scale",
            elem_id=f"{prefix}_distilled_cfg",
            visible="distilled_cfg_scale" in fields,
        )
        f["flow_shift"] = gr.Slider(
            0,
            20,
            value=0,
            step=0.1,
            label="Shift (0: the model's own)",
            elem_id=f"{prefix}_flow_shift",
            visible="flow_shift" in fields,
        )
        f["skip_layer_guidance_scale"] = gr.Slider(
            0,
            10,
            value=0,
            step=0.1,
            label="Skip layer guidance (0: off)",
            elem_id=f"{prefix}_slg",
            visible="skip_layer_guidance_scale" in fields,
        )
    with gr.Row():
        refiners = [NO_REFINER, *info.get("refiners", [])]
        f["refiner_checkpoint"] = gr.Dropdown(
            refiners,
            value=NO_REFINER,
            label="Refiner",
            elem_id=f"{prefix}_refiner",
            visible="refiner_checkpoint" in fields,
        )
        f["refiner_switch_at"] = gr.Slider(
            0.01,
            0.99,
            value=0.8,
            step=0.01,
            label="Switch at",
            elem_id=f"{prefix}_refiner_switch_at",
            visible="refiner_checkpoint" in fields,
        )
    with gr.Row():
        for name, text in zip(
            SDXL_SIZE_FIELDS, ("Original width", "Original height", "Crop left", "Crop top"), strict=True
        ):
            f[name] = gr.Number(
                value=0,
                precision=0,
                label=f"{text} (0: none)",
                elem_id=f"{prefix}_{name}",
                visible=name in fields,
                minimum=0,
            )
    return label


def family_values(values: Mapping[str, Any], fields: Collection[str]) -> dict[str, Any]:
    """The form values with every family field the model does not honour at its "not used"
    value, and the form's "off" values (shift 0, refiner None) as the request's."""
    out = dict(values)
    for name, unused in FAMILY_FIELDS.items():
        if name not in out:
            continue
        if name not in fields and not (name == "refiner_switch_at" and "refiner_checkpoint" in fields):
            out[name] = unused
        elif (name == "flow_shift" and not out[name]) or (
            name == "refiner_checkpoint" and out[name] in (None, "", NO_REFINER)
        ):
            out[name] = None
        elif name in SDXL_SIZE_FIELDS:
            out[name] = int(out[name] or 0)
        elif (
            name in ("distilled_cfg_scale", "skip_layer_guidance_scale", "refiner_switch_at")
            and out[name] is not None
        ):
            out[name] = float(out[name])
    return out


def request_values(backend: UIBackend, values: Mapping[str, Any]) -> dict[str, Any]:
    """Form values ready for `request_from_values`: the family fields of the selected model."""
    if not any(name in values for name in FAMILY_FIELDS):
        return dict(values)
    model = values.get("model")
    info = model_info(backend, model)
    return family_values(values, info.get("fields", ()))


def bind_model_change(backend: UIBackend, form: Any, label: gr.Markdown, info: Mapping[str, Any]) -> None:
    """Follow the model picker: choices, family defaults (on a family change), visibility."""
    f = form.fields
    family = gr.State(info.get("family", "unknown"))
    outputs = [
        label,
        family,
        f["sampler_name"],
        f["scheduler"],
        f["width"],
        f["height"],
        f["steps"],
        f["cfg_scale"],
        *(f[name] for name in FAMILY_FIELDS),
    ]

    def on_change(model: str, previous: str, sampler: str, scheduler: str) -> list[Any]:
        info = model_info(backend, model)
        fields = set(info.get("fields", ()))
        changed = info.get("family") != previous and info.get("family") != "unknown"
        samplers = info.get("samplers") or backend.sampler_names()
        schedules = info.get("schedule_types") or backend.schedule_types()
        defaults = info.get("defaults", {})
        if changed:
            sampler = defaults.get("sampler_name", sampler)
        sampler = sampler if sampler in samplers else samplers[0]
        scheduler = scheduler if scheduler in schedules else schedules[0]
        keep = gr.update()
        size = gr.update(value=info["native_size"]) if changed else keep
        updates = [
            describe(info),
            info.get("family", "unknown"),
            gr.update(choices=samplers, value=sampler),
            gr.update(choices=schedules, value=scheduler),
            size,
            size,
            gr.update(value=defaults["steps"]) if changed else keep,
            gr.update(value=defaults["cfg_scale"]) if changed else keep,
        ]
        for name in FAMILY_FIELDS:
            shown = name in fields or (name == "refiner_switch_at" and "refiner_checkpoint" in fields)
            if name == "refiner_checkpoint":
                updates.append(
                    gr.update(
                        visible=shown, choices=[NO_REFINER, *info.get("refiners", [])], value=NO_REFINER
                    )
                )
            else:
                updates.append(gr.update(visible=shown))
        return updates

    f["model"].change(
        on_change,
        [f["model"], family, f["sampler_name"], f["scheduler"]],
        outputs,
        queue=False,
        show_progress="hidden",
    )
