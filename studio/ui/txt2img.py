"""The Text to image tab: the generation form on the left, the output panel on the right."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.ui.backend import UIBackend
from studio.ui.controls import GenerationForm, build_parameters, build_prompt_row
from studio.ui.output import OutputPanel, SessionJobs, build_output_panel, wire_generation
from studio.ui.scripts_area import ScriptArea, build_script_area

PREFIX = "txt2img"


@dataclass
class Txt2ImgTab:
    form: GenerationForm
    output: OutputPanel
    scripts: ScriptArea


def build_txt2img_tab(backend: UIBackend, sessions: SessionJobs) -> Txt2ImgTab:
    form = GenerationForm(prefix=PREFIX)
    build_prompt_row(form)
    with gr.Row(elem_classes="atelier-main"):
        with gr.Column(scale=5):
            build_parameters(backend, form)
            script_area = build_script_area(backend.scripts(PREFIX), PREFIX, backend.axis_value_choices)
        with gr.Column(scale=4):
            output = build_output_panel(PREFIX)
    wire_generation(
        backend,
        form,
        output,
        sessions,
        extra_inputs=script_area.inputs,
        extra_fields=lambda data: {
            "save_images": backend.config.samples_save,
            "clip_skip": backend.config.clip_skip,
            **script_area.request_fields(data),
        },
    )
    return Txt2ImgTab(form=form, output=output, scripts=script_area)
