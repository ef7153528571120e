"""Assemble the page: status line, the tabs, and the events that cross tabs.

`build_ui(backend)` builds the Blocks from a `UIBackend`; `studio.ui.build_blocks(services)`
wraps the composition root's services in `ServicesBackend` and calls it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache
from gradio.utils import get_upload_folder

from studio.infotext import parse_infotext
from studio.ui.assets import BOOT_JS
from studio.ui.backend import UIBackend
from studio.ui.controls import (
    AUTOMATIC_VAE,
    CURRENT_MODEL,
    NO_VAE,
    PERSISTED_FIELDS,
    GenerationForm,
    resolve_model,
    values_from_parameters,
)
from studio.ui.extensions import build_extensions_tab
from studio.ui.extras import build_extras_tab
from studio.ui.history import build_history_tab
from studio.ui.hub_tab import HUB_JS, build_hub_tab
from studio.ui.img2img import MODE_IMG2IMG, MODE_INPAINT, build_img2img_tab
from studio.ui.output import OutputPanel, SessionJobs, job_key, reattach_handler, selected_image
from studio.ui.pnginfo import build_pnginfo_tab
from studio.ui.settings import NOTIFY_LOAD_JS, build_settings_tab
from studio.ui.status import build_status_line
from studio.ui.styles import wire_styles_editors
from studio.ui.txt2img import build_txt2img_tab

STATE_KEY = "atelier-ui-state-v1"


def form_values_from_infotext(backend: UIBackend, text: str, *, keep_seed: bool = True) -> dict[str, Any]:
    """Form values (only ones the pickers accept) from an infotext, via the shared infotext parser."""
    if not text:
        return {}
    # styles found in the prompt come off it and into the Styles picker (A1111's PNG Info)
    parsed = backend.infotext_styles(parse_infotext(text))
    values = resolve_model(values_from_parameters(parsed), backend.checkpoints())
    if values.get("sampler_name"):
        # aliases and A1111 < 1.9 names ("DPM++ 2M Karras") split into sampler + schedule type
        values["sampler_name"], values["scheduler"] = backend.normalize_sampler(
            values["sampler_name"], values.get("scheduler", "Automatic")
        )
    if "styles" in values:
        known = {style.name for style in backend.styles()}
        values["styles"] = [name for name in values["styles"] if name in known]
    if values.get("sampler_name") not in backend.sampler_names():
        values.pop("sampler_name", None)
    if values.get("scheduler") not in backend.schedule_types():
        values.pop("scheduler", None)
    if not keep_seed:
        values.pop("seed", None)
    return values


def valid_restored(backend: UIBackend, saved: Mapping[str, Any]) -> dict[str, Any]:
    """Saved form values minus those the current pickers no longer offer."""
    choices = {
        "sampler_name": backend.sampler_names(),
        "scheduler": backend.schedule_types(),
        "model": [CURRENT_MODEL, *backend.checkpoints()],
        "vae": [AUTOMATIC_VAE, NO_VAE, *backend.vaes()],
    }
    known_styles = {style.name for style in backend.styles()}
    restored = {
        name: value
        for name, value in saved.items()
        if name in PERSISTED_FIELDS and value is not None and (name not in choices or value in choices[name])
    }
    if "styles" in restored:
        restored["styles"] = [name for name in restored["styles"] or [] if name in known_styles]
    return restored


def _persist(demo_state: gr.BrowserState, forms: list[GenerationForm]) -> None:
    """Every change of a persisted widget writes the forms' values to the browser's storage.

    Runs in the browser only (no server round trip), so it keeps up with typing.
    """
    widgets = [
        (form.prefix, name, form.fields[name])
        for form in forms
        for name in PERSISTED_FIELDS
        if name in form.fields
    ]
    keys = json.dumps([[prefix, name] for prefix, name, _ in widgets])
    collect = f"""(...values) => {{
        const keys = {keys};
        const state = {{}};
        keys.forEach(([prefix, name], index) => {{
            state[prefix] = state[prefix] || {{}};
            state[prefix][name] = values[index];
        }});
        return [state];
    }}"""
    gr.on(
        [widget.change for _, _, widget in widgets],
        None,
        [widget for _, _, widget in widgets],
        demo_state,
        js=collect,
        queue=False,
        show_progress="hidden",
    )


def build_ui(backend: UIBackend, *, title: str = "Atelier") -> gr.Blocks:
    sessions = SessionJobs()
    secret = hashlib.sha256(str(backend.config.data_dir).encode()).hexdigest()[:32]
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        state = gr.BrowserState({}, storage_key=STATE_KEY, secret=secret)
        build_status_line(backend)
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Text to image", id="txt2img", elem_id="tab_txt2img"):
                txt2img = build_txt2img_tab(backend, sessions)
            with gr.Tab("Image to image", id="img2img", elem_id="tab_img2img"):
                img2img = build_img2img_tab(backend, sessions)
            with gr.Tab("Extras", id="extras", elem_id="tab_extras"):
                build_extras_tab(backend)
            with gr.Tab("History", id="history", elem_id="tab_history") as history_item:
                history = build_history_tab(backend)
            with gr.Tab("PNG Info", id="pnginfo", elem_id="tab_pnginfo"):
                pnginfo = build_pnginfo_tab()
            with gr.Tab("Hub", id="hub", elem_id="tab_hub"):
                build_hub_tab()
            with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                settings = build_settings_tab(backend)
            with gr.Tab("Extensions", id="extensions", elem_id="tab_extensions"):
                extensions = build_extensions_tab(backend)

        forms = [txt2img.form, img2img.form]
        _persist(state, forms)
        wire_styles_editors(backend, [txt2img.styles_editor, img2img.styles_editor], forms)

        restored = [w for form in forms for w in form.persisted]

        def restore(saved: Mapping[str, Any] | None) -> dict[Any, Any]:
            # Gradio reads an empty dict as one value, so every output gets an entry.
            updates: dict[Any, Any] = {widget: gr.update() for widget in restored}
            for form in forms:
                values = valid_restored(backend, (saved or {}).get(form.prefix) or {})
                updates.update(form.updates(values))
            return updates

        demo.load(None, None, None, js=BOOT_JS)
        demo.load(None, None, None, js=HUB_JS)
        # Settings: the form shows what is in effect now, not what was in effect at startup.
        fill, fill_inputs, fill_outputs = settings.refresh
        demo.load(fill, fill_inputs, fill_outputs, show_progress="hidden")
        demo.load(None, None, settings.notify, js=NOTIFY_LOAD_JS)
        # Extensions: always the current state (also after changes made through the API).
        demo.load(*extensions.refresh, show_progress="hidden")
        # Scripts: a script unloaded since the page was built (extension disabled) loses its controls.
        for prefix, area in (("txt2img", txt2img.scripts), ("img2img", img2img.scripts)):

            def sync(prefix: str = prefix, area: Any = area) -> list[Any]:
                return area.sync([script.name for script in backend.scripts(prefix)])

            demo.load(sync, None, area.sync_outputs, show_progress="hidden")
        # A reload during a job follows it again: progress, preview, result, Interrupt and Skip.
        for panel in (txt2img.output, img2img.output):
            demo.load(
                reattach_handler(backend, panel, sessions),
                panel.job_id,
                panel.outputs,
                js=f"() => [localStorage.getItem({job_key(panel.prefix)!r}) || '']",
                concurrency_limit=None,
                show_progress="hidden",
            )
        # The saved form comes back from the server; until it has, typing could be overwritten.
        # `body[data-restored]` tells a waiting client (the browser tests) the form is settled.
        demo.load(restore, state, restored, show_progress="hidden").then(
            None, None, None, js="() => { document.body.dataset.restored = '1'; }"
        )

        # History: refresh when opened; load parameters into txt2img; send to img2img.
        show, show_inputs, show_outputs = history.refresh
        history_item.select(show, show_inputs, show_outputs, show_progress="hidden")

        txt2img_fields = list(txt2img.form.fields.values())
        img2img_fields = list(img2img.form.fields.values())

        def to_txt2img(text: str) -> dict[Any, Any]:
            values = form_values_from_infotext(backend, text)
            return {**txt2img.form.updates(values), tabs: gr.Tabs(selected="txt2img")}

        history.load_parameters.click(
            lambda rows, index: to_txt2img(rows[index]["infotext"] if 0 <= index < len(rows) else ""),
            [history.items, history.selected],
            [*txt2img_fields, tabs],
            show_progress="hidden",
        )
        pnginfo.send_txt2img.click(
            to_txt2img, pnginfo.infotext, [*txt2img_fields, tabs], show_progress="hidden"
        )

        img2img_targets = [*img2img_fields, img2img.editor, img2img.mode, tabs]

        unchanged = {widget: gr.update() for widget in img2img_targets}

        def to_img2img(path: str | None, text: str, mode: str) -> dict[Any, Any]:
            if not path:
                return unchanged
            values = form_values_from_infotext(backend, text, keep_seed=False)
            return {
                **unchanged,
                **img2img.form.updates(values),
                img2img.editor: {"background": path, "layers": [], "composite": path},
                img2img.mode: mode,
                tabs: gr.Tabs(selected="img2img"),
            }

        def send_from(panel: OutputPanel, mode: str) -> None:
            button = panel.send_inpaint if mode == MODE_INPAINT else panel.send_img2img

            def send(images: list[dict[str, Any]], selected: int) -> dict[Any, Any]:
                image = selected_image(images, selected)
                return to_img2img(image["path"], image["infotext"], mode) if image else unchanged

            button.click(send, [panel.images, panel.selected], img2img_targets, show_progress="hidden")

        for panel in (txt2img.output, img2img.output):
            send_from(panel, MODE_IMG2IMG)
            send_from(panel, MODE_INPAINT)

        history.send_img2img.click(
            lambda rows, index: (
                to_img2img(rows[index]["path"], rows[index]["infotext"], MODE_IMG2IMG)
                if 0 <= index < len(rows)
                else unchanged
            ),
            [history.items, history.selected],
            img2img_targets,
            show_progress="hidden",
        )

        def png_to_img2img(data: bytes | None, text: str) -> dict[Any, Any]:
            if not data:
                return unchanged
            path = save_bytes_to_cache(data, "pnginfo.png", get_upload_folder())
            return to_img2img(path, text, MODE_IMG2IMG)

        pnginfo.send_img2img.click(
            png_to_img2img, [pnginfo.file, pnginfo.infotext], img2img_targets, show_progress="hidden"
        )
    return demo
