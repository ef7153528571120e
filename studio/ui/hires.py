"""The txt2img tab's Hires. fix controls (A1111's names and ranges), keyed by request field."""

from __future__ import annotations

import gradio as gr

from studio.ui.backend import UIBackend
from studio.ui.controls import SAME_CHECKPOINT, GenerationForm


def build_hires_controls(backend: UIBackend, form: GenerationForm) -> None:
    prefix = form.prefix
    f = form.fields
    upscalers = backend.upscaler_names()
    with gr.Accordion("Hires. fix", open=False, elem_id=f"{prefix}_hr"):
        f["enable_hr"] = gr.Checkbox(value=False, label="Hires. fix", elem_id=f"{prefix}_enable_hr")
        with gr.Row(equal_height=True):
            f["hr_upscaler"] = gr.Dropdown(
                upscalers,
                value="Latent" if "Latent" in upscalers else upscalers[0],
                label="Upscaler",
                elem_id=f"{prefix}_hr_upscaler",
            )
            f["hr_second_pass_steps"] = gr.Slider(
                0,
                150,
                value=0,
                step=1,
                label="Hires steps (0: same as sampling)",
                elem_id=f"{prefix}_hires_steps",
            )
            f["denoising_strength"] = gr.Slider(
                0, 1, value=0.7, step=0.01, label="Denoising strength", elem_id=f"{prefix}_denoising_strength"
            )
        with gr.Row(equal_height=True):
            f["hr_scale"] = gr.Slider(
                1, 4, value=2, step=0.05, label="Upscale by", elem_id=f"{prefix}_hr_scale"
            )
            f["hr_resize_x"] = gr.Slider(
                0, 2048, value=0, step=8, label="Resize width to", elem_id=f"{prefix}_hr_resize_x"
            )
            f["hr_resize_y"] = gr.Slider(
                0, 2048, value=0, step=8, label="Resize height to", elem_id=f"{prefix}_hr_resize_y"
            )
        f["hr_checkpoint_name"] = gr.Dropdown(
            [SAME_CHECKPOINT, *backend.checkpoints()],
            value=SAME_CHECKPOINT,
            label="Hires checkpoint",
            allow_custom_value=True,  # a name pasted from an infotext
            elem_id=f"{prefix}_hires_checkpoint",
        )
