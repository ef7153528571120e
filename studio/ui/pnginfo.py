"""The PNG Info tab: drop any A1111 / SD.Next / Atelier PNG, read its generation parameters."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from studio.infotext import parse_infotext, read_png_infotext


@dataclass
class PngInfoTab:
    file: gr.File
    infotext: gr.Textbox
    parameters: gr.JSON
    image: gr.Image
    message: gr.Markdown
    send_txt2img: gr.Button
    send_img2img: gr.Button


def read_parameters(png: bytes) -> tuple[str, dict[str, Any]]:
    """The infotext of an image file and its parsed fields; ('', {}) when it has none."""
    text = read_png_infotext(png) or ""
    return text, (parse_infotext(text) if text else {})


def build_pnginfo_tab() -> PngInfoTab:
    with gr.Row():
        with gr.Column():
            file = gr.File(
                label="Drop a PNG here",
                file_types=["image"],
                type="binary",
                elem_id="pnginfo_file",
                height=160,
            )
            image = gr.Image(label="Image", interactive=False, elem_id="pnginfo_image", height=360)
        with gr.Column():
            infotext = gr.Textbox(
                label="Parameters", lines=6, interactive=False, elem_id="pnginfo_infotext", buttons=["copy"]
            )
            with gr.Row():
                send_txt2img = gr.Button("Send to txt2img", variant="primary", elem_id="pnginfo_send_txt2img")
                send_img2img = gr.Button("Send to img2img", elem_id="pnginfo_send_img2img")
            message = gr.Markdown("", elem_id="pnginfo_message")
            parameters = gr.JSON(label="Parsed", elem_id="pnginfo_parsed")

    def on_file(data: bytes | None) -> tuple[Any, ...]:
        if not data:
            return "", None, None, ""
        try:
            picture = Image.open(io.BytesIO(data))
            picture.load()
        except OSError:
            return "", None, None, "This file is not an image Atelier can read."
        text, parsed = read_parameters(data)
        if not text:
            return "", None, picture, "No generation parameters found in this image."
        return text, parsed, picture, ""

    file.change(on_file, file, [infotext, parameters, image, message], show_progress="hidden")
    return PngInfoTab(
        file=file,
        infotext=infotext,
        parameters=parameters,
        image=image,
        message=message,
        send_txt2img=send_txt2img,
        send_img2img=send_img2img,
    )
