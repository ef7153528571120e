"""The Extras tab: upscale an image by a factor or to a size, with one upscaler or two
blended (A1111's Extras "Single image"); the image keeps its infotext."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from studio.extras import ExtrasSettings
from studio.request import RequestError
from studio.ui.backend import UIBackend

SCALE_BY, SCALE_TO = "Scale by", "Scale to"


@dataclass
class ExtrasTab:
    source: gr.Image
    result: gr.Image
    info: gr.HTML
    run: gr.Button


def run_extras(backend: UIBackend, image: Image.Image | None, values: dict[str, Any]) -> tuple[Any, str]:
    """(the upscaled image, an HTML line) or (None, the error) for the tab's values."""
    if image is None:
        return None, "<p>Drop an image first.</p>"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    settings = ExtrasSettings(
        resize_mode=0 if values["mode"] == SCALE_BY else 1,
        upscaling_resize=float(values["scale"]),
        upscaling_resize_w=int(values["width"]),
        upscaling_resize_h=int(values["height"]),
        upscaling_crop=bool(values["crop"]),
        upscaler_1=values["upscaler_1"],
        upscaler_2=values["upscaler_2"],
        extras_upscaler_2_visibility=float(values["visibility"]),
    )
    try:
        png, text = backend.extras(buffer.getvalue(), settings)
    except RequestError as error:
        return None, f"<p class='atelier-error'>{error}</p>"
    return Image.open(io.BytesIO(png)), f"<p>{text}</p>"


def build_extras_tab(backend: UIBackend) -> ExtrasTab:
    upscalers = [name for name in backend.upscaler_names() if not name.startswith("Latent")]
    with gr.Row():
        with gr.Column():
            source = gr.Image(label="Source", type="pil", elem_id="extras_image", height=300)
            mode = gr.Radio(
                [SCALE_BY, SCALE_TO], value=SCALE_BY, label="Resize", elem_id="extras_resize_mode"
            )
            scale = gr.Slider(1, 8, value=2, step=0.05, label="Resize", elem_id="extras_upscaling_resize")
            with gr.Row():
                width = gr.Slider(
                    64, 8192, value=512, step=8, label="Width", elem_id="extras_upscaling_resize_w"
                )
                height = gr.Slider(
                    64, 8192, value=512, step=8, label="Height", elem_id="extras_upscaling_resize_h"
                )
                crop = gr.Checkbox(value=True, label="Crop to fit", elem_id="extras_upscaling_crop")
            with gr.Row():
                upscaler_1 = gr.Dropdown(
                    upscalers, value="None", label="Upscaler 1", elem_id="extras_upscaler_1"
                )
                upscaler_2 = gr.Dropdown(
                    upscalers, value="None", label="Upscaler 2", elem_id="extras_upscaler_2"
                )
                visibility = gr.Slider(
                    0,
                    1,
                    value=0,
                    step=0.001,
                    label="Upscaler 2 visibility",
                    elem_id="extras_upscaler_2_visibility",
                )
            run = gr.Button("Generate", variant="primary", elem_id="extras_generate")
        with gr.Column():
            result = gr.Image(
                label="Result", type="pil", interactive=False, elem_id="extras_result", format="png"
            )
            info = gr.HTML(elem_id="extras_info")
    inputs = [source, mode, scale, width, height, crop, upscaler_1, upscaler_2, visibility]
    names = ["image", "mode", "scale", "width", "height", "crop", "upscaler_1", "upscaler_2", "visibility"]

    def on_run(*args: Any) -> tuple[Any, str]:
        values = dict(zip(names, args, strict=True))
        return run_extras(backend, values.pop("image"), values)

    run.click(on_run, inputs, [result, info], concurrency_limit=1)
    return ExtrasTab(source=source, result=result, info=info, run=run)
