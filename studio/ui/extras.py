"""The Extras tab: upscale an image by a factor or to a size, with one upscaler or two
blended (A1111's Extras "Single image"); the image keeps its infotext."""

from __future__ import annotations

import html
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import gradio as gr
from PIL import Image

from studio.extras import ExtrasSettings
from studio.request import RequestError
from studio.ui.backend import JobView, UIBackend

SCALE_BY, SCALE_TO = "Scale by", "Scale to"


@dataclass
class ExtrasTab:
    source: gr.Image
    result: gr.Image
    info: gr.HTML
    run: gr.Button
    cancel: gr.Button


def _settings(values: dict[str, Any]) -> ExtrasSettings:
    return ExtrasSettings(
        resize_mode=0 if values["mode"] == SCALE_BY else 1,
        upscaling_resize=float(values["scale"]),
        upscaling_resize_w=int(values["width"]),
        upscaling_resize_h=int(values["height"]),
        upscaling_crop=bool(values["crop"]),
        upscaler_1=values["upscaler_1"],
        upscaler_2=values["upscaler_2"],
        extras_upscaler_2_visibility=float(values["visibility"]),
        gfpgan_visibility=float(values["gfpgan_visibility"]),
        codeformer_visibility=float(values["codeformer_visibility"]),
        codeformer_weight=float(values["codeformer_weight"]),
        upscale_first=bool(values["upscale_first"]),
    )


def _status(view: JobView) -> str:
    if view.state == "queued":
        return f"<p>Queued: {view.position} job(s) ahead.</p>"
    return f"<p>Running: image {view.step} of {max(view.steps, 1)} done.</p>"


def run_extras(
    backend: UIBackend, image: Image.Image | None, values: dict[str, Any]
) -> Iterator[tuple[Any, str, str | None]]:
    """Queue the image as an `extras` job and follow it: (None, its state, its id) while it
    waits or runs, then (the upscaled image, the postprocessing text, id) or (None, the error, id)."""
    for image_out, text in _follow(backend, image, values):
        yield image_out, text, values.get("job_id")


def _follow(
    backend: UIBackend, image: Image.Image | None, values: dict[str, Any]
) -> Iterator[tuple[Any, str]]:
    if image is None:
        yield None, "<p>Drop an image first.</p>"
        return
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    try:
        job_id = backend.submit_extras(buffer.getvalue(), _settings(values))
    except RequestError as error:
        yield None, f"<p class='atelier-error'>{html.escape(str(error))}</p>"
        return
    values["job_id"] = job_id
    view = backend.job(job_id)
    while not view.finished:
        yield None, _status(view)
        view = backend.wait(job_id, 0.5)
    if view.state == "failed":
        yield None, f"<p class='atelier-error'>{html.escape(view.error or 'failed')}</p>"
        return
    if not view.images:
        yield None, f"<p>{view.state.capitalize()} before the image was done.</p>"
        return
    record = view.images[0]
    yield Image.open(io.BytesIO(record.png)), f"<p>{html.escape(record.infotext)}</p>"


def face_status(backend: UIBackend) -> str:
    """Which face restorers can run and which face detector they use (RetinaFace with landmark
    alignment, or the Haar cascade with axis-aligned crops and why), as HTML."""
    entries = backend.face_restorers()
    lines = []
    for entry in entries:
        if entry["available"]:
            file_name = PurePath(entry.get("model_path") or "").name
            lines.append(f"{entry['name']}: ready ({file_name})")
        else:
            lines.append(f"{entry['name']}: unavailable: {entry['reason']}")
    if entries:
        lines.append(f"Face detection: {entries[0]['detector_note']}")
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


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
            with gr.Row():
                gfpgan = gr.Slider(
                    0, 1, value=0, step=0.001, label="GFPGAN visibility", elem_id="extras_gfpgan_visibility"
                )
                codeformer = gr.Slider(
                    0,
                    1,
                    value=0,
                    step=0.001,
                    label="CodeFormer visibility",
                    elem_id="extras_codeformer_visibility",
                )
                codeformer_weight = gr.Slider(
                    0,
                    1,
                    value=0,
                    step=0.001,
                    label="CodeFormer weight (0 = maximum effect, 1 = minimum effect)",
                    elem_id="extras_codeformer_weight",
                )
                upscale_first = gr.Checkbox(
                    value=False, label="Upscale before restoring faces", elem_id="extras_upscale_first"
                )
            gr.HTML(lambda: face_status(backend), elem_id="extras_face_status")
            with gr.Row():
                run = gr.Button("Generate", variant="primary", elem_id="extras_generate")
                cancel = gr.Button("Cancel", elem_id="extras_cancel")
        with gr.Column():
            result = gr.Image(
                label="Result", type="pil", interactive=False, elem_id="extras_result", format="png"
            )
            info = gr.HTML(elem_id="extras_info")
    inputs = [
        source,
        mode,
        scale,
        width,
        height,
        crop,
        upscaler_1,
        upscaler_2,
        visibility,
        gfpgan,
        codeformer,
        codeformer_weight,
        upscale_first,
    ]
    names = [
        "image",
        "mode",
        "scale",
        "width",
        "height",
        "crop",
        "upscaler_1",
        "upscaler_2",
        "visibility",
        "gfpgan_visibility",
        "codeformer_visibility",
        "codeformer_weight",
        "upscale_first",
    ]
    job_id = gr.State(None)  # this page's last Extras job: what Cancel stops

    def on_run(*args: Any) -> Iterator[tuple[Any, str, str | None]]:
        values = dict(zip(names, args, strict=True))
        yield from run_extras(backend, values.pop("image"), values)

    def on_cancel(current: str | None) -> None:
        if current:
            backend.interrupt(current)

    run.click(on_run, inputs, [result, info, job_id], concurrency_limit=1)
    cancel.click(on_cancel, [job_id], None)
    return ExtrasTab(source=source, result=result, info=info, run=run, cancel=cancel)
