"""The Text to image tab: the generation form on the left, the output panel on the right."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.ui.backend import UIBackend
from studio.ui.controlnet import ControlNetArea, build_controlnet_area
from studio.ui.controls import GenerationForm, build_parameters, build_prompt_row
from studio.ui.extra_networks import ExtraNetworksPanel, build_extra_networks, connect_checkpoint_cards
from studio.ui.hires import build_hires_controls
from studio.ui.output import OutputPanel, SessionJobs, build_output_panel, wire_generation
from studio.ui.scripts_area import ScriptArea, build_script_area
from studio.ui.styles import StylesEditor, build_styles_editor

PREFIX = "txt2img"


@dataclass
class Txt2ImgTab:
    form: GenerationForm
    output: OutputPanel
    scripts: ScriptArea
    networks: ExtraNetworksPanel
    styles_editor: StylesEditor
    controlnet: ControlNetArea


def build_txt2img_tab(backend: UIBackend, sessions: SessionJobs) -> Txt2ImgTab:
    form = GenerationForm(prefix=PREFIX)
    build_prompt_row(form, [style.name for style in backend.styles()])
    networks = build_extra_networks(backend, PREFIX)
    styles_editor = build_styles_editor(backend, PREFIX)
    with gr.Row(elem_classes="atelier-main"):
        with gr.Column(scale=5):
            build_parameters(backend, form)
            build_hires_controls(backend, form)
            controlnet = build_controlnet_area(backend.config, PREFIX)
            script_area = build_script_area(backend.scripts(PREFIX), PREFIX, backend.axis_value_choices)
        with gr.Column(scale=4):
            output = build_output_panel(PREFIX)
    connect_checkpoint_cards(networks, backend, form)
    wire_generation(
        backend,
        form,
        output,
        sessions,
        extra_inputs=script_area.inputs | controlnet.inputs,
        extra_fields=lambda data: {
            "save_images": backend.config.samples_save,
            "clip_skip": backend.config.clip_skip,
            **script_area.request_fields(data),
            **controlnet.request_fields(data),
        },
    )
    return Txt2ImgTab(
        form=form,
        output=output,
        scripts=script_area,
        networks=networks,
        styles_editor=styles_editor,
        controlnet=controlnet,
    )
