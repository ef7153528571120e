"""ControlNet units under a generation form: per unit an image, Enable, a preprocessor with a
Preview (the same preprocessors `/controlnet/detect` runs), the model, weight, guidance start and
end, control mode and resize mode. Enabled units go into `GenerationRequest.controlnet_units`."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from studio.config import StudioConfig
from studio.controlnet import models as controlnet_models
from studio.controlnet import preprocessors
from studio.controlnet.units import CONTROL_MODES, RESIZE_MODES, ControlNetUnit, check_unit
from studio.request import RequestError

UNIT_COUNT = 2


@dataclass
class UnitControls:
    enable: gr.Checkbox
    image: gr.Image
    module: gr.Dropdown
    model: gr.Dropdown
    weight: gr.Slider
    guidance_start: gr.Slider
    guidance_end: gr.Slider
    control_mode: gr.Radio
    resize_mode: gr.Radio
    pixel_perfect: gr.Checkbox
    preview: gr.Image

    @property
    def inputs(self) -> list[Any]:
        return [
            self.enable,
            self.image,
            self.module,
            self.model,
            self.weight,
            self.guidance_start,
            self.guidance_end,
            self.control_mode,
            self.resize_mode,
            self.pixel_perfect,
        ]


@dataclass
class ControlNetArea:
    units: list[UnitControls] = field(default_factory=list)

    @property
    def inputs(self) -> set[Any]:
        return {widget for unit in self.units for widget in unit.inputs}

    def request_fields(self, data: Mapping[Any, Any]) -> dict[str, Any]:
        """`{"controlnet_units": (...)}` for the enabled units, else `{}`; RequestError names a bad one."""
        units = []
        for index, controls in enumerate(self.units):
            if not data.get(controls.enable):
                continue
            image = data.get(controls.image)
            unit = ControlNetUnit(
                image=_png(image) if image is not None else None,
                module=data[controls.module],
                model=data.get(controls.model) or "None",
                weight=float(data[controls.weight]),
                resize_mode=data[controls.resize_mode],
                guidance_start=float(data[controls.guidance_start]),
                guidance_end=float(data[controls.guidance_end]),
                control_mode=data[controls.control_mode],
                pixel_perfect=bool(data[controls.pixel_perfect]),
            )
            check_unit(unit, f"ControlNet Unit {index}")
            units.append(unit.to_json())
        return {"controlnet_units": tuple(units)} if units else {}


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def preview(config: StudioConfig, image: Any, module: str) -> Any:
    if image is None:
        raise gr.Error("Upload an image to the unit first")
    annotators = config.models_path / controlnet_models.FOLDER / controlnet_models.ANNOTATORS
    try:
        return preprocessors.run(module, image, 512, -1, -1, annotators, allow_pickle=config.allow_pickle)
    except RequestError as error:
        raise gr.Error(str(error)) from error


def build_controlnet_area(config: StudioConfig, prefix: str) -> ControlNetArea:
    area = ControlNetArea()

    def model_titles() -> list[str]:
        return [m.title for m in controlnet_models.scan(config.models_path, config.allow_pickle)]

    with gr.Accordion("ControlNet", open=False, elem_id=f"{prefix}_controlnet"):
        for index in range(UNIT_COUNT):
            unit_id = f"{prefix}_controlnet_unit{index}"
            with gr.Tab(f"ControlNet Unit {index}", elem_id=unit_id):
                with gr.Row():
                    image = gr.Image(
                        type="pil", label="Control image", elem_id=f"{unit_id}_image", height=240
                    )
                    detected = gr.Image(
                        type="pil",
                        label="Preprocessor preview",
                        elem_id=f"{unit_id}_preview",
                        interactive=False,
                        height=240,
                    )
                enable = gr.Checkbox(False, label="Enable", elem_id=f"{unit_id}_enable")
                with gr.Row():
                    module = gr.Dropdown(
                        preprocessors.module_names(),
                        value="none",
                        label="Preprocessor",
                        elem_id=f"{unit_id}_module",
                    )
                    run_preview = gr.Button("Preview", elem_id=f"{unit_id}_run_preview", scale=0)
                    titles = model_titles()
                    model = gr.Dropdown(
                        titles, value=titles[0] if titles else None, label="Model", elem_id=f"{unit_id}_model"
                    )
                    refresh = gr.Button("Refresh", elem_id=f"{unit_id}_refresh", scale=0)
                weight = gr.Slider(
                    0.0, 2.0, value=1.0, step=0.05, label="Control Weight", elem_id=f"{unit_id}_weight"
                )
                with gr.Row():
                    start = gr.Slider(
                        0.0,
                        1.0,
                        value=0.0,
                        step=0.01,
                        label="Starting Control Step",
                        elem_id=f"{unit_id}_guidance_start",
                    )
                    end = gr.Slider(
                        0.0,
                        1.0,
                        value=1.0,
                        step=0.01,
                        label="Ending Control Step",
                        elem_id=f"{unit_id}_guidance_end",
                    )
                control_mode = gr.Radio(
                    list(CONTROL_MODES),
                    value="Balanced",
                    label="Control Mode",
                    elem_id=f"{unit_id}_control_mode",
                )
                resize_mode = gr.Radio(
                    list(RESIZE_MODES),
                    value="Crop and Resize",
                    label="Resize Mode",
                    elem_id=f"{unit_id}_resize_mode",
                )
                pixel_perfect = gr.Checkbox(False, label="Pixel Perfect", elem_id=f"{unit_id}_pixel_perfect")
            run_preview.click(lambda img, mod: preview(config, img, mod), [image, module], detected)
            refresh.click(lambda: gr.update(choices=model_titles()), None, model, queue=False)
            area.units.append(
                UnitControls(
                    enable,
                    image,
                    module,
                    model,
                    weight,
                    start,
                    end,
                    control_mode,
                    resize_mode,
                    pixel_perfect,
                    detected,
                )
            )
    return area
