"""The Image to image tab, with its inpaint sub-mode (sketch the mask or upload one)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.request import RequestError
from studio.ui.backend import UIBackend
from studio.ui.controlnet import build_controlnet_area
from studio.ui.controls import GenerationForm, build_parameters, build_prompt_row
from studio.ui.extra_networks import ExtraNetworksPanel, build_extra_networks, connect_checkpoint_cards
from studio.ui.images import mask_from_layers, png_bytes, uploaded_mask
from studio.ui.output import OutputPanel, SessionJobs, build_output_panel, wire_generation
from studio.ui.scripts_area import ScriptArea, build_script_area
from studio.ui.styles import StylesEditor, build_styles_editor

PREFIX = "img2img"
MODE_IMG2IMG = "Image to image"
MODE_INPAINT = "Inpaint"
EDITOR_LABELS = {
    MODE_IMG2IMG: "Image (drop or paste a picture)",
    MODE_INPAINT: "Image (paint over it: the painted area is inpainted)",
}
MASK_BRUSH = ("#ffffff", 0.5)  # (colour, opacity): any paint, however faint, is part of the mask
MASK_SKETCH = "Sketch on the image"
MASK_UPLOAD = "Upload a mask"
# GenerationRequest.inpainting_fill values, A1111's order
MASKED_CONTENT = ["fill", "original", "latent noise", "latent nothing"]
INPAINT_AREAS = ["Whole picture", "Only masked"]
MASK_MODES = ["Inpaint masked", "Inpaint not masked"]


@dataclass
class Img2ImgTab:
    form: GenerationForm
    output: OutputPanel
    scripts: ScriptArea
    mode: gr.Radio
    editor: gr.ImageEditor
    mask_source: gr.Radio
    mask_upload: gr.Image
    networks: ExtraNetworksPanel
    styles_editor: StylesEditor


def image_fields(
    mode: str,
    editor_value: Mapping[str, Any] | None,
    mask_source: str,
    mask_image: Any,
    mask_blur: float,
    masked_content: str,
    inpaint_area: str,
    padding: float,
    mask_mode: str,
) -> dict[str, Any]:
    """The request's image fields from the widgets' values; RequestError if an image is missing."""
    editor_value = editor_value or {}
    background = editor_value.get("background")
    if background is None:
        raise RequestError("init_images", "drop an image into the image to image canvas first")
    if mode != MODE_INPAINT:
        composite = editor_value.get("composite") or background
        return {"init_images": (png_bytes(composite.convert("RGB")),)}
    size = background.size
    if mask_source == MASK_UPLOAD:
        if mask_image is None:
            raise RequestError("mask", "upload a mask image, or choose to sketch it")
        mask = uploaded_mask(mask_image, size)
    else:
        mask = mask_from_layers(editor_value.get("layers") or [], size)
        if mask is None:
            raise RequestError("mask", "paint the area to inpaint on the image first")
    return {
        "init_images": (png_bytes(background.convert("RGB")),),
        "mask": png_bytes(mask),
        "mask_blur": int(mask_blur),
        "inpainting_fill": MASKED_CONTENT.index(masked_content),
        "inpaint_full_res": inpaint_area == INPAINT_AREAS[1],
        "inpaint_full_res_padding": int(padding),
        "inpainting_mask_invert": MASK_MODES.index(mask_mode),
    }


def build_img2img_tab(backend: UIBackend, sessions: SessionJobs) -> Img2ImgTab:
    form = GenerationForm(prefix=PREFIX)
    build_prompt_row(form, [style.name for style in backend.styles()])
    networks = build_extra_networks(backend, PREFIX)
    styles_editor = build_styles_editor(backend, PREFIX)
    with gr.Row(elem_classes="atelier-main"):
        with gr.Column(scale=5):
            mode = gr.Radio(
                [MODE_IMG2IMG, MODE_INPAINT], value=MODE_IMG2IMG, label="Mode", elem_id="img2img_mode"
            )
            editor = gr.ImageEditor(
                label=EDITOR_LABELS[MODE_IMG2IMG],
                type="pil",
                image_mode="RGBA",
                sources=("upload", "clipboard"),
                elem_id="img2img_image",
                height=420,
                layers=False,
                # Translucent, as A1111's: the picture stays visible under the mask being painted.
                brush=gr.Brush(colors=[MASK_BRUSH], color_mode="fixed", default_size=24),
            )
            with gr.Group(visible=False) as inpaint_group:
                mask_source = gr.Radio(
                    [MASK_SKETCH, MASK_UPLOAD], value=MASK_SKETCH, label="Mask", elem_id="img2img_mask_source"
                )
                mask_upload = gr.Image(
                    label="Mask (white = inpaint)",
                    type="pil",
                    visible=False,
                    sources=("upload", "clipboard"),
                    elem_id="img2img_mask_upload",
                    height=240,
                )
                with gr.Row():
                    mask_blur = gr.Slider(
                        0, 64, value=4, step=1, label="Mask blur", elem_id="img2img_mask_blur"
                    )
                    padding = gr.Slider(
                        0, 256, value=32, step=4, label="Only masked padding, px", elem_id="img2img_padding"
                    )
                mask_mode = gr.Radio(
                    MASK_MODES, value=MASK_MODES[0], label="Mask mode", elem_id="img2img_mask_mode"
                )
                masked_content = gr.Radio(
                    MASKED_CONTENT, value="original", label="Masked content", elem_id="img2img_masked_content"
                )
                inpaint_area = gr.Radio(
                    INPAINT_AREAS,
                    value=INPAINT_AREAS[0],
                    label="Inpaint area",
                    elem_id="img2img_inpaint_area",
                )
            build_parameters(backend, form, img2img=True)
            controlnet = build_controlnet_area(backend.config, PREFIX)
            script_area = build_script_area(backend.scripts(PREFIX), PREFIX, backend.axis_value_choices)
        with gr.Column(scale=4):
            output = build_output_panel(PREFIX)
    connect_checkpoint_cards(networks, backend, form)

    mode.change(
        lambda m: (gr.update(visible=m == MODE_INPAINT), gr.update(label=EDITOR_LABELS[m])),
        mode,
        [inpaint_group, editor],
        queue=False,
        show_progress="hidden",
    )
    mask_source.change(
        lambda s: gr.update(visible=s == MASK_UPLOAD),
        mask_source,
        mask_upload,
        queue=False,
        show_progress="hidden",
    )
    image_widgets = [
        mode,
        editor,
        mask_source,
        mask_upload,
        mask_blur,
        masked_content,
        inpaint_area,
        padding,
        mask_mode,
    ]

    def extra_fields(data: Mapping[Any, Any]) -> dict[str, Any]:
        fields = image_fields(*(data[widget] for widget in image_widgets))
        return {
            "save_images": backend.config.samples_save,
            "clip_skip": backend.config.clip_skip,
            **fields,
            **script_area.request_fields(data),
            **controlnet.request_fields(data),
        }

    wire_generation(
        backend,
        form,
        output,
        sessions,
        extra_inputs=set(image_widgets) | script_area.inputs | controlnet.inputs,
        extra_fields=extra_fields,
    )
    return Img2ImgTab(
        form=form,
        output=output,
        scripts=script_area,
        mode=mode,
        editor=editor,
        mask_source=mask_source,
        mask_upload=mask_upload,
        networks=networks,
        styles_editor=styles_editor,
    )
