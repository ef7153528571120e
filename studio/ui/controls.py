"""The generation form shared by the txt2img and img2img tabs, and its mapping to a request.

`GenerationForm.fields` maps `GenerationRequest` field names to the widgets that edit them, so
building a request is `replace(GenerationRequest(), **values)` and loading parameters back (from
History, PNG Info or "reuse seed") is a dict of field name -> value. No generation happens here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from studio.request import FACE_RESTORERS, GenerationRequest
from studio.ui.backend import UIBackend
from studio.ui.model_family import CURRENT_MODEL, bind_model_change, build_family_controls, model_info
from studio.ui.token_counter import build_token_counter, wire_token_counters

AUTOMATIC_VAE = "Automatic"
SAME_CHECKPOINT = "Use same checkpoint"  # hires fix: the second pass on the first pass's checkpoint
NO_VAE = "None"

# Fields the form saves in the browser and restores after a reload (no images).
PERSISTED_FIELDS = (
    "prompt",
    "negative_prompt",
    "styles",
    "sampler_name",
    "scheduler",
    "steps",
    "cfg_scale",
    "width",
    "height",
    "seed",
    "n_iter",
    "batch_size",
    "denoising_strength",
    "model",
    "vae",
)


@dataclass
class GenerationForm:
    """The widgets of one tab's form, keyed by GenerationRequest field name."""

    prefix: str
    fields: dict[str, gr.components.Component] = field(default_factory=dict)
    generate: gr.Button | None = None
    interrupt: gr.Button | None = None
    skip: gr.Button | None = None
    reuse_seed: gr.Button | None = None
    token_counters: dict[str, gr.HTML] = field(default_factory=dict)  # under each prompt box

    @property
    def inputs(self) -> set[gr.components.Component]:
        return set(self.fields.values())

    def values(self, data: Mapping[gr.components.Component, Any]) -> dict[str, Any]:
        """Field name -> value from a Gradio dict-of-inputs call."""
        return {name: data[widget] for name, widget in self.fields.items() if widget in data}

    def updates(self, values: Mapping[str, Any]) -> dict[gr.components.Component, Any]:
        """Widget -> new value for the fields present in `values` (others untouched)."""
        return {self.fields[name]: value for name, value in values.items() if name in self.fields}

    @property
    def persisted(self) -> list[gr.components.Component]:
        return [self.fields[name] for name in PERSISTED_FIELDS if name in self.fields]


def request_from_values(values: Mapping[str, Any], **extra: Any) -> GenerationRequest:
    """A GenerationRequest from form values (widget types coerced: sliders give floats)."""
    data: dict[str, Any] = {}
    for name, value in values.items():
        if name in (
            "steps",
            "width",
            "height",
            "n_iter",
            "batch_size",
            "clip_skip",
            "mask_blur",
            "hr_second_pass_steps",
            "hr_resize_x",
            "hr_resize_y",
        ):
            data[name] = int(value)
        elif name == "seed":
            data[name] = int(value) if value not in (None, "") else -1
        elif name in ("cfg_scale", "denoising_strength", "hr_scale", "code_former_weight"):
            data[name] = float(value)
        elif name == "model":
            data[name] = None if value in (None, "", CURRENT_MODEL) else value
        elif name == "hr_checkpoint_name":
            data[name] = None if value in (None, "", SAME_CHECKPOINT) else value
        elif name == "vae":
            data[name] = None if value in (None, "", AUTOMATIC_VAE) else value
        elif name == "styles":
            data[name] = tuple(value or ())
        else:
            data[name] = value
    data.update(extra)
    return GenerationRequest(**data)


def _choice(value: str | None, choices: list[str]) -> str | None:
    if value in choices:
        return value
    return choices[0] if choices else None


def build_model_row(backend: UIBackend, prefix: str) -> tuple[gr.Dropdown, gr.Dropdown, gr.Button]:
    """Checkpoint and VAE pickers with a refresh button (they set the request's model/vae)."""
    with gr.Row(equal_height=True):
        checkpoints = [CURRENT_MODEL, *backend.checkpoints()]
        default = backend.config.default_model
        model = gr.Dropdown(
            checkpoints,
            value=_choice(default, checkpoints) if default else CURRENT_MODEL,
            label="Checkpoint",
            elem_id=f"{prefix}_model",
            allow_custom_value=True,
            scale=4,
        )
        vaes = [AUTOMATIC_VAE, NO_VAE, *backend.vaes()]
        vae = gr.Dropdown(vaes, value=AUTOMATIC_VAE, label="VAE", elem_id=f"{prefix}_vae", scale=2)
        refresh = gr.Button(
            "Refresh", elem_id=f"{prefix}_refresh_models", elem_classes="atelier-tool", scale=0
        )

    def on_refresh(current_model: str, current_vae: str) -> tuple[Any, Any]:
        backend.refresh_models()
        models = [CURRENT_MODEL, *backend.checkpoints()]
        vae_list = [AUTOMATIC_VAE, NO_VAE, *backend.vaes()]
        return (
            gr.update(choices=models, value=_choice(current_model, models)),
            gr.update(choices=vae_list, value=_choice(current_vae, vae_list)),
        )

    refresh.click(on_refresh, [model, vae], [model, vae], queue=False, show_progress="hidden")
    return model, vae, refresh


def build_prompt_row(form: GenerationForm, style_names: list[str]) -> None:
    """Prompt and negative prompt beside Generate / Interrupt / Skip and the Styles picker (full
    page width). Ctrl+Up/Down in a prompt box changes the weight of the selection (assets.py)."""
    prefix, f = form.prefix, form.fields
    with gr.Row():
        with gr.Column(scale=6):
            f["prompt"] = gr.Textbox(
                label="Prompt",
                lines=3,
                placeholder="Prompt (Ctrl+Enter to generate, Ctrl+Up/Down to weight the selection)",
                elem_id=f"{prefix}_prompt",
                elem_classes="atelier-prompt",
            )
            build_token_counter(form, "prompt")
            f["negative_prompt"] = gr.Textbox(
                label="Negative prompt",
                lines=2,
                elem_id=f"{prefix}_negative_prompt",
                elem_classes="atelier-prompt",
            )
            build_token_counter(form, "negative_prompt")
        with gr.Column(scale=2, min_width=220):
            form.generate = gr.Button(
                "Generate",
                variant="primary",
                elem_id=f"{prefix}_generate",
                elem_classes="atelier-generate",
            )
            with gr.Row():
                form.interrupt = gr.Button("Interrupt", elem_id=f"{prefix}_interrupt", size="sm")
                form.skip = gr.Button("Skip", elem_id=f"{prefix}_skip", size="sm")
            f["styles"] = gr.Dropdown(
                style_names,
                value=[],
                multiselect=True,
                label="Styles",
                info="applied on Generate, in this order",
                elem_id=f"{prefix}_styles",
            )


def build_parameters(backend: UIBackend, form: GenerationForm, *, img2img: bool = False) -> None:
    """Model, sampler, size, batch, CFG, (denoising for img2img) and seed widgets."""
    prefix, f = form.prefix, form.fields
    size = backend.default_size()
    defaults = GenerationRequest(width=size, height=size)
    f["model"], f["vae"], _ = build_model_row(backend, prefix)
    info = model_info(backend, f["model"].value)
    samplers = info.get("samplers") or backend.sampler_names()
    schedules = info.get("schedule_types") or backend.schedule_types()
    with gr.Row():
        f["sampler_name"] = gr.Dropdown(
            samplers,
            value=_choice(defaults.sampler_name, samplers),
            label="Sampling method",
            elem_id=f"{prefix}_sampler",
        )
        sampler = _choice(defaults.sampler_name, samplers)
        schedules = backend.schedule_types_for(sampler, f["model"].value) if sampler else schedules
        f["scheduler"] = gr.Dropdown(
            schedules,
            value=_choice(defaults.scheduler, schedules),
            label="Schedule type",
            elem_id=f"{prefix}_scheduler",
            # A value loaded with its sampler (PNG Info, a reload) may be outside the choices of
            # the sampler shown before; the sampler's change then narrows the choices and keeps it.
            allow_custom_value=True,
        )
        f["steps"] = gr.Slider(
            1, 150, value=defaults.steps, step=1, label="Sampling steps", elem_id=f"{prefix}_steps"
        )

    def schedules_for(sampler_name: str | None, current: str | None, model: str | None) -> Any:
        """Offer only the schedule types that apply to the chosen sampler (with the picked
        model: a flow-matching model's samplers take fewer); keep a valid choice."""
        choices = backend.schedule_types_for(sampler_name or "", model)
        return gr.update(
            choices=choices, value=current if current in choices else _choice("Automatic", choices)
        )

    f["sampler_name"].change(
        schedules_for,
        [f["sampler_name"], f["scheduler"], f["model"]],
        f["scheduler"],
        queue=False,
        show_progress="hidden",
    )
    with gr.Row(equal_height=True):
        with gr.Column(scale=4):
            f["width"] = gr.Slider(
                64, 2048, value=defaults.width, step=8, label="Width", elem_id=f"{prefix}_width"
            )
            f["height"] = gr.Slider(
                64, 2048, value=defaults.height, step=8, label="Height", elem_id=f"{prefix}_height"
            )
        swap = gr.Button("Swap", elem_id=f"{prefix}_swap_size", elem_classes="atelier-tool", scale=0)
        with gr.Column(scale=2):
            f["batch_size"] = gr.Slider(
                1, 8, value=1, step=1, label="Batch size", elem_id=f"{prefix}_batch_size"
            )
            f["n_iter"] = gr.Slider(
                1, 100, value=1, step=1, label="Batch count", elem_id=f"{prefix}_batch_count"
            )
    f["cfg_scale"] = gr.Slider(
        0, 30, value=defaults.cfg_scale, step=0.5, label="CFG scale", elem_id=f"{prefix}_cfg_scale"
    )
    with gr.Row(equal_height=True):
        f["restore_faces"] = gr.Checkbox(
            value=False, label="Restore faces", elem_id=f"{prefix}_restore_faces"
        )
        f["face_restoration_model"] = gr.Dropdown(
            list(FACE_RESTORERS),
            value="CodeFormer",
            label="Face restoration",
            elem_id=f"{prefix}_face_restoration_model",
        )
        f["code_former_weight"] = gr.Slider(
            0,
            1,
            value=0.5,
            step=0.01,
            label="CodeFormer weight (0 = maximum effect)",
            elem_id=f"{prefix}_code_former_weight",
        )
    family_label = build_family_controls(form, info)
    if img2img:
        f["denoising_strength"] = gr.Slider(
            0,
            1,
            value=defaults.denoising_strength,
            step=0.01,
            label="Denoising strength",
            elem_id=f"{prefix}_denoising",
        )
    with gr.Row(equal_height=True):
        f["seed"] = gr.Number(
            value=-1, label="Seed (-1 = random)", precision=0, elem_id=f"{prefix}_seed", scale=4
        )
        dice = gr.Button("Random", elem_id=f"{prefix}_random_seed", elem_classes="atelier-tool", scale=0)
        form.reuse_seed = gr.Button(
            "Last", elem_id=f"{prefix}_reuse_seed", elem_classes="atelier-tool", scale=0
        )

    swap.click(
        lambda w, h: (h, w),
        [f["width"], f["height"]],
        [f["width"], f["height"]],
        queue=False,
        show_progress="hidden",
    )
    dice.click(lambda: -1, None, f["seed"], queue=False, show_progress="hidden")
    bind_model_change(backend, form, family_label, info)
    wire_token_counters(backend, form, CURRENT_MODEL)


def values_from_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """Form values from parsed infotext (A1111 / SD.Next / Atelier key names), ignoring the rest."""
    lower = {str(key).lower(): value for key, value in params.items()}
    values: dict[str, Any] = {}

    def number(key: str, kind: type) -> Any:
        raw = lower.get(key)
        if raw in (None, ""):
            return None
        try:
            return kind(float(raw)) if kind is int else kind(raw)
        except (TypeError, ValueError):
            return None

    if "prompt" in lower:
        values["prompt"] = str(lower["prompt"])
    if isinstance(lower.get("styles array"), list):  # found in the prompt (A1111's PNG Info key)
        values["styles"] = [str(name) for name in lower["styles array"]]
    if "negative prompt" in lower:
        values["negative_prompt"] = str(lower["negative prompt"])
    if lower.get("sampler"):
        values["sampler_name"] = str(lower["sampler"])
    if lower.get("schedule type"):
        values["scheduler"] = str(lower["schedule type"])
    for key, name, kind in (
        ("steps", "steps", int),
        ("cfg scale", "cfg_scale", float),
        ("seed", "seed", int),
        ("denoising strength", "denoising_strength", float),
        ("batch size", "batch_size", int),
        # model families (the widgets show when the model's family has them)
        ("distilled cfg scale", "distilled_cfg_scale", float),
        ("shift", "flow_shift", float),
        ("skip layer guidance scale", "skip_layer_guidance_scale", float),
        ("refiner switch at", "refiner_switch_at", float),
        ("original size-1", "original_width", int),
        ("original size-2", "original_height", int),
        ("crop top left-1", "crop_left", int),
        ("crop top left-2", "crop_top", int),
    ):
        value = number(key, kind)
        if value is not None:
            values[name] = value
    width, height = number("size-1", int), number("size-2", int)
    size = lower.get("size")
    if (width is None or height is None) and isinstance(size, str) and "x" in size:
        try:
            width, height = (int(part) for part in size.lower().split("x", 1))
        except ValueError:
            width = height = None
    if width and height:
        values["width"], values["height"] = width, height
    values.update(hires_values(params))
    restorer = lower.get("face restoration")  # A1111 writes the restorer's name when it ran
    values["restore_faces"] = restorer in FACE_RESTORERS
    if restorer in FACE_RESTORERS:
        values["face_restoration_model"] = restorer
    if lower.get("model"):
        values["model_name"] = str(lower["model"])
    if lower.get("model hash"):
        values["model_hash"] = str(lower["model hash"])
    return values


def hires_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """The Hires. fix controls' values from parsed infotext (A1111's keys); an infotext without
    Hires keys turns hires fix off, as A1111's paste does. Unreadable numbers are skipped."""
    from studio.infotext import request_fields

    keys = (
        "Hires upscale",
        "Hires steps",
        "Hires upscaler",
        "Hires resize-1",
        "Hires resize-2",
        "Hires checkpoint",
    )
    hires = {key: str(params[key]) for key in keys if key in params}
    try:
        fields = request_fields(hires)
    except ValueError:
        fields = {}
    names = ("hr_scale", "hr_second_pass_steps", "hr_upscaler", "hr_resize_x", "hr_resize_y")
    values: dict[str, Any] = {name: fields[name] for name in names if name in fields}
    values["enable_hr"] = bool(fields.get("enable_hr"))
    values["hr_checkpoint_name"] = fields.get("hr_checkpoint_name") or SAME_CHECKPOINT
    return values


def resolve_model(values: dict[str, Any], checkpoints: list[str]) -> dict[str, Any]:
    """Turn infotext 'Model'/'Model hash' into a checkpoint title the picker knows, if any."""
    name = values.pop("model_name", None)
    model_hash = values.pop("model_hash", None)
    for title in checkpoints:
        if model_hash and f"[{model_hash}" in title:
            values["model"] = title
            return values
    for title in checkpoints:
        if name and title.split(" [")[0] == name:
            values["model"] = title
            return values
    return values
