"""The Styles editor of a generation tab: pick a style to edit it, save, delete, take the text
from the tab's prompts, or import an A1111 styles.csv. The styles live in `styles.csv` in the
data dir (`studio.prompts.styles`); the Styles pickers of every tab follow each change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from studio.prompts.styles import PromptStyle
from studio.request import RequestError
from studio.ui.backend import UIBackend
from studio.ui.controls import GenerationForm


@dataclass
class StylesEditor:
    prefix: str
    name: gr.Dropdown
    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    save: gr.Button
    delete: gr.Button
    copy: gr.Button
    upload: gr.File
    message: gr.Markdown


def build_styles_editor(backend: UIBackend, prefix: str) -> StylesEditor:
    names = [style.name for style in backend.styles()]
    with gr.Accordion("Edit styles", open=False, elem_id=f"{prefix}_styles_editor"):
        with gr.Row(equal_height=True):
            name = gr.Dropdown(
                names,
                value=None,
                allow_custom_value=True,
                label="Style (pick one to edit, or type a new name)",
                elem_id=f"{prefix}_style_name",
                scale=4,
            )
            copy = gr.Button("From prompts", elem_id=f"{prefix}_style_copy", scale=1)
        prompt = gr.Textbox(
            label="Style prompt ({prompt} marks where the prompt goes; else it is added after it)",
            lines=2,
            elem_id=f"{prefix}_style_prompt",
        )
        negative_prompt = gr.Textbox(
            label="Style negative prompt", lines=1, elem_id=f"{prefix}_style_negative"
        )
        with gr.Row():
            save = gr.Button("Save style", variant="primary", elem_id=f"{prefix}_style_save")
            delete = gr.Button("Delete style", elem_id=f"{prefix}_style_delete")
        upload = gr.File(
            label="Import an A1111 styles.csv (merged: same names are replaced)",
            file_types=[".csv"],
            type="binary",
            elem_id=f"{prefix}_style_import",
            height=90,
        )
        message = gr.Markdown("", elem_id=f"{prefix}_style_message")
    return StylesEditor(prefix, name, prompt, negative_prompt, save, delete, copy, upload, message)


def wire_styles_editors(
    backend: UIBackend, editors: Sequence[StylesEditor], forms: Sequence[GenerationForm]
) -> None:
    """Each editor's events; every change refreshes every editor's names and every form's picker
    (a deleted style leaves the pickers' selections)."""
    pickers = [form.fields["styles"] for form in forms]
    name_boxes = [editor.name for editor in editors]

    def refreshed(message: str, selected: Sequence[Sequence[str]], current: str | None) -> list[Any]:
        names = [style.name for style in backend.styles()]
        return [
            message,
            *[gr.update(choices=names, value=current if current in names else None) for _ in name_boxes],
            *[
                gr.update(choices=names, value=[n for n in (values or []) if n in names])
                for values in selected
            ],
        ]

    for editor, form in zip(editors, forms, strict=True):
        outputs = [editor.message, *name_boxes, *pickers]

        def load(name: str | None) -> tuple[Any, Any]:
            for style in backend.styles():
                if style.name == name:
                    return style.prompt, style.negative_prompt
            return gr.update(), gr.update()

        editor.name.input(load, editor.name, [editor.prompt, editor.negative_prompt], show_progress="hidden")
        editor.name.select(load, editor.name, [editor.prompt, editor.negative_prompt], show_progress="hidden")
        editor.copy.click(
            lambda prompt, negative: (prompt, negative),
            [form.fields["prompt"], form.fields["negative_prompt"]],
            [editor.prompt, editor.negative_prompt],
            show_progress="hidden",
        )

        def save(name: str | None, prompt: str, negative: str, *selected: Sequence[str]) -> list[Any]:
            try:
                style = backend.save_style(PromptStyle(name or "", prompt or "", negative or ""))
            except RequestError as error:
                return refreshed(f"Not saved: {error}", selected, name)
            return refreshed(f"Saved style **{style.name}**.", selected, style.name)

        def delete(name: str | None, *selected: Sequence[str]) -> list[Any]:
            try:
                backend.delete_style(name or "")
            except RequestError as error:
                return refreshed(f"Not deleted: {error}", selected, name)
            return refreshed(f"Deleted style **{name}**.", selected, None)

        def upload(data: bytes | None, *selected: Sequence[str]) -> list[Any]:
            if not data:
                return refreshed("", selected, None)
            try:
                names = backend.import_styles(data.decode("utf-8-sig"))
            except (RequestError, UnicodeDecodeError) as error:
                return refreshed(f"Not imported: {error}", selected, None)
            return refreshed(f"Imported {len(names)} style(s): {', '.join(names)}.", selected, None)

        inputs = [editor.name, editor.prompt, editor.negative_prompt, *pickers]
        editor.save.click(save, inputs, outputs, show_progress="hidden")
        editor.delete.click(delete, [editor.name, *pickers], outputs, show_progress="hidden")
        editor.upload.upload(upload, [editor.upload, *pickers], outputs, show_progress="hidden")
